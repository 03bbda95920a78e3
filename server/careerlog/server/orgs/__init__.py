"""Organisations: membership for aggregates, on the event store's database.

``open_orgs(url)`` takes the same URL as :func:`careerlog.server.store.open_store`
(whose migrations create the tables).
"""

from __future__ import annotations

from careerlog.server.orgs.base import (
    ORG_ID_PATTERN,
    Membership,
    OrgExists,
    OrgStore,
    UnknownOrg,
    check_org_id,
)
from careerlog.server.settings import is_postgres_url, sqlite_path
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
    if is_postgres_url(url):
        from careerlog.server.orgs.postgres import PostgresOrgs

        return await PostgresOrgs.open(url)
    from careerlog.server.orgs.sqlite import SqliteOrgs

    try:
        path = sqlite_path(url)
    except ValueError as error:
        raise StoreError(str(error)) from None
    return await SqliteOrgs.open(path)
