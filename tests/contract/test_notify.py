"""PostgreSQL fan-out: an append wakes other nodes with ``"<user_id>:<head>"`` on commit."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from careerlog.server.store import EventStore
from careerlog.server.store.postgres import NOTIFY_CHANNEL
from tests.contract.pushes import event, events

NOW = 1_772_442_000_000

# Only PostgreSQL has a cross-node wake-up; SQLite's fan-out is in-process.
pytestmark = pytest.mark.parametrize(
    "backend", [pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]
)


async def test_an_append_wakes_listeners_only_when_the_head_moves(
    store: EventStore, store_url: str
) -> None:
    listener = await asyncpg.connect(store_url)
    wakeups: asyncio.Queue[str] = asyncio.Queue()

    def heard(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
        wakeups.put_nowait(payload)

    await listener.add_listener(NOTIFY_CHANNEL, heard)
    try:
        user = await store.create_user("ada")
        await store.append(user, "laptop", events("laptop", 1, 3), NOW)
        assert await asyncio.wait_for(wakeups.get(), 5) == f"{user}:3"

        # A re-push and a batch of only rejections leave the head where it
        # was: nobody needs waking.
        await store.append(user, "laptop", events("laptop", 1, 3), NOW)
        await store.append(user, "laptop", [event("laptop", 4, rejected=("bad", "bad"))], NOW)
        await store.append(user, "laptop", [event("laptop", 5)], NOW)
        assert await asyncio.wait_for(wakeups.get(), 5) == f"{user}:4"
        assert wakeups.empty()
    finally:
        await listener.close()
