"""One thread owning one plain ``sqlite3`` connection, for multi-statement writes.

aiosqlite runs each statement as its own trip to its thread; a write that is
a transaction of several statements (an append, a projector step) runs here
as one function instead: one trip, whatever it executes. The event store and
the SQLite read models each keep one.

A small write may also run on the caller's own thread (``run_here``): a
commit of a few rows in WAL mode costs a few microseconds, the trip to the
thread and back ten times that (two thread wake-ups), and on the live path
of every synced event that trip is most of the cost. It never waits for a
lock there: if another connection holds the write lock, the caller is told
(``Busy``) and sends the work to the thread, which waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["BUSY_TIMEOUT_MS", "Busy", "SqliteThread"]

#: How long any connection waits for another's write lock before giving up.
BUSY_TIMEOUT_MS = 10_000
#: Bytes a write-ahead log file is cut back to when it starts again.
WAL_SIZE_LIMIT = 16 << 20

T = TypeVar("T")


class Busy(Exception):
    """``run_here`` would have had to wait for another connection's lock."""


class SqliteThread:
    """Runs ``work(connection, *args)`` on the thread, one call at a time.

    ``pragmas`` are executed once, when the connection is first opened (on
    the thread, like everything else done with it).
    """

    def __init__(self, path: Path, name: str, pragmas: Sequence[str] = ()) -> None:
        self._path = path
        self._pragmas = tuple(pragmas)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:  # on the thread
        if self._connection is None:
            # Not only this thread: run_here uses it too, never at the same time.
            connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA synchronous=NORMAL")
            # When the WAL starts again after a checkpoint, cut a file that a
            # burst (a rebuild, a big snapshot) grew back to this size.
            connection.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            for pragma in self._pragmas:
                connection.execute(pragma)
            self._connection = connection
        return self._connection

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        running = loop.run_in_executor(self._pool, lambda: work(self._connect(), *args))
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            # The thread finishes (commits or rolls back) regardless; wait for
            # it before the caller moves on (e.g. releases a write lock).
            with contextlib.suppress(BaseException):
                await running
            raise

    def run_here(self, work: Callable[..., T], *args: Any) -> T:
        """Run ``work(connection, *args)`` now, on the calling thread.

        Only while no ``run`` of this thread is in progress (the caller
        guarantees it, e.g. with the lock its runs are made under), and only
        once the connection is open (the first ``run`` opens it). ``work``
        must be one transaction, rolled back if it raises: if a lock it needs
        is held elsewhere, ``Busy`` is raised at once instead of waiting, and
        nothing was done (run it on the thread, which waits).
        """
        connection = self._connection
        if connection is None:
            raise Busy("not connected yet")
        connection.execute("PRAGMA busy_timeout=0")
        try:
            return work(connection, *args)
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise Busy(str(error)) from None
        finally:
            connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    async def close(self) -> None:
        def shut() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        await asyncio.get_running_loop().run_in_executor(self._pool, shut)
        self._pool.shutdown(wait=True)


def _is_busy(error: sqlite3.OperationalError) -> bool:
    # (The extended codes, e.g. SQLITE_BUSY_SNAPSHOT, keep the primary one in the low byte.)
    return (error.sqlite_errorcode & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
