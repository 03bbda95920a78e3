"""SqliteThread: work on its own thread, and short writes on the caller's, never waiting."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from careerlog.server.sqlitethread import BUSY_TIMEOUT_MS, Busy, SqliteThread
from tests.lockholder import other_connection


def _create(db: sqlite3.Connection) -> int:
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE notes (n INTEGER NOT NULL)")
    return threading.get_ident()


def _insert(db: sqlite3.Connection, n: int) -> int:
    """One write transaction, rolled back if it fails (as ``run_here`` asks)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("INSERT INTO notes (n) VALUES (?)", (n,))
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
    db.execute("INSERT INTO notes (n) VALUES (?)", (n,))
    db.execute("COMMIT")


def _notes(path: Path) -> list[int]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT n FROM notes ORDER BY rowid")]


def _state(db: sqlite3.Connection) -> tuple[bool, int]:
    return db.in_transaction, db.execute("PRAGMA busy_timeout").fetchone()[0]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "thread.db"


@pytest.fixture
async def thread(path: Path) -> AsyncIterator[SqliteThread]:
    opened = SqliteThread(path, "test-sqlite")
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def holder(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection to the same file (another process, as far as SQLite can tell)."""
    with other_connection(path) as other:
        yield other


async def test_run_here_runs_the_work_on_the_calling_thread_and_returns_its_result(
    thread: SqliteThread, path: Path
) -> None:
    worker = await thread.run(_create)
    assert worker != threading.get_ident()

    assert thread.run_here(_insert, 1) == threading.get_ident()

    assert _notes(path) == [1]
    # The thread goes on with the same connection, its busy timeout back.
    assert await thread.run(_state) == (False, BUSY_TIMEOUT_MS)
    assert await thread.run(_insert, 2) == worker
    assert _notes(path) == [1, 2]


async def test_run_here_before_the_first_run_is_busy_and_runs_nothing(
    thread: SqliteThread,
) -> None:
    called: list[sqlite3.Connection] = []

    with pytest.raises(Busy):
        thread.run_here(called.append)

    assert called == []


async def test_run_here_is_busy_at_once_and_writes_nothing_while_another_connection_writes(
    thread: SqliteThread, path: Path, holder: sqlite3.Connection
) -> None:
    await thread.run(_create)
    holder.execute("BEGIN IMMEDIATE")

    started = time.monotonic()
    with pytest.raises(Busy):
        thread.run_here(_insert, 1)
    # Told at once, not after the busy timeout: the event loop never waits for a lock.
    assert time.monotonic() - started < 1.0

    holder.execute("COMMIT")
    assert _notes(path) == []
    assert await thread.run(_state) == (False, BUSY_TIMEOUT_MS)
    # Once the other connection is done, the same write runs here.
    assert thread.run_here(_insert, 1) == threading.get_ident()
    assert _notes(path) == [1]


async def test_run_here_rolls_back_a_transaction_left_open_by_a_busy_work(
    thread: SqliteThread, path: Path, holder: sqlite3.Connection
) -> None:
    await thread.run(_create)
    holder.execute("BEGIN IMMEDIATE")

    with pytest.raises(Busy):
        thread.run_here(_insert_deferred, 1)

    holder.execute("COMMIT")
    assert await thread.run(_state) == (False, BUSY_TIMEOUT_MS)
    thread.run_here(_insert_deferred, 2)
    assert _notes(path) == [2]


async def test_run_here_passes_on_errors_other_than_a_lock(thread: SqliteThread) -> None:
    await thread.run(_create)

    def broken(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO missing VALUES (1)")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        thread.run_here(broken)
    assert await thread.run(_state) == (False, BUSY_TIMEOUT_MS)


async def test_the_thread_waits_for_a_lock_that_run_here_would_not(
    thread: SqliteThread, path: Path, holder: sqlite3.Connection
) -> None:
    await thread.run(_create)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(Busy):
        thread.run_here(_insert, 1)

    waiting = asyncio.ensure_future(thread.run(_insert, 1))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    holder.execute("COMMIT")
    await asyncio.wait_for(waiting, 5)

    assert _notes(path) == [1]
