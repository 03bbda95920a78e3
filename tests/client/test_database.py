"""The local store's connection: jobs counted, short writes on the caller's thread, checkpoints."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from careerlog.client import database
from careerlog.client.database import BUSY_TIMEOUT_MS, Busy, Connection
from tests.lockholder import other_connection

#: A row of this size fills a few pages: the WAL and the file grow visibly with each.
BLOB = 20_000


def _insert(db: sqlite3.Connection, n: int) -> int:
    """One write transaction, rolled back if it fails (as ``run_here`` asks)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("INSERT INTO notes (n, blob) VALUES (?, zeroblob(?))", (n, BLOB))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return threading.get_ident()


def _insert_deferred(db: sqlite3.Connection, n: int) -> None:
    """A transaction that only meets the lock at its INSERT, and leaves the rollback to others."""
    db.execute("BEGIN")
    db.execute("SELECT count(*) FROM notes").fetchall()
    db.execute("INSERT INTO notes (n, blob) VALUES (?, zeroblob(?))", (n, BLOB))
    db.execute("COMMIT")


def _state(db: sqlite3.Connection) -> tuple[bool, int, int]:
    return (
        db.in_transaction,
        db.execute("PRAGMA busy_timeout").fetchone()[0],
        db.execute("PRAGMA wal_autocheckpoint").fetchone()[0],
    )


def _ident(_db: sqlite3.Connection) -> int:
    return threading.get_ident()


def _nap(_db: sqlite3.Connection, seconds: float) -> None:
    time.sleep(seconds)


def _notes(path: Path) -> list[int]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT n FROM notes ORDER BY rowid")]


def _wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def _size(path: Path) -> int:
    return path.stat().st_size


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "local.db"


@pytest.fixture
async def conn(path: Path) -> AsyncIterator[Connection]:
    opened = await database.connect(path)
    try:
        await opened.execute("PRAGMA journal_mode=WAL")
        await opened.execute("PRAGMA synchronous=NORMAL")
        await opened.execute("CREATE TABLE notes (n INTEGER NOT NULL, blob BLOB NOT NULL)")
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def holder(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection to the same file: another process, as far as SQLite can tell."""
    with other_connection(path) as other:
        yield other


async def test_the_connection_is_idle_only_with_no_job_queued_or_running(
    conn: Connection, path: Path
) -> None:
    assert conn.idle
    slow = asyncio.ensure_future(conn.run(_nap, 0.2))
    queued = asyncio.ensure_future(conn.execute_fetchall("SELECT count(*) FROM notes"))
    await asyncio.sleep(0.05)

    assert not conn.idle
    called: list[sqlite3.Connection] = []
    with pytest.raises(Busy):
        conn.run_here(called.append, rows=0)
    assert called == []

    await slow
    await queued
    assert conn.idle
    # A job that fails is finished too.
    with pytest.raises(sqlite3.OperationalError):
        await conn.execute("SELECT * FROM missing")
    assert conn.idle
    assert conn.run_here(_insert, 1, rows=1) == threading.get_ident()
    assert _notes(path) == [1]


async def test_run_here_runs_on_the_calling_thread_and_run_on_the_connections(
    conn: Connection, path: Path
) -> None:
    here = conn.run_here(_insert, 1, rows=1)
    there = await conn.run(_insert, 2)

    assert here == threading.get_ident()
    assert there != here
    assert there == await conn.run(_ident)
    assert _notes(path) == [1, 2]
    assert conn.idle


async def test_run_here_is_busy_at_once_and_writes_nothing_while_another_connection_writes(
    conn: Connection, path: Path, holder: sqlite3.Connection
) -> None:
    holder.execute("BEGIN IMMEDIATE")

    started = time.monotonic()
    with pytest.raises(Busy):
        conn.run_here(_insert, 1, rows=1)
    # Told at once, not after a busy timeout: the event loop never waits for a lock.
    assert time.monotonic() - started < 1.0

    holder.execute("COMMIT")
    assert _notes(path) == []
    assert await conn.run(_state) == (False, BUSY_TIMEOUT_MS, 1000)
    # Once the other connection is done, the same write runs here.
    assert conn.run_here(_insert, 1, rows=1) == threading.get_ident()
    assert _notes(path) == [1]


async def test_run_here_rolls_back_a_transaction_left_open_by_a_busy_work(
    conn: Connection, path: Path, holder: sqlite3.Connection
) -> None:
    holder.execute("BEGIN IMMEDIATE")

    with pytest.raises(Busy):
        conn.run_here(_insert_deferred, 1, rows=1)

    holder.execute("COMMIT")
    assert await conn.run(_state) == (False, BUSY_TIMEOUT_MS, 1000)
    conn.run_here(_insert_deferred, 2, rows=1)
    assert _notes(path) == [2]


async def test_run_here_passes_on_errors_other_than_a_lock(conn: Connection) -> None:
    def broken(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO missing VALUES (1)")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        conn.run_here(broken, rows=1)
    assert await conn.run(_state) == (False, BUSY_TIMEOUT_MS, 1000)


async def test_commits_made_here_never_checkpoint(
    conn: Connection, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "CHECKPOINT_ROWS", 10**9)
    monkeypatch.setattr(database, "CHECKPOINT_COMMITS", 10**9)

    for n in range(300):  # about 1,800 WAL pages, well over SQLite's automatic 1,000
        conn.run_here(_insert, n, rows=1)

    assert _size(_wal(path)) > 300 * BLOB
    assert _size(path) < 10 * BLOB  # nothing of it copied into the file
    # The connection's own commits (on its thread) still checkpoint as SQLite does.
    assert await conn.run(_state) == (False, BUSY_TIMEOUT_MS, 1000)


async def test_a_checkpoint_is_queued_for_the_thread_every_so_many_rows(
    conn: Connection, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "CHECKPOINT_ROWS", 10)
    for n in range(2):
        conn.run_here(_insert, n, rows=4)  # (one row each, counted as four)
    await asyncio.sleep(0.05)
    assert conn._checkpointing is None
    assert _size(path) < 2 * BLOB  # 8 rows counted: nothing copied yet

    conn.run_here(_insert, 2, rows=4)  # 12
    checkpointing = conn._checkpointing
    assert checkpointing is not None
    await checkpointing

    assert _size(path) > 3 * BLOB  # copied into the file
    # Fully checkpointed, the WAL is written again from its start.
    wal = _size(_wal(path))
    for n in range(3, 5):
        conn.run_here(_insert, n, rows=1)
    assert _size(_wal(path)) == wal
    assert _notes(path) == list(range(5))


async def test_a_checkpoint_is_queued_every_so_many_commits_however_small(
    conn: Connection, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "CHECKPOINT_COMMITS", 3)
    for n in range(2):
        conn.run_here(_insert, n, rows=0)  # (counted as no rows: commits alone count)
    assert conn._checkpointing is None

    conn.run_here(_insert, 2, rows=0)
    checkpointing = conn._checkpointing
    assert checkpointing is not None
    await checkpointing
    assert _size(path) > 3 * BLOB  # copied into the file


async def test_the_wal_stays_bounded_under_a_steady_stream_of_short_writes(
    conn: Connection, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "CHECKPOINT_COMMITS", 50)
    first_interval = 0
    for n in range(500):
        try:
            conn.run_here(_insert, n, rows=1)
        except Busy:  # a checkpoint is on the thread: the write queues behind it
            await conn.run(_insert, n)
        if n == 48:
            first_interval = _size(_wal(path))
        await asyncio.sleep(0)
    if conn._checkpointing is not None:
        await conn._checkpointing
    assert conn.idle

    # Restarted after each checkpoint, the WAL holds about one interval's
    # commits; never restarted, all ten intervals'.
    assert first_interval > 0
    assert _size(_wal(path)) < 2.5 * first_interval
    assert len(_notes(path)) == 500
