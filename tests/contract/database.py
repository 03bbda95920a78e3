"""A side door into a store's database, for tests that must look under the interface."""

from __future__ import annotations

from typing import Any

import aiosqlite
import asyncpg

__all__ = ["raw_fetch", "user_traces"]


async def raw_fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Run one parameterless statement on the store's database, bypassing the store."""
    if url.startswith("sqlite:///"):
        async with aiosqlite.connect(url.removeprefix("sqlite:///")) as db:
            rows = await db.execute_fetchall(sql)
            await db.commit()
            return [tuple(row) for row in rows]
    connection = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


async def user_traces(url: str, user_id: int) -> dict[str, int]:
    """Rows mentioning ``user_id`` in every table of the schema, found by column name.

    Found rather than listed, so that a table added later without a matching
    delete in ``delete_user`` fails the test that uses this.
    """
    if url.startswith("sqlite:///"):
        tables = [
            str(row[0])
            for row in await raw_fetch(
                url,
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'sqlite_sequence'",
            )
        ]
        columns = {
            table: [str(row[1]) for row in await raw_fetch(url, f"PRAGMA table_info({table})")]
            for table in tables
        }
    else:
        columns = {}
        for table, column in await raw_fetch(
            url,
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public'",
        ):
            columns.setdefault(str(table), []).append(str(column))
    counts: dict[str, int] = {}
    for table, names in columns.items():
        key = "user_id" if "user_id" in names else "id" if table == "users" else None
        if key is not None:
            rows = await raw_fetch(
                url, f"SELECT count(*) FROM {table} WHERE {key} = {int(user_id)}"
            )
            counts[table] = int(rows[0][0])
    return counts
