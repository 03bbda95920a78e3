"""One thread owning one plain ``sqlite3`` connection, for multi-statement writes.

aiosqlite runs each statement as its own trip to its thread; a write that is
a transaction of several statements (an append, a projector step) runs here
as one function instead: one trip, whatever it executes. The event store and
the SQLite read models each keep one.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["BUSY_TIMEOUT_MS", "SqliteThread"]

#: How long any connection waits for another's write lock before giving up.
BUSY_TIMEOUT_MS = 10_000

T = TypeVar("T")


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
            connection = sqlite3.connect(self._path, isolation_level=None)
            connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA synchronous=NORMAL")
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

    async def close(self) -> None:
        def shut() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        await asyncio.get_running_loop().run_in_executor(self._pool, shut)
        self._pool.shutdown(wait=True)
