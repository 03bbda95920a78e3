"""Users, enrollment tokens and devices: single-use, expiring, revocable, deletable."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from careerlog.server.orgs import open_orgs
from careerlog.server.projector import Projector
from careerlog.server.readmodels import open_read_models
from careerlog.server.store import (
    DeviceExists,
    DeviceRecord,
    EventStore,
    UnknownUser,
    UserExists,
)
from tests.contract.careers import busy_history, push
from tests.contract.database import user_traces
from tests.contract.pushes import event, events

NOW = 1_772_442_000_000
HOUR = 3_600_000


def token(name: str) -> bytes:
    """A token hash as the caller would store it."""
    return hashlib.sha256(name.encode()).digest()


async def test_users_have_unique_names(store: EventStore) -> None:
    ada = await store.create_user("ada")
    bob = await store.create_user("bob")

    assert ada != bob
    assert await store.user_by_name("ada") == ada
    assert await store.user_by_name("bob") == bob
    assert await store.user_by_name("carol") is None
    with pytest.raises(UserExists) as taken:
        await store.create_user("ada")
    assert taken.value.name == "ada"
    assert await store.user_by_name("ada") == ada


async def test_an_enrollment_token_works_once(store: EventStore) -> None:
    ada = await store.create_user("ada")
    await store.add_enrollment(ada, token("enrol-1"), NOW + HOUR)

    assert await store.consume_enrollment(token("enrol-1"), NOW) == ada
    assert await store.consume_enrollment(token("enrol-1"), NOW) is None
    assert await store.consume_enrollment(token("never-issued"), NOW) is None


async def test_racing_nodes_cannot_both_use_an_enrollment_token(store: EventStore) -> None:
    ada = await store.create_user("ada")
    await store.add_enrollment(ada, token("enrol-1"), NOW + HOUR)

    used = await asyncio.gather(
        *(store.consume_enrollment(token("enrol-1"), NOW) for _ in range(8))
    )

    assert sorted(used, key=lambda user: user is None) == [ada] + [None] * 7


async def test_an_expired_enrollment_token_does_not_work(store: EventStore) -> None:
    ada = await store.create_user("ada")
    await store.add_enrollment(ada, token("late"), NOW + HOUR)
    await store.add_enrollment(ada, token("just-in-time"), NOW + HOUR)

    assert await store.consume_enrollment(token("late"), NOW + HOUR) is None
    # Expired is final: a clock read earlier does not revive it.
    assert await store.consume_enrollment(token("late"), NOW) is None
    assert await store.consume_enrollment(token("just-in-time"), NOW + HOUR - 1) == ada


async def test_enrolling_for_a_missing_user_fails(store: EventStore) -> None:
    with pytest.raises(UnknownUser):
        await store.add_enrollment(424242, token("x"), NOW + HOUR)
    with pytest.raises(UnknownUser):
        await store.add_device(424242, "laptop", token("x"), "Laptop", NOW)


async def test_a_device_token_finds_its_device(store: EventStore) -> None:
    ada = await store.create_user("ada")
    await store.add_device(ada, "laptop", token("ada-laptop"), "Ada's laptop", NOW)

    found = await store.device_for_token(token("ada-laptop"))

    assert found == DeviceRecord(ada, "laptop", "Ada's laptop", NOW, None)
    assert await store.device_for_token(token("nobody")) is None


async def test_device_ids_are_unique_per_user_only(store: EventStore) -> None:
    ada = await store.create_user("ada")
    bob = await store.create_user("bob")
    await store.add_device(ada, "laptop", token("ada-laptop"), "Laptop", NOW)

    with pytest.raises(DeviceExists):
        await store.add_device(ada, "laptop", token("ada-laptop-2"), "Laptop again", NOW)
    await store.add_device(bob, "laptop", token("bob-laptop"), "Bob's laptop", NOW)

    assert await store.device_for_token(token("ada-laptop-2")) is None
    bobs = await store.device_for_token(token("bob-laptop"))
    assert bobs is not None
    assert (bobs.user_id, bobs.device) == (bob, "laptop")


async def test_a_device_token_expires_when_it_was_given_to(store: EventStore) -> None:
    ada = await store.create_user("ada")
    await store.add_device(ada, "laptop", token("l"), "Laptop", NOW, expires_ms=NOW + HOUR)
    await store.add_device(ada, "phone", token("p"), "Phone", NOW)

    laptop = await store.device_for_token(token("l"))
    phone = await store.device_for_token(token("p"))

    assert laptop is not None
    assert phone is not None
    assert laptop.token_expires_ms == NOW + HOUR
    assert (laptop.refusal(NOW + HOUR - 1), laptop.refusal(NOW + HOUR)) == (None, "expired")
    assert (phone.token_expires_ms, phone.refusal(NOW + 100 * 365 * 24 * HOUR)) == (None, None)


async def test_renewing_a_device_replaces_its_tokens_and_lifts_a_revocation(
    store: EventStore,
) -> None:
    ada = await store.create_user("ada")
    bob = await store.create_user("bob")
    await store.add_device(ada, "laptop", token("l1"), "Laptop", NOW, expires_ms=NOW + HOUR)
    await store.add_device(bob, "laptop", token("b1"), "Bob's", NOW)
    assert await store.revoke_device(ada, "laptop", NOW + 1)

    assert await store.renew_device(ada, "laptop", token("l2"), "", expires_ms=NOW + 2 * HOUR)

    assert await store.device_for_token(token("l1")) is None
    renewed = await store.device_for_token(token("l2"))
    assert renewed == DeviceRecord(ada, "laptop", "Laptop", NOW, None, NOW + 2 * HOUR)
    assert await store.renew_device(ada, "laptop", token("l3"), "New name")
    assert await store.device_for_token(token("l3")) == DeviceRecord(
        ada, "laptop", "New name", NOW, None, None
    )
    # Bob's device of the same id is untouched; a device nobody has is not created.
    assert await store.device_for_token(token("b1")) == DeviceRecord(
        bob, "laptop", "Bob's", NOW, None
    )
    assert not await store.renew_device(ada, "tablet", token("t"), "Tablet")
    assert await store.device_for_token(token("t")) is None
    assert [d.device for d in await store.list_devices(ada)] == ["laptop"]


async def test_devices_are_listed_oldest_first(store: EventStore) -> None:
    ada = await store.create_user("ada")
    bob = await store.create_user("bob")
    await store.add_device(ada, "phone", token("p"), "Phone", NOW + 2)
    await store.add_device(ada, "laptop", token("l"), "Laptop", NOW + 1)
    await store.add_device(bob, "desktop", token("d"), "Desktop", NOW)

    listed = await store.list_devices(ada)

    assert [(item.device, item.created_ms) for item in listed] == [
        ("laptop", NOW + 1),
        ("phone", NOW + 2),
    ]
    assert await store.list_devices(424242) == []


async def test_revoking_a_device_is_seen_through_its_token(store: EventStore) -> None:
    ada = await store.create_user("ada")
    bob = await store.create_user("bob")
    await store.add_device(ada, "laptop", token("ada-laptop"), "Laptop", NOW)
    await store.add_device(bob, "laptop", token("bob-laptop"), "Laptop", NOW)

    assert await store.revoke_device(ada, "laptop", NOW + HOUR) is True
    # Revoked once: the first revocation time stands.
    assert await store.revoke_device(ada, "laptop", NOW + 2 * HOUR) is False
    assert await store.revoke_device(ada, "toaster", NOW) is False

    revoked = await store.device_for_token(token("ada-laptop"))
    assert revoked is not None
    assert revoked.revoked_ms == NOW + HOUR
    # Scoped by user: Bob's device of the same id is untouched.
    bobs = await store.device_for_token(token("bob-laptop"))
    assert bobs is not None
    assert bobs.revoked_ms is None
    assert [item.revoked_ms for item in await store.list_devices(ada)] == [NOW + HOUR]


async def test_deleting_a_user_removes_every_trace(store: EventStore, store_url: str) -> None:
    ada = await store.create_user("ada")
    bob = await store.create_user("bob")
    # Long enough for every read model to have rows (snapshots among them).
    career = busy_history(1200).events
    for user, name in ((ada, "ada"), (bob, "bob")):
        await store.add_device(user, "laptop", token(f"{name}-laptop"), "Laptop", NOW)
        await store.add_enrollment(user, token(f"{name}-enrol"), NOW + HOUR)
        await push(store, user, career)
        rejected = event("laptop", len(career) + 1, rejected=("bad", "bad"))
        await store.append(user, "laptop", [rejected], NOW)
    async with await open_read_models(store_url) as models:
        await Projector(store, models).drain()
    async with await open_orgs(store_url) as orgs:
        await orgs.create_org("acme", NOW)
        for user in (ada, bob):
            await orgs.add("acme", user, NOW, admin=False)
    assert all((await user_traces(store_url, ada)).values())

    assert await store.delete_user(ada) is True

    traces = await user_traces(store_url, ada)
    assert len(traces) >= 8  # users and every per-user table were looked at
    assert set(traces.values()) == {0}, traces
    assert await store.user_by_name("ada") is None
    assert await store.device_for_token(token("ada-laptop")) is None
    assert await store.consume_enrollment(token("ada-enrol"), NOW) is None
    assert await store.read(ada, 0, 100) == []
    assert (await store.head(ada), await store.device_head(ada, "laptop")) == (0, 0)
    assert await store.list_devices(ada) == []
    assert await store.delete_user(ada) is False
    # Bob is untouched.
    assert all((await user_traces(store_url, bob)).values())
    assert len(await store.read(bob, 0, 10_000)) == len(career)
    assert await store.consume_enrollment(token("bob-enrol"), NOW) == bob


async def test_a_deleted_users_name_is_free_but_its_id_is_never_reused(
    store: EventStore,
) -> None:
    ada = await store.create_user("ada")
    await store.append(ada, "laptop", events("laptop", 1, 2), NOW)
    await store.delete_user(ada)

    again = await store.create_user("ada")

    assert again != ada
    assert await store.head(again) == 0
    results, _ = await store.append(again, "laptop", events("laptop", 1, 1), NOW)
    assert results[0].status == "accepted"
    assert results[0].pos == 1


async def test_user_name_is_the_name_of_an_id(store: EventStore) -> None:
    ada = await store.create_user("ada")
    assert await store.user_name(ada) == "ada"
    assert await store.user_name(ada + 1) is None
    await store.delete_user(ada)
    assert await store.user_name(ada) is None
