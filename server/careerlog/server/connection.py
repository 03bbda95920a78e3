"""One device's sync connection: the asyncio shell around a :class:`ServerSession`.

Rules of this module:
- The session decides everything; this shell only moves frames and runs the
  actions it returns (``Send``, ``Close``, ``Append``, ``Read``), in order.
- Three tasks feed the session — the socket reader, a timer (heartbeats,
  timeouts, the periodic token re-check) and the hub's signals (wake,
  revoke, replace, shutdown) — and every session call and the actions it
  returns run under one lock, so the session sees one event at a time. The
  reader does not read the next frame while an append is running: a flooding
  client is held back by TCP, not buffered in memory.
- ``PushResult`` is sent only after ``store.append`` returned, i.e. after
  COMMIT. A store failure ends this connection with ``internal`` (the client
  retries; nothing was acknowledged), never the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect

from careerlog.server.fanout import Hub
from careerlog.server.store import EventStore, Incoming, SequenceGap
from careerlog.server.store.base import AppendResult, DeviceRecord
from careerlog.server.telemetry import ConnectionTelemetry
from careerlog.shared.protocol import (
    Append,
    Close,
    IncomingEvent,
    Limits,
    Read,
    Result,
    Send,
    ServerAction,
    ServerSession,
    encode_frame,
)

__all__ = ["SyncConnection", "now_ms"]

log = logging.getLogger("careerlog.server.sync")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class SyncConnection:
    """Serve one accepted websocket of one authenticated device until it closes."""

    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        store: EventStore,
        hub: Hub,
        device: DeviceRecord,
        token_hash: bytes,
        limits: Limits,
        revocation_check_ms: int,
        telemetry: ConnectionTelemetry,
    ) -> None:
        self._socket = socket
        self._store = store
        self._hub = hub
        self._device = device
        self._token_hash = token_hash
        self._limits = limits
        self._revocation_check_ms = revocation_check_ms
        self._telemetry = telemetry
        self._lock = asyncio.Lock()
        self._done = asyncio.Event()
        self._session: ServerSession | None = None
        # Signals from the hub, coalesced: the highest head heard, or "look it up".
        self._signal = asyncio.Event()
        self._wake_head: int | None = None
        self._wake_unknown = False
        self._check_token = False
        self._replaced = False
        self._shutting_down = False

    @property
    def user_id(self) -> int:
        return self._device.user_id

    # --- the hub's Subscriber interface (only schedules work) ---------------------

    def wake(self, head: int | None) -> None:
        if head is None:
            self._wake_unknown = True
            self._check_token = True
        else:
            self._wake_head = max(head, self._wake_head or 0)
        self._signal.set()

    def revoke(self) -> None:
        self._check_token = True
        self._signal.set()

    def replace(self) -> None:
        self._replaced = True
        self._signal.set()

    def shutdown(self) -> None:
        self._shutting_down = True
        self._signal.set()

    # --- the connection ------------------------------------------------------------

    async def run(self) -> None:
        user, device = self._device.user_id, self._device.device
        session = ServerSession(
            device=device,
            epoch=self._store.epoch,
            head=await self._store.head(user),
            device_head=await self._store.device_head(user, device),
            now_ms=now_ms(),
            limits=self._limits,
        )
        self._session = session
        self._hub.attach(user, device, self)
        tasks = [
            asyncio.create_task(self._read_frames(session)),
            asyncio.create_task(self._tick(session)),
            asyncio.create_task(self._follow_signals(session)),
        ]
        try:
            await self._done.wait()
        finally:
            self._hub.detach(user, device, self)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _read_frames(self, session: ServerSession) -> None:
        try:
            while not self._done.is_set():
                message: Any = await self._socket.receive()
                self._telemetry.received(message)
                if message["type"] == "websocket.disconnect":
                    break
                data: bytes | None = message.get("bytes")
                async with self._lock:
                    if data is not None:
                        actions = session.receive_frame(data, now_ms())
                    else:
                        actions = session.receive_text()
                    await self._perform(session, actions)
        except WebSocketDisconnect:
            pass
        finally:
            self._done.set()

    async def _tick(self, session: ServerSession) -> None:
        # Often enough for the session's heartbeat rule (at least every half
        # ping interval) and for the token re-check, and never busy.
        heartbeat_ms = min(self._limits.ping_interval_ms, self._limits.timeout_ms) / 4
        interval_s = max(0.05, min(heartbeat_ms, self._revocation_check_ms) / 1000)
        last_check = now_ms()
        while not self._done.is_set():
            await asyncio.sleep(interval_s)
            if now_ms() - last_check >= self._revocation_check_ms:
                last_check = now_ms()
                self.revoke()
            async with self._lock:
                await self._perform(session, session.tick(now_ms()))

    async def _follow_signals(self, session: ServerSession) -> None:
        while not self._done.is_set():
            await self._signal.wait()
            self._signal.clear()
            async with self._lock:
                await self._perform(session, await self._signalled(session))

    async def _signalled(self, session: ServerSession) -> list[ServerAction]:
        if self._shutting_down:
            return session.shutdown()
        if self._replaced:
            return session.replace()
        user = self._device.user_id
        try:
            if self._check_token:
                self._check_token = False
                record = await self._store.device_for_token(self._token_hash)
                refusal = "revoked" if record is None else record.refusal(now_ms())
                if refusal == "expired":
                    return session.expire()
                if refusal is not None:
                    return session.revoke()
            head = self._wake_head
            self._wake_head = None
            if self._wake_unknown:
                self._wake_unknown = False
                head = max(head or 0, await self._store.head(user))
        except Exception as error:
            log.exception("store failed while handling a wake-up")
            return session.internal_error(f"storage unavailable: {type(error).__name__}")
        return session.woken(head) if head is not None else []

    # --- actions ---------------------------------------------------------------------

    async def _perform(self, session: ServerSession, actions: Sequence[ServerAction]) -> None:
        """Run the session's actions in order; results of store calls feed back in."""
        queue = list(actions)
        while queue:
            action = queue.pop(0)
            match action:
                case Send(message=message):
                    try:
                        await self._socket.send_bytes(encode_frame(message))
                    except (WebSocketDisconnect, RuntimeError, OSError):
                        self._done.set()
                        return
                    self._telemetry.sent(message)
                case Close(code=code, reason=reason):
                    self._telemetry.closing(code)
                    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                        await self._socket.close(code=code, reason=reason)
                    self._done.set()
                    return
                case Append():
                    queue[:0] = await self._append(session, action)
                case Read(after=after, limit=limit):
                    try:
                        page, head = await self._store.read_page(self._device.user_id, after, limit)
                    except Exception as error:
                        log.exception("store read failed")
                        queue[:0] = session.internal_error(
                            f"storage unavailable: {type(error).__name__}"
                        )
                        continue
                    queue[:0] = session.read_done(page, head)

    async def _append(self, session: ServerSession, append: Append) -> list[ServerAction]:
        user, device = self._device.user_id, self._device.device
        try:
            results, head = await self._store.append(
                user, device, [_incoming(event) for event in append.events], now_ms()
            )
        except SequenceGap as gap:
            return session.gap(append.batch, gap.expected)
        except Exception as error:
            log.exception("append failed for user %s device %s", user, device)
            return session.internal_error(f"storage unavailable: {type(error).__name__}")
        # Committed: wake the user's other connections on this node (other
        # nodes hear the store's NOTIFY) and let them send their pages before
        # this device gets its answer: the answer only empties an outbox that
        # is already durable, the other devices' copy is what a person waits for.
        if self._hub.wake(user, head, skip=self):
            await asyncio.sleep(0)
        return session.appended([_result(result) for result in results], head)


def _incoming(event: IncomingEvent) -> Incoming:
    rejected = (event.rejected.code, event.rejected.reason) if event.rejected else None
    return Incoming(
        device=event.device,
        dseq=event.dseq,
        hlc=event.hlc,
        body=event.body,
        rejected=rejected,
        id=event.id,
    )


def _result(result: AppendResult) -> Result:
    return Result(status=result.status, pos=result.pos, code=result.code, reason=result.reason)
