"""The numbers that bound one sync connection, in one place.

The server advertises the client-relevant ones in ``Welcome``; tests shrink
them to exercise paging and batching with a handful of events.
"""

from __future__ import annotations

import msgspec

__all__ = ["DEFAULT_LIMITS", "Limits"]


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    #: Largest frame either side accepts, in bytes (also the websocket max_size).
    max_frame_bytes: int = 1 << 20
    #: Most events in one ``Push``.
    max_batch: int = 100
    #: Largest single encoded event; bigger ones are rejected ``event_too_large``.
    max_event_bytes: int = 64 << 10
    #: How far an event's HLC wall time may run ahead of the server clock.
    max_clock_skew_ms: int = 5 * 60_000
    #: Most events per ``Events`` page (also bounded by ``max_frame_bytes``).
    page_size: int = 2000
    #: Send a ``Ping`` after this long without receiving anything.
    ping_interval_ms: int = 20_000
    #: Close if a ``Ping`` goes unanswered (or no ``Hello`` arrives) this long.
    timeout_ms: int = 20_000
    #: Token bucket over received frames: sustained rate and burst.
    frames_per_second: float = 50.0
    frame_burst: int = 200


DEFAULT_LIMITS = Limits()
