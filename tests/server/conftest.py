"""Fixtures: a real server (uvicorn on a free loopback port) on a fresh SQLite store."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from careerlog.server.runtime import Runtime
from careerlog.server.serving import SyncServer, sync_server
from careerlog.server.settings import Settings, sqlite_path
from careerlog.server.store import EventStore, open_store
from careerlog.server.tokens import ENROLLMENT_PREFIX, hash_token, new_token
from tests.server.wire import enroll, now_ms


@dataclasses.dataclass
class LiveServer:
    """A running server, and a side door to its store for the operator's part."""

    http_url: str
    ws_url: str
    store: EventStore
    settings: Settings
    #: The app's own runtime (its store, hub and metrics), for tests that poke the server.
    runtime: Runtime

    async def user(self, name: str) -> int:
        return await self.store.create_user(name)

    async def enrollment(self, user_id: int) -> str:
        token = new_token(ENROLLMENT_PREFIX)
        await self.store.add_enrollment(user_id, hash_token(token), now_ms() + 3_600_000)
        return token

    async def device(self, user_id: int, device: str) -> str:
        """Enroll a device through the HTTP API; return its device token."""
        return await enroll(self.http_url, await self.enrollment(user_id), device)


def expire_token(settings: Settings, user_id: int, device: str) -> None:
    """Make a device's token expired, as the passing of its time would (SQLite servers)."""
    with contextlib.closing(sqlite3.connect(sqlite_path(settings.db_url))) as db, db:
        changed = db.execute(
            "UPDATE devices SET token_expires_ms = ? WHERE user_id = ? AND device = ?",
            (now_ms() - 1, user_id, device),
        ).rowcount
    assert changed == 1


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db_url=f"sqlite:///{tmp_path / 'server.db'}", port=0, node="test")


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[LiveServer]:
    async with running(settings) as live:
        yield live


class running:
    """Serve ``settings`` with uvicorn in this event loop until the block ends."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._server: SyncServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._store: EventStore | None = None

    async def __aenter__(self) -> LiveServer:
        self._server = sync_server(self.settings, log_level="warning")
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the server did not start")
            await asyncio.sleep(0.01)
        port = self._server.port
        self._store = await open_store(self.settings.db_url)
        return LiveServer(
            http_url=f"http://127.0.0.1:{port}",
            ws_url=f"ws://127.0.0.1:{port}/v1/sync",
            store=self._store,
            settings=self.settings,
            runtime=self._server.runtime,
        )

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        assert self._task is not None
        self._server.should_exit = True
        await asyncio.wait_for(self._task, 10)
        if self._store is not None:
            await self._store.close()
