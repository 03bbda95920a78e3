from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careerlog.shared import hlc

walls = st.integers(min_value=0, max_value=1 << 44)
stamps = st.builds(hlc.pack, walls, st.integers(min_value=0, max_value=hlc.MAX_COUNTER - 2))


def test_tick_follows_the_wall_clock_when_it_moves_forward() -> None:
    assert hlc.tick(hlc.pack(1000, 7), 2000) == hlc.pack(2000, 0)


def test_tick_counts_when_the_wall_clock_stalls_or_goes_back() -> None:
    last = hlc.pack(5000, 3)
    assert hlc.tick(last, 5000) == hlc.pack(5000, 4)
    assert hlc.tick(last, 10) == hlc.pack(5000, 4)  # clock stepped back: never go back


def test_receive_moves_past_a_remote_clock_that_runs_ahead() -> None:
    local = hlc.pack(1000, 0)
    remote = hlc.pack(9000, 5)
    after = hlc.receive(local, remote, now_ms=1001)
    assert after > remote
    assert hlc.tick(after, 1002) > remote  # what I record next sorts after what I saw


def test_counter_overflow_is_an_error_not_a_wraparound() -> None:
    with pytest.raises(hlc.HlcOverflow):
        hlc.tick(hlc.pack(5, hlc.MAX_COUNTER), 5)


@given(stamps, walls)
def test_tick_is_strictly_monotonic_and_never_behind_now(last: int, now: int) -> None:
    new = hlc.tick(last, now)
    assert new > last
    assert hlc.wall_ms(new) >= now


@given(stamps, stamps, walls)
def test_receive_dominates_both_inputs(last: int, remote: int, now: int) -> None:
    new = hlc.receive(last, remote, now)
    assert new > last
    assert new >= remote
    assert hlc.wall_ms(new) >= now


@given(walls, st.integers(min_value=0, max_value=hlc.MAX_COUNTER))
def test_pack_round_trips(wall: int, count: int) -> None:
    packed = hlc.pack(wall, count)
    assert (hlc.wall_ms(packed), hlc.counter(packed)) == (wall, count)
