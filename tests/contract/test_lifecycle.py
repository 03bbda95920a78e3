"""Opening, migrating and the epoch: what survives a restart and what a wipe changes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from careerlog.server.orgs import open_orgs
from careerlog.server.readmodels import open_read_models
from careerlog.server.store import EventStore, StoreError, open_store
from careerlog.server.store.schema import POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS
from tests.contract.conftest import NewUrl
from tests.contract.database import raw_fetch
from tests.contract.pushes import events

NOW = 1_772_442_000_000
#: Every migration, in order (both backends have the same numbers).
VERSIONS = list(range(1, len(SQLITE_MIGRATIONS) + 1))
assert len(POSTGRES_MIGRATIONS) == len(SQLITE_MIGRATIONS)


async def test_the_epoch_and_the_data_survive_a_reopen(store_url: str) -> None:
    async with await open_store(store_url) as first:
        epoch = first.epoch
        user = await first.create_user("ada")
        await first.append(user, "laptop", events("laptop", 1, 3), NOW)

    async with await open_store(store_url) as second:
        assert second.epoch == epoch
        assert await second.user_by_name("ada") == user
        assert [item.pos for item in await second.read(user, 0, 10)] == [1, 2, 3]
        assert await second.device_head(user, "laptop") == 3


async def test_a_wiped_server_has_a_new_epoch(store: EventStore, new_url: NewUrl) -> None:
    async with await open_store(await new_url()) as wiped:
        assert wiped.epoch
        assert store.epoch
        assert wiped.epoch != store.epoch


async def test_migrating_again_applies_nothing_and_keeps_everything(
    store: EventStore, store_url: str
) -> None:
    user = await store.create_user("ada")
    await store.append(user, "laptop", events("laptop", 1, 2), NOW)
    epoch = store.epoch

    assert await store.migrate() == []

    assert store.epoch == epoch
    assert await store.head(user) == 2
    assert await raw_fetch(store_url, "SELECT version FROM schema_version ORDER BY version") == [
        (version,) for version in VERSIONS
    ]


async def test_nodes_starting_together_migrate_once(new_url: NewUrl) -> None:
    url = await new_url()

    nodes = await asyncio.gather(*(open_store(url) for _ in range(4)))
    try:
        assert len({node.epoch for node in nodes}) == 1
        user = await nodes[0].create_user("ada")
        assert await nodes[3].user_by_name("ada") == user
    finally:
        for node in nodes:
            await node.close()
    assert await raw_fetch(url, "SELECT version FROM schema_version ORDER BY version") == [
        (version,) for version in VERSIONS
    ]


async def test_an_unmigrated_store_has_no_epoch_until_migrated(new_url: NewUrl) -> None:
    async with await open_store(await new_url(), migrate=False) as store:
        with pytest.raises(StoreError, match="migrate"):
            _ = store.epoch

        assert await store.migrate() == VERSIONS
        assert store.epoch


async def test_a_schema_newer_than_the_server_is_refused(store_url: str) -> None:
    async with await open_store(store_url):
        pass
    await raw_fetch(store_url, "INSERT INTO schema_version (version, applied_ms) VALUES (99, 0)")

    with pytest.raises(StoreError, match="newer"):
        await open_store(store_url)


@pytest.mark.parametrize("form", ["sqlite:///{}", "{}"])
async def test_an_sqlite_store_opens_from_a_url_or_a_path(tmp_path: Path, form: str) -> None:
    path = tmp_path / "nested" / "server.db"

    async with await open_store(form.format(path)) as store:
        await store.create_user("ada")

    assert path.exists()


async def test_an_unknown_url_scheme_is_refused() -> None:
    # By everything that opens the store's database, alike.
    for opener in (open_store, open_read_models, open_orgs):
        with pytest.raises(StoreError, match="unsupported"):
            await opener("mysql://localhost/careerlog")
