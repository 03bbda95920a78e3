"""The device's randomness: OS entropy drawn in pools, never handed out twice."""

from __future__ import annotations

import os

from careerlog.client.device import SystemClock


def test_draws_have_their_size_and_never_repeat_across_pools() -> None:
    clock = SystemClock()
    draws = [clock.random(10 if n % 2 else 8) for n in range(3000)]  # ~13 pools of 4 KiB
    assert [len(d) for d in draws[:4]] == [8, 10, 8, 10]
    assert all(len(d) == (10 if n % 2 else 8) for n, d in enumerate(draws))
    assert len(set(draws)) == len(draws)
    assert len(clock.random(5000)) == 5000  # bigger than a pool


def test_a_forked_child_does_not_repeat_its_parents_bytes() -> None:
    clock = SystemClock()
    clock.random(8)  # a pool is drawn in the parent
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        os.write(write, clock.random(16))
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    from_child = os.read(read, 16)
    os.close(read)
    assert len(from_child) == 16
    assert from_child != clock.random(16)
