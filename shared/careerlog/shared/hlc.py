"""Hybrid logical clock, packed in one integer.

An HLC value is ``wall_ms << 16 | counter``: the physical part is the largest
millisecond wall-clock reading seen so far (locally or from a peer) and the
counter breaks ties inside one millisecond. Packing it in an int makes the
canonical order ``(hlc, device, dseq)`` a plain tuple comparison and keeps it
compact on disk and on the wire.

Rules (Kulkarni et al., "Logical Physical Clocks"):
- ``tick`` stamps a local event: strictly greater than the last value, and
  never behind the wall clock.
- ``receive`` folds in a remote stamp, so anything recorded after seeing a
  remote event sorts after it: canonical order respects causality even when
  device clocks disagree.
"""

from __future__ import annotations

__all__ = [
    "COUNTER_BITS",
    "MAX_COUNTER",
    "HlcOverflow",
    "counter",
    "pack",
    "receive",
    "tick",
    "wall_ms",
]

COUNTER_BITS = 16
MAX_COUNTER = (1 << COUNTER_BITS) - 1


class HlcOverflow(ValueError):
    """More than 65,535 events stamped in one millisecond of logical time."""


def pack(wall: int, count: int = 0) -> int:
    if count > MAX_COUNTER:
        raise HlcOverflow(f"HLC counter overflow at {wall} ms")
    return (wall << COUNTER_BITS) | count


def wall_ms(hlc: int) -> int:
    return hlc >> COUNTER_BITS


def counter(hlc: int) -> int:
    return hlc & MAX_COUNTER


def tick(last: int, now_ms: int) -> int:
    """Stamp a local event recorded at wall time ``now_ms``."""
    if now_ms > wall_ms(last):
        return pack(now_ms)
    return pack(wall_ms(last), counter(last) + 1)


def receive(last: int, remote: int, now_ms: int) -> int:
    """The local clock after observing ``remote`` at wall time ``now_ms``.

    The result is at least both inputs, so the next ``tick`` sorts after
    every event this replica has seen.
    """
    wall = max(wall_ms(last), wall_ms(remote), now_ms)
    if wall == wall_ms(last) == wall_ms(remote):
        return pack(wall, max(counter(last), counter(remote)) + 1)
    if wall == wall_ms(last):
        return pack(wall, counter(last) + 1)
    if wall == wall_ms(remote):
        return pack(wall, counter(remote) + 1)
    return pack(wall)
