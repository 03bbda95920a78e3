"""The folded state: snapshots round-trip, copies are deep, a new state is empty."""

from __future__ import annotations

from datetime import date

import msgspec
import pytest

from careerlog.shared.projections import (
    CareerState,
    copy_state,
    decode_state,
    encode_state,
    new_state,
)
from careerlog.shared.projections.state import Flag
from tests.shared.builders import History, full_history


def test_new_state_is_empty() -> None:
    state = new_state()
    assert state == CareerState()
    assert (state.goals, state.flags, state.weeks) == ({}, [], {})
    assert (state.event_count, state.last_key, state.last_activity_on) == (0, None, None)


def test_new_states_do_not_share_mutable_fields() -> None:
    a, b = new_state(), new_state()
    a.weeks["2026-W01"] = 1
    a.flags.append(Flag(event_id="x", type="GoalSet", reason="r"))
    assert b.weeks == {}
    assert b.flags == []


def test_encode_decode_round_trip_of_a_full_state() -> None:
    state = full_history().state()
    decoded = decode_state(encode_state(state))
    assert decoded == state
    assert encode_state(decoded) == encode_state(state)


def test_round_trip_keeps_types_of_dates_tuples_and_nested_structs() -> None:
    h = full_history()
    state = h.state()
    decoded = decode_state(encode_state(state))
    goal = next(iter(decoded.goals.values()))
    assert isinstance(goal.set_on, date)
    assert isinstance(decoded.last_key, tuple)
    assert decoded.last_key == (h.last.hlc, h.last.device, h.last.dseq)
    assert type(goal.measure) is type(next(iter(state.goals.values())).measure)
    assert decoded.retracted == state.retracted
    assert decoded.corrections.keys() == state.corrections.keys()


def test_snapshot_is_compact_for_lots_of_activity() -> None:
    h = History()
    for n in range(2_000):
        h.activity(date.fromordinal(date(2020, 1, 1).toordinal() + n % 1_500))
    blob = encode_state(h.state())
    # Activity is kept as aggregates, so the snapshot does not grow per event.
    assert len(blob) < 20_000


def test_decode_rejects_garbage() -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_state(b"\x93not a state")


def test_copy_state_is_deep() -> None:
    h = History()
    gid = h.goal("G")
    h.progress(gid, 1, date(2026, 1, 5))
    state = h.state()
    copy = copy_state(state)
    assert copy == state
    copy.goals[gid].points.clear()
    copy.goals[gid].title = "changed"
    copy.weeks.clear()
    assert state.goals[gid].title == "G"
    assert len(state.goals[gid].points) == 1
    assert state.weeks == {"2026-W02": 1}
