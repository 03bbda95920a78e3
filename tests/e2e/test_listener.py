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


async def test_a_wake_up_lost_after_the_commit_is_recovered_within_the_head_check(
    database: str, tmp_path: Path
) -> None:
    """A node that dies between an append's COMMIT and its NOTIFY: the other
    node's listener finds the head on its timer and wakes the connection."""
    settings = dataclasses.replace(Settings(db_url=database, port=0), node="test")
    async with running(settings) as server:
        user = await server.user("ada")
        phone = await Peer.open(server.ws_url, await server.device(user, "phone"), "phone")
        await server.device(user, "laptop")
        listener = server.runtime.listener
        assert isinstance(listener, PostgresListener)
        # Let the phone's first head check pass (nothing new yet).
        await asyncio.sleep(PostgresListener.HEAD_CHECK_S * 1.5)

        # Another node's append, committed, whose NOTIFY never went out.
        body = activity("laptop", 1)
        admin = await asyncpg.connect(database)
        try:
            async with admin.transaction():
                await admin.execute(
                    "INSERT INTO events (user_id, pos, device, dseq, hlc, body, received_ms)"
                    " VALUES ($1, 1, 'laptop', 1, 1, $2, $3)",
                    user,
                    body,
                    now_ms(),
                )
                await admin.execute("UPDATE user_heads SET head = 1 WHERE user_id = $1", user)
                await admin.execute(
                    "UPDATE device_heads SET last_dseq = 1"
                    " WHERE user_id = $1 AND device = 'laptop'",
                    user,
                )
        finally:
            await admin.close()
        started = asyncio.get_running_loop().time()
        page = await asyncio.wait_for(phone.expect(Events), PostgresListener.HEAD_CHECK_S + 2)
        waited = asyncio.get_running_loop().time() - started
        assert [bytes(item.event) for item in page.items] == [body]
        assert waited <= PostgresListener.HEAD_CHECK_S + 1.0
        assert listener.recovered >= 1
        await phone.close()


async def test_appends_wake_the_other_node_after_their_commit(database: str) -> None:
    """The NOTIFY goes out after the COMMIT, one per user with the newest head."""
    from careerlog.server.store.postgres import PostgresStore

    hub = Hub()
    recorder = Recorder()
    store = await PostgresStore.open(database)
    listener = PostgresListener(database, hub)
    task = asyncio.create_task(listener.run())
    try:
        await store.migrate()
        user = await store.create_user("ada")
        hub.attach(user, "phone", recorder)
        await asyncio.wait_for(listener.ready.wait(), 10)
        await asyncio.gather(
            *(
                store.append(
                    user, "laptop", [Incoming("laptop", d, d, activity("laptop", d))], now_ms()
                )
                for d in range(1, 4)
            )
        )
        heard: list[int | None] = []
        while not heard or heard[-1] != 3:
            heard.append(await asyncio.wait_for(recorder.heard.get(), 5))
        assert heard == sorted(heard)
        assert listener.recovered <= 1  # at most a head check racing the NOTIFY
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.close()
