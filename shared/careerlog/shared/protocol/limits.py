"""The numbers that bound one sync connection, in one place.

The server advertises the client-relevant ones in ``Welcome``; tests shrink
them to exercise paging and batching with a handful of events.

The rate budget is two token buckets, one over received frames and one over
pushed events. What a flood costs the server is work per frame (decode,
dispatch) plus work per event (judging and storing it), so each is bounded
on its own: a device streaming thousands of events a second in big batches
is fine, and so is a device acknowledging many small pages; a device sending
a storm of tiny frames, or more events than the server can judge, is not.
"""

from __future__ import annotations

import msgspec

__all__ = ["DEFAULT_LIMITS", "Limits"]


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    #: Largest frame either side accepts, in bytes (also the websocket max_size).
    max_frame_bytes: int = 1 << 20
    #: Most events in one ``Push`` (also bounded by ``max_frame_bytes``).
    max_batch: int = 1000
    #: Largest single encoded event; bigger ones are rejected ``event_too_large``.
    max_event_bytes: int = 64 << 10
    #: How far an event's HLC wall time may run ahead of the server clock.
    max_clock_skew_ms: int = 5 * 60_000
    #: Most events per ``Events`` page (also bounded by ``max_frame_bytes``).
    page_size: int = 2000
    #: Most pages sent ahead of the client's ``Ack`` (the client asks for a
    #: window in ``Hello``; it gets at most this many). Each page is read from
    #: the store when it is sent, so a connection holds at most this many
    #: pages in its socket buffers and none in memory.
    max_window: int = 4
    #: Send a ``Ping`` after this long without receiving anything.
    ping_interval_ms: int = 20_000
    #: Close if a ``Ping`` goes unanswered (or no ``Hello`` arrives) this long.
    timeout_ms: int = 20_000
    #: Token bucket over received frames: sustained rate and burst.
    frames_per_second: float = 500.0
    frame_burst: int = 1000
    #: Token bucket over pushed events: sustained rate and burst. The burst
    #: lets a device back from a long time offline push its backlog at once.
    events_per_second: float = 50_000.0
    event_burst: int = 100_000


DEFAULT_LIMITS = Limits()
