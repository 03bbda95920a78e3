"""Organisations: membership for aggregates, on the event store's database.

``open_orgs(url)`` takes the same URL as :func:`careerlog.server.store.open_store`
(whose migrations create the tables).
"""

from __future__ import annotations

from pathlib import Path

from careerlog.server.orgs.base import (
    ORG_ID_PATTERN,
    Membership,
    OrgExists,
    OrgStore,
    UnknownOrg,
    check_org_id,
)
from careerlog.server.store.base import StoreError

__all__ = [
    "ORG_ID_PATTERN",
    "Membership",
    "OrgExists",
    "OrgStore",
    "UnknownOrg",
    "check_org_id",
    "open_orgs",
]


async def open_orgs(url: str) -> OrgStore:
    if url.startswith(("postgresql://", "postgres://")):
        from careerlog.server.orgs.postgres import PostgresOrgs

        return await PostgresOrgs.open(url)
    from careerlog.server.orgs.sqlite import SqliteOrgs

    if url.startswith("sqlite:///"):
        return await SqliteOrgs.open(Path(url.removeprefix("sqlite:///")))
    if "://" in url:
        raise StoreError(f"unsupported store URL {url!r}: use sqlite:/// or postgresql://")
    return await SqliteOrgs.open(Path(url))
