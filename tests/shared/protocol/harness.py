"""A socket-free world for the sync sessions: fake stores, devices and a faulty link.

``World`` holds one user's server store and several devices. Each connected
device has a ``Connection``: a ClientSession and a ServerSession joined by two
in-memory frame queues. Delivering a frame can drop, duplicate or reorder it;
the adapters below carry out every action the sessions return, exactly as
the asyncio adapters must (store, then acknowledge; append, then fan out).
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from careerlog.shared import hlc
from careerlog.shared.codec import canonical_key, decode_event, encode_event
from careerlog.shared.events import ActivityLogged, Event
from careerlog.shared.ids import record_id, uuid7
from careerlog.shared.projections import encode_state, fold
from careerlog.shared.protocol import (
    Append,
    ClientAction,
    ClientSession,
    ClockOffset,
    Close,
    Fatal,
    IncomingEvent,
    Limits,
    PushOutcome,
    Read,
    Ready,
    ResendFrom,
    ResetLocal,
    Result,
    ResultStatus,
    Send,
    ServerAction,
    ServerSession,
    StoreRemote,
    encode_frame,
)

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z

Fault = Literal["none", "drop", "dup", "reorder"]


def _rand(*parts: object, size: int = 10) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()[:size]


def activity(device: str, dseq: int, hlc_value: int, text: str = "did a thing") -> ActivityLogged:
    """A valid event of ``device`` with deterministic ids."""
    wall = hlc.wall_ms(hlc_value)
    return ActivityLogged(
        id=uuid7(wall, _rand(device, dseq)),
        device=device,
        dseq=dseq,
        hlc=hlc_value,
        occurred_at=datetime.fromtimestamp(wall / 1000, tz=UTC),
        activity_id=record_id(_rand(device, dseq, "record", size=8)),
        text=text,
    )


class FakeServerStore:
    """One user's log: gapless ``pos``, a high-water ``dseq`` per device."""

    def __init__(self, epoch: str = "epoch-1") -> None:
        self.epoch = epoch
        self.log: list[bytes] = []
        self.high: dict[str, int] = {}
        self.outcomes: dict[tuple[str, int], Result] = {}

    @property
    def head(self) -> int:
        return len(self.log)

    def append(self, device: str, events: list[IncomingEvent]) -> list[Result] | int:
        """Results, or the expected ``dseq`` when the batch would leave a gap."""
        high = self.high.get(device, 0)
        new = [e for e in events if e.dseq > high]
        if new and new[0].dseq != high + 1:
            return high + 1
        results = []
        for event in events:
            key = (device, event.dseq)
            if event.dseq <= high:
                first = self.outcomes[key]
                status: ResultStatus = "duplicate" if first.status != "rejected" else "rejected"
                results.append(
                    Result(status=status, pos=first.pos, code=first.code, reason=first.reason)
                )
                continue
            if event.rejected is not None:
                result = Result(
                    status="rejected", code=event.rejected.code, reason=event.rejected.reason
                )
            else:
                self.log.append(event.body)
                result = Result(status="accepted", pos=len(self.log))
            self.outcomes[key] = result
            self.high[device] = event.dseq
            results.append(result)
        return results

    def read(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        return [
            (pos, self.log[pos - 1]) for pos in range(after + 1, min(self.head, after + limit) + 1)
        ]

    def events(self) -> dict[UUID, Event]:
        decoded = (decode_event(body) for body in self.log)
        return {event.id: event for event in decoded}

    def wipe(self, epoch: str) -> None:
        self.__init__(epoch)  # type: ignore[misc]


@dataclass
class FakeDevice:
    """A device's durable state: own log (the outbox), everything known, cursor, epoch."""

    name: str
    own: list[bytes] = field(default_factory=list)
    known: dict[UUID, Event] = field(default_factory=dict)
    cursor: int = 0
    epoch: str | None = None
    clock: int = 0  # last HLC
    offset_ms: int = 0
    pos_of: dict[int, int] = field(default_factory=dict)
    rejected: dict[int, str] = field(default_factory=dict)
    fatal: list[str] = field(default_factory=list)

    def record(self, now_ms: int, text: str = "did a thing") -> bytes:
        self.clock = hlc.tick(self.clock, now_ms + self.offset_ms)
        event = activity(self.name, len(self.own) + 1, self.clock, text)
        body = encode_event(event)
        self.own.append(body)
        self.known[event.id] = event
        return body


@dataclass
class Connection:
    client: ClientSession
    server: ServerSession
    to_server: deque[bytes] = field(default_factory=deque)
    to_client: deque[bytes] = field(default_factory=deque)
    alive: bool = True


class World:
    def __init__(
        self,
        devices: list[str],
        limits: Limits,
        now_ms: int = T0,
        windows: dict[str, int] | None = None,
    ) -> None:
        #: Pages each device asks to take ahead of its Ack (1 if not named).
        self.windows = windows or {}
        self.store = FakeServerStore()
        self.devices = {name: FakeDevice(name) for name in devices}
        self.limits = limits
        self.now_ms = now_ms
        self.connections: dict[str, Connection] = {}

    # --- the person and the network ---------------------------------------------------

    def record(self, name: str, text: str = "did a thing") -> None:
        body = self.devices[name].record(self.now_ms, text)
        conn = self.connections.get(name)
        if conn is not None:
            self._client_actions(name, conn.client.push([body]))

    def connect(self, name: str) -> None:
        self.disconnect(name)
        device = self.devices[name]
        server = ServerSession(
            name,
            self.store.epoch,
            self.store.head,
            self.store.high.get(name, 0),
            self.now_ms,
            self.limits,
        )
        client = ClientSession(
            name, device.cursor, device.epoch, self.now_ms, window=self.windows.get(name, 1)
        )
        self.connections[name] = Connection(client, server)
        self._client_actions(name, client.start())

    def disconnect(self, name: str) -> None:
        conn = self.connections.pop(name, None)
        if conn is not None:
            conn.alive = False

    def advance(self, ms: int) -> None:
        self.now_ms += ms
        for name, conn in list(self.connections.items()):
            self._server_actions(name, conn.server.tick(self.now_ms))
            if conn.alive:
                self._client_actions(name, conn.client.tick(self.now_ms))

    def deliver(self, name: str, to_server: bool, fault: Fault = "none") -> bool:
        """Deliver one frame in one direction; False if nothing was waiting."""
        conn = self.connections.get(name)
        if conn is None:
            return False
        queue = conn.to_server if to_server else conn.to_client
        if not queue:
            return False
        if fault == "reorder" and len(queue) > 1:
            queue[0], queue[1] = queue[1], queue[0]
        frame = queue[0] if fault == "dup" else queue.popleft()
        if fault == "drop":
            return True
        if to_server:
            self._server_actions(name, conn.server.receive_frame(frame, self.now_ms))
        else:
            self._client_actions(name, conn.client.receive_frame(frame, self.now_ms))
        return True

    def pump(self, max_steps: int = 100_000) -> None:
        """Deliver faithfully until no frame is waiting anywhere."""
        for _ in range(max_steps):
            moved = False
            for name in list(self.connections):
                moved |= self.deliver(name, to_server=True)
                moved |= self.deliver(name, to_server=False)
            if not moved:
                return
        raise AssertionError("the link never went quiet")

    def sync_all(self) -> None:
        """Everyone online over a clean link until quiet."""
        for name in self.devices:
            self.connect(name)
        self.pump()

    # --- the adapters -------------------------------------------------------------

    def _server_actions(self, name: str, actions: list[ServerAction]) -> None:
        pending: deque[ServerAction] = deque(actions)
        while pending:
            conn = self.connections.get(name)
            if conn is None:
                return
            match pending.popleft():
                case Send(message=message):
                    conn.to_client.append(encode_frame(message))
                case Close():
                    self.disconnect(name)
                case Append(batch=batch, events=events):
                    outcome = self.store.append(name, events)
                    if isinstance(outcome, int):
                        pending.extend(conn.server.gap(batch, outcome))
                    else:
                        pending.extend(conn.server.appended(outcome, self.store.head))
                        for other, other_conn in list(self.connections.items()):
                            if other != name:
                                self._server_actions(
                                    other, other_conn.server.woken(self.store.head)
                                )
                case Read(after=after, limit=limit):
                    items = self.store.read(after, limit)
                    pending.extend(conn.server.read_done(items, self.store.head))

    def _client_actions(self, name: str, actions: list[ClientAction]) -> None:
        device = self.devices[name]
        pending: deque[ClientAction] = deque(actions)
        while pending:
            conn = self.connections.get(name)
            if conn is None:
                return
            match pending.popleft():
                case Send(message=message):
                    conn.to_server.append(encode_frame(message))
                case Close():
                    self.disconnect(name)
                case Fatal(code=code):
                    device.fatal.append(code)
                    self.disconnect(name)
                case ResetLocal(epoch=epoch):
                    device.epoch = epoch
                    device.cursor = 0
                    device.pos_of.clear()
                case Ready(epoch=epoch):
                    device.epoch = epoch
                case ClockOffset(offset_ms=offset):
                    device.offset_ms = offset
                case ResendFrom(dseq=dseq):
                    pending.extend(conn.client.push(device.own[dseq - 1 :]))
                case StoreRemote(items=items, cursor=cursor):
                    for item in items:
                        event = decode_event(bytes(item.event))
                        device.known.setdefault(event.id, event)
                        if event.device == name:
                            device.pos_of[event.dseq] = item.pos
                        device.clock = hlc.receive(device.clock, event.hlc, self.now_ms)
                    device.cursor = cursor
                    pending.extend(conn.client.stored(cursor))
                case PushOutcome(events=events, results=results):
                    for body, result in zip(events, results, strict=True):
                        dseq = decode_event(body).dseq
                        if result.pos is not None:
                            device.pos_of[dseq] = result.pos
                        if result.status == "rejected":
                            device.rejected[dseq] = result.code or ""

    # --- what the tests compare ---------------------------------------------------------

    def assert_converged(self) -> None:
        server = self.store.events()
        expected = sum(len(d.own) for d in self.devices.values())
        assert len(server) == expected, "the server lost or duplicated an event"
        server_state = encode_state(fold(sorted(server.values(), key=canonical_key)))
        for device in self.devices.values():
            assert device.fatal == []
            assert set(device.known) == set(server), f"{device.name} differs from the server"
            state = encode_state(fold(sorted(device.known.values(), key=canonical_key)))
            assert state == server_state, f"{device.name} folds differently"
            assert device.cursor == self.store.head
            assert len(device.pos_of) == len(device.own)
        positions = sorted(pos for d in self.devices.values() for pos in d.pos_of.values())
        assert positions == list(range(1, self.store.head + 1))
        for conn in self.connections.values():
            assert conn.client.synced
