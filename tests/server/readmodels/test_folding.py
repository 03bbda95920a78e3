"""``fold_run``: prefix-exact states, and the same rows however a log is cut into runs."""

from __future__ import annotations

from datetime import date

import pytest

from careerlog.server.readmodels.folding import Folded, fold_run, key_of
from careerlog.server.readmodels.rows import (
    SNAPSHOT_BYTES_PER_EVENT,
    SNAPSHOT_MAX_EVERY,
    SNAPSHOT_MIN_EVERY,
    RetractionRow,
    snapshot_interval,
    usable,
)
from careerlog.shared.events import Event
from careerlog.shared.projections import decode_state, encode_state, fold, new_state
from tests.contract.careers import busy_history
from tests.shared.builders import History, full_history


def in_runs(events: list[Event], cuts: list[int]) -> Folded:
    """Fold ``events`` as consecutive runs cut at ``cuts``, carrying state and chain over."""
    state, since, size = new_state(), 0, 0
    rows = Folded(state, [], [], [], 0, 0)
    for start, end in zip([0, *cuts], [*cuts, len(events)], strict=True):
        part = fold_run(state, events[start:end], snap_since=since, snap_bytes=size)
        state, since, size = part.state, part.snap_since, part.snap_bytes
        rows.timeline += part.timeline
        rows.snapshots += part.snapshots
        rows.retractions += part.retractions
    rows.state, rows.snap_since, rows.snap_bytes = state, since, size
    return rows


def test_the_state_is_the_fold_of_the_log() -> None:
    h = full_history()
    folded = fold_run(new_state(), list(h.events), snap_since=0, snap_bytes=0)

    assert encode_state(folded.state) == encode_state(h.state())
    assert [r.event_id for r in folded.timeline] == [e.id.bytes for e in h.events]
    assert [r.retracted for r in folded.timeline].count(True) == 1


@pytest.mark.parametrize("cuts", [[1], [999, 1000, 1001], [17, 400, 1333, 2000], [2500]])
def test_runs_cut_anywhere_give_the_same_rows(cuts: list[int]) -> None:
    events = list(busy_history(2600).events)
    whole = fold_run(new_state(), events, snap_since=0, snap_bytes=0)

    parts = in_runs(events, cuts)

    assert parts.timeline == whole.timeline
    assert parts.snapshots == whole.snapshots
    assert parts.retractions == whole.retractions
    assert (parts.snap_since, parts.snap_bytes) == (whole.snap_since, whole.snap_bytes)
    assert encode_state(parts.state) == encode_state(whole.state)


def test_every_snapshot_is_the_fold_of_exactly_the_events_up_to_it() -> None:
    h = busy_history(2200)
    # A retraction well after its target, with snapshots in between.
    h.retract(h.events[30], on=date(2026, 12, 1))
    events = list(h.events)

    folded = fold_run(new_state(), events, snap_since=0, snap_bytes=0)

    assert len(folded.snapshots) >= 2
    for snapshot in folded.snapshots:
        upto = [e for e in events if key_of(e) <= snapshot.key]
        state = decode_state(snapshot.body)  # uncompressed until written
        assert encode_state(state) == encode_state(fold(upto))
        assert snapshot.events == len(upto)
    assert encode_state(folded.state) == encode_state(fold(events))


def test_a_retraction_of_a_retraction_gives_the_target_back() -> None:
    h = History(today=date(2026, 1, 5))
    goal = h.goal("Give talks")
    first = h.retract(h.event_for(goal))
    for day in range(6, 20):
        h.activity(date(2026, 1, day))
    h.retract(first, reason="it was right after all")
    events = list(h.events)

    folded = fold_run(new_state(), events, snap_since=0, snap_bytes=0)

    assert goal in folded.state.goals
    assert encode_state(folded.state) == encode_state(fold(events))
    assert folded.retractions[0] == RetractionRow(key_of(first), key_of(events[0]))
    # The timeline shows what stands: the goal is not retracted, the first retraction is.
    flags = {r.event_id: r.retracted for r in folded.timeline}
    assert flags[events[0].id.bytes] is False
    assert flags[first.id.bytes] is True


def test_a_retraction_of_an_unknown_event_is_kept_without_a_target() -> None:
    h = History(today=date(2026, 1, 5))
    other = History(device="elsewhere")
    other.goal("Not here")
    h.activity(date(2026, 1, 5))
    h.retract(other.events[0])

    folded = fold_run(new_state(), list(h.events), snap_since=0, snap_bytes=0)

    assert folded.retractions == [RetractionRow(key_of(h.events[1]), None)]
    assert encode_state(folded.state) == encode_state(h.state())


def test_snapshot_spacing_grows_with_size_within_bounds() -> None:
    assert snapshot_interval(0) == SNAPSHOT_MIN_EVERY
    assert snapshot_interval(SNAPSHOT_BYTES_PER_EVENT * 3000) == 3000
    assert snapshot_interval(10**9) == SNAPSHOT_MAX_EVERY


def test_a_snapshot_is_not_usable_past_a_retraction_reaching_behind_it() -> None:
    retraction = RetractionRow((50, "a", 1), (10, "a", 1))
    assert usable((20, "a", 1), (40, "a", 1), [retraction])  # before the retraction
    assert not usable((20, "a", 1), (60, "a", 1), [retraction])
    assert usable((5, "a", 1), (60, "a", 1), [retraction])  # before the target
    assert usable((20, "a", 1), (60, "a", 1), [RetractionRow((50, "a", 1), None)])


def test_a_retraction_sorting_before_its_target_takes_nothing_back_in_any_cut() -> None:
    # A forged or broken stream: the retraction is stamped before its target.
    early = History(device="aaa", today=date(2026, 1, 5))
    late = History(device="bbb", today=date(2026, 1, 6))
    goal = late.goal("Give talks")
    early.retract(late.event_for(goal))
    events = sorted(early.events + late.events, key=key_of)

    whole = fold_run(new_state(), events, snap_since=0, snap_bytes=0)
    parts = in_runs(events, [1])

    assert whole.retractions == parts.retractions == [RetractionRow(key_of(events[0]), None)]
    assert goal in whole.state.goals
    assert encode_state(whole.state) == encode_state(parts.state) == encode_state(fold(events))
