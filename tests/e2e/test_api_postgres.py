"""The HTTP API on PostgreSQL: a person, a coach, an organisation and a deletion, end to end.

The same server as on SQLite, with the projector in-process, on a fresh
PostgreSQL database: what the person synced comes back, a coach sees only
the granted scope, aggregates suppress small groups, and a deleted account
leaves no row in any table.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from careerlog.server.cli import EXIT_OK, main
from careerlog.server.settings import Settings
from tests.contract.database import user_traces
from tests.server.conftest import LiveServer, running
from tests.server.people import person
from tests.shared.builders import History

pytestmark = [pytest.mark.postgres]


@pytest.fixture
async def server(database: str) -> AsyncIterator[LiveServer]:
    settings = Settings(db_url=database, port=0, node="pg", project_in_process=True)
    async with running(settings) as live:
        yield live


async def test_the_api_on_postgres(server: LiveServer) -> None:
    ada = await person(server, "ada")
    carol = await person(server, "carol", device="carol-laptop")
    h = History()
    gid = h.goal("Ship", target=10)
    h.revise(gid, ("target", 10, 12), reason_code="scope_changed", reason="private")
    h.share("carol", ["history"])
    await ada.sync(h)

    (goal,) = await ada.json("/v1/me/goals")
    assert (goal["goal_id"], goal["target"]) == (gid, 12.0)
    page = await ada.json("/v1/me/timeline", limit=1)
    older = await ada.json("/v1/me/timeline", limit=5, cursor=page["next_cursor"])
    assert [e["event_id"] for e in page["entries"] + older["entries"]] == [
        str(e.id) for e in reversed(h.events)
    ]

    history = await carol.json(f"/v1/coach/people/ada/goals/{gid}/history")
    assert [e["reason"] for e in history["entries"]] == [""]
    assert (await carol.get("/v1/coach/people/ada/goals")).status_code == 403

    db = server.settings.db_url
    for argv in (["org", "add", "acme"], ["org", "admin", "add", "acme", "carol"]):
        assert await asyncio.to_thread(main, [*argv, "--db", db]) == EXIT_OK
    assert await asyncio.to_thread(main, ["org", "member", "add", "acme", "ada", "--db", db]) == 0
    aggregates = await carol.json("/v1/orgs/acme/aggregates")
    assert aggregates["people"]["suppressed"]

    async with ada.client() as client:
        assert (await client.delete("/v1/me", params={"confirm": "ada"})).status_code == 204
    traces = await user_traces(db, ada.user_id)
    assert {table: n for table, n in traces.items() if n} == {}
    assert traces.keys() >= {"events", "rm_checkpoints", "org_members"}
    assert await carol.json("/v1/coach/people") == []
