"""The event store for scale: PostgreSQL through an asyncpg pool, shared by many server nodes.

Rules of this module:
- ``pos`` is the reason for the per-user lock. A sequence would hand numbers
  out at INSERT and make them visible at COMMIT, so a reader paging
  ``pos > cursor`` could pass a number whose transaction commits later and
  never see that event (es-anchors §1C, sync-anchors §5). Instead an append
  first locks the user's ``user_heads`` row (``SELECT … FOR UPDATE``), then
  reads the device's high-water mark, and writes events, rejections and both
  heads in one statement. Appends of one user that wait on this node while
  one of theirs commits are written in one transaction of that user, each
  batch after the one before, with one COMMIT for them all.
  The next append for the user waits for the row lock, which PostgreSQL
  releases only after the commit is visible, so ``pos`` order is commit
  order. Appends of different users never wait for each other, and no
  transaction spans two users.
- Transactions run at READ COMMITTED (the default) on purpose: after waiting
  for the row lock, each later statement sees what the previous append
  committed.
- NOTIFY ``careerlog_events`` with ``"<user_id>:<head>"`` is sent after the
  append's COMMIT, not inside it: a transaction that NOTIFYs takes one
  database-wide lock from its pre-commit to its end, WAL flush included, so
  the appends of every user on every node would commit one at a time (they
  halved the commit rate of ten concurrent appenders here). One task per
  store sends the wake-ups of all the commits since its last NOTIFY in one
  small transaction of its own (only the newest head per user), committed
  without waiting for the WAL flush (``synchronous_commit`` off for that
  transaction only: it stores nothing, and a lost wake-up is recovered). It is a
  wake-up: listeners re-read from their cursors; the payload never carries
  events. A wake-up lost after the commit (the node died first, or the
  NOTIFY failed) is recovered by the listeners, which re-read the heads of
  their users every ``HEAD_CHECK_S`` (fanout.py).
- ``lock_timeout`` bounds how long an append waits for a user's lock (a stuck
  transaction fails appends with an error the device retries, never a skip);
  ``idle_in_transaction_session_timeout`` ends a transaction a crashed caller
  left open, which would otherwise hold the user's lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeAlias

import asyncpg

from careerlog.server.store.base import (
    AppendResult,
    DeviceExists,
    DeviceRecord,
    EventStore,
    Incoming,
    SequenceGap,
    Stored,
    StoreError,
    UnknownUser,
    UserExists,
)
from careerlog.server.store.batch import BatchPlan, Earlier, earlier_result, plan_batch
from careerlog.server.store.schema import POSTGRES_MIGRATIONS, READ_MODEL_TABLES, check_not_newer

__all__ = ["NOTIFY_CHANNEL", "PostgresStore"]

log = logging.getLogger("careerlog.server.store")

#: The channel an append notifies with ``"<user_id>:<head>"`` after it commits.
NOTIFY_CHANNEL = "careerlog_events"

#: Advisory lock key held while migrating, so nodes starting together migrate once.
MIGRATION_LOCK = 0x6361_7265_6572_6C67  # "careerlg"

SERVER_SETTINGS = {
    "application_name": "careerlog",
    "lock_timeout": "10s",
    "idle_in_transaction_session_timeout": "60s",
}

_NOW_MS = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

# One round trip writes the whole batch. Data-modifying CTEs all run whether or
# not the outer query reads them; empty arrays make their INSERTs no-ops.
_WRITE_BATCH = """
WITH stored AS (
    INSERT INTO events (user_id, pos, device, dseq, hlc, body, received_ms)
    SELECT $1, e.pos, $2, e.dseq, e.hlc, e.body, $3
      FROM unnest($4::bigint[], $5::bigint[], $6::bigint[], $7::bytea[]) AS e(pos, dseq, hlc, body)
), refused AS (
    INSERT INTO rejections (user_id, device, dseq, code, reason, received_ms, event_id)
    SELECT $1, $2, r.dseq, r.code, r.reason, $3, r.id
      FROM unnest($8::bigint[], $9::text[], $10::text[], $13::bytea[]) AS r(dseq, code, reason, id)
), device_head AS (
    INSERT INTO device_heads (user_id, device, last_dseq) VALUES ($1, $2, $11)
    ON CONFLICT (user_id, device) DO UPDATE SET last_dseq = EXCLUDED.last_dseq
), user_head AS (
    UPDATE user_heads SET head = $12 WHERE user_id = $1 AND head <> $12
)
SELECT 1
"""


#: An append waiting for its user's next group: (device, events, received_ms)
#: and the caller's future.
_PendingAppend: TypeAlias = tuple[
    tuple[str, tuple[Incoming, ...], int],
    "asyncio.Future[tuple[list[AppendResult], int]]",
]


class PostgresStore(EventStore):
    """The :class:`EventStore` on PostgreSQL. Open with :meth:`open`."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._epoch: str | None = None
        #: Per user: appends waiting for the next group, and the task committing.
        self._waiting: dict[int, list[_PendingAppend]] = {}
        self._committing: dict[int, asyncio.Future[None]] = {}
        #: Committed heads not yet NOTIFYed (the newest per user), and the
        #: task sending them while any wait.
        self._unsent: dict[int, int] = {}
        self._notifying: asyncio.Future[None] | None = None

    @classmethod
    async def open(cls, dsn: str, *, min_size: int = 1, max_size: int = 10) -> PostgresStore:
        """Connect a pool to ``dsn``; does not migrate."""
        pool = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, server_settings=SERVER_SETTINGS
        )
        store = cls(pool)
        try:
            await store._load_epoch()
        except BaseException:
            await pool.close()
            raise
        return store

    # -- lifecycle --------------------------------------------------------

    @property
    def epoch(self) -> str:
        if self._epoch is None:
            raise StoreError("the store is not migrated yet: run migrate()")
        return self._epoch

    async def migrate(self) -> list[int]:
        applied: list[int] = []
        async with self._transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version integer PRIMARY KEY, applied_ms bigint NOT NULL)"
            )
            current = int(
                await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
            )
            check_not_newer(current, len(POSTGRES_MIGRATIONS))
            for version, statements in enumerate(POSTGRES_MIGRATIONS, start=1):
                if version <= current:
                    continue
                for statement in statements:
                    await conn.execute(statement)
                await conn.execute(
                    f"INSERT INTO schema_version (version, applied_ms) VALUES ($1, {_NOW_MS})",
                    version,
                )
                applied.append(version)
        await self._load_epoch()
        return applied

    async def close(self) -> None:
        if self._notifying is not None:
            # The last wake-ups still go out (the listeners' head check
            # would find them, but a second later).
            with suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._notifying), 5)
        await self._pool.close()

    async def _load_epoch(self) -> None:
        async with self._pool.acquire() as conn:
            try:
                current = int(
                    await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
                )
            except asyncpg.UndefinedTableError:  # a new database
                return
            check_not_newer(current, len(POSTGRES_MIGRATIONS))
            if current:
                self._epoch = str(await conn.fetchval("SELECT value FROM meta WHERE key = 'epoch'"))

    # -- the log ----------------------------------------------------------

    async def append(
        self, user_id: int, device: str, events: Sequence[Incoming], received_ms: int
    ) -> tuple[list[AppendResult], int]:
        # Appends of one user that wait while one of theirs commits (the
        # user's devices pushing at once; they would queue on the user's row
        # lock anyway) are committed together, in one transaction of that
        # user: one lock, one NOTIFY and one COMMIT (one fsync) for them all.
        future: asyncio.Future[tuple[list[AppendResult], int]]
        future = asyncio.get_running_loop().create_future()
        entry: _PendingAppend = ((device, tuple(events), received_ms), future)
        self._waiting.setdefault(user_id, []).append(entry)
        if user_id not in self._committing:
            self._committing[user_id] = asyncio.ensure_future(self._commit_user(user_id))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # All or nothing, settled before the caller moves on: a batch
            # still waiting is withdrawn; one being committed is waited for.
            waiting = self._waiting.get(user_id, [])
            for index, queued in enumerate(waiting):
                if queued is entry:
                    del waiting[index]
                    raise
            with suppress(BaseException):
                await future
            raise

    async def _commit_user(self, user_id: int) -> None:
        try:
            while group := self._waiting.pop(user_id, None):
                outcomes: list[tuple[list[AppendResult], int] | Exception]
                try:
                    outcomes = await self._append_group(user_id, [batch for batch, _ in group])
                except Exception as error:  # the transaction failed: nothing of it stored
                    outcomes = [error] * len(group)
                for (_, future), outcome in zip(group, outcomes, strict=True):
                    if future.done():
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            del self._committing[user_id]

    async def _append_group(
        self, user_id: int, batches: list[tuple[str, tuple[Incoming, ...], int]]
    ) -> list[tuple[list[AppendResult], int] | Exception]:
        """Several appends of one user in one transaction; a batch refused
        whole (a gap, another device's event) stores nothing and fails alone."""
        outcomes: list[tuple[list[AppendResult], int] | Exception] = []
        async with self._pool.acquire() as conn, _round_trip_transaction(conn):
            # The row lock on user_heads is the per-user append lock, taken in
            # the round trip that begins the transaction (simple protocol: the
            # user id is an int, spelled as a literal).
            await conn.execute(
                f"BEGIN; SELECT 1 FROM user_heads WHERE user_id = {int(user_id)} FOR UPDATE"
            )
            # A separate statement, not a join in the locking one: after waiting
            # for the lock, PostgreSQL re-reads only the locked row and would
            # give a joined device_heads row as of before the wait, so two
            # sessions of one device could both store the same dseq. A new
            # statement takes a new snapshot, which has the previous commit.
            rows = await conn.fetch(
                "SELECT NULL::text, head FROM user_heads WHERE user_id = $1"
                " UNION ALL SELECT device, last_dseq FROM device_heads"
                " WHERE user_id = $1 AND device = ANY($2::text[])",
                user_id,
                sorted({device for device, _, _ in batches}),
            )
            heads = {row[0]: int(row[1]) for row in rows}
            head = heads.pop(None, None)
            if head is None:
                return [UnknownUser(user_id)] * len(batches)
            stored = False
            for device, events, received_ms in batches:
                try:
                    plan = plan_batch(device, events, heads.get(device, 0))
                except (SequenceGap, ValueError) as refused:
                    outcomes.append(refused)
                    continue
                outcomes.append(await self._write(conn, user_id, device, head, plan, received_ms))
                head += len(plan.accepted)
                heads[device] = plan.new_last_dseq
                stored = stored or bool(plan.accepted)
        if stored:
            # (After the COMMIT above; see the module's rules for why.)
            self._wake_others(user_id, head)
        return outcomes

    def _wake_others(self, user_id: int, head: int) -> None:
        """Queue the wake-up of a committed head for the other nodes."""
        self._unsent[user_id] = max(head, self._unsent.get(user_id, 0))
        if self._notifying is None:
            self._notifying = asyncio.ensure_future(self._send_wakeups())

    async def _send_wakeups(self) -> None:
        """NOTIFY what committed since the last NOTIFY, in one transaction,
        until nothing waits: while one is sent the next ones pile up, so the
        NOTIFY rate follows PostgreSQL's pace, not the append rate."""
        try:
            while self._unsent:
                unsent, self._unsent = self._unsent, {}
                try:
                    # A wake-up needs no durability (a lost one is recovered
                    # by the listeners' head check), so its commit does not
                    # wait for the WAL flush: NOTIFY assigns a transaction id,
                    # and a synchronous commit would cost a second fsync on
                    # the path of every live event.
                    await self._pool.execute(
                        "SELECT set_config('synchronous_commit', 'off', true),"
                        " pg_notify($1, p) FROM unnest($2::text[]) AS p",
                        NOTIFY_CHANNEL,
                        [f"{user}:{head}" for user, head in unsent.items()],
                    )
                except Exception as error:  # the listeners' head check recovers these
                    log.warning(
                        "wake-up NOTIFY failed (%s); other nodes catch up on their timer", error
                    )
        finally:
            self._notifying = None

    @staticmethod
    async def _write(
        conn: Any, user_id: int, device: str, head: int, plan: BatchPlan, received_ms: int
    ) -> tuple[list[AppendResult], int]:
        """Store one planned batch after ``head``; its results and the new head."""
        earlier: dict[int, Earlier] = {}
        if plan.stale_range is not None:
            # The ids come in the same query (a stored event's from its
            # body): a reused dseq costs no extra round trip.
            rows = await conn.fetch(
                """SELECT dseq, pos, NULL::text, NULL::text, NULL::bytea, body FROM events
                    WHERE user_id = $1 AND device = $2 AND dseq BETWEEN $3 AND $4
                   UNION ALL
                   SELECT dseq, NULL::bigint, code, reason, event_id, NULL::bytea
                     FROM rejections
                    WHERE user_id = $1 AND device = $2 AND dseq BETWEEN $3 AND $4""",
                user_id,
                device,
                *plan.stale_range,
            )
            earlier = {int(r[0]): earlier_result(r[1], r[2], r[3], r[4], r[5]) for r in rows}
        accepted = plan.accepted
        new_head = head + len(accepted)
        if plan.fresh:
            refused = [
                (event.dseq, *event.rejected, event.id)
                for event in plan.rejected
                if event.rejected is not None
            ]
            await conn.execute(
                _WRITE_BATCH,
                user_id,
                device,
                received_ms,
                list(range(head + 1, new_head + 1)),
                [event.dseq for event in accepted],
                [event.hlc for event in accepted],
                [event.body for event in accepted],
                [dseq for dseq, _, _, _ in refused],
                [code for _, code, _, _ in refused],
                [reason for _, _, reason, _ in refused],
                plan.new_last_dseq,
                new_head,
                [event_id for _, _, _, event_id in refused],
            )
        return plan.results(head + 1, earlier), new_head

    async def read(self, user_id: int, after: int, limit: int) -> list[Stored]:
        if limit <= 0:
            return []
        rows = await self._pool.fetch(
            "SELECT pos, device, dseq, body, received_ms FROM events"
            " WHERE user_id = $1 AND pos > $2 ORDER BY pos LIMIT $3",
            user_id,
            after,
            limit,
        )
        return [Stored(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def read_page(
        self, user_id: int, after: int, limit: int
    ) -> tuple[list[tuple[int, bytes]], int]:
        if limit <= 0:
            return [], await self.head(user_id)
        # The head rides along on every row: one statement, one snapshot.
        rows = await self._pool.fetch(
            "SELECT pos, body, (SELECT head FROM user_heads WHERE user_id = $1)"
            " FROM events WHERE user_id = $1 AND pos > $2 ORDER BY pos LIMIT $3",
            user_id,
            after,
            limit,
        )
        if not rows:
            return [], await self.head(user_id)
        return [(r[0], r[1]) for r in rows], int(rows[0][2])

    async def read_in_order(
        self, user_id: int, after: tuple[int, str, int], max_pos: int, limit: int
    ) -> list[Stored]:
        if limit <= 0:
            return []
        rows = await self._pool.fetch(
            "SELECT pos, device, dseq, body, received_ms FROM events"
            " WHERE user_id = $1 AND (hlc, device, dseq) > ($2, $3, $4) AND pos <= $5"
            " ORDER BY hlc, device, dseq LIMIT $6",
            user_id,
            *after,
            max_pos,
            limit,
        )
        return [Stored(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def head(self, user_id: int) -> int:
        head = await self._pool.fetchval("SELECT head FROM user_heads WHERE user_id = $1", user_id)
        return int(head or 0)

    async def device_head(self, user_id: int, device: str) -> int:
        last = await self._pool.fetchval(
            "SELECT last_dseq FROM device_heads WHERE user_id = $1 AND device = $2",
            user_id,
            device,
        )
        return int(last or 0)

    # -- accounts ---------------------------------------------------------

    async def create_user(self, name: str) -> int:
        try:
            async with self._transaction() as conn:
                user_id = int(
                    await conn.fetchval("INSERT INTO users (name) VALUES ($1) RETURNING id", name)
                )
                await conn.execute("INSERT INTO user_heads (user_id) VALUES ($1)", user_id)
        except asyncpg.UniqueViolationError as error:
            raise UserExists(name) from error
        return user_id

    async def user_by_name(self, name: str) -> int | None:
        user_id = await self._pool.fetchval("SELECT id FROM users WHERE name = $1", name)
        return None if user_id is None else int(user_id)

    async def user_name(self, user_id: int) -> str | None:
        name = await self._pool.fetchval("SELECT name FROM users WHERE id = $1", user_id)
        return None if name is None else str(name)

    async def list_users(self) -> list[tuple[int, str]]:
        rows = await self._pool.fetch("SELECT id, name FROM users ORDER BY id")
        return [(int(row[0]), str(row[1])) for row in rows]

    async def add_enrollment(self, user_id: int, token_hash: bytes, expires_ms: int) -> None:
        async with self._transaction() as conn:
            await _share_user(conn, user_id)
            await conn.execute(
                "INSERT INTO enrollments (token_hash, user_id, expires_ms) VALUES ($1, $2, $3)",
                token_hash,
                user_id,
                expires_ms,
            )

    async def consume_enrollment(self, token_hash: bytes, now_ms: int) -> int | None:
        # DELETE … RETURNING is atomic: of two nodes racing on one token, one
        # gets the row and the other nothing. An expired token goes too.
        row = await self._pool.fetchrow(
            "DELETE FROM enrollments WHERE token_hash = $1 RETURNING user_id, expires_ms",
            token_hash,
        )
        if row is None or now_ms >= row[1]:
            return None
        return int(row[0])

    async def add_device(
        self,
        user_id: int,
        device: str,
        token_hash: bytes,
        name: str,
        now_ms: int,
        expires_ms: int | None = None,
    ) -> None:
        try:
            async with self._transaction() as conn:
                await _share_user(conn, user_id)
                added = await conn.fetchval(
                    "INSERT INTO devices (user_id, device, name, created_ms, token_expires_ms)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true",
                    user_id,
                    device,
                    name,
                    now_ms,
                    expires_ms,
                )
                if not added:
                    raise DeviceExists(user_id, device)
                await _add_token(conn, token_hash, user_id, device)
        except asyncpg.UniqueViolationError as error:
            raise StoreError("this token is already in use") from error

    async def renew_device(
        self,
        user_id: int,
        device: str,
        token_hash: bytes,
        name: str,
        expires_ms: int | None = None,
    ) -> bool:
        try:
            async with self._transaction() as conn:
                renewed = await conn.fetchval(
                    "UPDATE devices SET revoked_ms = NULL, token_expires_ms = $3,"
                    " name = CASE WHEN $4 = '' THEN name ELSE $4 END"
                    " WHERE user_id = $1 AND device = $2 RETURNING true",
                    user_id,
                    device,
                    expires_ms,
                    name,
                )
                if not renewed:
                    return False
                await conn.execute(
                    "DELETE FROM device_tokens WHERE user_id = $1 AND device = $2", user_id, device
                )
                await _add_token(conn, token_hash, user_id, device)
        except asyncpg.UniqueViolationError as error:
            raise StoreError("this token is already in use") from error
        return True

    async def device_for_token(self, token_hash: bytes) -> DeviceRecord | None:
        row = await self._pool.fetchrow(
            "SELECT d.user_id, d.device, d.name, d.created_ms, d.revoked_ms,"
            " d.token_expires_ms"
            " FROM device_tokens t JOIN devices d"
            " ON d.user_id = t.user_id AND d.device = t.device"
            " WHERE t.token_hash = $1",
            token_hash,
        )
        return None if row is None else _device_record(row)

    async def list_devices(self, user_id: int) -> list[DeviceRecord]:
        rows = await self._pool.fetch(
            "SELECT user_id, device, name, created_ms, revoked_ms, token_expires_ms"
            " FROM devices"
            " WHERE user_id = $1 ORDER BY created_ms, device",
            user_id,
        )
        return [_device_record(row) for row in rows]

    async def revoke_device(self, user_id: int, device: str, now_ms: int) -> bool:
        revoked = await self._pool.fetchval(
            "UPDATE devices SET revoked_ms = $3"
            " WHERE user_id = $1 AND device = $2 AND revoked_ms IS NULL RETURNING true",
            user_id,
            device,
            now_ms,
        )
        return bool(revoked)

    async def delete_user(self, user_id: int) -> bool:
        async with self._transaction() as conn:
            # Take the append lock first: an append in flight commits before
            # the delete, and one that waits finds no user afterwards.
            await conn.execute("SELECT 1 FROM user_heads WHERE user_id = $1 FOR UPDATE", user_id)
            for table in (
                "events",
                "rejections",
                "device_heads",
                "devices",
                "device_tokens",
                "enrollments",
                "user_heads",
                *READ_MODEL_TABLES,
                # Organisation memberships (careerlog.server.orgs): not the
                # user's data, but a trace of them all the same.
                "org_members",
            ):
                await conn.execute(f"DELETE FROM {table} WHERE user_id = $1", user_id)
            deleted = await conn.fetchval("DELETE FROM users WHERE id = $1 RETURNING true", user_id)
        return bool(deleted)

    # -- fan-out ----------------------------------------------------------

    async def notify(self, channel: str, payload: str) -> None:
        """Send a NOTIFY on ``channel`` (a wake-up for other nodes, never data)."""
        await self._pool.execute("SELECT pg_notify($1, $2)", channel, payload)

    # -- connections ------------------------------------------------------

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        """A pooled connection inside a transaction: COMMIT on success, else ROLLBACK."""
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn


@asynccontextmanager
async def _round_trip_transaction(conn: Any) -> AsyncIterator[None]:
    """COMMIT on success, else ROLLBACK, around a transaction the caller BEGINs.

    For the append, whose BEGIN rides with its first statement: one round
    trip fewer than ``conn.transaction()`` on the path of every push.
    """
    try:
        yield
        await conn.execute("COMMIT")
    except BaseException:
        if not conn.is_closed() and conn.is_in_transaction():
            with suppress(Exception):
                await conn.execute("ROLLBACK")
        raise


async def _share_user(conn: Any, user_id: int) -> None:
    """Check the user exists and keep ``delete_user`` out until this transaction ends."""
    found = await conn.fetchval("SELECT 1 FROM user_heads WHERE user_id = $1 FOR SHARE", user_id)
    if found is None:
        raise UnknownUser(user_id)


async def _add_token(conn: Any, token_hash: bytes, user_id: int, device: str) -> None:
    await conn.execute(
        "INSERT INTO device_tokens (token_hash, user_id, device) VALUES ($1, $2, $3)",
        token_hash,
        user_id,
        device,
    )


def _device_record(row: Any) -> DeviceRecord:
    return DeviceRecord(int(row[0]), row[1], row[2], int(row[3]), row[4], row[5])
