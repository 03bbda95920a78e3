"""Organisations on both backends: membership and administration, separate and idempotent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from careerlog.server.orgs import (
    Membership,
    OrgExists,
    OrgStore,
    UnknownOrg,
    check_org_id,
    open_orgs,
)
from careerlog.server.store import EventStore, StoreError
from tests.contract.database import user_traces

NOW = 1_772_442_000_000


@pytest.fixture
async def orgs(store: EventStore, store_url: str) -> AsyncIterator[OrgStore]:
    opened = await open_orgs(store_url)
    try:
        yield opened
    finally:
        await opened.close()


async def test_members_and_admins_are_separate(store: EventStore, orgs: OrgStore) -> None:
    ada, bob, carol = [await store.create_user(n) for n in ("ada", "bob", "carol")]
    await orgs.create_org("acme", NOW)
    with pytest.raises(OrgExists):
        await orgs.create_org("acme", NOW)
    assert await orgs.org_exists("acme")
    assert not await orgs.org_exists("other")

    assert await orgs.add("acme", ada, NOW, admin=False)
    assert not await orgs.add("acme", ada, NOW, admin=False)  # already a member
    assert await orgs.add("acme", bob, NOW, admin=True)
    assert await orgs.add("acme", carol, NOW, admin=False)
    assert await orgs.add("acme", carol, NOW, admin=True)  # a member who also reads
    assert await orgs.members("acme") == sorted([ada, carol])
    assert await orgs.is_admin("acme", bob)
    assert not await orgs.is_admin("acme", ada)
    assert await orgs.memberships(carol) == [Membership("acme", member=True, admin=True)]
    assert await orgs.memberships(bob) == [Membership("acme", member=False, admin=True)]
    with pytest.raises(UnknownOrg):
        await orgs.add("nope", ada, NOW, admin=False)


async def test_remove_user_forgets_every_membership(
    store: EventStore, orgs: OrgStore, store_url: str
) -> None:
    ada = await store.create_user("ada")
    for org in ("acme", "globex"):
        await orgs.create_org(org, NOW)
        await orgs.add(org, ada, NOW, admin=org == "globex")
    assert (await user_traces(store_url, ada))["org_members"] == 2
    await orgs.remove_user(ada)
    assert (await user_traces(store_url, ada))["org_members"] == 0
    assert await orgs.members("acme") == []
    assert await orgs.org_exists("acme")


def test_org_ids_are_checked() -> None:
    assert check_org_id("acme-corp.eu_1") == "acme-corp.eu_1"
    for bad in ("", "Acme", "a b", "-acme", "a" * 65, "acme/x"):
        with pytest.raises(StoreError):
            check_org_id(bad)


async def test_a_role_is_taken_away_and_no_role_means_out(
    store: EventStore, orgs: OrgStore, store_url: str
) -> None:
    ada = await store.create_user("ada")
    await orgs.create_org("acme", NOW)
    await orgs.create_org("globex", NOW)
    await orgs.add("acme", ada, NOW, admin=False)
    await orgs.add("acme", ada, NOW, admin=True)
    assert await orgs.orgs() == [("acme", 1, 1), ("globex", 0, 0)]
    assert await orgs.remove("acme", ada, admin=True)
    assert not await orgs.remove("acme", ada, admin=True)
    assert not await orgs.is_admin("acme", ada)
    assert await orgs.members("acme") == [ada]
    assert await orgs.remove("acme", ada, admin=False)
    assert await orgs.memberships(ada) == []
    assert (await user_traces(store_url, ada))["org_members"] == 0
    assert await orgs.orgs() == [("acme", 0, 0), ("globex", 0, 0)]
