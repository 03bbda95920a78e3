"""Benchmarks of the local-first log (issue #2), each beside the raw SQLite limit.

Run: ``.venv/bin/python -m bench.local`` (``--quick`` for a smaller run).
Prints one table; ``--json FILE`` also writes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

from bench.dataset import history
from careerlog.client import commands
from careerlog.client.store import DB_NAME, LocalStore
from careerlog.shared.codec import encode_event
from careerlog.shared.events import Event

Row = dict[str, Any]


def _raw_db(path: Path, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """A bare SQLite table of the same rows and keys, with the store's settings."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA page_size=8192")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute(
        "CREATE TABLE events (hlc INTEGER, device TEXT, dseq INTEGER, id BLOB, body BLOB, "
        "PRIMARY KEY (hlc, device, dseq)) WITHOUT ROWID"
    )
    db.execute("CREATE UNIQUE INDEX events_by_id ON events (id)")
    return db


def _rows(events: list[Event]) -> list[tuple[Any, ...]]:
    return [(e.hlc, e.device, e.dseq, e.id.bytes, encode_event(e)) for e in events]


def raw_single_commits(path: Path, events: list[Event], synchronous: str) -> float:
    """Rows/s for one INSERT (one commit) per row: the durable-append ceiling."""
    db = _raw_db(path, synchronous)
    rows = _rows(events)
    start = time.perf_counter()
    for row in rows:
        db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?)", row)
    elapsed = time.perf_counter() - start
    db.close()
    return len(rows) / elapsed


def raw_batch_insert(path: Path, events: list[Event]) -> float:
    """Rows/s for one executemany in one transaction: the bulk-insert ceiling."""
    db = _raw_db(path)
    rows = _rows(events)
    start = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
    db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return len(rows) / elapsed


def raw_scan(path: Path) -> float:
    """Rows/s reading every body in canonical order: the rebuild's read ceiling."""
    db = sqlite3.connect(path)
    start = time.perf_counter()
    count = 0
    for _ in db.execute("SELECT body FROM events ORDER BY hlc, device, dseq"):
        count += 1
    elapsed = time.perf_counter() - start
    db.close()
    return count / elapsed


async def appends(home: Path, count: int, durability: str) -> float:
    """Durable single-event appends through the command layer, events/s."""
    os.environ["CAREERLOG_DURABILITY"] = durability
    async with await LocalStore.open(home) as store:
        goal = await store.record(
            partial(commands.set_goal, title="Bench", due_on=date(2099, 1, 1))
        )
        goal_id = goal.goal_id  # type: ignore[attr-defined]
        start = time.perf_counter()
        for n in range(count):
            if n % 4 == 0:
                await store.record(partial(commands.record_progress, goal=goal_id, value=n))
            else:
                await store.record(
                    partial(commands.log_activity, text=f"read chapter {n}", kind="learning")
                )
        rate = count / (time.perf_counter() - start)
    del os.environ["CAREERLOG_DURABILITY"]
    return rate


async def bulk_import(home: Path, events: list[Event]) -> float:
    async with await LocalStore.open(home) as store:
        start = time.perf_counter()
        await store.import_events(events)
        return len(events) / (time.perf_counter() - start)


async def rebuild(home: Path) -> tuple[float, int]:
    async with await LocalStore.open(home) as store:
        start = time.perf_counter()
        await store.rebuild()
        return store.count / (time.perf_counter() - start), store.count


async def timeline_as_of(home: Path, samples: int) -> tuple[float, float]:
    """Median and worst ms for the plan as of a random date plus its latest entries."""
    async with await LocalStore.open(home) as store:
        first = (await store.events(limit=1))[0].occurred_at
        last = (await store.events(limit=1, newest_first=True))[0].occurred_at
        rng = random.Random(5)
        timings = []
        for _ in range(samples):
            when = first + (last - first) * rng.random()
            start = time.perf_counter()
            await store.state_as_of(when)
            await store.events(
                recorded_until_ms=int(when.timestamp() * 1000), limit=50, newest_first=True
            )
            timings.append((time.perf_counter() - start) * 1000)
        return statistics.median(timings), max(timings)


def _wall(argv: list[str], runs: int, env: dict[str, str]) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=env)
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def cold_start(home: Path, runs: int) -> tuple[float, float]:
    """``careerlog status`` wall ms, and the bare interpreter's start-up in the same run."""
    env = {**os.environ, "CAREERLOG_HOME": str(home), "NO_COLOR": "1"}
    # An installed Careerlog has bytecode (pip compiles it); an editable
    # checkout gets it on first import, unless PYTHONDONTWRITEBYTECODE is set
    # (as in some sandboxes), when every start would compile from source.
    root = Path(__file__).resolve().parent.parent
    portions = [str(root / name) for name in ("shared", "client", "server")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *portions], check=True)
    exe = shutil.which("careerlog", path=str(Path(sys.executable).parent)) or "careerlog"
    _wall([exe, "status"], 2, env)  # warm the page cache, as a person's second run would be
    return _wall([exe, "status"], runs, env), _wall([sys.executable, "-c", "pass"], runs, env)


async def size_per_event(home: Path) -> tuple[float, float]:
    async with await LocalStore.open(home) as store:
        total = await store.file_size()
        count = store.count
    with sqlite3.connect(home / DB_NAME) as db:
        (body,) = db.execute("SELECT avg(length(body)) FROM events").fetchone()
    return total / count, float(body)


def _fmt(value: float, unit: str) -> str:
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:,.1f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    n_append = 500 if args.quick else 3000
    n_import = 20_000 if args.quick else 100_000
    n_rebuild = 100_000 if args.quick else 1_000_000
    rows: list[tuple[str, str, str, str, bool]] = []

    def row(name: str, value: float, unit: str, limit: str, target: str, ok: bool) -> None:
        rows.append((name, _fmt(value, unit), limit, target, ok))
        print(f"  measured {name}: {_fmt(value, unit)}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="careerlog-bench-") as tmp:
        base = Path(tmp)
        # Latency-bound figures first, from a small process: a CLI is never
        # spawned by a process holding a million events (fork costs grow with
        # the parent), and appends never run beside one.
        small = list(history(max(n_append, 10_000)))
        for mode in ("normal", "full"):
            raw_commit = raw_single_commits(base / f"raw-{mode}.db", small[:n_append], mode)
            rate = asyncio.run(appends(base / f"appends-{mode}", n_append, mode))
            row(f"durable appends, synchronous={mode.upper()}", rate, "ev/s",
                _fmt(raw_commit, "commits/s"), ">= 2,000 ev/s", rate >= 2000)  # fmt: skip

        home10k = base / "status"
        asyncio.run(bulk_import(home10k, small[:10_000]))
        status_ms, python_ms = cold_start(home10k, 9)
        row("`careerlog status` cold start (10,000 events)", status_ms, "ms",
            f"python -c pass {python_ms:.0f} ms", "<= 150 ms", status_ms <= 150)  # fmt: skip
        del small

        print(f"generating {n_rebuild:,} events…", file=sys.stderr, flush=True)
        big = list(history(n_rebuild))
        mid = big[:n_import]
        # The dataset is read-only from here: keep the collector from walking
        # it again and again (a CLI process never holds a million events).
        gc.collect()
        gc.freeze()

        raw_bulk = raw_batch_insert(base / "raw2.db", mid)
        rate = asyncio.run(bulk_import(base / "import", mid))
        row(f"bulk import ({n_import:,} events)", rate, "ev/s", _fmt(raw_bulk, "rows/s"),
            ">= 50% of raw", rate >= 0.5 * raw_bulk)  # fmt: skip

        median, worst = asyncio.run(timeline_as_of(base / "import", 30))
        row(f"timeline as of a random date ({n_import:,})", median, "ms",
            f"worst {worst:.1f} ms", "<= 100 ms", worst <= 100)  # fmt: skip

        per_event, body = asyncio.run(size_per_event(base / "import"))
        row("on-disk size", per_event, "B/event", f"body alone {body:.0f} B",
            "<= 400 B/event", per_event <= 400)  # fmt: skip

        asyncio.run(bulk_import(base / "big", big))
        scan = raw_scan(base / "big" / DB_NAME)
        rate, count = asyncio.run(rebuild(base / "big"))
        row(f"rebuild ({count:,} events)", rate, "ev/s", _fmt(scan, "rows/s read"),
            ">= 300,000 ev/s", rate >= 300_000)  # fmt: skip

    width = [max(len(str(r[i])) for r in rows) for i in range(4)]
    header = ("benchmark", "measured", "raw limit (same run)", "target")
    width = [max(w, len(h)) for w, h in zip(width, header, strict=True)]
    line = " | ".join(h.ljust(w) for h, w in zip(header, width, strict=True)) + " | ok"
    print(line)
    print("-" * len(line))
    for name, value, limit, target, ok in rows:
        cells = (name, value, limit, target)
        print(" | ".join(c.ljust(w) for c, w in zip(cells, width, strict=True))
              + (" | yes" if ok else " | NO"))  # fmt: skip
    print(f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {sys.version.split()[0]}, "
          f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} cores")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
