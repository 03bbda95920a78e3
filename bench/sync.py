"""Benchmarks of sync (issue #3), each beside the raw store limit measured in the same run.

Run: ``.venv/bin/python -m bench.sync`` (``--quick`` for a smoke run,
``--backend sqlite|postgres`` for one backend, ``--profile DIR`` to run the
server nodes under cProfile and print their hot spots).

Every server is a real ``careerlog-server serve`` process on a loopback port;
the SQLite store lives in a temporary directory, the PostgreSQL one is a fresh
database (``CAREERLOG_BENCH_POSTGRES``, default
``postgresql://postgres@127.0.0.1:5432/postgres``) dropped afterwards. On
PostgreSQL two nodes share the database. Rows:

- push ingest: 100 devices of 10 users, raw protocol frames pre-encoded, each
  device waits for its ``PushResult`` (sent after COMMIT) before its next
  batch; the events accepted per second. Raw limit: ``EventStore.append`` of
  the same batches, same concurrency, in-process, on a twin database.
- latency: device A records an event in its LocalStore and pushes it; device B
  (``SyncEngine.watch`` in a separate process) has committed it to its own
  LocalStore; 1,000 idle devices (of 100 other users) are connected.
- streaming: A's recording program (this process) records events one per
  ``LocalStore.record`` call, as fast as it can: 256 callers, each awaiting
  its call's commit before making the next (the store commits the waiting
  calls as one group). A's sync daemon (``SyncEngine.watch`` on the same home, another
  process) pushes them, one push in flight, everything waiting in the next
  batch (up to ``max_batch``); until B has committed them all. Raw limit:
  A's ``LocalStore.record`` alone, called the same way.
- catch-up: ``SyncEngine.run_once`` of a fresh device against a 100,000-event
  history; raw limit: ``LocalStore.import_events`` of the same events.
- memory: server RSS growth for 1,000 idle connected devices, per device.

Before each timed phase that follows one writing many rows (the setup's
100,000-event history, the ingest, the streaming), the database is let
settle (``Databases.settle``: PostgreSQL's VACUUM ANALYZE and CHECKPOINT,
SQLite's checkpoint), so one phase's background work is not timed in the next.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import resource
import secrets
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import msgspec

from bench.dataset import DEVICE as HISTORY_DEVICE
from bench.dataset import history
from bench.sync_peers import RawPeer, raise_file_limit
from careerlog.client import commands
from careerlog.client.store import LocalStore
from careerlog.client.sync import SyncEngine
from careerlog.server.store import EventStore, Incoming, open_store
from careerlog.server.tokens import DEVICE_PREFIX, hash_token, new_token
from careerlog.shared import hlc
from careerlog.shared.codec import encode_event
from careerlog.shared.events import Event
from careerlog.shared.ids import uuid7
from careerlog.shared.protocol import Ping, Pong, Push, encode_frame

PG_ADMIN = os.environ.get(
    "CAREERLOG_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
#: Events per Push in the ingest row: the figure of issue #3 is for batches of
#: 100 (a stock server now takes up to 1,000, Welcome.max_batch).
BATCH = 100


@dataclass(frozen=True)
class Sizes:
    users: int = 10
    devices_per_user: int = 10
    batches_per_device: int = 30
    idle: int = 1000
    latency_samples: int = 200
    stream: int = 30_000
    catchup: int = 100_000


QUICK = Sizes(batches_per_device=4, idle=200, latency_samples=40, stream=3000, catchup=10_000)


@dataclass
class Rows:
    rows: list[tuple[str, str, str, str, bool]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: str, limit: str, target: str, ok: bool) -> None:
        self.rows.append((name, value, limit, target, ok))
        print(f"  measured {name}: {value} (raw {limit})", file=sys.stderr, flush=True)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _rate(value: float) -> str:
    return f"{value:,.0f} ev/s"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the dataset ------------------------------------------------------------------------------


def restamp(template: Sequence[Event], device: str, rng: random.Random) -> list[bytes]:
    """The template history as recorded by ``device``: same bodies, own ids and device."""
    out = []
    for event in template:
        fresh = msgspec.structs.replace(
            event, device=device, id=uuid7(hlc.wall_ms(event.hlc), rng.randbytes(10))
        )
        out.append(encode_event(fresh))
    return out


@dataclass
class PushDevice:
    user: int  # index of the user, 0..users-1
    device: str
    bodies: list[bytes]
    hlcs: list[int]
    token: str = ""

    def frames(self) -> list[bytes]:
        return [
            encode_frame(
                Push(batch=n + 1, events=[msgspec.Raw(b) for b in self.bodies[i : i + BATCH]])
            )
            for n, i in enumerate(range(0, len(self.bodies), BATCH))
        ]

    def incoming(self) -> list[list[Incoming]]:
        rows = [
            Incoming(device=self.device, dseq=n + 1, hlc=h, body=b)
            for n, (h, b) in enumerate(zip(self.hlcs, self.bodies, strict=True))
        ]
        return [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]


def push_devices(sizes: Sizes) -> list[PushDevice]:
    per_device = sizes.batches_per_device * BATCH
    template = list(history(per_device, seed=7))
    rng = random.Random(11)
    devices = []
    for u in range(sizes.users):
        for d in range(sizes.devices_per_user):
            name = f"push-{u}-{d}"
            bodies = restamp(template, name, rng)
            devices.append(PushDevice(u, name, bodies, [e.hlc for e in template]))
    return devices


# --- databases and server nodes ------------------------------------------------------------


class Databases:
    """Fresh stores for one backend: the served one and its twin for the raw limit."""

    def __init__(self, kind: str, base: Path) -> None:
        self.kind = kind
        self.base = base
        self.names: list[str] = []

    async def create(self) -> tuple[str, str]:
        if self.kind == "sqlite":
            return f"sqlite:///{self.base / 'server.db'}", f"sqlite:///{self.base / 'raw.db'}"
        import asyncpg

        admin = await asyncpg.connect(PG_ADMIN, timeout=10)
        try:
            urls = []
            for role in ("served", "raw"):
                name = f"careerlog_bench_{role}_{secrets.token_hex(4)}"
                await admin.execute(f'CREATE DATABASE "{name}"')
                self.names.append(name)
                urls.append(urlunsplit(urlsplit(PG_ADMIN)._replace(path=f"/{name}")))
        finally:
            await admin.close()
        return urls[0], urls[1]

    async def settle(self, url: str) -> None:
        """After a phase that wrote hundreds of thousands of rows, let the
        database finish its own work on them (PostgreSQL: the autovacuum and
        checkpoint they trigger) before the next phase is timed, instead of
        during it."""
        if self.kind == "sqlite":
            # (The server checkpoints as it appends; this copies the rest.)
            with sqlite3.connect(self.base / "server.db", timeout=10) as db:
                db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            return
        import asyncpg

        conn = await asyncpg.connect(url, timeout=10)
        try:
            await conn.execute("VACUUM ANALYZE")
            await conn.execute("CHECKPOINT")
        finally:
            await conn.close()

    async def drop(self) -> None:
        if not self.names:
            return
        import asyncpg

        admin = await asyncpg.connect(PG_ADMIN, timeout=10)
        try:
            for name in self.names:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_command() -> list[str]:
    script = Path(sys.executable).with_name("careerlog-server")
    return [str(script)] if script.exists() else [sys.executable, "-m", "careerlog.server.cli"]


class Node:
    """One ``careerlog-server serve`` process."""

    def __init__(self, name: str, url: str, log: Path, profile: Path | None) -> None:
        self.name = name
        self.port = _free_port()
        self.http_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/v1/sync"
        self.profile = profile
        argv = ["serve", "--db", url, "--port", str(self.port), "--node", name]
        # The sync path alone: no projector in the node (on SQLite, serve runs
        # one in-process by default; it folds every pushed event into read
        # models after the commit, off the acknowledgement path, and would
        # share this process's core). PostgreSQL nodes never run one.
        argv += ["--log-level", "warning", "--project", "no"]
        if profile is None:
            command = [*_server_command(), *argv]
        else:  # the same CLI, under cProfile; the profile is written at a clean exit
            code = (
                # uvicorn re-raises SIGTERM after its clean shutdown: keep the process
                # alive long enough for cProfile to write its file.
                "import cProfile, signal; signal.raise_signal = lambda s: None; "
                "from careerlog.server.cli import main; "
                f'cProfile.run("main({argv!r})", {str(profile)!r})'
            )
            command = [sys.executable, "-c", code]
        self._log = log.open("wb")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)

    async def wait_ready(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(base_url=self.http_url) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server node {self.name} exited")
                try:
                    if (await client.get("/ready")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server node {self.name} not ready")
                await asyncio.sleep(0.05)

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_s(self) -> float:
        """CPU seconds (user + system, all threads) the node has used so far."""
        return _cpu_s(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


async def add_device(store: EventStore, user: int, device: str) -> str:
    token = new_token(DEVICE_PREFIX)
    await store.add_device(user, device, hash_token(token), device, _now_ms())
    return token


async def home_device(home: Path) -> str:
    async with await LocalStore.open(home) as store:
        return store.device


# --- helper processes ----------------------------------------------------------------------


class Helper:
    """A bench.sync_peers process; its stdout lines are read as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: asyncio.Queue[str] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, *args: str) -> Helper:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.sync_peers", *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.lines.put_nowait(line.decode().strip())
        self.lines.put_nowait("eof")

    async def expect(self, prefix: str, timeout_s: float = 120) -> str:
        line = await asyncio.wait_for(self.lines.get(), timeout_s)
        if not line.startswith(prefix):
            raise RuntimeError(f"helper said {line!r}, expected {prefix!r}")
        return line

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        self._reader.cancel()


class Receiver(Helper):
    """Device B: reports (events stored so far, perf_counter) after each commit."""

    stored = 0
    at = 0.0

    async def until(self, count: int, timeout_s: float = 60) -> float:
        """The perf_counter instant at which B had committed ``count`` events."""
        while self.stored < count:
            line = await asyncio.wait_for(self.lines.get(), timeout_s)
            if not line.startswith("stored "):
                raise RuntimeError(f"receiver said {line!r}")
            _, stored, at = line.split()
            self.stored, self.at = int(stored), float(at)
        return self.at


async def start_receiver(home: Path, http_url: str, token: str) -> Receiver:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.sync_peers", "receiver", str(home), http_url, token,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    receiver = Receiver(process)
    await receiver.expect("ready")
    return receiver


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Share of one core the server nodes, this process and helpers used during a phase."""

    def __init__(self, nodes: list[Node], helpers: dict[str, Helper] | None = None) -> None:
        self.nodes = nodes
        self.helpers = helpers or {}
        self.start = (time.perf_counter(), self._servers(), self._own())
        self.helpers_start = {name: _cpu_s(h.process.pid) for name, h in self.helpers.items()}

    def _servers(self) -> float:
        return sum(n.cpu_s() for n in self.nodes)

    @staticmethod
    def _own() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def cpu_per_event_us(self, events: int) -> dict[str, float]:
        """CPU µs each process spent per event during the phase."""
        used = {
            "servers" if len(self.nodes) > 1 else "server": self._servers() - self.start[1],
            "bench": self._own() - self.start[2],
        }
        for name, helper in self.helpers.items():
            used[name] = _cpu_s(helper.process.pid) - self.helpers_start[name]
        return {name: seconds / events * 1e6 for name, seconds in used.items()}

    def report(self) -> str:
        wall = time.perf_counter() - self.start[0]
        servers = (self._servers() - self.start[1]) / wall * 100
        own = (self._own() - self.start[2]) / wall * 100
        parts = [
            f"server{'s' if len(self.nodes) > 1 else ''} {servers:.0f} %",
            f"bench {own:.0f} %",
        ]
        for name, helper in self.helpers.items():
            used = _cpu_s(helper.process.pid) - self.helpers_start[name]
            parts.append(f"{name} {used / wall * 100:.0f} %")
        return ", ".join(parts)


# --- the measurements ----------------------------------------------------------------------


async def raw_ingest(url: str, devices: list[PushDevice], users: int) -> float:
    """EventStore.append of the same batches, one task per device, in-process."""
    async with await open_store(url) as store:
        uids = [await store.create_user(f"raw{u}") for u in range(users)]
        batches = {d.device: d.incoming() for d in devices}

        async def one(device: PushDevice) -> int:
            stored = 0
            for batch in batches[device.device]:
                results, _ = await store.append(uids[device.user], device.device, batch, _now_ms())
                stored += sum(r.status == "accepted" for r in results)
            return stored

        start = time.perf_counter()
        accepted = sum(await asyncio.gather(*(one(d) for d in devices)))
        elapsed = time.perf_counter() - start
    return accepted / elapsed


async def ingest(devices: list[PushDevice], nodes: list[Node]) -> tuple[float, int]:
    """Push every device's frames over its own websocket, concurrently: accepted events/s."""
    frames = {d.device: d.frames() for d in devices}
    peers = []
    for n, device in enumerate(devices):
        node = nodes[n % len(nodes)]
        peers.append(await RawPeer.open(node.ws_url, device.token, device.device))
    go = asyncio.Event()

    async def run(peer: RawPeer) -> int:
        await go.wait()
        accepted = 0
        for frame in frames[peer.device]:
            await peer.send_frame(frame)
            result = await peer.result()
            accepted += sum(r.status == "accepted" for r in result.results)
        return accepted

    tasks = [asyncio.create_task(run(p)) for p in peers]
    await asyncio.sleep(0.2)
    start = time.perf_counter()
    go.set()
    accepted = sum(await asyncio.gather(*tasks))
    elapsed = time.perf_counter() - start
    await asyncio.gather(*(p.close() for p in peers))
    return accepted / elapsed, accepted


async def record_one(store: LocalStore, n: int) -> Event:
    return await store.record(partial(commands.log_activity, text=f"shipped {n}", kind="shipping"))


async def latency(
    store: LocalStore, peer: RawPeer, receiver: Receiver, samples: int
) -> list[float]:
    """ms from A's record call to B's commit, one event at a time."""
    timings = []
    warmup = 10
    for n in range(samples + warmup):
        start = time.perf_counter()
        await record_one(store, n)
        rows = await store.pending(BATCH)
        result = await peer.push([body for _, body in rows])
        await store.mark_acked(
            [(e, r.pos or 0) for (e, _), r in zip(rows, result.results, strict=True)]
        )
        stored_at = await receiver.until(n + 1)
        if n >= warmup:
            timings.append((stored_at - start) * 1000)
        await asyncio.sleep(0.002)
    return timings


async def ping_round_trip(peer: RawPeer, samples: int) -> float:
    """p50 ms of a Ping answered by the server node, on A's connection, with
    the idle devices connected: the transport alone (two process wake-ups and
    the server's frame handling), of which the path A -> B crosses about one."""
    timings = []
    for n in range(samples):
        start = time.perf_counter()
        await peer.send_frame(encode_frame(Ping(nonce=n)))
        while not isinstance(await peer.receive(), Pong):
            pass
        timings.append((time.perf_counter() - start) * 1000)
        await asyncio.sleep(0.002)
    return statistics.median(timings)


async def latency_floor(raw_url: str, home: Path, samples: int) -> tuple[float, float, float]:
    """p50 ms of the three commits on the path, each alone, in-process: A's
    ``LocalStore.record``, the server store's ``append`` of one event, and B's
    ``LocalStore.ingest_remote`` of one event."""
    rec, app, ing = [], [], []
    async with (
        await LocalStore.open(home / "floor-a") as a,
        await LocalStore.open(home / "floor-b") as b,
        await open_store(raw_url) as store,
    ):
        uid = await store.create_user("floor")
        await store.add_device(uid, a.device, b"floor", "floor", _now_ms())
        for n in range(samples):
            start = time.perf_counter()
            event = await record_one(a, n)
            rec.append(time.perf_counter() - start)
            body = encode_event(event)
            start = time.perf_counter()
            incoming = Incoming(device=a.device, dseq=event.dseq, hlc=event.hlc, body=body)
            results, _ = await store.append(uid, a.device, [incoming], _now_ms())
            app.append(time.perf_counter() - start)
            start = time.perf_counter()
            await b.ingest_remote([event], [results[0].pos or 0])
            ing.append(time.perf_counter() - start)
    return tuple(statistics.median(x) * 1000 for x in (rec, app, ing))  # type: ignore[return-value]


#: ``record`` calls A keeps in flight while streaming "as fast as it can":
#: each call is one event and returns after its commit; the store commits
#: the calls waiting together as one group.
RECORDS_IN_FLIGHT = 256


async def record_many(store: LocalStore, count: int) -> None:
    """Record ``count`` events one per ``record`` call, as fast as possible:
    ``RECORDS_IN_FLIGHT`` callers, each awaiting its call's commit before it
    makes the next.

    (Callers, not a task per call: a task, a semaphore and a done-callback per
    event cost the recording process 11-15 µs an event that are the harness's,
    not the store's.)
    """
    numbers = iter(range(count))

    async def caller() -> None:
        for n in numbers:
            await record_one(store, n)

    await asyncio.gather(*(caller() for _ in range(min(RECORDS_IN_FLIGHT, count))))


async def record_rate(home: Path, count: int) -> tuple[float, float]:
    """A's ``LocalStore.record`` alone: as streaming calls it, and one call at a time."""
    async with await LocalStore.open(home / "many") as store:
        start = time.perf_counter()
        await record_many(store, count)
        many = count / (time.perf_counter() - start)
    async with await LocalStore.open(home / "one") as store:
        alone = min(count, 3000)
        start = time.perf_counter()
        for n in range(alone):
            await record_one(store, n)
        one = alone / (time.perf_counter() - start)
    return many, one


async def stream(
    store: LocalStore, receiver: Receiver, count: int, server_head: Callable[[], Awaitable[int]]
) -> tuple[float, float, float]:
    """A records ``count`` events as fast as it can; its sync engine (another
    process, ``SyncEngine.watch`` on the same home) pushes them; B stores them.
    The rate runs from A's first record to B's commit of the last event.
    Also the seconds from A's first record to its last, and to B's commit of
    the last event."""
    start = time.perf_counter()
    await record_many(store, count)
    recorded = time.perf_counter() - start
    try:
        done = await receiver.until(count, timeout_s=STREAM_TIMEOUT_S)
    except TimeoutError:
        # Whose side stalled: A's sync daemon (its outbox still holds events)
        # or the way to B (the server acknowledged them all).
        rejected = len(await store.rejected())
        raise RuntimeError(
            f"streaming stalled: B stored {receiver.stored:,} of {count:,} events, nothing "
            f"more for {STREAM_TIMEOUT_S:.0f} s; A's outbox holds {await store.pending_count():,}"
            f" and {rejected:,} rejected; the server's head is {await server_head():,}"
        ) from None
    return count / (done - start), recorded, done - start


#: Far beyond a healthy stream (a couple of seconds): B stored nothing more for this long.
STREAM_TIMEOUT_S = 30.0


async def catch_up(home: Path, http_url: str, token: str, count: int) -> float:
    async with await LocalStore.open(home) as store:
        start = time.perf_counter()
        await SyncEngine(store, http_url, token).run_once()
        elapsed = time.perf_counter() - start
        if store.count != count:
            raise RuntimeError(f"caught up {store.count} events, expected {count}")
    return count / elapsed


async def import_rate(home: Path, events: list[Event]) -> float:
    async with await LocalStore.open(home) as store:
        start = time.perf_counter()
        await store.import_events(events)
        return len(events) / (time.perf_counter() - start)


# --- one backend ---------------------------------------------------------------------------


async def run_backend(
    kind: str,
    sizes: Sizes,
    base: Path,
    devices: list[PushDevice],
    past: list[Event],
    out: Rows,
    profile: Path | None,
) -> None:
    label = "SQLite" if kind == "sqlite" else "PostgreSQL"
    databases = Databases(kind, base)
    url, raw_url = await databases.create()
    nodes: list[Node] = []
    helpers: list[Helper] = []
    try:
        _log(f"[{label}] accounts, a {len(past):,}-event history, the raw ingest limit…")
        homes = {name: base / name for name in ("a", "b", "a2", "b2", "fresh", "rec", "imp")}
        ids = {name: await home_device(homes[name]) for name in ("a", "b", "a2", "b2", "fresh")}
        async with await open_store(url) as store:
            uids = [await store.create_user(f"push{u}") for u in range(sizes.users)]
            for device in devices:
                device.token = await add_device(store, uids[device.user], device.device)
            lat_user, stream_user, past_user = [
                await store.create_user(n) for n in ("latency", "stream", "history")
            ]
            tokens = {
                "a": await add_device(store, lat_user, ids["a"]),
                "b": await add_device(store, lat_user, ids["b"]),
                "a2": await add_device(store, stream_user, ids["a2"]),
                "b2": await add_device(store, stream_user, ids["b2"]),
                "fresh": await add_device(store, past_user, ids["fresh"]),
            }
            await add_device(store, past_user, HISTORY_DEVICE)
            incoming = [
                Incoming(device=HISTORY_DEVICE, dseq=e.dseq, hlc=e.hlc, body=encode_event(e))
                for e in past
            ]
            for i in range(0, len(incoming), 1000):
                await store.append(past_user, HISTORY_DEVICE, incoming[i : i + 1000], _now_ms())
            idle_users = [await store.create_user(f"idle{u}") for u in range(sizes.idle // 10)]
            idle_tokens = [
                (f"idle-{n}", await add_device(store, idle_users[n // 10], f"idle-{n}"))
                for n in range(sizes.idle)
            ]
        raw_limit = await raw_ingest(raw_url, devices, sizes.users)
        await databases.settle(url)

        names = ["node1"] if kind == "sqlite" else ["node1", "node2"]
        nodes = [
            Node(n, url, base / f"{kind}-{n}.log", profile and profile / f"{kind}-{n}.prof")
            for n in names
        ]
        await asyncio.gather(*(n.wait_ready() for n in nodes))
        first, second = nodes[0], nodes[-1]

        # Memory: A and B connected (the server is warm), then 1,000 idle devices.
        _log(f"[{label}] memory and latency with {sizes.idle:,} idle devices…")
        async with await LocalStore.open(homes["a"]) as store_a:
            peer_a = await RawPeer.open(first.ws_url, tokens["a"], ids["a"])
            receiver = await start_receiver(homes["b"], second.http_url, tokens["b"])
            helpers.append(receiver)
            await asyncio.sleep(1.0)
            before = sum(n.rss_kib() for n in nodes)
            tokens_file = base / f"{kind}-idle.tsv"
            tokens_file.write_text(
                "".join(
                    f"{nodes[n % len(nodes)].ws_url}\t{device}\t{token}\n"
                    for n, (device, token) in enumerate(idle_tokens)
                )
            )
            idle = await Helper.start("idle", str(tokens_file))
            helpers.append(idle)
            await idle.expect("ready", timeout_s=300)
            await asyncio.sleep(2.0)
            after = sum(n.rss_kib() for n in nodes)
            per_device = (after - before) / sizes.idle
            where = "1 node" if len(nodes) == 1 else "2 nodes, half on each"
            out.add(
                f"{label}: memory per idle device ({sizes.idle:,}, {where})",
                f"{per_device:,.1f} KiB",
                f"server RSS {before / 1024:,.0f} -> {after / 1024:,.0f} MiB",
                "<= 50 KiB",
                per_device <= 50,
            )

            timings = await latency(store_a, peer_a, receiver, sizes.latency_samples)
            p50 = statistics.median(timings)
            p99 = statistics.quantiles(timings, n=100)[98]
            floor = await latency_floor(raw_url, base, sizes.latency_samples)
            rtt = await ping_round_trip(peer_a, sizes.latency_samples)
            across = "A on node 1, B on node 2" if len(nodes) == 2 else "one node"
            if kind == "sqlite":
                target, ok = "p50 <= 1 ms, p99 <= 2.5 ms", p50 <= 1 and p99 <= 2.5
            else:
                target, ok = "p50 <= 3 ms", p50 <= 3
            out.add(
                f"{label}: latency A records -> B stored ({len(timings)} events, {across})",
                f"p50 {p50:.2f} ms, p99 {p99:.2f} ms",
                f"3 commits alone, p50: record {floor[0]:.2f} + append {floor[1]:.2f} "
                f"+ ingest {floor[2]:.2f} ms; A's Ping -> Pong round trip p50 {rtt:.2f} ms",
                target,
                ok,
            )
            await peer_a.close()
            await receiver.stop()
            await idle.stop()
            helpers.clear()

        _log(f"[{label}] push ingest, {len(devices)} devices…")
        meter = CpuMeter(nodes)
        rate, accepted = await ingest(devices, nodes)
        out.notes.append(f"{label} push ingest CPU (of one core): {meter.report()}")
        out.add(
            f"{label}: push ingest ({len(devices)} devices, {sizes.users} users, "
            f"batches of {BATCH}, {len(nodes)} node{'s' if len(nodes) > 1 else ''})",
            _rate(rate),
            f"EventStore.append {_rate(raw_limit)}",
            ">= 40,000 ev/s",
            rate >= 40_000,
        )
        if accepted != sum(len(d.bodies) for d in devices):
            out.notes.append(f"{label}: only {accepted:,} events of the ingest were accepted")

        await databases.settle(url)
        _log(f"[{label}] streaming {sizes.stream:,} events…")
        raw_record, one_record = await record_rate(homes["rec"], sizes.stream)
        receiver = await start_receiver(homes["b2"], second.http_url, tokens["b2"])
        pusher = await start_receiver(homes["a2"], first.http_url, tokens["a2"])
        helpers += [receiver, pusher]
        meter = CpuMeter(nodes, {"A's sync": pusher, "B": receiver})
        async with await LocalStore.open(homes["a2"]) as store_a2:

            async def stream_head() -> int:
                async with await open_store(url) as server:
                    return await server.head(stream_user)

            rate, recorded_s, stored_s = await stream(store_a2, receiver, sizes.stream, stream_head)
        out.notes.append(
            f"{label} streaming: A recorded the last event at {recorded_s:.2f} s, "
            f"B stored it at {stored_s:.2f} s"
        )
        out.notes.append(f"{label} streaming CPU (of one core): {meter.report()}")
        per_event = meter.cpu_per_event_us(sizes.stream)
        total = sum(per_event.values())
        out.notes.append(
            f"{label} streaming CPU per event: "
            + ", ".join(f"{name} {us:.0f} µs" for name, us in per_event.items())
            + f"; {total:.0f} µs in all, so 2 cores stream at most "
            f"{_rate(2e6 / total)} with nothing else running"
        )
        await receiver.stop()
        await pusher.stop()
        helpers.clear()
        out.add(
            f"{label}: streaming A -> B ({sizes.stream:,} events recorded one at a time)",
            _rate(rate),
            f"A's LocalStore.record alone {_rate(raw_record)}",
            ">= 20,000 ev/s",
            rate >= 20_000,
        )
        out.notes.append(
            f"{label} streaming: A's LocalStore.record one call at a time (each awaited "
            f"before the next) {_rate(one_record)}"
        )

        await databases.settle(url)
        _log(f"[{label}] catch-up of {len(past):,} events…")
        raw_import = await import_rate(homes["imp"], past)
        meter = CpuMeter(nodes)
        rate = await catch_up(homes["fresh"], second.http_url, tokens["fresh"], len(past))
        out.notes.append(f"{label} catch-up CPU (of one core): {meter.report()}")
        out.add(
            f"{label}: catch-up of {len(past):,} events into a fresh device",
            _rate(rate),
            f"LocalStore.import_events {_rate(raw_import)}",
            ">= 50,000 ev/s",
            rate >= 50_000,
        )
    finally:
        for helper in helpers:
            helper.process.kill()
        for node in nodes:
            node.stop()
        await databases.drop()


def print_profiles(directory: Path) -> None:
    import pstats

    for path in sorted(directory.glob("*.prof")):
        print(f"\n== {path.name}: top 30 by own time ==")
        stats = pstats.Stats(str(path))
        stats.sort_stats("tottime").print_stats(30)
        print(f"== {path.name}: top 30 cumulative ==")
        stats.sort_stats("cumulative").print_stats(30)


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().split()[1]
    return (
        f"{os.cpu_count()} cores ({cpu}), {int(mem) // 1024 // 1024} GiB, "
        f"{platform.system()} {platform.release()}, Python {sys.version.split()[0]}, "
        f"SQLite {sqlite3.sqlite_version}"
    )


async def postgres_version() -> str:
    import asyncpg

    admin = await asyncpg.connect(PG_ADMIN, timeout=10)
    try:
        return str(await admin.fetchval("SHOW server_version")).split()[0]
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--profile", help="run server nodes under cProfile, keep .prof here")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    sizes = QUICK if args.quick else Sizes()
    raise_file_limit()  # 1,000 sockets here, and the servers inherit the limit
    profile = Path(args.profile).resolve() if args.profile else None
    if profile:
        profile.mkdir(parents=True, exist_ok=True)
    out = Rows()
    started = time.perf_counter()
    kinds = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    _log("generating the datasets…")
    devices = push_devices(sizes)
    past = list(history(sizes.catchup, seed=3))
    gc.collect()
    gc.freeze()
    pg = ""
    with tempfile.TemporaryDirectory(prefix="careerlog-syncbench-") as tmp:
        for kind in kinds:
            base = Path(tmp) / kind
            base.mkdir()
            asyncio.run(run_backend(kind, sizes, base, devices, past, out, profile))
            if kind == "postgres":
                pg = asyncio.run(postgres_version())

    header = ("benchmark", "measured", "raw limit (same run)", "target")
    width = [max(len(h), *(len(r[i]) for r in out.rows)) for i, h in enumerate(header)]
    line = " | ".join(h.ljust(w) for h, w in zip(header, width, strict=True)) + " | met"
    print(line)
    print("-" * len(line))
    for name, value, limit, target, ok in out.rows:
        cells = (name, value, limit, target)
        print(" | ".join(c.ljust(w) for c, w in zip(cells, width, strict=True))
              + (" | yes" if ok else " | NO"))  # fmt: skip
    for note in out.notes:
        print(f"note: {note}")
    print(
        f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}"
        + (f", PostgreSQL {pg}" if pg else "")
        + f"; whole run {time.perf_counter() - started:.0f} s"
        + (" (--quick)" if args.quick else "")
    )
    if args.json:
        Path(args.json).write_text(json.dumps(out.rows, indent=2))
    if profile:
        print_profiles(profile)


if __name__ == "__main__":
    main()
