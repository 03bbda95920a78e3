"""The contract suite's fixtures: every test runs once per event-store backend.

``store`` is a migrated store on a fresh database: an SQLite file in the
test's temporary directory, or a PostgreSQL database with a random name,
created for the test and dropped (forcibly) after it. Without a reachable
PostgreSQL the postgres cases are skipped, except under ``CI=true``, where a
missing database is a failure rather than a silently smaller suite.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from careerlog.server.store import EventStore, open_store

#: The maintenance database the postgres cases create their databases from.
ADMIN_DSN = os.environ.get(
    "CAREERLOG_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]

NewUrl = Callable[[], Awaitable[str]]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def new_url(backend: str, tmp_path: Path) -> AsyncIterator[NewUrl]:
    """Make the URL of another empty database of the backend (a wiped server)."""
    databases: list[str] = []

    async def make() -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'server-{secrets.token_hex(4)}.db'}"
        admin = await _admin_connection()
        try:
            name = f"careerlog_test_{secrets.token_hex(6)}"
            await admin.execute(f'CREATE DATABASE "{name}"')
            databases.append(name)
        finally:
            await admin.close()
        return urlunsplit(urlsplit(ADMIN_DSN)._replace(path=f"/{name}"))

    yield make
    if databases:
        admin = await _admin_connection()
        try:
            for name in databases:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def store_url(new_url: NewUrl) -> str:
    return await new_url()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[EventStore]:
    opened = await open_store(store_url)
    try:
        yield opened
    finally:
        await opened.close()


#: Why PostgreSQL could not be reached, once known: later cases skip at once
#: instead of each waiting for a connection timeout.
_unreachable: list[str] = []


async def _admin_connection() -> Any:
    if not _unreachable:
        try:
            return await asyncpg.connect(ADMIN_DSN, timeout=5)
        except (OSError, TimeoutError, asyncpg.PostgresError) as error:
            _unreachable.append(f"PostgreSQL unreachable at {ADMIN_DSN}: {error}")
    if os.environ.get("CI") == "true":
        pytest.fail(_unreachable[0])
    pytest.skip(_unreachable[0])
