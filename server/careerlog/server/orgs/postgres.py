"""Organisations on PostgreSQL (the event store's database, a small pool of its own)."""

from __future__ import annotations

from typing import Any

import asyncpg

from careerlog.server.orgs.base import Membership, OrgExists, OrgStore, UnknownOrg

__all__ = ["PostgresOrgs"]


class PostgresOrgs(OrgStore):
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str) -> PostgresOrgs:
        return cls(await asyncpg.create_pool(dsn, min_size=1, max_size=2))

    async def create_org(self, org: str, now_ms: int) -> None:
        try:
            await self._pool.execute(
                "INSERT INTO orgs (org_id, created_ms) VALUES ($1, $2)", org, now_ms
            )
        except asyncpg.UniqueViolationError:
            raise OrgExists(org) from None

    async def org_exists(self, org: str) -> bool:
        return bool(await self._pool.fetchval("SELECT true FROM orgs WHERE org_id = $1", org))

    async def add(self, org: str, user_id: int, now_ms: int, *, admin: bool) -> bool:
        column = "admin" if admin else "member"
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT true FROM orgs WHERE org_id = $1 FOR SHARE", org):
                raise UnknownOrg(org)
            changed = await conn.fetchval(
                "INSERT INTO org_members (org_id, user_id, member, admin, added_ms)"
                " VALUES ($1, $2, $3, $4, $5)"
                f" ON CONFLICT (org_id, user_id) DO UPDATE SET {column} = true"
                f" WHERE NOT org_members.{column} RETURNING true",
                org,
                user_id,
                not admin,
                admin,
                now_ms,
            )
        return bool(changed)

    async def remove(self, org: str, user_id: int, *, admin: bool) -> bool:
        column = "admin" if admin else "member"
        async with self._pool.acquire() as conn, conn.transaction():
            changed = await conn.fetchval(
                f"UPDATE org_members SET {column} = false"
                f" WHERE org_id = $1 AND user_id = $2 AND {column} RETURNING true",
                org,
                user_id,
            )
            await conn.execute(
                "DELETE FROM org_members"
                " WHERE org_id = $1 AND user_id = $2 AND NOT member AND NOT admin",
                org,
                user_id,
            )
        return bool(changed)

    async def orgs(self) -> list[tuple[str, int, int]]:
        rows = await self._pool.fetch(
            "SELECT o.org_id, count(*) FILTER (WHERE m.member), count(*) FILTER (WHERE m.admin)"
            " FROM orgs o LEFT JOIN org_members m ON m.org_id = o.org_id"
            " GROUP BY o.org_id ORDER BY o.org_id"
        )
        return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]

    async def members(self, org: str) -> list[int]:
        rows = await self._pool.fetch(
            "SELECT user_id FROM org_members WHERE org_id = $1 AND member ORDER BY user_id", org
        )
        return [int(row[0]) for row in rows]

    async def memberships(self, user_id: int) -> list[Membership]:
        rows = await self._pool.fetch(
            "SELECT org_id, member, admin FROM org_members WHERE user_id = $1 ORDER BY org_id",
            user_id,
        )
        return [Membership(str(r[0]), bool(r[1]), bool(r[2])) for r in rows]

    async def remove_user(self, user_id: int) -> None:
        await self._pool.execute("DELETE FROM org_members WHERE user_id = $1", user_id)

    async def close(self) -> None:
        await self._pool.close()
