"""The local store's connection: aiosqlite's, plus short writes run on the event loop.

aiosqlite runs every job on a thread of its own. For a write transaction of a
few rows that trip costs ten times the work: a commit of one event in WAL mode
with ``synchronous=NORMAL`` takes a few microseconds, the trip to the thread
and back (two thread wake-ups) tens of them, and on a small virtual machine
more. Recording an event and storing a pulled one are on the path of every
live sync, so a short write runs on the caller's thread instead, when that is
safe:

- the connection's thread is idle: no job queued or running (jobs are
  counted as they are queued and as they finish), so the connection is used
  by one thread at a time, and SQLite sees the same sequence of transactions
  as if the thread had run this one at that moment;
- it never waits for a lock: if another process holds the write lock, the
  caller is told (``Busy``) and hands the write to the thread, which waits;
- it never checkpoints: a checkpoint copies megabytes and may wait for the
  disk. Commits made here skip SQLite's automatic checkpoint; every
  ``CHECKPOINT_COMMITS`` commits or ``CHECKPOINT_ROWS`` rows made here (about
  SQLite's own interval) a PASSIVE checkpoint is queued for the thread
  instead, and tried again soon if another process's commits kept it from
  copying the whole WAL (the WAL starts again only after one that did).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

__all__ = [
    "BUSY_TIMEOUT_MS",
    "CHECKPOINT_COMMITS",
    "CHECKPOINT_ROWS",
    "Busy",
    "Connection",
    "connect",
]

#: How long a statement on the thread waits for another process's write lock, in ms.
BUSY_TIMEOUT_MS = 10_000
#: Commits, or rows, made on the event loop between two checkpoints: about
#: SQLite's own interval of 1,000 WAL pages. However small, a commit adds a
#: couple of whole 8 KiB pages to the WAL; a row takes a few hundred bytes.
CHECKPOINT_COMMITS = 500
CHECKPOINT_ROWS = 4_000
#: Commits after which a checkpoint that could not copy the whole WAL is tried again.
CHECKPOINT_RETRY = 20
#: Bytes the write-ahead log file is cut back to when it starts again.
WAL_SIZE_LIMIT = 16 << 20

T = TypeVar("T")


class Busy(Exception):
    """The write would have waited for a lock: nothing was done."""


class Connection(aiosqlite.Connection):
    """An aiosqlite connection that knows when its thread is idle."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        # Each counter has one writer: jobs are queued on the event loop's
        # thread and finish on the connection's.
        self._queued = 0
        self._finished = 0
        self._rows_here = 0
        self._commits_here = 0
        self._checkpointing: asyncio.Future[Any] | None = None

    async def _execute(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        job = partial(fn, *args, **kwargs)

        def counted() -> T:
            try:
                return job()
            finally:
                self._finished += 1

        self._queued += 1
        return cast(T, await super()._execute(counted))  # type: ignore[no-untyped-call]

    @property
    def idle(self) -> bool:
        """No job is queued for the thread or running there."""
        return self._queued == self._finished

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """``work(connection, *args)`` as one job on the connection's thread:
        one trip however many statements it runs."""
        return await self._execute(work, self._conn, *args)

    def run_here(self, work: Callable[..., T], *args: Any, rows: int) -> T:
        """``work(connection, *args)`` now, on the calling thread, never waiting
        for a lock (``Busy``). Only while ``idle``.

        ``work`` must be one transaction that it begins with ``BEGIN
        IMMEDIATE`` and rolls back if it raises, so that ``Busy`` leaves
        nothing done. ``rows``: how many it writes, towards the next checkpoint.
        """
        if not self.idle:
            raise Busy("the connection's thread is busy")
        db = self._conn
        db.execute("PRAGMA busy_timeout=0")
        db.execute("PRAGMA wal_autocheckpoint=0")
        try:
            result = work(db, *args)
        except sqlite3.OperationalError as error:
            if (error.sqlite_errorcode & 0xFF) not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise Busy(str(error)) from None
        finally:
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA wal_autocheckpoint=1000")
        self._rows_here += rows
        self._commits_here += 1
        if self._checkpointing is None and (
            self._rows_here >= CHECKPOINT_ROWS or self._commits_here >= CHECKPOINT_COMMITS
        ):
            self._rows_here = self._commits_here = 0
            self._checkpointing = asyncio.ensure_future(self._checkpoint())
        return result

    async def _checkpoint(self) -> None:
        try:
            [(busy, log, copied)] = await self.execute_fetchall(
                "PRAGMA wal_checkpoint(PASSIVE)", ()
            )
        except sqlite3.Error:
            busy = 1
        else:
            busy = busy or copied < log
        finally:
            self._checkpointing = None
        if busy:
            # Another process committed meanwhile (or was checkpointing): the
            # WAL starts again only after a checkpoint that copied all of it,
            # so try again soon, as SQLite's own would after the next commit.
            self._commits_here = max(self._commits_here, CHECKPOINT_COMMITS - CHECKPOINT_RETRY)

    async def close(self) -> None:
        if self._checkpointing is not None:
            await asyncio.gather(self._checkpointing, return_exceptions=True)
        await super().close()


async def connect(path: Path) -> Connection:
    """Open ``path`` (autocommit: transactions are explicit)."""

    def connector() -> sqlite3.Connection:
        # Not only the connection's thread: run_here uses it too, never at the same time.
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # When the WAL starts again after a checkpoint, cut a file that a
        # burst (an import, a rebuild) grew back to this size.
        db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        return db

    return cast(Connection, await Connection(connector))
