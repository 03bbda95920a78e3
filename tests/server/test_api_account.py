"""Deleting an account: every trace goes, live sockets close, nobody else is touched."""

from __future__ import annotations

import asyncio

from careerlog.server.cli import EXIT_OK, main
from tests.contract.database import user_traces
from tests.server.conftest import LiveServer
from tests.server.people import person
from tests.server.wire import Peer
from tests.shared.builders import History


async def test_deleting_an_account_leaves_no_trace(server: LiveServer) -> None:
    ada = await person(server, "ada")
    bob = await person(server, "bob", device="bob-laptop")
    h = History()
    gid = h.goal("Ship", on=h.today)
    h.revise(gid, ("target", 10, 20), reason_code="scope_changed", reason="private")
    h.share("bob", ["progress"])
    await ada.sync(h)
    theirs = History(device=bob.device)
    theirs.goal("Bob's goal")
    await bob.sync(theirs)
    db = server.settings.db_url
    for argv in (["org", "add", "acme"], ["org", "member", "add", "acme", "ada"]):
        assert await asyncio.to_thread(main, [*argv, "--db", db]) == EXIT_OK
    before = await user_traces(db, ada.user_id)
    assert before["events"] == len(h.events)
    assert before["org_members"] == 1
    assert before["rm_checkpoints"] == 1
    assert [p["person"] for p in await bob.json("/v1/coach/people")] == ["ada"]

    live = await Peer.open(server.ws_url, ada.token, ada.device)
    async with ada.client() as client:
        wrong = await client.delete("/v1/me", params={"confirm": "bob"})
        assert (wrong.status_code, wrong.json()["code"]) == (400, "confirmation_required")
        assert (await client.delete("/v1/me")).status_code == 400
        deleted = await client.delete("/v1/me", params={"confirm": "ada"})
        assert deleted.status_code == 204, deleted.text
    code, _reason = await live.closed()
    assert code is not None

    after = await user_traces(db, ada.user_id)
    assert set(after) >= set(before)
    assert {table: n for table, n in after.items() if n} == {}
    assert (await ada.get("/v1/me")).status_code == 401
    assert await bob.json("/v1/coach/people") == []
    # Bob is untouched.
    assert [g["title"] for g in await bob.json("/v1/me/goals")] == ["Bob's goal"]
    assert await server.store.user_by_name("ada") is None
