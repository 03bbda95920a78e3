"""Organisations: the admin CLI, and aggregates for admins that hide every group under five."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest

from careerlog.server.cli import EXIT_CONFLICT, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, main
from careerlog.server.settings import Settings
from tests.server.conftest import LiveServer
from tests.server.people import Person, person
from tests.shared.builders import History


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Room for the many enrollments of an organisation's people."""
    return Settings(
        db_url=f"sqlite:///{tmp_path / 'server.db'}",
        port=0,
        node="test",
        enrollment_burst=50,
        enrollments_per_minute=600.0,
    )


def day(n: int, month: int = 1) -> date:
    return date(2026, month, n)


async def cli(server: LiveServer, *argv: str) -> int:
    """``careerlog-server …`` on the live server's store (in a thread: it runs its own loop)."""
    return await asyncio.to_thread(main, [*argv, "--db", server.settings.db_url])


async def member(server: LiveServer, name: str, reason: str) -> Person:
    """A member with a plan due next year, a reached milestone and one revision."""
    someone = await person(server, name, device=f"{name}-laptop")
    h = History(device=someone.device, today=day(1))
    gid = h.goal(f"{name}'s private goal", due=date(2027, 6, 30), on=day(1))
    mid = h.milestone(gid, "m", on=day(1))
    h.reach(mid, on=day(11))
    h.revise(gid, ("target", 10, 12), reason_code=reason, reason=f"{name}'s secret reason")
    await someone.sync(h)
    assert await cli(server, "org", "member", "add", "acme", name) == EXIT_OK
    return someone


async def test_org_admin_cli_and_its_exit_codes(
    server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    await server.user("ada")
    assert await cli(server, "org", "add", "acme") == EXIT_OK
    assert await cli(server, "org", "add", "acme") == EXIT_CONFLICT
    assert await cli(server, "org", "add", "Not An Id!") == EXIT_USAGE
    assert await cli(server, "org", "member", "add", "acme", "ada") == EXIT_OK
    assert await cli(server, "org", "member", "add", "acme", "ada") == EXIT_CONFLICT
    assert await cli(server, "org", "admin", "add", "acme", "ada") == EXIT_OK
    assert await cli(server, "org", "member", "add", "nope", "ada") == EXIT_NOT_FOUND
    assert await cli(server, "org", "admin", "add", "acme", "nobody") == EXIT_NOT_FOUND
    capsys.readouterr()
    assert await cli(server, "org", "list") == EXIT_OK
    assert capsys.readouterr().out == "acme\t1 members\t1 admins\n"
    assert await cli(server, "org", "admin", "remove", "acme", "ada") == EXIT_OK
    assert await cli(server, "org", "admin", "remove", "acme", "ada") == EXIT_NOT_FOUND
    assert await cli(server, "org", "member", "remove", "nope", "ada") == EXIT_NOT_FOUND
    err = capsys.readouterr().err
    assert "no organisation 'nope'" in err
    assert "is not an admin of acme" in err
    assert "Traceback" not in err


async def test_aggregates_suppress_small_groups_and_only_admins_read_them(
    server: LiveServer,
) -> None:
    assert await cli(server, "org", "add", "acme") == EXIT_OK
    hr = await person(server, "hr", device="hr-laptop")
    assert await cli(server, "org", "admin", "add", "acme", "hr") == EXIT_OK
    members = [
        await member(server, name, reason)
        for name, reason in [
            ("m1", "infeasible"),
            ("m2", "infeasible"),
            ("m3", "infeasible"),
            ("m4", "life_event"),
        ]
    ]

    # Four members: a group under five, so nothing at all is shown.
    small = await hr.json("/v1/orgs/acme/aggregates")
    for figure in ("people", "current_plan", "review_on_cadence", "median_days_to_milestone"):
        assert small[figure] == {"value": None, "people": None, "suppressed": True}
    assert all(r["suppressed"] for r in small["revision_reasons"])
    assert small["min_group"] == 5

    members.append(await member(server, "m5", "infeasible"))
    agg = await hr.json("/v1/orgs/acme/aggregates")
    assert agg["people"] == {"value": 5.0, "people": 5, "suppressed": False}
    assert agg["current_plan"]["value"] == 1.0
    assert agg["median_days_to_milestone"]["value"] == 10.0
    # Nobody has a review cadence: that group is empty, so suppressed.
    assert agg["review_on_cadence"]["suppressed"]
    reasons = {r["reason_code"]: r for r in agg["revision_reasons"]}
    # Four people gave "infeasible": still under five.
    assert reasons["infeasible"] == {
        "reason_code": "infeasible",
        "people": None,
        "times": None,
        "suppressed": True,
    }
    assert reasons["life_event"]["suppressed"]
    text = str(agg)
    for name in ("m1", "m2", "m3", "m4", "m5", "secret", "private"):
        assert name not in text

    # Members who are not admins, and strangers, read nothing.
    response = await members[0].get("/v1/orgs/acme/aggregates")
    assert (response.status_code, response.json()["code"]) == (403, "not_org_admin")
    for org in ("nope", "NOT%20AN%20ID"):
        response = await hr.get(f"/v1/orgs/{org}/aggregates")
        assert (response.status_code, response.json()["code"]) == (404, "unknown_org")
    assert await hr.json("/v1/orgs") == [{"org": "acme", "member": False, "admin": True}]
    assert await members[0].json("/v1/orgs") == [{"org": "acme", "member": True, "admin": False}]

    # An admin whose role is taken away reads nothing more, and is then a
    # stranger: told no more about "acme" than about an organisation that
    # does not exist (nobody can probe which ids exist).
    assert await cli(server, "org", "admin", "remove", "acme", "hr") == EXIT_OK
    for org in ("acme", "nope"):
        response = await hr.get(f"/v1/orgs/{org}/aggregates")
        assert (response.status_code, response.json()["code"]) == (404, "unknown_org")
    assert await hr.json("/v1/orgs") == []


async def test_a_reason_bucket_of_five_people_is_shown(server: LiveServer) -> None:
    assert await cli(server, "org", "add", "acme") == EXIT_OK
    hr = await person(server, "hr", device="hr-laptop")
    assert await cli(server, "org", "admin", "add", "acme", "hr") == EXIT_OK
    for n in range(5):
        await member(server, f"p{n}", "infeasible")
    agg = await hr.json("/v1/orgs/acme/aggregates")
    reasons = {r["reason_code"]: r for r in agg["revision_reasons"]}
    assert reasons["infeasible"] == {
        "reason_code": "infeasible",
        "people": 5,
        "times": 5,
        "suppressed": False,
    }
