"""Sharing on random histories: without ``journal``, no word the person wrote reaches a coach.

Every free-text field of every generated event is replaced by a unique
marker before folding; the views a coach gets under every other scope are
then encoded to JSON and searched for any marker. Titles and reason codes
may pass; prose, contact names and other grantees may not.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from careerlog.shared.codec import canonical_key
from careerlog.shared.events import Event, FieldChange, GoalStatusNote
from careerlog.shared.projections import fold
from careerlog.shared.projections.activity import insights
from careerlog.shared.projections.agenda import agenda
from careerlog.shared.projections.corrections import correction_history, reason_counts
from careerlog.shared.projections.progress import progress_list
from careerlog.shared.projections.sharing import (
    SCOPES,
    shared_agenda,
    shared_history,
    shared_insights,
    shared_reviews,
    shared_timeline,
)
from careerlog.shared.projections.skills import skill_gaps
from careerlog.shared.projections.timeline import plan_view, timeline_entry
from tests.strategies import BASE, histories

#: Fields that hold what a person wrote (or a third party's name, or another grantee).
PROSE = frozenset(
    {
        "text", "summary", "notes", "reason", "reflection", "lessons", "impact", "note",
        "signal", "rationale", "intent", "specific", "relevance", "name", "grantee",
    }
)  # fmt: skip
MARK = "\u27e6p"
PROSE_CHANGES = frozenset({"specific", "relevance"})


def _marked(events: list[Event]) -> list[Event]:
    """Each prose field of each event replaced by a marker no title can contain."""
    out: list[Event] = []
    for n, event in enumerate(events):
        changes: dict[str, Any] = {}
        for field in msgspec.structs.fields(event):
            value = getattr(event, field.name)
            if field.name in PROSE and isinstance(value, str):
                changes[field.name] = f"{MARK}{n}{field.name}\u27e7"
            elif field.name == "decisions":
                changes["decisions"] = [f"{MARK}{n}d{i}\u27e7" for i in range(len(value))]
            elif field.name == "goal_statuses":
                changes["goal_statuses"] = [
                    msgspec.structs.replace(note, note=f"{MARK}{n}s{i}\u27e7")
                    for i, note in enumerate(value)
                    if isinstance(note, GoalStatusNote)
                ]
            elif field.name == "changes":
                prose = f"{MARK}{n}c\u27e7"
                changes["changes"] = [
                    FieldChange(field=c.field, before=prose, after=prose)
                    if c.field in PROSE_CHANGES
                    else c
                    for c in value
                ]
        out.append(msgspec.structs.replace(event, **changes))
    return out


@settings(max_examples=150, deadline=None)
@given(histories(max_events=80), st.integers(-40, 400))
def test_no_prose_reaches_a_coach_without_journal(events: list[Event], offset: int) -> None:
    events = sorted(_marked(events), key=canonical_key)
    state = fold(events)
    today = BASE.date() + timedelta(days=offset)
    scopes = [s for s in SCOPES if s != "journal"]
    views: list[Any] = [
        progress_list(state, today),
        shared_agenda(agenda(state, today, 366), scopes),
        shared_reviews(state.reviews, scopes),
        [shared_history(correction_history(state, g), scopes) for g in state.goals],
        reason_counts(state),
        shared_timeline([timeline_entry(e, state) for e in events], scopes),
        shared_insights(insights(state, today), state, scopes),
        skill_gaps(state),
        plan_view(state),
    ]
    shown = msgspec.json.encode(views).decode()
    assert MARK not in shown, shown[shown.index(MARK) - 80 : shown.index(MARK) + 40]
    # The markers are there to be found: with journal, an activity's text shows.
    if any(type(e).__name__ == "ActivityLogged" for e in events):
        entries = shared_timeline([timeline_entry(e, state) for e in events], SCOPES)
        assert MARK in msgspec.json.encode(entries).decode()
