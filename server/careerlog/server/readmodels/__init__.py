"""Server-side read models: the projections of every user's log, persisted as tables.

``base`` is the interface the HTTP API reads; ``writer`` adds what the
projector (:mod:`careerlog.server.projector`) writes through; ``rows`` are
the values both backends store. ``open_read_models(url)`` opens them on the
event store's database (the same URL), which must be migrated.
"""

from __future__ import annotations

from careerlog.server.readmodels.base import Checkpoint, Grant, ReadModels
from careerlog.server.readmodels.writer import Behind, ProjectionLag, ReadModelStore
from careerlog.server.settings import is_postgres_url, sqlite_path
from careerlog.server.store import StoreError

__all__ = [
    "Behind",
    "Checkpoint",
    "Grant",
    "ProjectionLag",
    "ReadModelStore",
    "ReadModels",
    "open_read_models",
]


async def open_read_models(url: str) -> ReadModelStore:
    """Open the read models in the store at ``url`` (same forms as ``open_store``)."""
    if is_postgres_url(url):
        # Imported here so that the embedded server never loads asyncpg.
        from careerlog.server.readmodels.postgres import PostgresReadModels

        return await PostgresReadModels.open(url)
    from careerlog.server.readmodels.sqlite import SqliteReadModels

    try:
        path = sqlite_path(url)
    except ValueError as error:
        raise StoreError(str(error)) from None
    return await SqliteReadModels.open(path)
