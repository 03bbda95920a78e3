"""The read models on PostgreSQL, through an asyncpg pool on the event store's database.

Rules of this module:
- A projector step is one transaction. It first takes the user's
  ``user_heads`` row ``FOR SHARE``: ``delete_user`` takes it ``FOR UPDATE``,
  so a step either commits before a deletion or finds the user gone, and a
  deleted account never gets read models back. Then the checkpoint
  compare-and-set: the ``UPDATE … WHERE pos = expected`` of a second
  projector waits for the first one's row lock and then matches nothing.
- Row sets are written with one ``unnest`` statement each.
- Reads of several statements (time travel) run in one read-only
  REPEATABLE READ transaction, so the snapshot and the tail agree.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any

import asyncpg

from careerlog.server.readmodels.base import Checkpoint, Grant
from careerlog.server.readmodels.folding import collector_paused
from careerlog.server.readmodels.rows import (
    MIN_KEY,
    Key,
    Loaded,
    RetractionRow,
    SnapshotRow,
    TimelineRow,
    Update,
    entry_from_row,
    id_windows,
    micros,
    parse_event_id,
    recorded_limit,
    timeline_query,
    usable,
)
from careerlog.server.readmodels.statecache import StateCache
from careerlog.server.readmodels.writer import Behind, ProjectionLag, ReadModelStore, WriteOutcome
from careerlog.server.store.schema import READ_MODEL_TABLES
from careerlog.shared.codec import decode_event
from careerlog.shared.projections import CareerState, decode_state, fold, new_state
from careerlog.shared.projections.timeline import TimelineEntry, happened_by

__all__ = ["PostgresReadModels"]

SERVER_SETTINGS = {
    "application_name": "careerlog-readmodels",
    "lock_timeout": "10s",
    "idle_in_transaction_session_timeout": "60s",
}

_TIMELINE_COLUMNS = (
    "user_id",
    "hlc",
    "device",
    "dseq",
    "event_id",
    "type",
    "occurred_us",
    "record_id",
    "summary",
    "retracted",
)

_INSERT_GOALS = """
INSERT INTO rm_goals (user_id, goal_id, status, horizon, parent_id, start_on, due_on,
                      original_due_on, set_on, closed_on, baseline, target, last_value,
                      percent_done, milestones_total, milestones_reached, tasks_open, tasks_done,
                      corrections, slip_days, last_progress_on)
SELECT $1, g.* FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::date[],
                           $7::date[], $8::date[], $9::date[], $10::date[],
                           $11::float8[], $12::float8[], $13::float8[], $14::float8[],
                           $15::int[], $16::int[], $17::int[], $18::int[], $19::int[],
                           $20::int[], $21::date[]) AS g
"""


class PostgresReadModels(ReadModelStore):
    """:class:`ReadModelStore` on PostgreSQL. Open with :meth:`open`."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._states = StateCache()

    @classmethod
    async def open(cls, dsn: str, *, min_size: int = 1, max_size: int = 10) -> PostgresReadModels:
        pool = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, server_settings=SERVER_SETTINGS
        )
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    # -- queries ----------------------------------------------------------

    async def checkpoint(self, user_id: int) -> Checkpoint | None:
        row = await self._pool.fetchrow(
            "SELECT pos, hlc, device, dseq, events, updated_ms FROM rm_checkpoints"
            " WHERE user_id = $1",
            user_id,
        )
        return None if row is None else _checkpoint(row)

    async def state(self, user_id: int) -> CareerState:
        async with self._pool.acquire() as conn:
            key = await conn.fetchrow(
                "SELECT pos, updated_ms FROM rm_checkpoints WHERE user_id = $1", user_id
            )
            if (
                key is not None
                and (cached := self._states.get(user_id, (key["pos"], key["updated_ms"])))
                is not None
            ):
                return cached
            row = await conn.fetchrow(
                "SELECT c.pos, c.updated_ms, s.body FROM rm_states s"
                " LEFT JOIN rm_checkpoints c ON c.user_id = s.user_id WHERE s.user_id = $1",
                user_id,
            )
        if row is None:
            return new_state()
        with collector_paused():
            state = decode_state(row["body"])
        if row["pos"] is not None:
            self._states.put(user_id, (row["pos"], row["updated_ms"]), state)
        return state

    async def state_as_recorded(self, user_id: int, at: datetime) -> CareerState:
        async with self._reading() as conn:
            pos = await conn.fetchval("SELECT pos FROM rm_checkpoints WHERE user_id = $1", user_id)
            if pos is None:
                return new_state()
            row = await conn.fetchrow(
                "SELECT hlc, device, dseq FROM rm_timeline WHERE user_id = $1 AND hlc <= $2"
                " ORDER BY hlc DESC, device DESC, dseq DESC LIMIT 1",
                user_id,
                recorded_limit(at),
            )
            if row is None:
                return new_state()
            upto: Key = (row[0], row[1], row[2])
            retractions = await _retractions(conn, user_id)
            keys = await conn.fetch(
                "SELECT hlc, device, dseq FROM rm_snapshots"
                " WHERE user_id = $1 AND (hlc, device, dseq) <= ($2, $3, $4)"
                " ORDER BY hlc DESC, device DESC, dseq DESC",
                user_id,
                *upto,
            )
            base, state = MIN_KEY, new_state()
            for r in keys:
                key: Key = (r[0], r[1], r[2])
                if usable(key, upto, retractions):
                    body = await conn.fetchval(
                        "SELECT body FROM rm_snapshots"
                        " WHERE user_id = $1 AND hlc = $2 AND device = $3 AND dseq = $4",
                        user_id,
                        *key,
                    )
                    with collector_paused():
                        base, state = key, decode_state(zlib.decompress(body))
                    break
            tail = await conn.fetch(
                "SELECT body FROM events WHERE user_id = $1 AND (hlc, device, dseq) > ($2, $3, $4)"
                " AND (hlc, device, dseq) <= ($5, $6, $7) AND pos <= $8"
                " ORDER BY hlc, device, dseq",
                user_id,
                *base,
                *upto,
                pos,
            )
        with collector_paused():
            return fold([decode_event(r[0]) for r in tail], state)

    async def state_happened_by(self, user_id: int, at: datetime) -> CareerState:
        # The events that occurred by then plus every retraction: see the SQLite twin.
        rows = await self._pool.fetch(
            "SELECT e.body FROM rm_timeline t JOIN events e"
            " ON e.user_id = t.user_id AND e.hlc = t.hlc AND e.device = t.device"
            " AND e.dseq = t.dseq"
            " WHERE t.user_id = $1 AND (t.occurred_us <= $2 OR t.type = 'EntryRetracted')"
            " ORDER BY t.hlc, t.device, t.dseq",
            user_id,
            micros(at),
        )
        with collector_paused():
            return happened_by([decode_event(r[0]) for r in rows], at)

    async def timeline(
        self,
        user_id: int,
        *,
        recorded_by: datetime | None = None,
        occurred_from: datetime | None = None,
        occurred_to: datetime | None = None,
        types: frozenset[str] | None = None,
        before: tuple[int, str, int] | None = None,
        limit: int = 50,
    ) -> list[TimelineEntry]:
        query = timeline_query(
            user_id,
            recorded_by=recorded_by,
            occurred_from=occurred_from,
            occurred_to=occurred_to,
            types=types,
            before=before,
            limit=limit,
            mark=lambda n: f"${n}",
        )
        if query is None:
            return []
        rows = await self._pool.fetch(query[0], *query[1])
        return [entry_from_row(_timeline_row(r)) for r in rows]

    async def grants_to(self, grantee: str, today: date) -> list[Grant]:
        rows = await self._pool.fetch(
            "SELECT g.user_id, u.name, g.scopes, g.granted_on, g.expires_on"
            " FROM rm_grants g JOIN users u ON u.id = g.user_id"
            " WHERE g.grantee = $1 AND (g.expires_on IS NULL OR g.expires_on >= $2)"
            " ORDER BY g.user_id",
            grantee,
            today,
        )
        return [
            Grant(
                owner_id=int(r[0]),
                owner_name=str(r[1]),
                grantee=grantee,
                scopes=tuple(r[2]),
                granted_on=r[3],
                expires_on=r[4],
            )
            for r in rows
        ]

    async def member_facts(self, user_ids: list[int]) -> dict[int, bytes]:
        rows = await self._pool.fetch(
            "SELECT user_id, body FROM rm_member_facts WHERE user_id = ANY($1::bigint[])",
            user_ids,
        )
        return {int(r[0]): bytes(r[1]) for r in rows}

    async def delete_user(self, user_id: int) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            for table in READ_MODEL_TABLES:
                await conn.execute(f"DELETE FROM {table} WHERE user_id = $1", user_id)

    # -- the projector's side ---------------------------------------------

    async def load(self, user_id: int) -> Loaded | None:
        row = await self._pool.fetchrow(
            "SELECT c.pos, c.hlc, c.device, c.dseq, c.events, c.updated_ms, c.snap_since,"
            " c.snap_bytes, s.body FROM rm_checkpoints c"
            " JOIN rm_states s ON s.user_id = c.user_id WHERE c.user_id = $1",
            user_id,
        )
        if row is None:
            return None
        return Loaded(_checkpoint(row), bytes(row[8]), int(row[6]), int(row[7]))

    async def write(self, update: Update) -> WriteOutcome:
        async with self._pool.acquire() as conn, conn.transaction():
            return await _write(conn, update)

    async def retractions(self, user_id: int) -> list[RetractionRow]:
        async with self._pool.acquire() as conn:
            return await _retractions(conn, user_id)

    async def snapshot_keys(self, user_id: int, below: Key) -> list[Key]:
        rows = await self._pool.fetch(
            "SELECT hlc, device, dseq FROM rm_snapshots"
            " WHERE user_id = $1 AND (hlc, device, dseq) < ($2, $3, $4)"
            " ORDER BY hlc DESC, device DESC, dseq DESC",
            user_id,
            *below,
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def snapshot(self, user_id: int, key: Key) -> SnapshotRow | None:
        row = await self._pool.fetchrow(
            "SELECT events, body FROM rm_snapshots"
            " WHERE user_id = $1 AND hlc = $2 AND device = $3 AND dseq = $4",
            user_id,
            *key,
        )
        return None if row is None else SnapshotRow(key, int(row[0]), bytes(row[1]))

    async def event_keys(self, user_id: int, event_ids: list[str]) -> dict[str, Key]:
        found: dict[str, Key] = {}
        for text in event_ids:
            event_id = parse_event_id(text)
            if event_id is None:
                continue
            for window in id_windows(event_id):
                if window is None:
                    row = await self._pool.fetchrow(
                        "SELECT hlc, device, dseq FROM rm_timeline"
                        " WHERE user_id = $1 AND event_id = $2 LIMIT 1",
                        user_id,
                        event_id.bytes,
                    )
                else:
                    row = await self._pool.fetchrow(
                        "SELECT hlc, device, dseq FROM rm_timeline WHERE user_id = $1"
                        " AND event_id = $2 AND hlc BETWEEN $3 AND $4 LIMIT 1",
                        user_id,
                        event_id.bytes,
                        *window,
                    )
                if row is not None:
                    found[text] = (row[0], row[1], row[2])
                    break
        return found

    async def behind(
        self, modulus: int = 1, residues: frozenset[int] | None = None
    ) -> list[Behind]:
        if residues is not None and not residues:
            return []
        rows = await self._pool.fetch(
            "SELECT h.user_id, h.head, coalesce(c.pos, 0) FROM user_heads h"
            " LEFT JOIN rm_checkpoints c ON c.user_id = h.user_id"
            " WHERE h.head > coalesce(c.pos, 0)"
            " AND ($1::int[] IS NULL OR (h.user_id % $2) = ANY($1::int[]))"
            " ORDER BY h.user_id",
            None if residues is None else sorted(residues),
            modulus,
        )
        return [Behind(int(r[0]), int(r[1]), int(r[2])) for r in rows]

    async def lag(self, now_ms: int) -> ProjectionLag:
        row = await self._pool.fetchrow(
            "SELECT count(*), coalesce(sum(h.head - coalesce(c.pos, 0)), 0),"
            " min((SELECT e.received_ms FROM events e"
            "      WHERE e.user_id = h.user_id AND e.pos = coalesce(c.pos, 0) + 1))"
            " FROM user_heads h LEFT JOIN rm_checkpoints c ON c.user_id = h.user_id"
            " WHERE h.head > coalesce(c.pos, 0)"
        )
        users, events, oldest = int(row[0]), int(row[1]), row[2]
        seconds = max(0.0, (now_ms - int(oldest)) / 1000) if oldest is not None else 0.0
        return ProjectionLag("readmodels", users, events, seconds)

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[Any]:
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield conn


async def _retractions(conn: Any, user_id: int) -> list[RetractionRow]:
    rows = await conn.fetch(
        "SELECT hlc, device, dseq, target_hlc, target_device, target_dseq FROM rm_retractions"
        " WHERE user_id = $1 ORDER BY hlc, device, dseq",
        user_id,
    )
    return [
        RetractionRow((r[0], r[1], r[2]), (r[3], r[4], r[5]) if r[3] is not None else None)
        for r in rows
    ]


async def _write(conn: Any, u: Update) -> WriteOutcome:
    user = u.user_id
    cp = u.checkpoint
    if await conn.fetchval("SELECT 1 FROM user_heads WHERE user_id = $1 FOR SHARE", user) is None:
        return "gone"
    values = (user, cp.pos, *cp.key, cp.events, cp.updated_ms, u.snap_since, u.snap_bytes)
    if u.expected_pos is None:
        done = await conn.fetchval(
            "INSERT INTO rm_checkpoints (user_id, pos, hlc, device, dseq, events, updated_ms,"
            " snap_since, snap_bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (user_id) DO NOTHING RETURNING true",
            *values,
        )
    else:
        done = await conn.fetchval(
            "UPDATE rm_checkpoints SET pos = $2, hlc = $3, device = $4, dseq = $5, events = $6,"
            " updated_ms = $7, snap_since = $8, snap_bytes = $9"
            " WHERE user_id = $1 AND pos = $10 RETURNING true",
            *values,
            u.expected_pos,
        )
    if not done:
        return "conflict"  # nothing written yet: committing the empty transaction is harmless
    if u.replace_after is not None:
        for table in ("rm_timeline", "rm_snapshots", "rm_retractions"):
            await conn.execute(
                f"DELETE FROM {table} WHERE user_id = $1 AND (hlc, device, dseq) > ($2, $3, $4)",
                user,
                *u.replace_after,
            )
    if u.timeline:
        # COPY, not an unnest INSERT: a fifth of the client's work and half the
        # server's for thousands of rows. Nothing to check on conflict: the
        # compare-and-set above admits one writer, and rows after the old
        # checkpoint (or after ``replace_after``) cannot exist yet.
        await conn.copy_records_to_table(
            "rm_timeline", records=[(user, *row) for row in u.timeline], columns=_TIMELINE_COLUMNS
        )
    if u.snapshots:
        await conn.executemany(
            "INSERT INTO rm_snapshots (user_id, hlc, device, dseq, events, body)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            [(user, *s.key, s.events, s.body) for s in u.snapshots],
        )
    if u.retractions:
        await conn.executemany(
            "INSERT INTO rm_retractions (user_id, hlc, device, dseq, target_hlc, target_device,"
            " target_dseq) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [(user, *r.key, *(r.target or (None, None, None))) for r in u.retractions],
        )
    await conn.execute(
        "INSERT INTO rm_states (user_id, body) VALUES ($1, $2)"
        " ON CONFLICT (user_id) DO UPDATE SET body = EXCLUDED.body",
        user,
        u.state,
    )
    await conn.execute(
        "INSERT INTO rm_member_facts (user_id, body) VALUES ($1, $2)"
        " ON CONFLICT (user_id) DO UPDATE SET body = EXCLUDED.body",
        user,
        u.member_facts,
    )
    await conn.execute("DELETE FROM rm_goals WHERE user_id = $1", user)
    if u.goals:
        g = u.goals
        await conn.execute(
            _INSERT_GOALS,
            user,
            [r.goal_id for r in g],
            [r.status for r in g],
            [r.horizon for r in g],
            [r.parent_id for r in g],
            [r.start_on for r in g],
            [r.due_on for r in g],
            [r.original_due_on for r in g],
            [r.set_on for r in g],
            [r.closed_on for r in g],
            [r.baseline for r in g],
            [r.target for r in g],
            [r.last_value for r in g],
            [r.percent_done for r in g],
            [r.milestones_total for r in g],
            [r.milestones_reached for r in g],
            [r.tasks_open for r in g],
            [r.tasks_done for r in g],
            [r.corrections for r in g],
            [r.slip_days for r in g],
            [r.last_progress_on for r in g],
        )
    await conn.execute("DELETE FROM rm_grants WHERE user_id = $1", user)
    if u.grants:
        await conn.executemany(
            "INSERT INTO rm_grants (user_id, grantee, scopes, granted_on, expires_on)"
            " VALUES ($1, $2, $3, $4, $5)",
            [(user, g.grantee, list(g.scopes), g.granted_on, g.expires_on) for g in u.grants],
        )
    return "applied"


def _checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(
        pos=int(row[0]),
        key=(int(row[1]), str(row[2]), int(row[3])),
        events=int(row[4]),
        updated_ms=int(row[5]),
    )


def _timeline_row(r: Any) -> TimelineRow:
    return TimelineRow(r[0], r[1], r[2], bytes(r[3]), r[4], r[5], r[6], r[7], bool(r[8]))
