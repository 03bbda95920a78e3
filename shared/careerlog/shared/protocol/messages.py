"""The sync wire messages: one tagged union per direction, tag field ``t``.

Rules of this module:
- Every frame is one MessagePack map with a string tag ``t`` naming the
  message; fields are the struct fields below, by name. Adding a field with a
  default is compatible; anything else bumps :data:`PROTOCOL_VERSION`.
- Events travel as ``msgspec.Raw``: the MessagePack bytes of one Careerlog
  event, exactly as the recording device encoded them. The server judges each
  one separately and stores the device's own bytes; nobody re-encodes them.
- ``Ping``/``Pong`` belong to both directions; every other message has one
  sender. docs/protocol.md is the reference for third-party clients.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

__all__ = [
    "PROTOCOL_VERSION",
    "SUPPORTED_PROTOCOLS",
    "Ack",
    "ClientMessage",
    "Error",
    "Events",
    "Gap",
    "Hello",
    "Item",
    "Message",
    "Ping",
    "Pong",
    "Push",
    "PushResult",
    "Reset",
    "Result",
    "ResultStatus",
    "ServerMessage",
    "Welcome",
]

#: The protocol version this code speaks. Sent first, in ``Hello``.
PROTOCOL_VERSION = 1
#: Versions a server built from this code accepts in ``Hello``.
SUPPORTED_PROTOCOLS: frozenset[int] = frozenset({1})


class _Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="t"):
    """Base of every wire message: a map tagged by ``t``."""


# --- both directions ------------------------------------------------------------


class Ping(_Message, frozen=True, kw_only=True, tag="ping"):
    """Liveness probe; the peer answers ``Pong`` with the same nonce."""

    nonce: int


class Pong(_Message, frozen=True, kw_only=True, tag="pong"):
    nonce: int


# --- client -> server ------------------------------------------------------------


class Hello(_Message, frozen=True, kw_only=True, tag="hello"):
    """The first client message on every connection.

    ``cursor`` is the highest ``pos`` the client has durably stored (0 when it
    has none); ``epoch`` the server epoch that cursor belongs to (``None`` for
    a client that never synced). ``client_time_ms`` is the client's wall clock
    when it sent this, for the clock correction at ``Welcome``. ``window`` is
    how many ``Events`` pages the client accepts before it has acknowledged
    the first (1, the default, is strict page-by-page flow): a bigger window
    lets the server read and send the next page while the client stores one.

    ``skip_acknowledged``: leave out of ``Events`` the events this connection
    pushed and was given a ``pos`` for in a ``PushResult`` (the client holds
    them already); pages then carry ``upto``. False, the default, sends every
    event of the log, the device's own included.
    """

    protocol: int
    device: str
    cursor: int
    epoch: str | None = None
    client_time_ms: int
    window: int = 1
    skip_acknowledged: bool = False


class Push(_Message, frozen=True, kw_only=True, tag="push"):
    """A batch of the device's own events, in ``dseq`` order, without holes.

    ``batch`` is a client-chosen id echoed in ``PushResult`` or ``Gap``. At
    most one push is outstanding per connection.
    """

    batch: int
    events: list[msgspec.Raw]


class Ack(_Message, frozen=True, kw_only=True, tag="ack"):
    """The client durably stored every event up to ``cursor`` (a ``pos``).

    It must equal the ``pos`` of the last item of an ``Events`` page in
    flight (normally the oldest); it acknowledges that page and every page
    before it, and releases the server to send the next one.
    """

    cursor: int


# --- server -> client ------------------------------------------------------------


class Welcome(_Message, frozen=True, kw_only=True, tag="welcome"):
    """The server accepts the ``Hello``.

    ``head`` is the highest ``pos`` in the user's log, ``device_head`` the
    highest ``dseq`` of this device the server holds: the client resumes
    pushing at ``device_head + 1``. The limits tell the client how to size
    its batches and how often to expect traffic; ``window`` is the number of
    unacknowledged pages granted (at most what ``Hello`` asked for). The rate
    budget (two token buckets: received frames, pushed events) is advertised
    so a client can stay within it; ``None`` from a server that does not say.
    Fields after ``ping_interval_ms`` were added later with defaults, so a
    client and a server of different ages still understand each other.
    """

    protocol: int
    server_time_ms: int
    epoch: str
    head: int
    device_head: int
    max_frame_bytes: int
    max_batch: int
    max_event_bytes: int
    ping_interval_ms: int
    window: int = 1
    frames_per_second: float | None = None
    frame_burst: int | None = None
    events_per_second: float | None = None
    event_burst: int | None = None


class Reset(_Message, frozen=True, kw_only=True, tag="reset"):
    """The client's epoch (or cursor) belongs to another life of this server.

    Sent before ``Welcome``. The client forgets its cursor (restarts at 0),
    marks all its own events unpushed, adopts ``epoch`` and continues on the
    same connection.
    """

    epoch: str


ResultStatus: TypeAlias = Literal["accepted", "duplicate", "rejected"]


class Result(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one pushed event, in batch order.

    ``accepted`` and ``duplicate`` carry the event's ``pos``; ``rejected``
    carries a rejection ``code`` and a human ``reason`` and no ``pos``.
    """

    status: ResultStatus
    pos: int | None = None
    code: str | None = None
    reason: str | None = None


class PushResult(_Message, frozen=True, kw_only=True, tag="push_result"):
    batch: int
    results: list[Result]


class Gap(_Message, frozen=True, kw_only=True, tag="gap"):
    """The batch would leave a hole in the device's ``dseq``: nothing was stored.

    The client discards what it queued and pushes again from ``expected``.
    """

    batch: int
    device: str
    expected: int


class Item(msgspec.Struct, frozen=True, kw_only=True):
    """One stored event: its cursor position and its bytes."""

    pos: int
    event: msgspec.Raw


class Events(_Message, frozen=True, kw_only=True, tag="events"):
    """A page of the user's log in ``pos`` order, all after the client's cursor.

    ``head`` is the log's head when the page was read: the client is caught
    up once its cursor reaches it. The page covers the log up to ``upto``
    when that is set (non-zero), else up to its last item's ``pos``; the
    client's cursor moves there once the items are stored. ``upto`` is set
    only for a client that asked for ``skip_acknowledged``, when events it
    pushed on this connection were left out: the positions between the items
    are exactly those. Never empty: it has items, or ``upto`` beyond the
    cursor, or both.
    """

    items: list[Item]
    head: int
    upto: int = 0


class Error(_Message, frozen=True, kw_only=True, tag="error"):
    """A fatal or connection-ending error; the server closes right after it."""

    code: str
    message: str


ClientMessage: TypeAlias = Hello | Push | Ack | Ping | Pong
ServerMessage: TypeAlias = Welcome | Reset | PushResult | Gap | Events | Error | Ping | Pong
Message: TypeAlias = ClientMessage | ServerMessage
