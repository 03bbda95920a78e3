"""The read models on the embedded store's SQLite file.

Rules of this module:
- The same file as the event store (WAL), so the projector's reads of the
  log and its writes of read models see one database.
- Writes run as one function on one writer thread (one plain ``sqlite3``
  connection, ``BEGIN IMMEDIATE``), like the event store's appends: a
  projector step is a dozen statements and should cost one hop. The event
  store's appender is another connection; SQLite's write lock and
  ``busy_timeout`` take turns between them, and a step keeps its
  transaction short by folding before it begins.
- Reads go to a small pool of read-only aiosqlite connections; a read that
  needs several statements (time travel: snapshot then tail) runs them in
  one read transaction so they agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import zlib
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import aiosqlite

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
from careerlog.server.sqlitethread import BUSY_TIMEOUT_MS, SqliteThread
from careerlog.server.store.schema import READ_MODEL_TABLES
from careerlog.shared.codec import decode_event
from careerlog.shared.projections import CareerState, decode_state, fold, new_state
from careerlog.shared.projections.timeline import TimelineEntry, happened_by

__all__ = ["SqliteReadModels"]


class SqliteReadModels(ReadModelStore):
    """:class:`ReadModelStore` on an SQLite file. Open with :meth:`open`."""

    def __init__(self, path: Path, readers: list[aiosqlite.Connection]) -> None:
        self.path = path
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers = readers
        for reader in readers:
            self._readers.put_nowait(reader)
        # Timeline rows go into one big B-tree: the writer keeps its inner pages cached.
        self._writer = SqliteThread(path, "careerlog-readmodels", ["PRAGMA cache_size=-65536"])
        self._states = StateCache()

    @classmethod
    async def open(cls, path: str | Path, *, readers: int = 4) -> SqliteReadModels:
        """Open the read models of a migrated store file."""
        path = Path(path)
        pool: list[aiosqlite.Connection] = []
        try:
            for _ in range(max(1, readers)):
                reader = await aiosqlite.connect(path, isolation_level=None)
                pool.append(reader)
                await reader.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                await reader.execute("PRAGMA query_only=ON")
        except BaseException:
            for reader in pool:
                await reader.close()
            raise
        return cls(path, pool)

    async def close(self) -> None:
        await self._writer.close()
        for reader in self._all_readers:
            await reader.close()

    # -- queries ----------------------------------------------------------

    async def checkpoint(self, user_id: int) -> Checkpoint | None:
        async with self._reading() as db:
            rows = list(
                await db.execute_fetchall(
                    "SELECT pos, hlc, device, dseq, events, updated_ms FROM rm_checkpoints"
                    " WHERE user_id = ?",
                    (user_id,),
                )
            )
        return _checkpoint(rows[0]) if rows else None

    async def state(self, user_id: int) -> CareerState:
        async with self._reading() as db:
            rows = await db.execute_fetchall(
                "SELECT pos, updated_ms FROM rm_checkpoints WHERE user_id = ?", (user_id,)
            )
            for pos, updated_ms in rows:
                if (cached := self._states.get(user_id, (pos, updated_ms))) is not None:
                    return cached
            rows = await db.execute_fetchall(
                "SELECT c.pos, c.updated_ms, s.body FROM rm_states s"
                " LEFT JOIN rm_checkpoints c ON c.user_id = s.user_id WHERE s.user_id = ?",
                (user_id,),
            )
        if not rows:
            return new_state()
        [(pos, updated_ms, body)] = rows
        with collector_paused():
            state = decode_state(body)
        if pos is not None:
            self._states.put(user_id, (pos, updated_ms), state)
        return state

    async def state_as_recorded(self, user_id: int, at: datetime) -> CareerState:
        limit = recorded_limit(at)
        async with self._reading() as db, _read_transaction(db):
            pos = await _scalar(db, "SELECT pos FROM rm_checkpoints WHERE user_id = ?", (user_id,))
            if pos is None:
                return new_state()
            rows = list(
                await db.execute_fetchall(
                    "SELECT hlc, device, dseq FROM rm_timeline WHERE user_id = ? AND hlc <= ?"
                    " ORDER BY hlc DESC, device DESC, dseq DESC LIMIT 1",
                    (user_id, limit),
                )
            )
            if not rows:
                return new_state()
            upto: Key = (rows[0][0], rows[0][1], rows[0][2])
            retractions = await self._retractions(db, user_id)
            base, state = MIN_KEY, new_state()
            for key in await self._snapshot_keys(db, user_id, upto, inclusive=True):
                if usable(key, upto, retractions):
                    body = await _scalar(
                        db,
                        "SELECT body FROM rm_snapshots"
                        " WHERE user_id = ? AND hlc = ? AND device = ? AND dseq = ?",
                        (user_id, *key),
                    )
                    with collector_paused():
                        base, state = key, decode_state(zlib.decompress(body))
                    break
            tail = await db.execute_fetchall(
                "SELECT body FROM events WHERE user_id = ? AND (hlc, device, dseq) > (?, ?, ?)"
                " AND (hlc, device, dseq) <= (?, ?, ?) AND pos <= ?"
                " ORDER BY hlc, device, dseq",
                (user_id, *base, *upto, pos),
            )
        with collector_paused():
            return fold([decode_event(row[0]) for row in tail], state)

    async def state_happened_by(self, user_id: int, at: datetime) -> CareerState:
        # Only the events that occurred by then, plus every retraction (a
        # retraction recorded later still takes its target out of this view):
        # ``happened_by`` of that subset is exactly ``happened_by`` of the log.
        # (user, device, dseq) names one event (events_by_device is unique), so
        # the join is on that alone: with ``e.hlc = t.hlc`` in it too, SQLite
        # 3.40 scanned the user's whole log for each timeline row.
        async with self._reading() as db:
            rows = await db.execute_fetchall(
                "SELECT e.body FROM rm_timeline t JOIN events e"
                " ON e.user_id = t.user_id AND e.device = t.device AND e.dseq = t.dseq"
                " WHERE t.user_id = ? AND (t.occurred_us <= ? OR t.type = 'EntryRetracted')"
                " ORDER BY t.hlc, t.device, t.dseq",
                (user_id, micros(at)),
            )
        with collector_paused():
            return happened_by([decode_event(row[0]) for row in rows], at)

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
            mark=lambda _n: "?",
        )
        if query is None:
            return []
        async with self._reading() as db:
            rows = await db.execute_fetchall(*query)
        return [entry_from_row(_timeline_row(row)) for row in rows]

    async def grants_to(self, grantee: str, today: date) -> list[Grant]:
        async with self._reading() as db:
            rows = await db.execute_fetchall(
                "SELECT g.user_id, u.name, g.scopes, g.granted_on, g.expires_on"
                " FROM rm_grants g JOIN users u ON u.id = g.user_id"
                " WHERE g.grantee = ? AND (g.expires_on IS NULL OR g.expires_on >= ?)"
                " ORDER BY g.user_id",
                (grantee, today.isoformat()),
            )
        return [
            Grant(
                owner_id=int(row[0]),
                owner_name=str(row[1]),
                grantee=grantee,
                scopes=tuple(row[2].split(",")) if row[2] else (),
                granted_on=date.fromisoformat(row[3]),
                expires_on=date.fromisoformat(row[4]) if row[4] else None,
            )
            for row in rows
        ]

    async def member_facts(self, user_ids: list[int]) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        async with self._reading() as db:
            for start in range(0, len(user_ids), 500):
                chunk = user_ids[start : start + 500]
                rows = await db.execute_fetchall(
                    "SELECT user_id, body FROM rm_member_facts"
                    f" WHERE user_id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
                found.update({int(row[0]): bytes(row[1]) for row in rows})
        return found

    async def delete_user(self, user_id: int) -> None:
        await self._writer.run(_delete_now, user_id)

    # -- the projector's side ---------------------------------------------

    async def load(self, user_id: int) -> Loaded | None:
        async with self._reading() as db, _read_transaction(db):
            rows = list(
                await db.execute_fetchall(
                    "SELECT pos, hlc, device, dseq, events, updated_ms, snap_since, snap_bytes"
                    " FROM rm_checkpoints WHERE user_id = ?",
                    (user_id,),
                )
            )
            if not rows:
                return None
            body = await _scalar(db, "SELECT body FROM rm_states WHERE user_id = ?", (user_id,))
        row = rows[0]
        return Loaded(_checkpoint(row), bytes(body), int(row[6]), int(row[7]))

    async def write(self, update: Update) -> WriteOutcome:
        return await self._writer.run(_write_now, update)

    async def retractions(self, user_id: int) -> list[RetractionRow]:
        async with self._reading() as db:
            return await self._retractions(db, user_id)

    async def snapshot_keys(self, user_id: int, below: Key) -> list[Key]:
        async with self._reading() as db:
            return await self._snapshot_keys(db, user_id, below)

    async def snapshot(self, user_id: int, key: Key) -> SnapshotRow | None:
        async with self._reading() as db:
            rows = list(
                await db.execute_fetchall(
                    "SELECT events, body FROM rm_snapshots"
                    " WHERE user_id = ? AND hlc = ? AND device = ? AND dseq = ?",
                    (user_id, *key),
                )
            )
        return SnapshotRow(key, int(rows[0][0]), bytes(rows[0][1])) if rows else None

    async def event_keys(self, user_id: int, event_ids: list[str]) -> dict[str, Key]:
        found: dict[str, Key] = {}
        async with self._reading() as db:
            for text in event_ids:
                event_id = parse_event_id(text)
                if event_id is None:
                    continue
                for window in id_windows(event_id):
                    within = "" if window is None else " AND hlc BETWEEN ? AND ?"
                    rows = list(
                        await db.execute_fetchall(
                            "SELECT hlc, device, dseq FROM rm_timeline"
                            f" WHERE user_id = ? AND event_id = ?{within} LIMIT 1",
                            (user_id, event_id.bytes, *(window or ())),
                        )
                    )
                    if rows:
                        found[text] = (rows[0][0], rows[0][1], rows[0][2])
                        break
        return found

    async def behind(
        self, modulus: int = 1, residues: frozenset[int] | None = None
    ) -> list[Behind]:
        async with self._reading() as db:
            rows = await db.execute_fetchall(
                "SELECT h.user_id, h.head, coalesce(c.pos, 0) FROM user_heads h"
                " LEFT JOIN rm_checkpoints c ON c.user_id = h.user_id"
                " WHERE h.head > coalesce(c.pos, 0) ORDER BY h.user_id"
            )
        return [
            Behind(int(row[0]), int(row[1]), int(row[2]))
            for row in rows
            if residues is None or int(row[0]) % modulus in residues
        ]

    async def lag(self, now_ms: int) -> ProjectionLag:
        async with self._reading() as db:
            rows = list(
                await db.execute_fetchall(
                    "SELECT count(*), coalesce(sum(h.head - coalesce(c.pos, 0)), 0),"
                    " min((SELECT e.received_ms FROM events e"
                    "      WHERE e.user_id = h.user_id AND e.pos = coalesce(c.pos, 0) + 1))"
                    " FROM user_heads h LEFT JOIN rm_checkpoints c ON c.user_id = h.user_id"
                    " WHERE h.head > coalesce(c.pos, 0)"
                )
            )
        return _lag(rows[0], now_ms)

    # -- helpers ----------------------------------------------------------

    async def _retractions(self, db: aiosqlite.Connection, user_id: int) -> list[RetractionRow]:
        rows = await db.execute_fetchall(
            "SELECT hlc, device, dseq, target_hlc, target_device, target_dseq FROM rm_retractions"
            " WHERE user_id = ? ORDER BY hlc, device, dseq",
            (user_id,),
        )
        return [_retraction_row(row) for row in rows]

    async def _snapshot_keys(
        self, db: aiosqlite.Connection, user_id: int, below: Key, *, inclusive: bool = False
    ) -> list[Key]:
        rows = await db.execute_fetchall(
            "SELECT hlc, device, dseq FROM rm_snapshots"
            f" WHERE user_id = ? AND (hlc, device, dseq) {'<=' if inclusive else '<'} (?, ?, ?)"
            " ORDER BY hlc DESC, device DESC, dseq DESC",
            (user_id, *below),
        )
        return [(row[0], row[1], row[2]) for row in rows]

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[aiosqlite.Connection]:
        db = await self._readers.get()
        try:
            yield db
        finally:
            self._readers.put_nowait(db)


@contextlib.asynccontextmanager
async def _read_transaction(db: aiosqlite.Connection) -> AsyncIterator[None]:
    await db.execute("BEGIN")
    try:
        yield
    finally:
        await db.execute("COMMIT")


async def _scalar(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    async with db.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return None if row is None else row[0]


def _checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(
        pos=int(row[0]),
        key=(int(row[1]), str(row[2]), int(row[3])),
        events=int(row[4]),
        updated_ms=int(row[5]),
    )


def _timeline_row(row: Any) -> TimelineRow:
    return TimelineRow(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], bool(row[8]))


def _retraction_row(row: Any) -> RetractionRow:
    target = (row[3], row[4], row[5]) if row[3] is not None else None
    return RetractionRow((row[0], row[1], row[2]), target)


def _lag(row: Any, now_ms: int) -> ProjectionLag:
    users, events, oldest = int(row[0]), int(row[1] or 0), row[2]
    seconds = max(0.0, (now_ms - int(oldest)) / 1000) if oldest is not None else 0.0
    return ProjectionLag("readmodels", users, events, seconds)


def _delete_now(db: sqlite3.Connection, user_id: int) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        for table in READ_MODEL_TABLES:
            db.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _write_now(db: sqlite3.Connection, u: Update) -> WriteOutcome:
    """One projector step, in one transaction, on the writer thread."""
    user = u.user_id
    cp = u.checkpoint
    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute("SELECT 1 FROM user_heads WHERE user_id = ?", (user,)).fetchone() is None:
            db.execute("ROLLBACK")
            return "gone"
        values = (
            cp.pos,
            *cp.key,
            cp.events,
            cp.updated_ms,
            u.snap_since,
            u.snap_bytes,
            user,
        )
        if u.expected_pos is None:
            cursor = db.execute(
                "INSERT INTO rm_checkpoints (pos, hlc, device, dseq, events, updated_ms,"
                " snap_since, snap_bytes, user_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (user_id) DO NOTHING",
                values,
            )
        else:
            cursor = db.execute(
                "UPDATE rm_checkpoints SET pos = ?, hlc = ?, device = ?, dseq = ?, events = ?,"
                " updated_ms = ?, snap_since = ?, snap_bytes = ? WHERE user_id = ? AND pos = ?",
                (*values, u.expected_pos),
            )
        if cursor.rowcount != 1:
            db.execute("ROLLBACK")
            return "conflict"
        if u.replace_after is not None:
            for table in ("rm_timeline", "rm_snapshots", "rm_retractions"):
                db.execute(
                    f"DELETE FROM {table} WHERE user_id = ? AND (hlc, device, dseq) > (?, ?, ?)",
                    (user, *u.replace_after),
                )
        # The user id is an int spelled into the statement, so the rows bind as they are.
        db.executemany(
            "INSERT INTO rm_timeline (user_id, hlc, device, dseq, event_id, type, occurred_us,"
            f" record_id, summary, retracted) VALUES ({int(user)}, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            u.timeline,
        )
        if u.snapshots:
            db.executemany(
                "INSERT INTO rm_snapshots (user_id, hlc, device, dseq, events, body)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(user, *s.key, s.events, s.body) for s in u.snapshots],
            )
        if u.retractions:
            db.executemany(
                "INSERT INTO rm_retractions (user_id, hlc, device, dseq, target_hlc,"
                " target_device, target_dseq) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(user, *r.key, *(r.target or (None, None, None))) for r in u.retractions],
            )
        db.execute(
            "INSERT INTO rm_states (user_id, body) VALUES (?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET body = excluded.body",
            (user, u.state),
        )
        db.execute(
            "INSERT INTO rm_member_facts (user_id, body) VALUES (?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET body = excluded.body",
            (user, u.member_facts),
        )
        db.execute("DELETE FROM rm_goals WHERE user_id = ?", (user,))
        db.executemany(
            "INSERT INTO rm_goals (user_id, goal_id, status, horizon, parent_id, start_on, due_on,"
            " original_due_on, set_on, closed_on, baseline, target, last_value, percent_done,"
            " milestones_total, milestones_reached, tasks_open, tasks_done, corrections,"
            " slip_days, last_progress_on)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    user,
                    g.goal_id,
                    g.status,
                    g.horizon,
                    g.parent_id,
                    g.start_on.isoformat(),
                    g.due_on.isoformat(),
                    g.original_due_on.isoformat(),
                    g.set_on.isoformat(),
                    _iso(g.closed_on),
                    g.baseline,
                    g.target,
                    g.last_value,
                    g.percent_done,
                    g.milestones_total,
                    g.milestones_reached,
                    g.tasks_open,
                    g.tasks_done,
                    g.corrections,
                    g.slip_days,
                    _iso(g.last_progress_on),
                )
                for g in u.goals
            ],
        )
        db.execute("DELETE FROM rm_grants WHERE user_id = ?", (user,))
        db.executemany(
            "INSERT INTO rm_grants (user_id, grantee, scopes, granted_on, expires_on)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (user, g.grantee, ",".join(g.scopes), g.granted_on.isoformat(), _iso(g.expires_on))
                for g in u.grants
            ],
        )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return "applied"


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()
