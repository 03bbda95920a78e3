"""The server's event store: one interface, an SQLite and a PostgreSQL backend.

``open_store(url)`` picks the backend from the URL and, by default, brings the
schema up to date, so ``careerlog-server serve`` just works on a new file.
"""

from __future__ import annotations

from pathlib import Path

from careerlog.server.store.base import (
    AppendResult,
    DeviceExists,
    DeviceRecord,
    EventStore,
    Incoming,
    SequenceGap,
    Stored,
    StoreError,
    UnknownUser,
    UserExists,
)

__all__ = [
    "AppendResult",
    "DeviceExists",
    "DeviceRecord",
    "EventStore",
    "Incoming",
    "SequenceGap",
    "StoreError",
    "Stored",
    "UnknownUser",
    "UserExists",
    "open_store",
]


async def open_store(url: str, *, migrate: bool = True) -> EventStore:
    """Open the store at ``url`` and, unless told not to, migrate it.

    ``url`` is ``postgresql://…`` (or ``postgres://…``), ``sqlite:///file.db``
    (three slashes then the path, as in SQLAlchemy: ``sqlite:////abs/file.db``
    is absolute, ``sqlite:///file.db`` relative) or a plain file path. With
    ``migrate=False`` a store whose schema is missing opens, but has no epoch
    until :meth:`EventStore.migrate` runs.
    """
    store: EventStore
    if url.startswith(("postgresql://", "postgres://")):
        # Imported here so that the embedded server never loads asyncpg.
        from careerlog.server.store.postgres import PostgresStore

        store = await PostgresStore.open(url)
    else:
        from careerlog.server.store.sqlite import SqliteStore

        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
        elif "://" in url:
            raise StoreError(f"unsupported store URL {url!r}: use sqlite:/// or postgresql://")
        else:
            path = Path(url)
        store = await SqliteStore.open(path)
    if migrate:
        try:
            await store.migrate()
        except BaseException:
            await store.close()
            raise
    return store
