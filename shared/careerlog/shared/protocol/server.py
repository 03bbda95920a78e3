"""The server side of one sync connection, as a sans-I/O state machine.

Rules of this module (the state machine in one place):

    AWAIT_HELLO --Hello ok--> OPEN --error / close / revoke--> CLOSED
    AWAIT_HELLO --anything else, or timeout--> CLOSED

- In OPEN two independent flows run on the connection:
  push:  Push -> Append -> (appended -> PushResult | gap -> Gap); at most one
         Push outstanding, a second one before its answer is a protocol error.
  pull:  sent < head -> Read -> read_done -> Events -> Ack -> Read ...; at
         most ``window`` pages in flight (1 unless the client asked for more,
         at most ``max_window``) and at most one read pending, so the server
         never buffers a backlog: a woken connection reads the next page from
         the last position it sent, and an ``Ack`` releases the next read.
- The session judges every pushed event (envelope, device, type, schema,
  clock skew, size) and passes rejected ones on with their code: the store
  records them so their ``dseq`` slot is filled and the device's queue never
  wedges on one bad event. Whether an event is new, a duplicate or leaves a
  gap is the store's call, under its per-user lock.
- The rate budget is two token buckets, frames and pushed events; running
  out of either ends the connection with ``rate_limited``.
- Any protocol violation ends the connection with ``Error`` then ``Close``,
  never an exception; other connections are not disturbed. Methods the
  adapter calls in the wrong order (``appended`` with nothing pending) raise,
  since that is a bug in the adapter, not in the peer.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeAlias

import msgspec
from msgspec import Meta

from careerlog.shared import hlc
from careerlog.shared.codec import EventDecodeError, decode_event
from careerlog.shared.events import ALL_EVENT_TYPES, CURRENT_VERSIONS, Event
from careerlog.shared.ids import id_bytes
from careerlog.shared.protocol import codes
from careerlog.shared.protocol.actions import Close, Send
from careerlog.shared.protocol.frames import ProtocolError, decode_client_frame
from careerlog.shared.protocol.limits import DEFAULT_LIMITS, Limits
from careerlog.shared.protocol.messages import (
    PROTOCOL_VERSION,
    SUPPORTED_PROTOCOLS,
    Ack,
    ClientMessage,
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
    Welcome,
)

__all__ = [
    "Append",
    "IncomingEvent",
    "Read",
    "Rejection",
    "ServerAction",
    "ServerSession",
    "ServerState",
]

#: Bytes of an ``Events`` frame besides its event bytes: the tag, the head
#: and, per item, its map header, keys and ``pos``. Generous on purpose.
_PAGE_OVERHEAD = 64
_ITEM_OVERHEAD = 32


class ServerState(enum.Enum):
    AWAIT_HELLO = "await_hello"
    OPEN = "open"
    CLOSED = "closed"


class Rejection(msgspec.Struct, frozen=True):
    """Why an event was refused: a stable code and a reason for people."""

    code: str
    reason: str


class IncomingEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One pushed event as judged by the session, for the store.

    ``device`` is always the connection's (authenticated) device and
    ``dseq`` the slot the event takes in that device's sequence, rejected or
    not. ``body`` is the device's own bytes; ``event`` the decoded event when
    it is valid. ``id`` is the event's id (16 bytes) when its envelope has a
    readable one: the store tells a re-push from a reused ``dseq`` by it.
    """

    device: str
    dseq: int
    hlc: int
    type: str
    body: bytes
    id: bytes | None = None
    event: Event | None = None
    rejected: Rejection | None = None


@dataclass(frozen=True, slots=True)
class Append:
    """Append ``events`` for the connection's device in one transaction.

    Then call ``session.appended(results, head)`` (one ``Result`` per event,
    in order; ``head`` the user's head after the commit) or, if the first new
    event's ``dseq`` is not the device's high-water mark + 1,
    ``session.gap(batch, expected)`` without storing anything.
    """

    batch: int
    events: list[IncomingEvent]


@dataclass(frozen=True, slots=True)
class Read:
    """Read at most ``limit`` events with ``pos > after``, in ``pos`` order.

    Then call ``session.read_done([(pos, body), ...], head)``.
    """

    after: int
    limit: int


ServerAction: TypeAlias = Send | Close | Append | Read


class _Envelope(msgspec.Struct):
    """The envelope fields of an event, read leniently to judge a bad one."""

    type: str
    device: str
    dseq: Annotated[int, Meta(ge=1)]
    hlc: Annotated[int, Meta(ge=0)]
    v: int = 1
    #: Any type: a bad id is the event's fault (``invalid_event``), not the frame's.
    id: Any = None


_envelope_decoder: msgspec.msgpack.Decoder[_Envelope] = msgspec.msgpack.Decoder(_Envelope)
#: The typed event decoder, for the fast path of judging: one decode checks
#: the envelope and the schema of a valid, current event at once.
_event_decoder: msgspec.msgpack.Decoder[Event] = msgspec.msgpack.Decoder(Event)
#: Type name and current schema version, keyed by class (a decoded event's
#: ``type`` is its class).
_CURRENT: dict[type, tuple[str, int]] = {
    cls: (name, CURRENT_VERSIONS[name]) for name, cls in ALL_EVENT_TYPES.items()
}


#: Positions a connection remembers to leave out of its pages, at most: a
#: client that pushes and never acknowledges a page must not grow the
#: server's memory. Beyond it, its own events are simply sent like others.
_MAX_ACKNOWLEDGED = 10_000


class ServerSession:
    """One authenticated device's connection.

    ``head`` is the user's head and ``device_head`` the device's highest
    stored ``dseq``, both read from the store when the connection opens.
    """

    def __init__(
        self,
        device: str,
        epoch: str,
        head: int,
        device_head: int,
        now_ms: int,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.device = device
        self.epoch = epoch
        self.head = head
        self.device_head = device_head
        self.limits = limits
        self.state = ServerState.AWAIT_HELLO
        #: Highest ``pos`` the client has acknowledged (or claimed in Hello).
        self.cursor = 0
        self._opened_ms = now_ms
        self._last_received_ms = now_ms
        self._tokens = float(limits.frame_burst)
        self._event_tokens = float(limits.event_burst)
        self._refilled_ms = now_ms
        self._pending_push: tuple[int, list[IncomingEvent]] | None = None
        self._read_pending = False
        #: Pages the client may hold unacknowledged (granted at Hello).
        self.window = 1
        #: The last ``pos`` of each page sent and not yet acknowledged, oldest first.
        self._in_flight: list[int] = []
        #: The highest ``pos`` sent: the next page is read after it.
        self._sent = 0
        #: The client asked to be spared its own acknowledged events (Hello).
        self._skip_acknowledged = False
        #: Positions this connection's ``PushResult``s gave, not yet passed by
        #: a page: left out of the pages. Bounded by what is unsent.
        self._acknowledged: set[int] = set()
        #: The pending read starts after this ``pos`` (acknowledged ones skipped).
        self._skip_to = 0
        self._ping: tuple[int, int] | None = None  # (nonce, sent at)
        self._next_nonce = 1

    # --- input from the client ----------------------------------------------------

    def receive_frame(self, data: bytes, now_ms: int) -> list[ServerAction]:
        """Handle one binary frame from the client."""
        if self.state is ServerState.CLOSED:
            return []
        try:
            message = decode_client_frame(data, self.limits.max_frame_bytes)
        except ProtocolError as exc:
            return self._fail(exc.code, exc.message)
        return self.receive(message, now_ms)

    def receive_text(self) -> list[ServerAction]:
        """Handle a text frame: the protocol only speaks binary."""
        if self.state is ServerState.CLOSED:
            return []
        return self._fail(codes.MALFORMED_FRAME, "text frames are not allowed; send binary")

    def receive(self, message: ClientMessage, now_ms: int) -> list[ServerAction]:
        """Handle one decoded client message."""
        if self.state is ServerState.CLOSED:
            return []
        if not self._take_token(now_ms):
            return self._fail(codes.RATE_LIMITED, "too many frames; slow down")
        self._last_received_ms = now_ms
        self._ping = None  # any frame proves the peer is alive
        try:
            if self.state is ServerState.AWAIT_HELLO:
                if isinstance(message, Hello):
                    return self._hello(message, now_ms)
                raise ProtocolError(codes.UNEXPECTED_MESSAGE, "the first message must be hello")
            match message:
                case Push():
                    return self._push(message, now_ms)
                case Ack(cursor=cursor):
                    return self._ack(cursor)
                case Ping(nonce=nonce):
                    return [Send(Pong(nonce=nonce))]
                case Pong():
                    return []
                case Hello():
                    raise ProtocolError(codes.UNEXPECTED_MESSAGE, "hello was already received")
        except ProtocolError as exc:
            return self._fail(exc.code, exc.message)
        raise AssertionError(f"unhandled message {message!r}")  # pragma: no cover

    def _hello(self, hello: Hello, now_ms: int) -> list[ServerAction]:
        if hello.protocol not in SUPPORTED_PROTOCOLS:
            raise ProtocolError(
                codes.UNSUPPORTED_PROTOCOL,
                f"protocol {hello.protocol} is not supported; this server speaks "
                f"{sorted(SUPPORTED_PROTOCOLS)}",
            )
        if hello.device != self.device:
            raise ProtocolError(
                codes.WRONG_DEVICE,
                f"hello names device {hello.device!r} but the token is for {self.device!r}",
            )
        if hello.cursor < 0:
            raise ProtocolError(codes.MALFORMED_FRAME, "cursor must be >= 0")
        actions: list[ServerAction] = []
        fresh = hello.epoch is None and hello.cursor == 0
        if (hello.epoch != self.epoch and not fresh) or hello.cursor > self.head:
            # Another life of this server (wiped, restored, or the client's
            # cursor is beyond anything stored): the client starts over.
            actions.append(Send(Reset(epoch=self.epoch)))
            self.cursor = 0
        else:
            self.cursor = hello.cursor
        self._sent = self.cursor
        self._skip_acknowledged = hello.skip_acknowledged
        self.window = max(1, min(hello.window, self.limits.max_window))
        self.state = ServerState.OPEN
        actions.append(
            Send(
                Welcome(
                    protocol=PROTOCOL_VERSION,
                    server_time_ms=now_ms,
                    epoch=self.epoch,
                    head=self.head,
                    device_head=self.device_head,
                    max_frame_bytes=self.limits.max_frame_bytes,
                    max_batch=self.limits.max_batch,
                    max_event_bytes=self.limits.max_event_bytes,
                    ping_interval_ms=self.limits.ping_interval_ms,
                    window=self.window,
                    frames_per_second=self.limits.frames_per_second,
                    frame_burst=self.limits.frame_burst,
                    events_per_second=self.limits.events_per_second,
                    event_burst=self.limits.event_burst,
                )
            )
        )
        actions.extend(self._maybe_read())
        return actions

    def _push(self, push: Push, now_ms: int) -> list[ServerAction]:
        if self._pending_push is not None:
            raise ProtocolError(
                codes.UNEXPECTED_MESSAGE, "push before the previous push was answered"
            )
        if len(push.events) > self.limits.max_batch:
            raise ProtocolError(
                codes.BATCH_TOO_LARGE,
                f"{len(push.events)} events in one push; the limit is {self.limits.max_batch}",
            )
        if not push.events:
            return [Send(PushResult(batch=push.batch, results=[]))]
        if not self._take_events(len(push.events)):
            raise ProtocolError(codes.RATE_LIMITED, "too many events; slow down")
        incoming = [self._judge(bytes(raw), index, now_ms) for index, raw in enumerate(push.events)]
        for before, after in itertools.pairwise(incoming):
            if after.dseq != before.dseq + 1:
                # A hole inside the batch: nothing is stored, the client resends.
                return [
                    Send(Gap(batch=push.batch, device=self.device, expected=self.device_head + 1))
                ]
        self._pending_push = (push.batch, incoming)
        return [Append(batch=push.batch, events=incoming)]

    def _judge(self, body: bytes, index: int, now_ms: int) -> IncomingEvent:
        # The fast path, for the event a well-behaved device sends: one typed
        # decode validates envelope and schema together. Anything it does not
        # settle (a decode error, an old or foreign version, another device's
        # event, an oversized one) takes the full path below, which judges it
        # exactly as before; the same checks run either way.
        if len(body) <= self.limits.max_event_bytes:
            try:
                event = _event_decoder.decode(body)
            except (msgspec.DecodeError, msgspec.ValidationError):
                pass
            else:
                name, current = _CURRENT[type(event)]
                if event.v == current and event.device == self.device:
                    skewed = self._skew(event.hlc, now_ms)
                    return IncomingEvent(
                        device=self.device,
                        dseq=event.dseq,
                        hlc=event.hlc,
                        type=name,
                        body=body,
                        id=event.id.bytes,
                        event=None if skewed else event,
                        rejected=skewed,
                    )
        return self._judge_fully(body, index, now_ms)

    def _skew(self, stamp: int, now_ms: int) -> Rejection | None:
        ahead = hlc.wall_ms(stamp) - now_ms
        if ahead > self.limits.max_clock_skew_ms:
            return Rejection(
                codes.CLOCK_SKEW,
                f"recorded {ahead} ms ahead of the server clock; "
                f"the limit is {self.limits.max_clock_skew_ms} ms",
            )
        return None

    def _judge_fully(self, body: bytes, index: int, now_ms: int) -> IncomingEvent:
        try:
            envelope = _envelope_decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            # Without a dseq the event has no slot to be recorded in.
            raise ProtocolError(
                codes.MALFORMED_FRAME, f"event {index} has no readable envelope: {exc}"
            ) from None
        event: Event | None = None
        rejected: Rejection | None = None
        limit = self.limits.max_event_bytes
        if len(body) > limit:
            rejected = Rejection(codes.EVENT_TOO_LARGE, f"{len(body)} bytes; the limit is {limit}")
        elif envelope.device != self.device:
            rejected = Rejection(
                codes.WRONG_DEVICE,
                f"event of device {envelope.device!r} pushed by {self.device!r}",
            )
        elif envelope.type not in CURRENT_VERSIONS:
            rejected = Rejection(codes.UNKNOWN_EVENT_TYPE, f"unknown event type {envelope.type!r}")
        elif envelope.v > CURRENT_VERSIONS[envelope.type]:
            rejected = Rejection(
                codes.UNSUPPORTED_EVENT_VERSION,
                f"{envelope.type} v{envelope.v} is newer than this server understands "
                f"(v{CURRENT_VERSIONS[envelope.type]})",
            )
        else:
            try:
                event = decode_event(body)
            except EventDecodeError as exc:
                rejected = Rejection(codes.INVALID_EVENT, str(exc))
            else:
                rejected = self._skew(event.hlc, now_ms)
                if rejected is not None:
                    event = None
        return IncomingEvent(
            device=self.device,
            dseq=envelope.dseq,
            hlc=envelope.hlc,
            type=envelope.type,
            body=body,
            id=id_bytes(envelope.id),
            event=event,
            rejected=rejected,
        )

    def _ack(self, cursor: int) -> list[ServerAction]:
        if cursor not in self._in_flight:
            raise ProtocolError(
                codes.UNEXPECTED_MESSAGE,
                f"ack {cursor} does not match a page in flight ({self._in_flight})",
            )
        # Cumulative: the client stored this page and every one before it.
        del self._in_flight[: self._in_flight.index(cursor) + 1]
        self.cursor = cursor
        return self._maybe_read()

    # --- results from the adapter ------------------------------------------------------

    def appended(self, results: Sequence[Result], head: int) -> list[ServerAction]:
        """The store committed the pending ``Append``; ``head`` is the user's head now."""
        if self._pending_push is None:
            raise RuntimeError("appended() without a pending Append")
        batch, incoming = self._pending_push
        if len(results) != len(incoming):
            raise ValueError(f"{len(results)} results for {len(incoming)} events")
        self._pending_push = None
        self.device_head = max(self.device_head, incoming[-1].dseq)
        self.head = max(self.head, head)
        if self.state is ServerState.CLOSED:
            return []
        if self._skip_acknowledged and len(self._acknowledged) < _MAX_ACKNOWLEDGED:
            # Sent before any page that holds them: the client has their
            # positions by the time a page leaves them out.
            self._acknowledged.update(
                result.pos
                for result in results
                if result.pos is not None and result.pos > self._sent
            )
        return [Send(PushResult(batch=batch, results=list(results))), *self._maybe_read()]

    def gap(self, batch: int, expected: int) -> list[ServerAction]:
        """The store refused the pending ``Append``: the device must resend from ``expected``."""
        if self._pending_push is None or self._pending_push[0] != batch:
            raise RuntimeError("gap() without a matching pending Append")
        self._pending_push = None
        self.device_head = expected - 1
        if self.state is ServerState.CLOSED:
            return []
        return [Send(Gap(batch=batch, device=self.device, expected=expected))]

    def read_done(self, items: Sequence[tuple[int, bytes]], head: int) -> list[ServerAction]:
        """The store answered the pending ``Read`` with ``(pos, body)`` pairs."""
        if not self._read_pending:
            raise RuntimeError("read_done() without a pending Read")
        self._read_pending = False
        self.head = max(self.head, head)
        if self.state is not ServerState.OPEN:
            return []
        page: list[Item] = []
        budget = self.limits.max_frame_bytes - _PAGE_OVERHEAD
        # The read began after the client's own acknowledged events that
        # follow the cursor (see ``_maybe_read``): the page covers them too.
        acknowledged = self._acknowledged
        acknowledged.difference_update(range(self._sent + 1, self._skip_to + 1))
        last = max(self._sent, self._skip_to)
        for pos, body in items:
            if pos <= last:
                continue  # never resend what was sent (the cursor is at or below it)
            if pos in acknowledged:
                acknowledged.discard(pos)  # the client's own, acknowledged: left out
                last = pos
                continue
            budget -= len(body) + _ITEM_OVERHEAD
            if page and budget < 0:
                break  # the rest comes in the next page, read again from the cursor
            page.append(Item(pos=pos, event=msgspec.Raw(body)))
            last = pos
        if last == self._sent:
            return []  # nothing new after all; the next wake-up reads again
        return self._page(page, last)

    def woken(self, head: int) -> list[ServerAction]:
        """Fan-out: the user's head moved to ``head``."""
        self.head = max(self.head, head)
        return self._maybe_read()

    def _maybe_read(self) -> list[ServerAction]:
        if (
            self.state is not ServerState.OPEN
            or self._read_pending
            or len(self._in_flight) >= self.window
            or self.head <= self._sent
        ):
            return []
        # What follows the cursor may be the client's own acknowledged events:
        # they need no read. (Usually all of it, when the client is the only
        # one writing: then the page is just the cursor's move.)
        skip_to = self._sent
        while skip_to + 1 in self._acknowledged:
            skip_to += 1
        if skip_to >= self.head:
            self._acknowledged.difference_update(range(self._sent + 1, skip_to + 1))
            return self._page([], skip_to)
        self._read_pending = True
        self._skip_to = skip_to
        return [Read(after=skip_to, limit=self.limits.page_size)]

    def _page(self, page: list[Item], last: int) -> list[ServerAction]:
        """Send ``page``, which covers the log up to ``last``, and read on if the window allows."""
        self._in_flight.append(last)
        self._sent = last
        # ``upto`` only when the items alone do not say where the page ends.
        upto = last if not page or page[-1].pos != last else 0
        # With room in the window, read on at once: the client stores this
        # page while the next one is read and sent.
        return [
            Send(Events(items=page, head=max(self.head, last), upto=upto)),
            *self._maybe_read(),
        ]

    # --- time and the server's own decisions -------------------------------------------

    def tick(self, now_ms: int) -> list[ServerAction]:
        """Call at least every ``ping_interval_ms / 2``: heartbeat and timeouts."""
        match self.state:
            case ServerState.CLOSED:
                return []
            case ServerState.AWAIT_HELLO:
                if now_ms - self._opened_ms >= self.limits.timeout_ms:
                    return self._fail(codes.TIMEOUT, "no hello in time")
                return []
        if self._ping is not None:
            if now_ms - self._ping[1] >= self.limits.timeout_ms:
                return self._fail(codes.TIMEOUT, "ping unanswered")
            return []
        if now_ms - self._last_received_ms >= self.limits.ping_interval_ms:
            nonce = self._next_nonce
            self._next_nonce += 1
            self._ping = (nonce, now_ms)
            return [Send(Ping(nonce=nonce))]
        return []

    def revoke(self) -> list[ServerAction]:
        """The device's token was revoked: end the connection for good."""
        return self._fail(codes.REVOKED, "this device's access was revoked")

    def expire(self) -> list[ServerAction]:
        """The device's token reached its expiry: end the connection until the device renews it."""
        return self._fail(codes.TOKEN_EXPIRED, "this device's token expired")

    def replace(self) -> list[ServerAction]:
        """A newer connection of the same device took over."""
        return self._fail(codes.REPLACED, "a newer connection of this device took over")

    def internal_error(self, detail: str = "internal error") -> list[ServerAction]:
        """The adapter failed (the store raised): close; the client retries later."""
        return self._fail(codes.INTERNAL, detail)

    def shutdown(self) -> list[ServerAction]:
        """The server is going away: close with 1001 so the client reconnects soon."""
        if self.state is ServerState.CLOSED:
            return []
        self.state = ServerState.CLOSED
        return [Close(codes.GOING_AWAY, "server shutting down")]

    def _fail(self, code: str, message: str) -> list[ServerAction]:
        if self.state is ServerState.CLOSED:
            return []
        self.state = ServerState.CLOSED
        return [Send(Error(code=code, message=message)), Close(codes.close_code(code), code)]

    def _take_token(self, now_ms: int) -> bool:
        """Take one frame token, refilling both buckets for the time passed."""
        elapsed = max(0, now_ms - self._refilled_ms)
        self._refilled_ms = now_ms
        limits = self.limits
        self._tokens = min(
            float(limits.frame_burst), self._tokens + elapsed * limits.frames_per_second / 1000
        )
        self._event_tokens = min(
            float(limits.event_burst),
            self._event_tokens + elapsed * limits.events_per_second / 1000,
        )
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _take_events(self, count: int) -> bool:
        """Take ``count`` event tokens (refilled by the frame's ``_take_token``)."""
        if self._event_tokens < count:
            return False
        self._event_tokens -= count
        return True

    @property
    def closed(self) -> bool:
        return self.state is ServerState.CLOSED
