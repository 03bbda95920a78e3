"""The fan-out listener survives losing its connection and then misses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from pathlib import Path

import asyncpg
import pytest

from careerlog.server.fanout import LISTENER_NAME, Hub, PostgresListener
from careerlog.server.settings import Settings
from careerlog.server.store import Incoming
from careerlog.shared.protocol import Events
from tests.server.conftest import running
from tests.server.wire import Peer, activity, now_ms

pytestmark = pytest.mark.postgres


async def test_a_dropped_listener_reconnects_and_wakes_everyone(
    database: str, tmp_path: Path
) -> None:
    settings = dataclasses.replace(Settings(db_url=database, port=0), node="test")
    async with running(settings) as server:
        user = await server.user("ada")
        phone = await Peer.open(server.ws_url, await server.device(user, "phone"), "phone")
        await server.device(user, "laptop")

        admin = await asyncpg.connect(database)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = $1 AND datname = current_database()",
                LISTENER_NAME,
            )
            assert killed == 1
            # Another node appends while the listener may be down: its NOTIFY
            # may be lost, and the phone must hear of the event all the same.
            body = activity("laptop", 1)
            await server.store.append(user, "laptop", [Incoming("laptop", 1, 1, body)], now_ms())
        finally:
            await admin.close()

        # After reconnecting, the listener wakes every connection to re-read.
        page = await asyncio.wait_for(phone.expect(Events), 10)
        assert [bytes(item.event) for item in page.items] == [body]
        await phone.close()


class Recorder:
    def __init__(self) -> None:
        self.heard: asyncio.Queue[int | None] = asyncio.Queue()

    def wake(self, head: int | None) -> None:
        self.heard.put_nowait(head)

    def revoke(self) -> None: ...

    def replace(self) -> None: ...

    def shutdown(self) -> None: ...


async def test_the_listener_relays_notifies_and_wakes_all_after_a_reconnect(
    database: str,
) -> None:
    hub = Hub()
    recorder = Recorder()
    hub.attach(7, "phone", recorder)
    listener = PostgresListener(database, hub)
    task = asyncio.create_task(listener.run())
    admin = await asyncpg.connect(database)
    try:
        await asyncio.wait_for(listener.ready.wait(), 10)
        await admin.execute("SELECT pg_notify('careerlog_events', '7:3')")
        assert await asyncio.wait_for(recorder.heard.get(), 5) == 3
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            LISTENER_NAME,
        )
        # Back again: a wake-up without a head means "re-read from your cursor".
        assert await asyncio.wait_for(recorder.heard.get(), 10) is None
        assert listener.reconnects == 1
    finally:
        await admin.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
