"""A coach's API on a real server: only live grants, only their scopes, prose only under journal."""

from __future__ import annotations

import base64
from datetime import date

from tests.server.conftest import LiveServer
from tests.server.people import Person, person
from tests.shared.builders import History

SECRETS = ("my manager left", "burnt out", "read my diary", "rough week", "worth it", "Grace")

#: Every coach view, and the scope it needs.
VIEWS = {
    "/goals": "progress",
    "/agenda": "progress",
    "/reviews": "progress",
    "/history": "history",
    "/timeline": "timeline",
    "/replay?as_recorded=2026-01-31": "timeline",
    "/insights": "activity",
    "/skills": "skills",
    "/journal": "journal",
    "/journal/notes": "journal",
}


def day(n: int, month: int = 1) -> date:
    return date(2026, month, n)


def life(h: History) -> dict[str, str]:
    """A history full of prose a coach without ``journal`` must never read."""
    ship = h.goal("Ship the CLI", due=day(31), on=day(1))
    done = h.goal("Write a post", due=day(31), on=day(1))
    h.revise(ship, ("target", 10, 12), reason_code="scope_changed", reason="my manager left")
    h.reschedule(ship, day(28, 2), reason_code="infeasible", reason="burnt out", on=day(3))
    h.activity(on=day(4), kind="learning", text="read my diary")
    h.review(on=day(5), statuses=[(ship, "at_risk")], notes="rough week")
    h.achieve(done, reflection="worth it", on=day(6))
    cid = h.contact("Grace Hopper", "mentor", on=day(6))
    h.interaction(cid, on=day(7), follow_up_on=day(20, 12))
    h.skill("writing", 2, 4, on=day(7))
    return {"ship": ship, "done": done}


async def everything(coach: Person, who: str) -> dict[str, tuple[int, str]]:
    base = f"/v1/coach/people/{who}"
    return {path: ((r := await coach.get(base + path)).status_code, r.text) for path in VIEWS}


async def test_a_coach_sees_only_the_granted_scopes_without_prose(server: LiveServer) -> None:
    ada = await person(server, "ada")
    carol = await person(server, "carol", device="carol-laptop")
    h = History(today=day(1))
    ids = life(h)
    h.share("carol", ["progress", "history"], on=day(8))
    await ada.sync(h)

    people = await carol.json("/v1/coach/people")
    assert people == [
        {"person": "ada", "scopes": ["history", "progress"], "granted_on": "2026-01-08",
         "expires_on": None}
    ]  # fmt: skip
    assert (await carol.json("/v1/coach/people/ada"))["scopes"] == ["history", "progress"]

    seen = await everything(carol, "ada")
    for path, scope in VIEWS.items():
        status, body = seen[path]
        if scope in ("progress", "history"):
            assert status == 200, (path, body)
        else:
            assert status == 403, (path, body)
            assert '"scope_not_granted"' in body
        for secret in SECRETS:
            assert secret not in body, (path, secret)

    history = await carol.json(f"/v1/coach/people/ada/goals/{ids['ship']}/history")
    assert [(e["reason_code"], e["reason"]) for e in history["entries"]] == [
        ("scope_changed", ""),
        ("infeasible", ""),
    ]
    assert history["slip_days"] == 28
    goals = await carol.json("/v1/coach/people/ada/goals")
    assert {g["title"] for g in goals} == {"Ship the CLI", "Write a post"}
    (review,) = await carol.json("/v1/coach/people/ada/reviews")
    assert (review["on"], review["notes"], review["goal_statuses"][0]["status"]) == (
        "2026-01-05",
        "",
        "at_risk",
    )
    (follow_up,) = [
        i
        for i in await carol.json("/v1/coach/people/ada/agenda", horizon_days=366)
        if i["kind"] == "follow_up"
    ]
    assert follow_up["title"] == "follow up with a contact"


async def test_journal_scope_shares_the_prose(server: LiveServer) -> None:
    ada = await person(server, "ada")
    erin = await person(server, "erin", device="erin-phone")
    h = History(today=day(1))
    ids = life(h)
    h.share("erin", ["progress", "history", "timeline", "activity", "skills", "journal"])
    h.share("someone-else", ["progress"])
    await ada.sync(h)

    seen = await everything(erin, "ada")
    assert {p: s for p, (s, _) in seen.items() if s != 200} == {}
    history = await erin.json(f"/v1/coach/people/ada/goals/{ids['ship']}/history")
    assert [e["reason"] for e in history["entries"]] == ["my manager left", "burnt out"]
    timeline = await erin.json("/v1/coach/people/ada/timeline", limit=200)
    assert "learning: read my diary" in [e["summary"] for e in timeline["entries"]]
    # A coach never learns whom else the person shares with.
    assert "someone-else" not in seen["/timeline"][1]
    journal = await erin.json("/v1/coach/people/ada/journal")
    assert [r["notes"] for r in journal["reviews"]] == ["rough week"]
    assert [r["reflection"] for r in journal["reflections"]] == ["worth it"]
    notes = await erin.json("/v1/coach/people/ada/journal/notes")
    assert [e["summary"] for e in notes["entries"]] == ["learning: read my diary"]


async def test_no_grant_revoked_or_expired_means_nothing_at_all(server: LiveServer) -> None:
    ada = await person(server, "ada")
    carol = await person(server, "carol", device="c1")
    dave = await person(server, "dave", device="d1")
    frank = await person(server, "frank", device="f1")
    h = History(today=day(1))
    life(h)
    h.share("carol", ["progress", "journal"], on=day(8))
    h.share("frank", ["progress", "journal"], expires_on=day(15), on=day(8))
    h.share("dave", ["progress"], on=day(8))
    h.revoke("dave", on=day(9))
    await ada.sync(h)
    assert [p["person"] for p in await carol.json("/v1/coach/people")] == ["ada"]

    unknown = await dave.get("/v1/coach/people/nobody-at-all")
    for coach in (dave, frank):  # revoked; expired (the server's today is past 15 Jan 2026)
        assert await coach.json("/v1/coach/people") == []
        for path in ("", "/goals", "/journal", "/timeline", "/goals/x/history"):
            response = await coach.get(f"/v1/coach/people/ada{path}")
            assert response.status_code == 404, (coach.name, path, response.text)
            assert response.json()["code"] == "not_shared"
            for secret in (*SECRETS, "Ship the CLI"):
                assert secret not in response.text
    # Not shared and not a user answer alike: a name is not even confirmed to exist.
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "not_shared"
    # The person's own API is theirs alone: a coach's token reads the coach's own (empty) log.
    assert await carol.json("/v1/me/goals") == []

    # Revoking later takes effect at once.
    await ada.sync(_revoked(h, "carol"), start=len(h.events) - 1)
    assert await carol.json("/v1/coach/people") == []
    assert (await carol.get("/v1/coach/people/ada/goals")).status_code == 404


def _revoked(h: History, grantee: str) -> History:
    h.revoke(grantee, on=day(10))
    return h


async def test_a_grant_names_the_coach_exactly(server: LiveServer) -> None:
    ada = await person(server, "ada")
    carol2 = await person(server, "carol2", device="c2")
    caro = await person(server, "caro", device="c3")
    h = History(today=day(1))
    life(h)
    h.share("carol", ["progress"])
    await ada.sync(h)
    for other in (carol2, caro):
        assert await other.json("/v1/coach/people") == []
        assert (await other.get("/v1/coach/people/ada/goals")).status_code == 404


async def test_a_coachs_timeline_pages_never_pass_through_grants_to_others(
    server: LiveServer,
) -> None:
    ada = await person(server, "ada")
    carol = await person(server, "carol", device="carol-laptop")
    h = History(today=day(1))
    life(h)
    h.share("carol", ["timeline"], on=day(8))
    for other in ("dave", "erin", "frank"):
        h.share(other, ["progress"], on=day(9))
    h.revoke("erin", on=day(10))
    await ada.sync(h)
    sharing = {
        str(e.id) for e in h.events if type(e).__name__ in ("SharingGranted", "SharingRevoked")
    }
    base = "/v1/coach/people/ada/timeline"

    # Asked for only what is hidden, the coach gets nothing, and no cursor to page on.
    hidden = await carol.json(base, types="SharingGranted,SharingRevoked", limit=1)
    assert hidden == {"entries": [], "next_cursor": None}
    # Page by page, no cursor names (and so no page count reveals) a sharing entry.
    seen, cursor = [], None
    while True:
        page = await carol.json(base, limit=1, **({"cursor": cursor} if cursor else {}))
        seen += [e["event_id"] for e in page["entries"]]
        if (cursor := page["next_cursor"]) is None:
            break
        assert base64.urlsafe_b64decode(cursor + "==").decode() not in sharing
    assert len(seen) == len(h.events) - len(sharing)
    assert not sharing & set(seen)
