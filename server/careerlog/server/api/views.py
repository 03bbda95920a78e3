"""The views the API serves, for the person and for a coach, in one place.

Each function reads one user's read models and returns the JSON body of one
endpoint. ``scopes`` says whose eyes it is for: ``None`` is the person
themselves (everything), a set of scopes is a coach under a
grant, and then :mod:`careerlog.shared.projections.sharing` decides what is
withheld. The routes in ``me`` and ``coach`` only parse parameters and check
the grant; so the person and the coach can never drift apart in what a view
*is*, only in what it withholds.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Literal

import msgspec

from careerlog.server.api.errors import BadRequest, NotFound
from careerlog.server.api.params import (
    decode_cursor,
    encode_cursor,
    optional_instant,
    parse_types,
)
from careerlog.server.readmodels.rows import Key
from careerlog.server.readmodels.writer import ReadModelStore
from careerlog.shared.projections.activity import Insights, Thresholds, insights
from careerlog.shared.projections.agenda import AgendaItem, agenda
from careerlog.shared.projections.corrections import (
    CorrectionHistory,
    ReasonCount,
    correction_history,
    reason_counts,
)
from careerlog.shared.projections.progress import GoalProgress, goal_progress, progress_list
from careerlog.shared.projections.sharing import (
    shared_agenda,
    shared_history,
    shared_insights,
    shared_reviews,
    shared_timeline,
    shared_types,
)
from careerlog.shared.projections.state import CareerState, Review
from careerlog.shared.projections.timeline import PlanView, TimelineEntry, plan_view

__all__ = [
    "HistoryOverview",
    "Replay",
    "TimelinePage",
    "agenda_view",
    "goal_history_view",
    "goal_view",
    "goals_view",
    "history_view",
    "insights_view",
    "notes_view",
    "replay_view",
    "reviews_view",
    "timeline_view",
]

Scopes = Collection[str] | None


class TimelinePage(msgspec.Struct, kw_only=True):
    """Newest first; ``next_cursor`` fetches the next (older) page, null on the last."""

    entries: list[TimelineEntry]
    next_cursor: str | None


class Replay(msgspec.Struct, kw_only=True):
    """The plan at a moment: as it was recorded by then, or as it had happened by then."""

    mode: Literal["as_recorded", "occurred_by"]
    at: datetime
    plan: PlanView
    #: Goal progress with ``today`` the day of ``at``.
    goals: list[GoalProgress]


class HistoryOverview(msgspec.Struct, kw_only=True):
    goals: list[CorrectionHistory]
    #: Reason codes over every goal, most frequent first.
    reasons: list[ReasonCount]


def _goal_or_404(state: CareerState, goal_id: str) -> None:
    if goal_id not in state.goals:
        raise NotFound("unknown_goal", f"no goal {goal_id[:40]!r}")


def goals_view(state: CareerState, today: date, status: str | None) -> list[GoalProgress]:
    rows = progress_list(state, today)
    if status == "open":
        return [r for r in rows if r.status in ("active", "paused")]
    if status is not None:
        return [r for r in rows if r.status == status]
    return rows


def goal_view(state: CareerState, goal_id: str, today: date) -> GoalProgress:
    _goal_or_404(state, goal_id)
    return goal_progress(state, goal_id, today)


def goal_history_view(state: CareerState, goal_id: str, scopes: Scopes) -> CorrectionHistory:
    _goal_or_404(state, goal_id)
    history = correction_history(state, goal_id)
    return history if scopes is None else shared_history(history, scopes)


def history_view(state: CareerState, scopes: Scopes) -> HistoryOverview:
    histories = [correction_history(state, goal_id) for goal_id in state.goals]
    histories.sort(key=lambda h: (-len(h.entries), h.title, h.goal_id))
    if scopes is not None:
        histories = [shared_history(h, scopes) for h in histories]
    return HistoryOverview(goals=histories, reasons=reason_counts(state))


async def timeline_view(
    models: ReadModelStore,
    user_id: int,
    scopes: Scopes,
    *,
    types: str | None,
    recorded_by: str | None,
    occurred_from: str | None,
    occurred_to: str | None,
    cursor: str | None,
    limit: int,
) -> TimelinePage:
    """A page of the timeline; the filters are the route's query parameters as given."""
    before: Key | None = None
    if cursor:
        # The cursor names the last entry of the previous page; the page goes
        # on from its canonical key.
        event_id = decode_cursor(cursor)
        before = (await models.event_keys(user_id, [event_id])).get(event_id)
        if before is None:
            raise BadRequest("invalid_cursor", "the cursor names no entry of this timeline")
    wanted = parse_types(types)
    entries = await models.timeline(
        user_id,
        recorded_by=optional_instant("recorded_by", recorded_by),
        occurred_from=optional_instant("occurred_from", occurred_from),
        occurred_to=optional_instant("occurred_to", occurred_to),
        types=wanted if scopes is None else shared_types(wanted),
        before=before,
        limit=limit,
    )
    # The cursor is the last entry *read*, so no page is ever skipped or
    # repeated; a coach's query never reads an entry a coach may not see.
    next_cursor = encode_cursor(entries[-1].event_id) if len(entries) == limit else None
    shown = entries if scopes is None else shared_timeline(entries, scopes)
    return TimelinePage(entries=shown, next_cursor=next_cursor)


async def notes_view(
    models: ReadModelStore, user_id: int, *, cursor: str | None, limit: int
) -> TimelinePage:
    """The journal's activity notes: the timeline's ``ActivityLogged`` entries, text and all."""
    return await timeline_view(
        models,
        user_id,
        None,
        types="ActivityLogged",
        recorded_by=None,
        occurred_from=None,
        occurred_to=None,
        cursor=cursor,
        limit=limit,
    )


async def replay_view(
    models: ReadModelStore,
    user_id: int,
    *,
    as_recorded: datetime | None,
    occurred_by: datetime | None,
) -> Replay:
    """The plan at ``as_recorded`` or at ``occurred_by``: exactly one is given."""
    mode: Literal["as_recorded", "occurred_by"]
    if as_recorded is not None:
        state = await models.state_as_recorded(user_id, as_recorded)
        at, mode = as_recorded, "as_recorded"
    elif occurred_by is not None:
        state = await models.state_happened_by(user_id, occurred_by)
        at, mode = occurred_by, "occurred_by"
    else:
        raise ValueError("replay_view needs as_recorded or occurred_by")
    return Replay(
        mode=mode,
        at=at,
        plan=plan_view(state),
        goals=progress_list(state, at.date()),
    )


def agenda_view(
    state: CareerState, today: date, horizon_days: int, scopes: Scopes
) -> list[AgendaItem]:
    items = agenda(state, today, horizon_days)
    return items if scopes is None else shared_agenda(items, scopes)


def insights_view(
    state: CareerState, today: date, thresholds: Thresholds, scopes: Scopes
) -> Insights:
    view = insights(state, today, thresholds)
    return view if scopes is None else shared_insights(view, state, scopes)


def reviews_view(state: CareerState, scopes: Scopes) -> list[Review]:
    return shared_reviews(state.reviews, ("journal",) if scopes is None else scopes)
