"""The state cache hands back a state only for the checkpoint it was read at."""

from __future__ import annotations

from careerlog.server.readmodels.statecache import StateCache
from careerlog.shared.projections import new_state


def test_a_state_is_returned_only_for_the_same_checkpoint() -> None:
    cache = StateCache()
    state = new_state()
    cache.put(1, (10, 1000), state)
    assert cache.get(1, (10, 1000)) is state
    assert cache.get(1, (11, 1000)) is None  # the projector moved on
    assert cache.get(1, (10, 1001)) is None  # rebuilt at the same position
    assert cache.get(2, (10, 1000)) is None  # another user


def test_the_least_recently_read_user_goes_first() -> None:
    cache = StateCache(size=2)
    states = {user: new_state() for user in (1, 2, 3)}
    cache.put(1, (1, 1), states[1])
    cache.put(2, (1, 1), states[2])
    assert cache.get(1, (1, 1)) is states[1]  # 1 is now the most recent
    cache.put(3, (1, 1), states[3])
    assert cache.get(2, (1, 1)) is None
    assert cache.get(1, (1, 1)) is states[1]
    assert cache.get(3, (1, 1)) is states[3]


def test_size_zero_keeps_nothing() -> None:
    cache = StateCache(size=0)
    cache.put(1, (1, 1), new_state())
    assert cache.get(1, (1, 1)) is None
