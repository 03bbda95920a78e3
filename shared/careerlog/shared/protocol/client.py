"""The client side of one sync connection, as a sans-I/O state machine.

Rules of this module (the state machine in one place):

    NEW --start--> HELLO_SENT --Reset?, Welcome--> OPEN --close / error--> CLOSED

- One session per connection. The adapter owns the durable state (its
  outbox, its cursor, the epoch) and gives the session what it needs; the
  session tells it what to store and what to send.
- Push: one batch in flight. ``push`` queues; when the batch's result
  arrives, everything waiting goes out in the next batch (up to the server's
  limits). After ``Welcome`` and after a ``Gap`` the session asks for events
  by ``ResendFrom(dseq)`` and discards what it had queued: the server said
  where the device's sequence stands, the adapter re-reads its outbox from
  there. Events pushed before ``Welcome`` are therefore dropped, not lost.
- Pull: the server sends a page, the adapter stores it durably, calls
  ``stored(cursor)``, and only then does the session ``Ack``: the cursor the
  server sees never runs ahead of what is on the client's disk. With a
  ``window`` above 1 the server may send the next pages before that ``Ack``
  (so it reads while the client stores); pages are stored and acknowledged
  in order, and a page beyond the granted window is a protocol error.
- Anything the server should not have sent ends the connection with a
  ``Close`` (the adapter reconnects after a backoff delay); an ``Error`` with
  a fatal code becomes ``Fatal`` (stop reconnecting).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import msgspec

from careerlog.shared.protocol import codes
from careerlog.shared.protocol.actions import Close, Send
from careerlog.shared.protocol.frames import (
    CLIENT_MAX_FRAME_BYTES,
    ProtocolError,
    decode_server_frame,
)
from careerlog.shared.protocol.limits import DEFAULT_LIMITS
from careerlog.shared.protocol.messages import (
    PROTOCOL_VERSION,
    Ack,
    Error,
    Events,
    Gap,
    Hello,
    Item,
    Ping,
    Pong,
    Push,
    PushResult,
    Reset,
    Result,
    ServerMessage,
    Welcome,
)

__all__ = [
    "ClientAction",
    "ClientSession",
    "ClientState",
    "ClockOffset",
    "Fatal",
    "PushOutcome",
    "Ready",
    "ResendFrom",
    "ResetLocal",
    "StoreRemote",
]

#: Bytes of a ``Push`` frame besides its events (tag, batch id, array header).
_PUSH_OVERHEAD = 64


class ClientState(enum.Enum):
    NEW = "new"
    HELLO_SENT = "hello_sent"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class ResetLocal:
    """The server is a new life (wiped or restored): start over with it.

    Durably: adopt ``epoch``, set the cursor to 0, forget the ``pos`` of every
    own event and mark them all unpushed. Keep every event (events already
    held arrive again and are recognised by id).
    """

    epoch: str


@dataclass(frozen=True, slots=True)
class Ready:
    """The handshake is done: persist ``epoch`` beside the cursor, reset backoff."""

    epoch: str
    head: int
    device_head: int


@dataclass(frozen=True, slots=True)
class ClockOffset:
    """Add ``offset_ms`` to local wall-clock readings (server minus client time)."""

    offset_ms: int
    rtt_ms: int


@dataclass(frozen=True, slots=True)
class ResendFrom:
    """Call ``push`` with every own event whose ``dseq >= dseq``, in ``dseq`` order."""

    dseq: int


@dataclass(frozen=True, slots=True)
class StoreRemote:
    """Store these events durably (skip ids already held) with the cursor
    ``cursor``, then call ``stored(cursor)``.

    ``items`` may be empty: a page of nothing but this device's own events,
    acknowledged on this connection, still moves the cursor. Apply the HLC
    receive rule to each event's ``hlc`` as it is stored.
    """

    items: list[Item]
    head: int
    cursor: int


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """The server's verdict on a batch: ``results[i]`` is about ``events[i]``.

    Record the ``pos`` of accepted and duplicate events; flag rejected ones
    (keep them, tell the person).
    """

    batch: int
    events: list[bytes]
    results: list[Result]


@dataclass(frozen=True, slots=True)
class Fatal:
    """The server refused the connection for a reason a retry cannot fix.

    Close the socket, stop reconnecting, tell the person ``message``.
    """

    code: str
    message: str


ClientAction: TypeAlias = (
    Send | Close | ResetLocal | Ready | ClockOffset | ResendFrom | StoreRemote | PushOutcome | Fatal
)


class ClientSession:
    """One connection of a device to its server.

    ``cursor`` is the highest ``pos`` durably stored, ``epoch`` the server
    epoch it belongs to (``None`` before the first sync), ``now_ms`` the wall
    clock when the ``Hello`` is sent.
    """

    def __init__(
        self,
        device: str,
        cursor: int,
        epoch: str | None,
        now_ms: int,
        *,
        window: int = 1,
        skip_acknowledged: bool = True,
    ) -> None:
        self.device = device
        self.cursor = cursor
        self.epoch = epoch
        self.head = cursor
        self.state = ClientState.NEW
        self.max_batch = DEFAULT_LIMITS.max_batch
        self.max_frame_bytes = DEFAULT_LIMITS.max_frame_bytes
        self.ping_interval_ms = DEFAULT_LIMITS.ping_interval_ms
        self.timeout_ms = DEFAULT_LIMITS.timeout_ms
        self._hello_ms = now_ms
        self._last_received_ms = now_ms
        self._was_reset = False
        self._queue: list[bytes] = []
        self._in_flight: tuple[int, list[bytes]] | None = None
        self._next_batch = 1
        #: Pages asked for in Hello; the server's grant (Welcome) replaces it.
        self.window = max(1, window)
        #: Ask the server to leave out of pages what it acknowledged to this
        #: connection (this device holds those events already).
        self.skip_acknowledged = skip_acknowledged
        #: The last ``pos`` of each page handed out in ``StoreRemote`` and
        #: not yet ``stored``, oldest first; ``_received`` the highest of all.
        self._unstored: list[int] = []
        self._received = cursor
        self._ping: tuple[int, int] | None = None
        self._next_nonce = 1

    def start(self) -> list[ClientAction]:
        """Open the conversation: the ``Hello``."""
        if self.state is not ClientState.NEW:
            raise RuntimeError("start() called twice")
        self.state = ClientState.HELLO_SENT
        hello = Hello(
            protocol=PROTOCOL_VERSION,
            device=self.device,
            cursor=self.cursor,
            epoch=self.epoch,
            client_time_ms=self._hello_ms,
            window=self.window,
            skip_acknowledged=self.skip_acknowledged,
        )
        return [Send(hello)]

    # --- input from the server -------------------------------------------------------

    def receive_frame(self, data: bytes, now_ms: int) -> list[ClientAction]:
        """Handle one binary frame from the server."""
        if self.state is ClientState.CLOSED:
            return []
        try:
            message = decode_server_frame(data, CLIENT_MAX_FRAME_BYTES)
        except ProtocolError as exc:
            return self._close(exc.code)
        return self.receive(message, now_ms)

    def receive(self, message: ServerMessage, now_ms: int) -> list[ClientAction]:
        """Handle one decoded server message."""
        if self.state in (ClientState.CLOSED, ClientState.NEW):
            return []
        self._last_received_ms = now_ms
        self._ping = None
        if isinstance(message, Error):
            return self._error(message)
        if self.state is ClientState.HELLO_SENT:
            match message:
                case Reset(epoch=epoch) if not self._was_reset:
                    self._was_reset = True
                    self.epoch = epoch
                    self.cursor = self.head = self._received = 0
                    return [ResetLocal(epoch)]
                case Welcome():
                    return self._welcome(message, now_ms)
                case Ping(nonce=nonce):
                    return [Send(Pong(nonce=nonce))]
            return self._close(codes.UNEXPECTED_MESSAGE)
        match message:
            case Events(items=items, head=head, upto=upto):
                return self._events(items, head, upto)
            case PushResult(batch=batch, results=results):
                return self._push_result(batch, results)
            case Gap(batch=batch, expected=expected):
                return self._gap(batch, expected)
            case Ping(nonce=nonce):
                return [Send(Pong(nonce=nonce))]
            case Pong():
                return []
        return self._close(codes.UNEXPECTED_MESSAGE)

    def _welcome(self, welcome: Welcome, now_ms: int) -> list[ClientAction]:
        if welcome.protocol != PROTOCOL_VERSION:
            self.state = ClientState.CLOSED
            return [
                Fatal(codes.UNSUPPORTED_PROTOCOL, f"server answered protocol {welcome.protocol}")
            ]
        if welcome.epoch != self.epoch and (self.epoch is not None or self.cursor > 0):
            # The server should have sent Reset first; start over, on a new connection.
            self.epoch = welcome.epoch
            self.cursor = self.head = 0
            return [ResetLocal(welcome.epoch), *self._close(codes.UNEXPECTED_MESSAGE)]
        if welcome.head < self.cursor:
            self.epoch = welcome.epoch
            self.cursor = self.head = 0
            return [ResetLocal(welcome.epoch), *self._close(codes.UNEXPECTED_MESSAGE)]
        self.state = ClientState.OPEN
        self.epoch = welcome.epoch
        self.head = welcome.head
        self.max_batch = welcome.max_batch
        self.max_frame_bytes = welcome.max_frame_bytes
        self.ping_interval_ms = welcome.ping_interval_ms
        # Never more than asked for, whatever the server says.
        self.window = max(1, min(self.window, welcome.window))
        rtt = max(0, now_ms - self._hello_ms)
        offset = welcome.server_time_ms - (self._hello_ms + now_ms) // 2
        return [
            Ready(welcome.epoch, welcome.head, welcome.device_head),
            ClockOffset(offset_ms=offset, rtt_ms=rtt),
            ResendFrom(welcome.device_head + 1),
        ]

    def _events(self, items: list[Item], head: int, upto: int) -> list[ClientAction]:
        if len(self._unstored) >= self.window:
            return self._close(codes.UNEXPECTED_MESSAGE)
        last = self._received
        for item in items:
            if item.pos <= last:
                return self._close(codes.UNEXPECTED_MESSAGE)
            last = item.pos
        if upto:
            # Positions left out are this connection's acknowledged pushes,
            # which only a client that asked for it may be sent.
            if not self.skip_acknowledged or upto < last:
                return self._close(codes.UNEXPECTED_MESSAGE)
            last = upto
        if last == self._received:
            return self._close(codes.UNEXPECTED_MESSAGE)  # an empty page
        self._unstored.append(last)
        self._received = last
        self.head = max(self.head, head, last)
        return [StoreRemote(items, self.head, last)]

    def _push_result(self, batch: int, results: list[Result]) -> list[ClientAction]:
        if self._in_flight is None or self._in_flight[0] != batch:
            return self._close(codes.UNEXPECTED_MESSAGE)
        events = self._in_flight[1]
        if len(results) != len(events):
            return self._close(codes.UNEXPECTED_MESSAGE)
        self._in_flight = None
        return [PushOutcome(batch, events, results), *self._send_batch()]

    def _gap(self, batch: int, expected: int) -> list[ClientAction]:
        if self._in_flight is None or self._in_flight[0] != batch or expected < 1:
            return self._close(codes.UNEXPECTED_MESSAGE)
        self._in_flight = None
        self._queue.clear()
        return [ResendFrom(expected)]

    def _error(self, error: Error) -> list[ClientAction]:
        self.state = ClientState.CLOSED
        if codes.is_fatal(error.code):
            return [Fatal(error.code, error.message)]
        return [Close(codes.close_code(error.code), error.code)]

    # --- input from the adapter ------------------------------------------------------

    def stored(self, cursor: int) -> list[ClientAction]:
        """The page from ``StoreRemote`` is durable up to ``cursor`` (its ``cursor``)."""
        if not self._unstored or cursor != self._unstored[0]:
            raise RuntimeError(
                f"stored({cursor}) does not match the oldest page ({self._unstored})"
            )
        del self._unstored[0]
        self.cursor = cursor
        if self.state is not ClientState.OPEN:
            return []
        return [Send(Ack(cursor=cursor))]

    def push(self, events: Sequence[bytes]) -> list[ClientAction]:
        """Queue own events (encoded, in ``dseq`` order) and send if nothing is in flight.

        Before ``Welcome`` this does nothing: the handshake's ``ResendFrom``
        asks for everything the server lacks.
        """
        if self.state is not ClientState.OPEN:
            return []
        self._queue.extend(events)
        if self._in_flight is not None:
            return []
        return self._send_batch()

    def _send_batch(self) -> list[ClientAction]:
        if not self._queue or self.state is not ClientState.OPEN:
            return []
        budget = self.max_frame_bytes - _PUSH_OVERHEAD
        take = 0
        for event in self._queue[: self.max_batch]:
            budget -= len(event)
            if take and budget < 0:
                break
            take += 1
        batch, self._queue = self._queue[:take], self._queue[take:]
        self._in_flight = (self._next_batch, batch)
        self._next_batch += 1
        return [
            Send(Push(batch=self._in_flight[0], events=[msgspec.Raw(event) for event in batch]))
        ]

    def tick(self, now_ms: int) -> list[ClientAction]:
        """Call at least every ``ping_interval_ms / 2``: heartbeat and timeouts."""
        match self.state:
            case ClientState.NEW | ClientState.CLOSED:
                return []
            case ClientState.HELLO_SENT:
                if now_ms - self._hello_ms >= self.timeout_ms:
                    return self._close(codes.TIMEOUT)
                return []
        if self._ping is not None:
            if now_ms - self._ping[1] >= self.timeout_ms:
                return self._close(codes.TIMEOUT)
            return []
        if now_ms - self._last_received_ms >= self.ping_interval_ms:
            nonce = self._next_nonce
            self._next_nonce += 1
            self._ping = (nonce, now_ms)
            return [Send(Ping(nonce=nonce))]
        return []

    def close(self) -> list[ClientAction]:
        """The person stops syncing: close normally."""
        if self.state is ClientState.CLOSED:
            return []
        self.state = ClientState.CLOSED
        return [Close(1000, "bye")]

    def _close(self, code: str) -> list[ClientAction]:
        self.state = ClientState.CLOSED
        return [Close(codes.close_code(code), code)]

    @property
    def closed(self) -> bool:
        return self.state is ClientState.CLOSED

    @property
    def synced(self) -> bool:
        """Open, nothing to push or in flight, no page unstored, cursor at head."""
        return (
            self.state is ClientState.OPEN
            and self._in_flight is None
            and not self._queue
            and not self._unstored
            and self.cursor >= self.head
        )
