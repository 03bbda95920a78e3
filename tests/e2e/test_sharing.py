"""Sharing end to end: ``careerlog share grant`` on a device, sync, and the coach sees it over HTTP.

Everything is real: the client CLI in its own home, a server on a loopback
port with its in-process projector, the coach's device token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from careerlog.server.settings import Settings
from tests.client.test_sync import Device
from tests.server.conftest import LiveServer, running
from tests.server.people import Person, person

#: How long the projector may take to fold a sync (it is woken at once; this is slack).
PROJECTED_S = 15.0


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'server.db'}", port=0, node="test")
    async with running(settings) as live:
        yield live


async def eventually(check: Callable[[], Awaitable[Any]]) -> Any:
    """Retry ``check`` until it returns something truthy (the projector runs a moment behind)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PROJECTED_S
    while not (value := await check()):
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return value


async def test_grant_sync_coach_sees_revoke_sync_coach_sees_nothing(
    server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ada_id = await server.user("ada")
    carol: Person = await person(server, "carol", device="carol-laptop")
    laptop = Device(tmp_path / "ada", capsys)
    await laptop.json("login", server.http_url, "--token", await server.enrollment(ada_id))
    goal = (await laptop.ok("goal", "set", "Staff engineer", "--due", "+180d")).strip()
    await laptop.ok(
        "goal", "revise", goal, "--target", "2", "--reason-code", "scope_changed", "-m", "my secret"
    )
    await laptop.ok("log", "a private note")
    await laptop.ok("share", "grant", "carol", "--scopes", "progress,history")
    await laptop.sync()

    async def shared() -> list[Any]:
        return list(await carol.json("/v1/coach/people"))

    (entry,) = await eventually(shared)
    assert (entry["person"], entry["scopes"]) == ("ada", ["history", "progress"])
    goals = await carol.json("/v1/coach/people/ada/goals")
    assert [g["title"] for g in goals] == ["Staff engineer"]
    history = await carol.json(f"/v1/coach/people/ada/goals/{goal}/history")
    assert [(e["reason_code"], e["reason"]) for e in history["entries"]] == [("scope_changed", "")]
    timeline = await carol.get("/v1/coach/people/ada/timeline")
    assert timeline.status_code == 403

    await laptop.ok("share", "revoke", "carol")
    await laptop.sync()

    async def gone() -> bool:
        return await shared() == []

    await eventually(gone)
    for path in ("/v1/coach/people/ada", "/v1/coach/people/ada/goals"):
        response = await carol.get(path)
        assert response.status_code == 404
        assert "Staff engineer" not in response.text
