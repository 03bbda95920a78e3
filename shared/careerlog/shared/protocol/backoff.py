"""Reconnect delays: exponential, capped, full jitter (pure).

Full jitter (delay drawn uniformly from ``[0, min(cap, base * 2**n))``)
spreads a crowd of clients that lost the same server, so they do not all
come back in the same millisecond. The caller passes ``random`` (a function
returning a float in ``[0, 1)``), keeping this module free of randomness;
it restarts the generator after a connection reaches ``Welcome``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

__all__ = ["reconnect_delays"]


def reconnect_delays(base_ms: int, cap_ms: int, random: Callable[[], float]) -> Iterator[int]:
    """Yield the wait before each reconnect attempt, in milliseconds, forever."""
    if base_ms <= 0 or cap_ms < base_ms:
        raise ValueError(f"need 0 < base_ms <= cap_ms, got {base_ms}, {cap_ms}")
    ceiling = base_ms
    while True:
        yield int(min(max(random(), 0.0), 1.0) * ceiling)
        ceiling = min(cap_ms, ceiling * 2)
