"""Benchmarks of the projector (issue #4), each beside the raw store limit measured in the same run.

Run: ``.venv/bin/python -m bench.projector`` (``--quick`` for a smoke run,
``--backend sqlite|postgres`` for one backend).

The SQLite store lives in a temporary directory; the PostgreSQL one is a
fresh database (``CAREERLOG_BENCH_POSTGRES``, default
``postgresql://postgres@127.0.0.1:5432/postgres``) dropped afterwards. Rows:

- throughput: ``Projector.drain`` of users whose logs are already stored
  (every read model written: state, timeline rows, snapshots, goals, grants,
  member facts, checkpoint), in events per second. Raw limit:
  ``EventStore.read`` of the same events, same pages, same concurrency.
- lag: events appended at 10,000 events/s (batches of 100, round-robin over
  users) while the projector runs: on SQLite in this process, woken like the
  server's hub wakes it; on PostgreSQL as a separate ``careerlog-server
  project`` process woken by NOTIFY. Lag is ``ReadModelStore.lag``'s
  ``seconds_behind`` (age of the oldest event not yet projected), sampled
  every 100 ms; the figure is the worst sample, the median beside it.
- rebuild: ``Projector.rebuild_user`` of the same users (every row replaced).
- time travel: ``state_as_recorded`` at random instants of one user's
  100,000-event history (p50); raw limit: a fold of the whole history.
- current state: ``ReadModels.state`` of that user (what goal progress
  reads), p50: decoded at the first read, then kept while the checkpoint
  stays (``readmodels/statecache.py``); the first read beside it.
- API: that user's ``GET /v1/me/goals`` and ``GET /v1/me/replay``
  (``as_recorded=`` and ``occurred_by=`` random instants of the history),
  sequential requests over one keep-alive HTTP connection to a real
  ``careerlog-server serve`` process on loopback (``--project no``: the
  history is already projected) on the same database, p50 and p99. Raw
  limits: the read-model call behind the route (``state`` /
  ``state_as_recorded`` / ``state_happened_by``) in this process on the same
  database, and an HTTP round trip of ``/health`` to the same server.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.dataset import DEVICE, history
from careerlog.server.projector import Projector
from careerlog.server.readmodels import ReadModelStore, open_read_models
from careerlog.server.store import EventStore, Incoming, open_store
from careerlog.shared import hlc
from careerlog.shared.codec import decode_event, encode_event
from careerlog.shared.events import Event
from careerlog.shared.projections import fold

PG_ADMIN = os.environ.get(
    "CAREERLOG_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BATCH = 100
PAGE = 2000


@dataclass(frozen=True)
class Sizes:
    users: int = 20
    events_per_user: int = 10_000
    ingest_rate: int = 10_000
    ingest_s: float = 15.0
    lag_users: int = 50
    travel_events: int = 100_000
    travel_samples: int = 40
    api_samples: int = 200


QUICK = Sizes(
    users=5,
    events_per_user=4000,
    ingest_s=4.0,
    travel_events=20_000,
    travel_samples=10,
    api_samples=30,
)


@dataclass
class Rows:
    rows: list[tuple[str, str, str, str, bool]] = field(default_factory=list)

    def add(self, name: str, value: str, limit: str, target: str, ok: bool) -> None:
        self.rows.append((name, value, limit, target, ok))
        print(f"  measured {name}: {value} (raw {limit})", file=sys.stderr, flush=True)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _rate(value: float) -> str:
    return f"{value:,.0f} ev/s"


def _incoming(events: Sequence[Event]) -> list[Incoming]:
    return [Incoming(e.device, e.dseq, e.hlc, encode_event(e)) for e in events]


async def _fill(store: EventStore, names: Sequence[str], events: Sequence[Event]) -> list[int]:
    """Users with ``events`` each (the same history: per user it is a separate log)."""
    batches = [_incoming(events[i : i + 1000]) for i in range(0, len(events), 1000)]
    users = []
    for name in names:
        user = await store.create_user(name)
        for batch in batches:
            await store.append(user, DEVICE, batch, _now_ms())
        users.append(user)
    return users


# --- the measurements ------------------------------------------------------------------------


async def throughput(url: str, sizes: Sizes, out: Rows, kind: str) -> None:
    events = list(history(sizes.events_per_user, seed=5))
    async with await open_store(url) as store, await open_read_models(url) as models:
        _log(f"{kind}: storing {sizes.users} x {sizes.events_per_user:,} events…")
        users = await _fill(store, [f"tp{n}" for n in range(sizes.users)], events)
        total = sizes.users * sizes.events_per_user
        concurrency = 1  # the projector reads the next page while folding: enough overlap

        # The raw limit: reading the same events the same way.
        gate = asyncio.Semaphore(concurrency)

        async def read_all(user: int) -> int:
            async with gate:
                after, count = 0, 0
                while page := await store.read(user, after, PAGE):
                    after, count = page[-1].pos, count + len(page)
                return count

        start = time.perf_counter()
        assert sum(await asyncio.gather(*(read_all(u) for u in users))) == total
        raw = total / (time.perf_counter() - start)

        projector = Projector(store, models)
        gc.collect()
        start = time.perf_counter()
        await projector.drain(concurrency=concurrency)
        elapsed = time.perf_counter() - start
        assert projector.stats.applied == total
        rate = total / elapsed
        out.add(
            f"{kind}: projector throughput ({sizes.users} users)",
            _rate(rate),
            f"read {_rate(raw)}",
            ">= 50,000 ev/s",
            rate >= 50_000,
        )
        start = time.perf_counter()
        for user in users:
            await projector.rebuild_user(user)
        rebuilt = total / (time.perf_counter() - start)
        out.add(
            f"{kind}: rebuild ({sizes.users} users)",
            _rate(rebuilt),
            f"read {_rate(raw)}",
            "(none)",
            True,
        )


async def lag(url: str, sizes: Sizes, out: Rows, kind: str, tmp: Path) -> None:
    template = list(history(int(sizes.ingest_rate * sizes.ingest_s / sizes.lag_users) + BATCH))
    async with await open_store(url) as store, await open_read_models(url) as models:
        users = [await store.create_user(f"lag{n}") for n in range(sizes.lag_users)]
        projector: Projector | None = None
        process: subprocess.Popen[bytes] | None = None
        task: asyncio.Task[None] | None = None
        if kind == "sqlite":
            projector = Projector(store, models)
            task = asyncio.create_task(projector.run())
        else:
            process = _start_projector(url, tmp / "projector.log")
            await asyncio.sleep(2.0)  # leadership settles
        samples: list[float] = []
        behind: list[int] = []
        done = asyncio.Event()

        async def sample() -> None:
            while not done.is_set():
                measured = await models.lag(_now_ms())
                samples.append(measured.seconds_behind)
                behind.append(measured.events_behind)
                await asyncio.sleep(0.1)

        async def ingest() -> int:
            interval = BATCH / sizes.ingest_rate
            start = time.perf_counter()
            sent, k = 0, 0
            offsets = dict.fromkeys(users, 0)
            while time.perf_counter() - start < sizes.ingest_s:
                user = users[k % len(users)]
                at = offsets[user]
                batch = _incoming(template[at : at + BATCH])
                offsets[user] = at + BATCH
                _, head = await store.append(user, DEVICE, batch, _now_ms())
                if projector is not None:
                    projector.wake(user, head)  # what the server's hub does after an append
                sent += len(batch)
                k += 1
                delay = start + k * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            return sent

        sampler = asyncio.create_task(sample())
        start = time.perf_counter()
        sent = await ingest()
        rate = sent / (time.perf_counter() - start)
        # Let it finish catching up (the lag samples end when it has).
        for _ in range(600):
            if not (await models.lag(_now_ms())).events_behind:
                break
            await asyncio.sleep(0.05)
        done.set()
        await sampler
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if process is not None:
            process.send_signal(signal.SIGTERM)
            process.wait(10)
        worst = max(samples)
        out.add(
            f"{kind}: projector lag at {rate:,.0f} ev/s ingest",
            f"{worst:.2f} s worst",
            f"median {statistics.median(samples):.2f} s, max {max(behind):,} ev",
            "<= 1 s",
            worst <= 1.0 and rate >= 0.95 * sizes.ingest_rate,
        )


def _start_projector(url: str, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "careerlog.server.cli", "project", "--db", url]
    with log.open("wb") as output:
        return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)


async def time_travel(url: str, sizes: Sizes, out: Rows, kind: str, tmp: Path) -> None:
    events = list(history(sizes.travel_events, seed=9))
    async with await open_store(url) as store, await open_read_models(url) as models:
        _log(f"{kind}: storing and projecting {sizes.travel_events:,} events of one user…")
        [user] = await _fill(store, ["traveller"], events)
        await Projector(store, models).drain()
        bodies = [encode_event(e) for e in events]
        start = time.perf_counter()
        fold([decode_event(b) for b in bodies])
        full = time.perf_counter() - start
        first, last = hlc.wall_ms(events[0].hlc), hlc.wall_ms(events[-1].hlc)
        rng = random.Random(4)
        timings = []
        for _ in range(sizes.travel_samples):
            at = datetime.fromtimestamp(rng.uniform(first, last) / 1000, UTC)
            start = time.perf_counter()
            await models.state_as_recorded(user, at)
            timings.append(time.perf_counter() - start)
        p50 = statistics.median(timings) * 1000
        out.add(
            f"{kind}: state as recorded, random date ({sizes.travel_events:,} events)",
            f"{p50:.1f} ms p50",
            f"full fold {full * 1000:,.0f} ms; worst {max(timings) * 1000:.1f} ms",
            "<= 50 ms",
            p50 <= 50,
        )
        timings = []
        for _ in range(sizes.travel_samples):
            start = time.perf_counter()
            await models.state(user)
            timings.append(time.perf_counter() - start)
        p50 = statistics.median(timings) * 1000
        out.add(
            f"{kind}: current state ({sizes.travel_events:,} events)",
            f"{p50:.1f} ms p50",
            f"first read (decoded, then cached) {timings[0] * 1000:.1f} ms",
            "<= 20 ms",
            p50 <= 20,
        )
        await api_latency(url, user, store, models, events, sizes, out, kind, tmp)


def _percentiles(timings: Sequence[float]) -> tuple[float, float]:
    """p50 and p99, in milliseconds."""
    ordered = sorted(timings)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p99 * 1000


async def api_latency(
    url: str,
    user: int,
    store: EventStore,
    models: ReadModelStore,
    events: Sequence[Event],
    sizes: Sizes,
    out: Rows,
    kind: str,
    tmp: Path,
) -> None:
    """The person's read-model routes over real HTTP, beside the calls behind them."""
    import httpx

    from bench.sync import Node, add_device

    token = await add_device(store, user, "benchapi")
    first, last = hlc.wall_ms(events[0].hlc), hlc.wall_ms(events[-1].hlc)
    rng = random.Random(6)
    instants = [
        datetime.fromtimestamp(rng.uniform(first, last) / 1000, UTC)
        for _ in range(sizes.api_samples)
    ]
    # The raw limits in this process, on the same database, at the same instants.
    calls: dict[str, Callable[[datetime], Awaitable[object]]] = {
        "goals": lambda _: models.state(user),
        "as_recorded": lambda at: models.state_as_recorded(user, at),
        "occurred_by": lambda at: models.state_happened_by(user, at),
    }
    raw: dict[str, tuple[float, float]] = {}
    for name, call in calls.items():
        timings = []
        for at in instants:
            start = time.perf_counter()
            await call(at)
            timings.append(time.perf_counter() - start)
        raw[name] = _percentiles(timings)

    _log(f"{kind}: {sizes.api_samples} requests per route to a careerlog-server serve process…")
    node = Node(f"{kind}-api", url, tmp / "api-server.log", None)
    try:
        await node.wait_ready()
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=node.http_url, headers=headers) as client:

            async def timed(path: str, params: Sequence[dict[str, str]]) -> tuple[float, float]:
                await client.get(path, params=params[0])  # the connection is open and warm
                timings = []
                for query in params:
                    start = time.perf_counter()
                    response = await client.get(path, params=query)
                    timings.append(time.perf_counter() - start)
                    if response.status_code != 200:
                        raise RuntimeError(f"{path}: {response.status_code} {response.text}")
                return _percentiles(timings)

            none: list[dict[str, str]] = [{}] * sizes.api_samples
            health = await timed("/health", none)
            measured = {
                "goals": await timed("/v1/me/goals", none),
                **{
                    mode: await timed("/v1/me/replay", [{mode: at.isoformat()} for at in instants])
                    for mode in ("as_recorded", "occurred_by")
                },
            }
    finally:
        node.stop()
    rows = {
        "goals": ("GET /v1/me/goals", "state() (cached)", 20),
        "as_recorded": ("GET /v1/me/replay?as_recorded=", "state_as_recorded()", 50),
        "occurred_by": ("GET /v1/me/replay?occurred_by=", "state_happened_by()", 50),
    }
    for name, (route, call_name, target) in rows.items():
        p50, p99 = measured[name]
        raw_p50, raw_p99 = raw[name]
        out.add(
            f"{kind}: API {route} ({len(events):,} events)",
            f"{p50:.1f} ms p50, {p99:.1f} p99",
            f"{call_name} {raw_p50:.1f} ms p50, {raw_p99:.1f} p99; /health {health[0]:.2f} ms",
            f"<= {target} ms p50",
            p50 <= target,
        )


# --- running -----------------------------------------------------------------------------------


async def _database() -> str:
    import asyncpg

    admin = await asyncpg.connect(PG_ADMIN, timeout=10)
    try:
        name = f"careerlog_bench_rm_{secrets.token_hex(4)}"
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return urlunsplit(urlsplit(PG_ADMIN)._replace(path=f"/{name}"))


async def _drop(url: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(PG_ADMIN, timeout=10)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path[1:]}" WITH (FORCE)')
    finally:
        await admin.close()


STEPS = ("throughput", "lag", "travel")


async def run_backend(
    kind: str, sizes: Sizes, tmp: Path, out: Rows, steps: Sequence[str] = STEPS
) -> None:
    for step in steps:
        if kind == "sqlite":
            url = f"sqlite:///{tmp / f'{step}.db'}"
        else:
            url = await _database()
        try:
            async with await open_store(url):
                pass  # migrated
            if step == "throughput":
                await throughput(url, sizes, out, kind)
            elif step == "lag":
                await lag(url, sizes, out, kind, tmp)
            else:
                await time_travel(url, sizes, out, kind, tmp)
        finally:
            if kind == "postgres":
                await _drop(url)


def machine() -> str:
    import platform
    import sqlite3

    return (
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} cores"
    )


async def postgres_version() -> str:
    import asyncpg

    admin = await asyncpg.connect(PG_ADMIN, timeout=10)
    try:
        return str(await admin.fetchval("SHOW server_version"))
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--step",
        choices=STEPS,
        action="append",
        help="run only this step (repeatable; travel includes the API rows)",
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else Sizes()
    out = Rows()
    started = time.perf_counter()
    kinds = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    pg = ""
    with tempfile.TemporaryDirectory(prefix="careerlog-projbench-") as tmp:
        for kind in kinds:
            base = Path(tmp) / kind
            base.mkdir()
            asyncio.run(run_backend(kind, sizes, base, out, args.step or STEPS))
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
    print(
        f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}"
        + (f", PostgreSQL {pg}" if pg else "")
        + f"; whole run {time.perf_counter() - started:.0f} s"
        + (" (--quick)" if args.quick else "")
    )


if __name__ == "__main__":
    main()
