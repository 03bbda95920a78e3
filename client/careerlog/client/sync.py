"""The sync engine: one device's websocket to its server, driving a ClientSession.

Rules of this module:
- The protocol is :class:`~careerlog.shared.protocol.ClientSession` (pure);
  this module only pumps frames between it, a websocket and the local store,
  and carries out the actions it returns, in order.
- Durable first: a page of remote events is stored (``ingest_remote``) and the
  cursor persisted before the session may ``Ack`` it; a push outcome is
  recorded (``mark_acked`` / ``mark_rejected``) before the next batch is read
  from the outbox. A crash anywhere re-sends or re-receives, never loses.
- The outbox is the push queue: the engine reads one batch of it whenever
  nothing is in flight, so a device with a million unsent events uses the
  memory of one batch.
- Fatal errors (revoked, wrong device, unsupported protocol, a refused token)
  raise :class:`SyncError` with ``fatal=True``; anything else reconnects after
  a full-jitter backoff delay (``reconnect_delays``).

Where things live in the home: the server URL, cursor, epoch, clock offset and
last sync time in the ``meta`` table (``server_url``, ``sync_cursor``,
``sync_epoch``, ``clock_offset_ms``, ``last_sync_at``); the device token, a
secret, in the file ``device_token`` (mode 0600), never in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from careerlog.client.enrollment import SERVER_META, TOKEN_FILE, read_token, write_token
from careerlog.client.store import CURSOR_META, EPOCH_META, LocalStore
from careerlog.client.wakeup import WakeListener
from careerlog.shared.codec import decode_event
from careerlog.shared.events import Event
from careerlog.shared.protocol import (
    SYNC_PATH,
    ClientAction,
    ClientSession,
    ClockOffset,
    Close,
    Fatal,
    Item,
    Push,
    PushOutcome,
    Ready,
    ResendFrom,
    ResetLocal,
    Result,
    Send,
    StoreRemote,
    codes,
    encode_frame,
    reconnect_delays,
)
from careerlog.shared.protocol.frames import CLIENT_MAX_FRAME_BYTES

__all__ = [
    "LAST_SYNC_META",
    "SERVER_META",
    "TOKEN_FILE",
    "ProgressLine",
    "SyncEngine",
    "SyncError",
    "SyncReport",
    "read_token",
    "sync_url",
    "write_token",
]

LAST_SYNC_META = "last_sync_at"

#: How long a watching engine woken by another process's commit waits
#: before it reads the outbox: a recording program's next commits join the
#: same push (while it streams, a push then carries a hundred events or more
#: rather than one group; fewer, bigger pushes cost every process less per
#: event), for 5 ms more latency than none.
WAKE_LINGER_S = 0.005

#: How often the engine wakes without a frame: heartbeat, and (watching) a
#: look at the outbox for events recorded by other processes that could not
#: wake it (``wakeup``: they do at once where they can).
POLL_S = 0.2
BACKOFF_BASE_MS = 500
BACKOFF_CAP_MS = 60_000
#: A one-shot sync gives up after this many failed connections in a row.
ONE_SHOT_ATTEMPTS = 4
#: Consecutive ``Gap`` answers before the engine suspects a loop and reconnects.
MAX_GAPS = 3
#: Push results with ``dseq_reused`` events a connection moves to new dseqs;
#: past that, such events are flagged rejected (the person is told) rather
#: than moved on and on.
MAX_REUSED = 3
OPEN_TIMEOUT_S = 10.0
#: Pages asked to be sent ahead of the Ack (docs/protocol.md §8.4): the server
#: reads and sends the next page while this device stores one, so a catch-up
#: is not a strict alternation of the two.
PAGE_WINDOW = 2


class SyncError(Exception):
    """Sync failed. ``fatal``: retrying cannot help until a person acts."""

    def __init__(self, message: str, *, code: str | None = None, fatal: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.fatal = fatal


@dataclass(slots=True)
class SyncReport:
    """What one sync (or, watching, the whole session so far) did."""

    pushed: int = 0
    pulled: int = 0
    rejected: int = 0
    cursor: int = 0
    head: int = 0
    #: Events still in the outbox when the report was taken (for progress).
    pending: int = 0
    rejections: list[tuple[UUID, str, str]] = field(default_factory=list)
    #: This device's own events the home had lost (restored from a backup, or
    #: copied) and took back from the server, and events recorded here moved
    #: to new dseqs after them (``LocalStore._take_back_own`` says why).
    restored: int = 0
    moved: int = 0

    def restore_line(self) -> str | None:
        """What a person is told when this home was behind its own past."""
        if not self.restored and not self.moved:
            return None
        return (
            "this home was behind its own past on the server (restored from a backup, "
            f"or copied): took back {self.restored} of this device's events from the server"
            f" and moved {self.moved} recorded here to new sequence numbers after them;"
            " nothing was lost"
        )


# --- the home's sync configuration ------------------------------------------------------


def sync_url(server_url: str) -> str:
    """The websocket URL of a server's sync endpoint: http(s) -> ws(s), plus /v1/sync."""
    parts = urlsplit(server_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise SyncError(f"not a server URL: {server_url!r} (use https://host[:port])")
    path = parts.path.rstrip("/")
    if not path.endswith(SYNC_PATH):
        path += SYNC_PATH
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Origin(msgspec.Struct, frozen=True):
    """The two envelope fields that say whose event it is; the rest is skipped."""

    device: str
    dseq: int


_origin_decoder = msgspec.msgpack.Decoder(_Origin)


class _Closed:
    """The reader's mark that the socket is gone."""


_CLOSED = _Closed()


class _Woken:
    """Queued after the frames when another process recorded (``wakeup``)."""


_WOKEN = _Woken()


class _Reconnect(Exception):
    """End this connection, try again after the backoff delay."""


# --- the engine --------------------------------------------------------------------------


class SyncEngine:
    """Syncs one open :class:`LocalStore` with its server, once or continuously."""

    def __init__(
        self,
        store: LocalStore,
        server_url: str,
        token: str,
        *,
        on_progress: Callable[[SyncReport], None] | None = None,
        on_round: Callable[[SyncReport], None] | None = None,
        now_ms: Callable[[], int] = _now_ms,
        random_float: Callable[[], float] = random.random,
        max_batch: int | None = None,
    ) -> None:
        self.store = store
        #: Events per Push at most, below what the server allows (None: as many
        #: as it allows): smaller frames for a slow or metered link.
        self._max_batch = max_batch
        self.url = sync_url(server_url)
        self._token = token
        self.report = SyncReport()
        self._on_progress = on_progress
        self._on_round = on_round
        self._now_ms = now_ms
        self._random = random_float
        self._stop = asyncio.Event()
        # Per connection:
        self._socket: ClientConnection | None = None
        self._in_flight = False
        self._gaps = 0
        self._fed: dict[bytes, Event] = {}
        self._frames: asyncio.Queue[bytes | str | _Closed | _Woken] | None = None
        #: A wake-up is queued and not yet handled: later ones add nothing.
        self._woken = False
        self._last_sync: str | None = None  # the last LAST_SYNC_META written
        #: Per connection: no push until the cursor reaches this (see ``Ready``).
        self._held_until: int | None = None
        #: This device's highest dseq the server is known to hold.
        self._server_device_head = 0
        self._reused = 0
        self._round_start = (0, 0, 0)

    def stop(self) -> None:
        """Ask a running ``watch`` to close normally and return."""
        self._stop.set()
        if self._frames is not None:
            self._frames.put_nowait(_WOKEN)  # (not waiting for a frame or the poll)

    async def run_once(self) -> SyncReport:
        """Push the outbox and pull to the server's head, then close."""
        delays = reconnect_delays(BACKOFF_BASE_MS, BACKOFF_CAP_MS, self._random)
        failures = 0
        while True:
            before = (self.report.pushed, self.report.pulled, self.report.rejected)
            try:
                if await self._connection(until_synced=True):
                    return await self._finish()
            except _Reconnect as exc:
                # A connection that moved events on is not a failure in a row
                # (e.g. a huge push cut short by the server's rate limit).
                progressed = (self.report.pushed, self.report.pulled, self.report.rejected)
                failures = 1 if progressed != before else failures + 1
                if failures >= ONE_SHOT_ATTEMPTS:
                    raise SyncError(str(exc)) from None
            await asyncio.sleep(next(delays) / 1000)

    async def watch(self) -> SyncReport:
        """Stay connected until ``stop()``: push as events are recorded, pull as they arrive."""
        delays = reconnect_delays(BACKOFF_BASE_MS, BACKOFF_CAP_MS, self._random)
        listener = WakeListener.bind(self.store.home, self._wake)
        try:
            while not self._stop.is_set():
                with contextlib.suppress(_Reconnect):
                    await self._connection(until_synced=False)
                if self._welcomed:
                    delays = reconnect_delays(BACKOFF_BASE_MS, BACKOFF_CAP_MS, self._random)
                if self._stop.is_set():
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), next(delays) / 1000)
        finally:
            if listener is not None:
                listener.close()
        return self.report

    def _wake(self) -> None:
        """Another process recorded on this home: look at the outbox now."""
        if self._frames is not None and not self._woken:
            self._woken = True
            asyncio.get_running_loop().call_later(WAKE_LINGER_S, self._frames.put_nowait, _WOKEN)

    async def _finish(self) -> SyncReport:
        stamp = _rfc3339(self._now_ms())
        if stamp != self._last_sync:
            # (Watching, rounds end many times a second while events stream;
            # the stamp has whole seconds, and a write in the same second
            # would change nothing but hold the home's write lock.)
            await self.store.set_meta({LAST_SYNC_META: stamp})
            self._last_sync = stamp
        self.report.pending = await self.store.pending_count()
        return self.report

    # --- one connection ----------------------------------------------------------------

    async def _connection(self, *, until_synced: bool) -> bool:
        """Run one connection. True when it ended synced (one-shot) or stopped."""
        self._welcomed = False
        self._in_flight = False
        self._gaps = 0
        self._reused = 0
        self._held_until = None
        self._fed.clear()
        try:
            socket = await connect(
                self.url,
                additional_headers={"Authorization": f"Bearer {self._token}"},
                open_timeout=OPEN_TIMEOUT_S,
                max_size=CLIENT_MAX_FRAME_BYTES,
                compression=None,
                ping_interval=None,  # the protocol has its own heartbeat (Ping/Pong frames)
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                code = _denial_code(exc.response.body)
                raise SyncError(
                    _fatal_message(code, f"HTTP {status}"),
                    code=code,
                    fatal=True,
                ) from None
            raise _Reconnect(f"the server answered HTTP {status} at {self.url}") from None
        except InvalidURI:
            raise SyncError(f"not a valid server URL: {self.url}", fatal=True) from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise _Reconnect(f"cannot reach {self.url}: {exc}") from None
        self._socket = socket
        frames: asyncio.Queue[bytes | str | _Closed | _Woken] = asyncio.Queue()
        self._frames, self._woken = frames, False
        reader = asyncio.create_task(self._read(socket, frames))
        try:
            return await self._converse(socket, frames, until_synced)
        finally:
            self._frames = None
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
            with contextlib.suppress(Exception):
                await asyncio.wait_for(socket.close(1000), 2)
            self._socket = None

    @staticmethod
    async def _read(
        socket: ClientConnection, frames: asyncio.Queue[bytes | str | _Closed | _Woken]
    ) -> None:
        try:
            async for frame in socket:
                frames.put_nowait(frame)
        except ConnectionClosed:
            pass
        finally:
            frames.put_nowait(_CLOSED)

    async def _converse(
        self,
        socket: ClientConnection,
        frames: asyncio.Queue[bytes | str | _Closed | _Woken],
        until_synced: bool,
    ) -> bool:
        cursor = int(await self.store.get_meta(CURSOR_META) or 0)
        epoch = await self.store.get_meta(EPOCH_META) or None
        session = ClientSession(
            self.store.device, cursor, epoch, self._now_ms(), window=PAGE_WINDOW
        )
        self.report.cursor = cursor
        await self._perform(session, session.start())
        rounds = (-1, -1, -1)  # the report's counts when the engine was last synced
        while True:
            if self._stop.is_set():
                await self._perform(session, session.close())
                return True
            frame: bytes | str | _Closed | _Woken | None
            if not frames.empty():
                frame = frames.get_nowait()  # no timer for a frame already here
            else:
                try:
                    # (asyncio.timeout, not wait_for: no extra task per frame.)
                    async with asyncio.timeout(POLL_S):
                        frame = await frames.get()
                except TimeoutError:
                    frame = None
            if isinstance(frame, _Closed):
                close = socket.protocol.close_rcvd
                reason = f" ({close.code} {close.reason})" if close is not None else ""
                if close is not None and close.code in _FATAL_CLOSES:
                    raise SyncError(
                        _fatal_message(_FATAL_CLOSES[close.code], close.reason),
                        code=_FATAL_CLOSES[close.code],
                        fatal=True,
                    )
                raise _Reconnect(f"the server closed the connection{reason}")
            if isinstance(frame, _Woken):
                self._woken = False
                actions: Sequence[ClientAction] = ()  # only the outbox to look at, below
            elif isinstance(frame, str):
                actions = session.receive_frame(b"", self._now_ms())  # text frame: malformed
            elif frame is not None:
                actions = session.receive_frame(frame, self._now_ms())
            else:
                actions = session.tick(self._now_ms())
            await self._perform(session, actions)
            if session.closed:
                raise _Reconnect("the connection ended")
            if not self._in_flight and self._welcomed:
                await self._feed(session)
            if session.synced and not self._in_flight and session.cursor >= self.report.head:
                if until_synced:
                    if await self.store.pending_count() == 0:
                        await self._perform(session, session.close())
                        return True
                else:
                    counts = (self.report.pushed, self.report.pulled, self.report.rejected)
                    if counts != rounds:
                        rounds = counts
                        await self._finish()
                        if self._on_round is not None:
                            self._on_round(self.report)

    async def _feed(self, session: ClientSession) -> bool:
        """Hand the session the next batch of the outbox, if any."""
        if self._held_until is not None:
            if session.cursor < self._held_until:
                return False
            self._held_until = None  # every own event the server held is here now
        limit = session.max_batch
        if self._max_batch is not None:
            limit = max(1, min(limit, self._max_batch))
        rows = await self.store.pending(limit)
        if not rows:
            return False
        self._fed = {body: event for event, body in rows}
        await self._perform(session, session.push([body for _, body in rows]))
        return True

    # --- actions -----------------------------------------------------------------------

    async def _perform(self, session: ClientSession, actions: Sequence[ClientAction]) -> None:
        for action in actions:
            match action:
                case Send(message=message):
                    if isinstance(message, Push):
                        self._in_flight = True
                    await self._send(encode_frame(message))
                case StoreRemote(items=items, head=head, cursor=cursor):
                    await self._store_remote(session, items, head, cursor)
                case PushOutcome(events=events, results=results):
                    self._in_flight = False
                    await self._record_outcome(events, results)
                case ResendFrom(dseq=dseq):
                    await self._resend_from(dseq)
                case Ready(epoch=epoch, head=head, device_head=device_head):
                    self._welcomed = True
                    self._server_device_head = device_head
                    if device_head > await self.store.own_judged():
                        # The server holds events of this device the home has
                        # not seen judged: an ack lost with a connection, or a
                        # home restored from a backup (or copied) that has
                        # minted those dseqs again for other events. Nothing
                        # is pushed until the catch-up has brought them here,
                        # where an own event the home lacks is taken back and
                        # a local one on its dseq moved after them: so no push
                        # ever carries a dseq the server holds for another
                        # event. (A lost ack costs the wait of a catch-up.)
                        self._held_until = head
                    await self.store.set_meta({EPOCH_META: epoch})
                    self.report.head = max(self.report.head, head)
                    self.report.pending = await self.store.pending_count()
                case ClockOffset(offset_ms=offset):
                    await self.store.set_clock_offset(offset)
                case ResetLocal(epoch=epoch):
                    await self.store.reset_sync(epoch)
                    self.report.cursor = 0
                    self.report.pending = await self.store.pending_count()
                case Close(code=code, reason=reason):
                    if self._socket is not None:
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(self._socket.close(code, reason), 2)
                case Fatal(code=code, message=message):
                    raise SyncError(_fatal_message(code, message), code=code, fatal=True)

    async def _send(self, data: bytes) -> None:
        assert self._socket is not None
        try:
            await self._socket.send(data)
        except ConnectionClosed:
            raise _Reconnect("the connection dropped") from None

    async def _store_remote(
        self, session: ClientSession, page: Sequence[Item], head: int, cursor: int
    ) -> None:
        # The server leaves out of the pages the events it acknowledged to
        # this connection; this device's own events pushed on an earlier
        # connection still come back. Those already acknowledged are held
        # with their pos: storing them again would change nothing, and
        # decoding them costs as much as a foreign event's. Two envelope
        # fields, read without the body, tell them apart.
        device = self.store.device
        settled = self.store.settled_own
        bodies: list[bytes] = []
        positions: list[int] = []
        for item in page:
            origin = _origin_decoder.decode(item.event)
            if origin.device == device and origin.dseq <= settled:
                continue
            bodies.append(bytes(item.event))
            positions.append(item.pos)
        events = [decode_event(body) for body in bodies]
        # The cursor commits with the events (alone when none is left): a
        # crash cannot separate them.
        result = await self.store.ingest_remote(
            events, positions, meta={CURSOR_META: str(cursor)}, bodies=bodies
        )
        self.report.pulled += result.added
        self.report.restored += result.own
        self.report.moved += result.moved
        self.report.cursor = cursor
        self.report.head = max(self.report.head, head)
        self._progress()
        await self._perform(session, session.stored(cursor))

    async def _record_outcome(self, events: Sequence[bytes], results: Sequence[Result]) -> None:
        acks: list[tuple[Event, int]] = []
        reused: list[Event] = []
        for body, result in zip(events, results, strict=True):
            event = self._fed.pop(body, None) or decode_event(body)
            # Whatever the verdict, the server's sequence of this device reaches it.
            self._server_device_head = max(self._server_device_head, event.dseq)
            if result.code == codes.DSEQ_REUSED and self._reused < MAX_REUSED:
                reused.append(event)  # not on the server: moved after its events, below
            elif result.status == "rejected":
                code = result.code or "rejected"
                reason = result.reason or ""
                await self.store.mark_rejected(event.id, event.dseq, code, reason)
                self.report.rejected += 1
                self.report.rejections.append((event.id, code, reason))
            else:
                pos = result.pos or 0
                acks.append((event, pos))
                # The log now reaches at least ``pos``: synced means pulled that far.
                self.report.head = max(self.report.head, pos)
                if result.status == "accepted":
                    self.report.pushed += 1
        await self.store.mark_acked(acks)
        if reused:
            self._reused += 1
            self.report.moved += await self.store.move_own(reused, self._server_device_head)
        self.report.pending = max(0, self.report.pending - len(events) + len(reused))
        self._gaps = 0
        self._progress()

    async def _resend_from(self, dseq: int) -> None:
        """The server holds this device's events up to ``dseq - 1``.

        The outbox is pushed from its start: events below ``dseq`` still in it
        (their result was lost with a connection) come back ``duplicate`` or
        ``rejected``, which settles them. If the server lacks events the outbox
        no longer holds, they are queued again.
        """
        self._in_flight = False
        self._fed.clear()
        first = await self.store.pending(1)
        if not first or first[0][0].dseq > dseq:
            await self.store.requeue_own(dseq)
        self._gaps += 1
        if self._gaps > MAX_GAPS:
            raise _Reconnect(f"the server keeps asking for events from dseq {dseq}")

    def _progress(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self.report)

    _welcomed = False


class ProgressLine:
    """A one-line progress display on a terminal, for large catch-ups only."""

    #: Show nothing for syncs with less to do than this (events).
    THRESHOLD = 500

    def __init__(self, write: Callable[[str], object], interval_s: float = 0.1) -> None:
        self._write = write
        self._interval_s = interval_s
        self._last = 0.0
        self._shown = False
        self._start_cursor: int | None = None
        self._push_total = 0

    def __call__(self, report: SyncReport) -> None:
        if self._start_cursor is None:
            self._start_cursor = report.cursor
        self._push_total = max(self._push_total, report.pushed + report.rejected + report.pending)
        to_pull = report.head - self._start_cursor
        if not self._shown and max(to_pull, self._push_total) < self.THRESHOLD:
            return
        now = time.monotonic()
        if now - self._last < self._interval_s:
            return
        self._last = now
        self._shown = True
        pulled = max(0, report.cursor - self._start_cursor)
        parts = []
        if self._push_total:
            parts.append(f"pushed {report.pushed + report.rejected}/{self._push_total}")
        if to_pull > 0:
            parts.append(f"pulled {_bar(pulled, to_pull)} {pulled}/{to_pull}")
        self._write("\r\x1b[2Ksync: " + " · ".join(parts))

    def done(self) -> None:
        if self._shown:
            self._write("\r\x1b[2K")
            self._shown = False


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = min(width, round(done / total * width)) if total > 0 else width
    return "█" * filled + "·" * (width - filled)


_FATAL_CLOSES = {codes.close_code(code): code for code in codes.FATAL}


def _denial_code(body: bytes | bytearray | None) -> str:
    """The ``code`` of a refused upgrade's JSON body; ``revoked`` if it has none.

    Servers before token expiry sent no code, and meant revoked or unknown.
    """
    try:
        code = json.loads(body or b"{}").get("code")
    except (ValueError, AttributeError):
        code = None
    return code if code in (codes.TOKEN_EXPIRED, codes.UNKNOWN_TOKEN) else codes.REVOKED


def _fatal_message(code: str, detail: str) -> str:
    relogin = "careerlog login URL --token ENROLLMENT_TOKEN (from the server's operator)"
    match code:
        case codes.REVOKED:
            hint = f"this device was revoked on the server; to bring it back: {relogin}"
        case codes.TOKEN_EXPIRED:
            hint = f"this device's token expired; to renew it: {relogin}"
        case codes.UNKNOWN_TOKEN:
            hint = f"the server does not know this device's token; connect again with: {relogin}"
        case codes.WRONG_DEVICE:
            hint = (
                "the server's token belongs to another device; connect again with: careerlog login"
            )
        case codes.UNSUPPORTED_PROTOCOL:
            hint = "the server does not speak this client's protocol; upgrade careerlog"
        case _:
            hint = "the server refused this device"
    return f"{hint} ({code}{': ' + detail if detail else ''})"
