"""Properties of the pure projections on random, unruly histories."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from careerlog.shared.codec import canonical_key, decode_event, encode_event
from careerlog.shared.events import Event
from careerlog.shared.projections import decode_state, encode_state, fold
from careerlog.shared.projections.activity import insights
from careerlog.shared.projections.agenda import agenda
from careerlog.shared.projections.corrections import correction_history, reason_counts
from careerlog.shared.projections.progress import progress_list
from careerlog.shared.projections.skills import skill_gaps
from careerlog.shared.projections.summary import summary
from careerlog.shared.projections.timeline import plan_view, timeline_entry
from tests.strategies import BASE, histories


def _canonical(events: list[Event]) -> list[Event]:
    return sorted(events, key=canonical_key)


@settings(max_examples=150, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_any_arrival_order_folds_to_the_same_read_models(
    events: list[Event], rng: st.SearchStrategy[object]
) -> None:
    shuffled = list(events)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert encode_state(fold(_canonical(shuffled))) == encode_state(fold(_canonical(events)))


@settings(max_examples=150, deadline=None)
@given(histories(max_events=80), st.integers(-40, 400))
def test_projections_are_total_on_random_histories(events: list[Event], offset: int) -> None:
    state = fold(_canonical(events))
    assert state.event_count == len(events)
    today = BASE.date() + timedelta(days=offset)
    progress_list(state, today)
    agenda(state, today)
    insights(state, today)
    reason_counts(state)
    skill_gaps(state)
    summary(state, today)
    plan_view(state)
    for goal_id in state.goals:
        correction_history(state, goal_id)
    for event in events:
        timeline_entry(event, state)
    # Every event is either applied or, if it names something unusable, flagged.
    assert all(flag.event_id for flag in state.flags)


@settings(max_examples=100, deadline=None)
@given(histories())
def test_state_and_events_survive_their_encodings(events: list[Event]) -> None:
    assert [decode_event(encode_event(e)) for e in events] == events
    state = fold(_canonical(events))
    assert encode_state(decode_state(encode_state(state))) == encode_state(state)
