"""Organisations on the embedded SQLite file (the event store's file, its own connection).

The tables come from the event store's migrations; this module only reads
and writes them. Writes are ``BEGIN IMMEDIATE`` transactions, serialised with
the event store's writer by SQLite's write lock and ``busy_timeout``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiosqlite

from careerlog.server.orgs.base import Membership, OrgExists, OrgStore, UnknownOrg

__all__ = ["SqliteOrgs"]

BUSY_TIMEOUT_MS = 10_000


class SqliteOrgs(OrgStore):
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        # One connection: a transaction must not interleave with another coroutine's.
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> SqliteOrgs:
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            await db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except BaseException:
            await db.close()
            raise
        return cls(db)

    async def create_org(self, org: str, now_ms: int) -> None:
        try:
            async with self._write_lock:
                await self._db.execute(
                    "INSERT INTO orgs (org_id, created_ms) VALUES (?, ?)", (org, now_ms)
                )
        except sqlite3.IntegrityError:
            raise OrgExists(org) from None

    async def org_exists(self, org: str) -> bool:
        rows = await self._db.execute_fetchall("SELECT 1 FROM orgs WHERE org_id = ?", (org,))
        return bool(list(rows))

    async def add(self, org: str, user_id: int, now_ms: int, *, admin: bool) -> bool:
        column = "admin" if admin else "member"
        async with self._write_lock:
            return await self._add(org, user_id, now_ms, column, admin=admin)

    async def _add(self, org: str, user_id: int, now_ms: int, column: str, *, admin: bool) -> bool:
        db = self._db
        await db.execute("BEGIN IMMEDIATE")
        try:
            if not list(await db.execute_fetchall("SELECT 1 FROM orgs WHERE org_id = ?", (org,))):
                raise UnknownOrg(org)
            rows = list(
                await db.execute_fetchall(
                    f"SELECT {column} FROM org_members WHERE org_id = ? AND user_id = ?",
                    (org, user_id),
                )
            )
            if rows and rows[0][0]:
                changed = False
            elif rows:
                await db.execute(
                    f"UPDATE org_members SET {column} = 1 WHERE org_id = ? AND user_id = ?",
                    (org, user_id),
                )
                changed = True
            else:
                await db.execute(
                    "INSERT INTO org_members (org_id, user_id, member, admin, added_ms)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (org, user_id, int(not admin), int(admin), now_ms),
                )
                changed = True
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        return changed

    async def remove(self, org: str, user_id: int, *, admin: bool) -> bool:
        column = "admin" if admin else "member"
        async with self._write_lock:
            db = self._db
            await db.execute("BEGIN IMMEDIATE")
            try:
                cursor = await db.execute(
                    f"UPDATE org_members SET {column} = 0"
                    f" WHERE org_id = ? AND user_id = ? AND {column} = 1",
                    (org, user_id),
                )
                changed = cursor.rowcount == 1
                await db.execute(
                    "DELETE FROM org_members"
                    " WHERE org_id = ? AND user_id = ? AND member = 0 AND admin = 0",
                    (org, user_id),
                )
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise
        return changed

    async def orgs(self) -> list[tuple[str, int, int]]:
        rows = await self._db.execute_fetchall(
            "SELECT o.org_id, coalesce(sum(m.member), 0), coalesce(sum(m.admin), 0)"
            " FROM orgs o LEFT JOIN org_members m ON m.org_id = o.org_id"
            " GROUP BY o.org_id ORDER BY o.org_id"
        )
        return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]

    async def members(self, org: str) -> list[int]:
        rows = await self._db.execute_fetchall(
            "SELECT user_id FROM org_members WHERE org_id = ? AND member = 1 ORDER BY user_id",
            (org,),
        )
        return [int(row[0]) for row in rows]

    async def memberships(self, user_id: int) -> list[Membership]:
        rows = await self._db.execute_fetchall(
            "SELECT org_id, member, admin FROM org_members WHERE user_id = ? ORDER BY org_id",
            (user_id,),
        )
        return [Membership(str(r[0]), bool(r[1]), bool(r[2])) for r in rows]

    async def remove_user(self, user_id: int) -> None:
        async with self._write_lock:
            await self._db.execute("DELETE FROM org_members WHERE user_id = ?", (user_id,))

    async def close(self) -> None:
        await self._db.close()
