"""Another connection to a SQLite file, holding its write lock as another process would.

For the tests of writes that run on the event loop and must never wait
there for a lock (client/careerlog/client/database.py,
server/careerlog/server/sqlitethread.py and the stores using them).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["other_connection", "release_later"]


@contextlib.contextmanager
def other_connection(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection to the file: another process, as far as SQLite can tell."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        yield other
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()


async def release_later(holder: sqlite3.Connection, pending: asyncio.Future[Any]) -> None:
    """Hold ``holder``'s write lock ~0.1 s more, then commit.

    The sleep takes much longer if anything blocks the event loop meanwhile
    (a write waiting on the loop for the lock), and the write must still be
    waiting when the lock goes.
    """
    started = time.monotonic()
    await asyncio.sleep(0.1)
    assert time.monotonic() - started < 1.0, "the event loop was blocked"
    assert not pending.done()
    holder.execute("COMMIT")
