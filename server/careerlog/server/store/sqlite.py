"""The embedded event store: one SQLite file through aiosqlite.

Rules of this module:
- One writer at a time. Every write holds ``_write_lock`` and runs in one
  ``BEGIN IMMEDIATE`` transaction (appends on the appender thread's own
  connection, as one function; the rare others through aiosqlite), so writes
  are serialised (also against another process on the same file, through SQLite's
  write lock and ``busy_timeout``). ``pos`` is read and advanced inside that
  transaction, so ``pos`` order is commit order and readers never see a gap.
- Group commit: appends that wait while one is committing (pushes from many
  connections) go to the appender thread together and commit in one
  transaction, each batch judged in turn against the heads the ones before
  it left. A batch refused whole (a gap, an unknown user) stores nothing and
  fails alone; a failed commit fails them all. Each caller is answered only
  after the COMMIT.
- Reads go to a small pool of read-only connections and run concurrently
  with the writer: in WAL mode each read sees the last committed state. A
  small sync page (the live tail: a few events after a wake-up) is read on
  the event loop itself, by a read-only connection that never waits for a
  lock (it hands over to the pool if it would): a WAL read of a few rows
  costs less than the trip to a reader thread, and it is on the latency
  path of every live event.
- A lone small append (nothing else committing or waiting, a few events)
  commits on the event loop itself, on the appender's connection, never
  waiting for a lock (if another process holds it, the thread does the
  append): a commit of a few rows costs microseconds, the trip to the
  thread and back ten times that, and it is on the path of every live
  event. Bigger and concurrent appends go to the thread, grouped.
- The appender never checkpoints as it commits (a checkpoint copies
  megabytes and waits for the disk, which the event loop must not do);
  every 250 commits or 4,000 appended events a RESTART checkpoint runs on
  the appender's thread instead, between two commits, holding off other
  writers for at most 0.1 s, so the WAL starts again from its beginning and
  stays small (``journal_size_limit`` truncates it after a burst).
- WAL with ``synchronous=NORMAL``: a commit survives the process being killed
  at any instant; after a power cut the last few commits may be lost, never
  half of one (a device re-pushes what it was not acknowledged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import aiosqlite

from careerlog.server.sqlitethread import BUSY_TIMEOUT_MS, Busy, SqliteThread
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
from careerlog.server.store.batch import Earlier, earlier_result, plan_batch
from careerlog.server.store.schema import READ_MODEL_TABLES, SQLITE_MIGRATIONS, check_not_newer

__all__ = ["SqliteStore"]

log = logging.getLogger("careerlog.server.store")

_NOW_MS = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"

#: One sync page and the user's head (on every row).
_PAGE = (
    "SELECT pos, body, (SELECT head FROM user_heads WHERE user_id = ?)"
    " FROM events WHERE user_id = ? AND pos > ? ORDER BY pos LIMIT ?"
)
#: A page of at most this many events is read on the event loop.
_INLINE_ROWS = 64
#: A lone append of at most this many events commits on the event loop.
_INLINE_APPEND = 16
#: Commits, or appended events, between two checkpoints: about SQLite's own
#: interval of 1,000 WAL pages. However small, a commit adds a few whole
#: pages to the WAL (the events' page, its index's, the two heads'); an event
#: takes a few hundred bytes of them.
_CHECKPOINT_COMMITS = 250
_CHECKPOINT_EVENTS = 4_000
#: How long a checkpoint waits for other writers and readers, and how many
#: times it tries before leaving the WAL to the next interval.
_CHECKPOINT_WAIT_MS = 100
_CHECKPOINT_ATTEMPTS = 10


class SqliteStore(EventStore):
    """The :class:`EventStore` on one SQLite file. Open with :meth:`open`."""

    def __init__(
        self, path: Path, writer: aiosqlite.Connection, readers: list[aiosqlite.Connection]
    ) -> None:
        self.path = path
        self._writer = writer
        self._write_lock = asyncio.Lock()
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers = readers
        for reader in readers:
            self._readers.put_nowait(reader)
        self._epoch: str | None = None
        self._appender = SqliteThread(path, "careerlog-appender", ["PRAGMA wal_autocheckpoint=0"])
        self._commits_since_checkpoint = 0
        self._events_since_checkpoint = 0
        self._checkpointing: asyncio.Future[None] | None = None
        self._inline: sqlite3.Connection | None = None
        #: Appends waiting for the next group, and the task committing groups.
        self._appends: list[_PendingAppend] = []
        self._appending: asyncio.Future[None] | None = None

    @classmethod
    async def open(cls, path: str | Path, *, readers: int = 4) -> SqliteStore:
        """Open (creating if needed) the file; does not migrate."""
        path = Path(path)
        if str(path) == ":memory:":
            # Each connection would get its own empty database.
            raise StoreError("the SQLite store needs a file, not :memory:")
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await aiosqlite.connect(path, isolation_level=None)
        opened = [writer]
        try:
            # busy_timeout first: switching a new file to WAL needs a lock that
            # another process opening the same file may hold for a moment.
            await writer.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            await _switch_to_wal(writer)
            await writer.execute("PRAGMA synchronous=NORMAL")
            pool: list[aiosqlite.Connection] = []
            for _ in range(max(1, readers)):
                reader = await aiosqlite.connect(path, isolation_level=None)
                opened.append(reader)
                await reader.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                await reader.execute("PRAGMA query_only=ON")
                pool.append(reader)
            store = cls(path, writer, pool)
            await store._load_epoch()
        except BaseException:
            for connection in opened:
                await connection.close()
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
        async with self._transaction() as db:
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)"
            )
            current = await _scalar(db, "SELECT coalesce(max(version), 0) FROM schema_version")
            check_not_newer(current, len(SQLITE_MIGRATIONS))
            for version, statements in enumerate(SQLITE_MIGRATIONS, start=1):
                if version <= current:
                    continue
                for statement in statements:
                    await db.execute(statement)
                await db.execute(
                    f"INSERT INTO schema_version (version, applied_ms) VALUES (?, {_NOW_MS})",
                    (version,),
                )
                applied.append(version)
        await self._load_epoch()
        return applied

    async def close(self) -> None:
        if self._appending is not None:
            with contextlib.suppress(Exception):
                await self._appending  # appends already asked for are answered
        if self._checkpointing is not None:
            with contextlib.suppress(Exception):
                await self._checkpointing
        async with self._write_lock:
            await self._appender.close()
            for reader in self._all_readers:
                await reader.close()
            if self._inline is not None:
                self._inline.close()
                self._inline = None
            await self._writer.close()

    async def _load_epoch(self) -> None:
        async with self._reading() as db:
            try:
                current = await _scalar(db, "SELECT coalesce(max(version), 0) FROM schema_version")
            except sqlite3.OperationalError:  # no schema_version table: a new file
                return
            check_not_newer(current, len(SQLITE_MIGRATIONS))
            if current:
                self._epoch = str(await _scalar(db, "SELECT value FROM meta WHERE key = 'epoch'"))

    # -- the log ----------------------------------------------------------

    async def append(
        self, user_id: int, device: str, events: Sequence[Incoming], received_ms: int
    ) -> tuple[list[AppendResult], int]:
        # The hot path runs as one function on the appender thread: one hop
        # from the event loop instead of seven (BEGIN, two reads, the insert,
        # two head updates, COMMIT), each of which would wait its turn on a
        # loop busy with a hundred sockets; and one hop and one COMMIT for
        # every append waiting at that moment, not one each.
        batch = (user_id, device, tuple(events), received_ms)
        if (
            len(events) <= _INLINE_APPEND
            and self._appending is None
            and not self._write_lock.locked()
        ):
            try:
                [outcome] = self._appender.run_here(_append_group, [batch])
            except Busy:
                pass  # another connection writes: the thread waits for it
            else:
                self._committed([outcome])
                if isinstance(outcome, Exception):
                    raise outcome
                return outcome
        future: asyncio.Future[tuple[list[AppendResult], int]]
        future = asyncio.get_running_loop().create_future()
        entry: _PendingAppend = (batch, future)
        self._appends.append(entry)
        if self._appending is None:
            self._appending = asyncio.ensure_future(self._commit_appends())
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # All or nothing, settled before the caller moves on: a batch
            # still waiting is withdrawn; one in a group being committed is
            # waited for.
            for index, waiting in enumerate(self._appends):
                if waiting is entry:
                    del self._appends[index]
                    raise
            with contextlib.suppress(BaseException):
                await future
            raise

    async def _commit_appends(self) -> None:
        try:
            while self._appends:
                group = self._appends[:_GROUP_BATCHES]
                del self._appends[:_GROUP_BATCHES]
                try:
                    async with self._write_lock:
                        outcomes = await self._appender.run(
                            _append_group, [batch for batch, _ in group]
                        )
                except Exception as error:  # the transaction failed: nothing of it stored
                    outcomes = [error] * len(group)
                else:
                    self._committed(outcomes)
                for (_, future), outcome in zip(group, outcomes, strict=True):
                    if future.done():
                        continue  # the caller went away; its batch is stored or not alike
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            self._appending = None

    def _committed(self, outcomes: Sequence[tuple[list[AppendResult], int] | Exception]) -> None:
        """Count one commit of the appender (and its events) towards the next checkpoint."""
        self._commits_since_checkpoint += 1
        self._events_since_checkpoint += sum(
            len(outcome[0]) for outcome in outcomes if not isinstance(outcome, Exception)
        )
        if self._checkpointing is None and (
            self._commits_since_checkpoint >= _CHECKPOINT_COMMITS
            or self._events_since_checkpoint >= _CHECKPOINT_EVENTS
        ):
            self._commits_since_checkpoint = self._events_since_checkpoint = 0
            self._checkpointing = asyncio.ensure_future(self._checkpoint())

    async def _checkpoint(self) -> None:
        # On the appender's thread, between its commits; RESTART also holds
        # off other writers (the read models' projector) and waits for
        # readers, so it copies the whole WAL and the next commit starts the
        # WAL again from its beginning. (A checkpoint beside a steady stream
        # of commits never catches up with the last one, and the WAL then
        # grows without bound.) Appends wait meanwhile on the thread; the
        # event loop does not.
        try:
            for _attempt in range(_CHECKPOINT_ATTEMPTS):
                async with self._write_lock:
                    if await self._appender.run(_checkpoint_restart):
                        return
                # Another connection was checkpointing, or writing, or a
                # reader (a backup) held on to the WAL: try again a little
                # later, then leave it to the next interval.
                await asyncio.sleep(0.02)
        except Exception:
            log.exception("WAL checkpoint failed (the next one tries again)")
        finally:
            self._checkpointing = None

    async def read(self, user_id: int, after: int, limit: int) -> list[Stored]:
        if limit <= 0:
            return []
        async with self._reading() as db:
            rows = await db.execute_fetchall(
                "SELECT pos, device, dseq, body, received_ms FROM events"
                " WHERE user_id = ? AND pos > ? ORDER BY pos LIMIT ?",
                (user_id, after, limit),
            )
        return [Stored(row[0], row[1], row[2], row[3], row[4]) for row in rows]

    async def read_page(
        self, user_id: int, after: int, limit: int
    ) -> tuple[list[tuple[int, bytes]], int]:
        if limit <= 0:
            return [], await self.head(user_id)
        # The head rides along on every row: one statement, one snapshot.
        params = (user_id, user_id, after, limit)
        small = min(limit, _INLINE_ROWS + 1)
        try:
            rows = self._inline_reader().execute(_PAGE, (*params[:3], small)).fetchall()
        except sqlite3.OperationalError:  # busy (or locked): the pool waits it out
            rows = None
        if rows is None or (len(rows) > _INLINE_ROWS and limit > small):
            async with self._reading() as db:  # a catch-up page: off the loop
                rows = list(await db.execute_fetchall(_PAGE, params))
        if not rows:
            return [], await self.head(user_id)
        return [(row[0], row[1]) for row in rows], int(rows[0][2])

    def _inline_reader(self) -> sqlite3.Connection:
        if self._inline is None:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            self._inline = sqlite3.connect(uri, uri=True, isolation_level=None)
            self._inline.execute("PRAGMA busy_timeout=0")
        return self._inline

    async def read_in_order(
        self, user_id: int, after: tuple[int, str, int], max_pos: int, limit: int
    ) -> list[Stored]:
        if limit <= 0:
            return []
        async with self._reading() as db:
            rows = await db.execute_fetchall(
                "SELECT pos, device, dseq, body, received_ms FROM events"
                " WHERE user_id = ? AND (hlc, device, dseq) > (?, ?, ?) AND pos <= ?"
                " ORDER BY hlc, device, dseq LIMIT ?",
                (user_id, *after, max_pos, limit),
            )
        return [Stored(row[0], row[1], row[2], row[3], row[4]) for row in rows]

    async def head(self, user_id: int) -> int:
        async with self._reading() as db:
            head = await _scalar(db, "SELECT head FROM user_heads WHERE user_id = ?", (user_id,))
        return int(head or 0)

    async def device_head(self, user_id: int, device: str) -> int:
        async with self._reading() as db:
            last = await _scalar(
                db,
                "SELECT last_dseq FROM device_heads WHERE user_id = ? AND device = ?",
                (user_id, device),
            )
        return int(last or 0)

    # -- accounts ---------------------------------------------------------

    async def create_user(self, name: str) -> int:
        try:
            async with self._transaction() as db:
                cursor = await db.execute("INSERT INTO users (name) VALUES (?)", (name,))
                user_id = cursor.lastrowid
                assert user_id is not None
                await db.execute("INSERT INTO user_heads (user_id) VALUES (?)", (user_id,))
        except sqlite3.IntegrityError as error:
            raise UserExists(name) from error
        return user_id

    async def user_by_name(self, name: str) -> int | None:
        async with self._reading() as db:
            user_id = await _scalar(db, "SELECT id FROM users WHERE name = ?", (name,))
        return None if user_id is None else int(user_id)

    async def user_name(self, user_id: int) -> str | None:
        async with self._reading() as db:
            name = await _scalar(db, "SELECT name FROM users WHERE id = ?", (user_id,))
        return None if name is None else str(name)

    async def list_users(self) -> list[tuple[int, str]]:
        async with self._reading() as db:
            rows = await db.execute_fetchall("SELECT id, name FROM users ORDER BY id")
        return [(int(row[0]), str(row[1])) for row in rows]

    async def add_enrollment(self, user_id: int, token_hash: bytes, expires_ms: int) -> None:
        async with self._transaction() as db:
            await _require_user(db, user_id)
            await db.execute(
                "INSERT INTO enrollments (token_hash, user_id, expires_ms) VALUES (?, ?, ?)",
                (token_hash, user_id, expires_ms),
            )

    async def consume_enrollment(self, token_hash: bytes, now_ms: int) -> int | None:
        async with self._transaction() as db:
            # Deleting is what makes the token single-use; an expired one is
            # deleted too, since it can never work again.
            rows = list(
                await db.execute_fetchall(
                    "DELETE FROM enrollments WHERE token_hash = ? RETURNING user_id, expires_ms",
                    (token_hash,),
                )
            )
        if not rows or now_ms >= rows[0][1]:
            return None
        return int(rows[0][0])

    async def add_device(
        self,
        user_id: int,
        device: str,
        token_hash: bytes,
        name: str,
        now_ms: int,
        expires_ms: int | None = None,
    ) -> None:
        async with self._transaction() as db:
            await _require_user(db, user_id)
            try:
                await db.execute(
                    "INSERT INTO devices (user_id, device, name, created_ms, token_expires_ms)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (user_id, device, name, now_ms, expires_ms),
                )
            except sqlite3.IntegrityError as error:
                raise DeviceExists(user_id, device) from error
            await _add_token(db, token_hash, user_id, device)

    async def renew_device(
        self,
        user_id: int,
        device: str,
        token_hash: bytes,
        name: str,
        expires_ms: int | None = None,
    ) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE devices SET revoked_ms = NULL, token_expires_ms = ?,"
                " name = CASE WHEN ? = '' THEN name ELSE ? END"
                " WHERE user_id = ? AND device = ?",
                (expires_ms, name, name, user_id, device),
            )
            if cursor.rowcount != 1:
                return False
            await db.execute(
                "DELETE FROM device_tokens WHERE user_id = ? AND device = ?", (user_id, device)
            )
            await _add_token(db, token_hash, user_id, device)
        return True

    async def device_for_token(self, token_hash: bytes) -> DeviceRecord | None:
        async with self._reading() as db:
            rows = list(
                await db.execute_fetchall(
                    "SELECT d.user_id, d.device, d.name, d.created_ms, d.revoked_ms,"
                    " d.token_expires_ms"
                    " FROM device_tokens t JOIN devices d"
                    " ON d.user_id = t.user_id AND d.device = t.device"
                    " WHERE t.token_hash = ?",
                    (token_hash,),
                )
            )
        return _device_record(rows[0]) if rows else None

    async def list_devices(self, user_id: int) -> list[DeviceRecord]:
        async with self._reading() as db:
            rows = await db.execute_fetchall(
                "SELECT user_id, device, name, created_ms, revoked_ms, token_expires_ms"
                " FROM devices"
                " WHERE user_id = ? ORDER BY created_ms, device",
                (user_id,),
            )
        return [_device_record(row) for row in rows]

    async def revoke_device(self, user_id: int, device: str, now_ms: int) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE devices SET revoked_ms = ?"
                " WHERE user_id = ? AND device = ? AND revoked_ms IS NULL",
                (now_ms, user_id, device),
            )
            return cursor.rowcount == 1

    async def delete_user(self, user_id: int) -> bool:
        async with self._transaction() as db:
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
                await db.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
            cursor = await db.execute("DELETE FROM users WHERE id = ?", (user_id,))
            return cursor.rowcount == 1

    # -- connections ------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """The one write transaction at a time; COMMIT on success, else ROLLBACK.

        Cancellation needs care: a cancelled ``await`` does not stop a
        statement aiosqlite already queued for its thread, so a cancelled
        BEGIN may still open a transaction and a cancelled COMMIT may still
        commit. Statements run in queue order, so on any failure a ROLLBACK is
        queued behind them all; it is harmless when there is nothing to undo.
        """
        async with self._write_lock:
            db = self._writer
            try:
                await db.execute("BEGIN IMMEDIATE")
                yield db
                await db.execute("COMMIT")
            except BaseException:
                await _rollback(db)
                raise

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[aiosqlite.Connection]:
        db = await self._readers.get()
        try:
            yield db
        finally:
            self._readers.put_nowait(db)


async def _scalar(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    async with db.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return None if row is None else row[0]


async def _rollback(db: aiosqlite.Connection) -> None:
    rollback = asyncio.ensure_future(db.execute("ROLLBACK"))
    # Even if this wait is cancelled, the ROLLBACK runs: retrieve its outcome
    # so that an error there is not reported as never retrieved.
    rollback.add_done_callback(lambda done: done.cancelled() or done.exception())
    with contextlib.suppress(sqlite3.OperationalError):  # no transaction was open
        await asyncio.shield(rollback)


async def _require_user(db: aiosqlite.Connection, user_id: int) -> None:
    if await _scalar(db, "SELECT 1 FROM user_heads WHERE user_id = ?", (user_id,)) is None:
        raise UnknownUser(user_id)


async def _add_token(
    db: aiosqlite.Connection, token_hash: bytes, user_id: int, device: str
) -> None:
    try:
        await db.execute(
            "INSERT INTO device_tokens (token_hash, user_id, device) VALUES (?, ?, ?)",
            (token_hash, user_id, device),
        )
    except sqlite3.IntegrityError as error:
        raise StoreError("this token is already in use") from error


def _device_record(row: Any) -> DeviceRecord:
    return DeviceRecord(int(row[0]), row[1], row[2], int(row[3]), row[4], row[5])


#: Most appends committed as one group (one transaction).
_GROUP_BATCHES = 64

#: An append waiting for its group: (user, device, events, received_ms) and
#: the caller's future.
_PendingAppend: TypeAlias = tuple[
    tuple[int, str, tuple[Incoming, ...], int],
    "asyncio.Future[tuple[list[AppendResult], int]]",
]


def _checkpoint_restart(db: sqlite3.Connection) -> bool:
    """Copy the whole WAL into the database so that the next commit starts it
    again, waiting at most ``_CHECKPOINT_WAIT_MS`` for other writers and
    readers (the appends wait meanwhile; a long reader such as an online
    backup must not hold them for the whole busy timeout). False if it could
    not (it then copied what it could, as PASSIVE does)."""
    db.execute(f"PRAGMA busy_timeout={_CHECKPOINT_WAIT_MS}")
    try:
        busy, _log, _copied = db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
    finally:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return not busy


def _append_group(
    db: sqlite3.Connection, batches: list[tuple[int, str, tuple[Incoming, ...], int]]
) -> list[tuple[list[AppendResult], int] | Exception]:
    """Several appends in one transaction, on the appender thread.

    Each batch reads the heads its predecessors in the group left (same
    transaction), so ``pos`` stays gapless per user and in commit order. A
    batch refused whole raises before it writes anything: its exception is
    its outcome and the others go on. Any other error rolls everything back.
    """
    outcomes: list[tuple[list[AppendResult], int] | Exception] = []
    db.execute("BEGIN IMMEDIATE")
    try:
        for user_id, device, events, received_ms in batches:
            try:
                outcomes.append(_append_in_transaction(db, user_id, device, events, received_ms))
            except (SequenceGap, UnknownUser, ValueError) as refused:
                outcomes.append(refused)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return outcomes


def _append_in_transaction(
    db: sqlite3.Connection,
    user_id: int,
    device: str,
    events: Sequence[Incoming],
    received_ms: int,
) -> tuple[list[AppendResult], int]:
    """One append inside the group's transaction. Raises before writing anything
    if the batch is refused whole (``SequenceGap``, ``UnknownUser``, ``ValueError``)."""
    head, last = db.execute(
        "SELECT (SELECT head FROM user_heads WHERE user_id = ?),"
        " (SELECT last_dseq FROM device_heads WHERE user_id = ? AND device = ?)",
        (user_id, user_id, device),
    ).fetchone()
    if head is None:
        raise UnknownUser(user_id)
    plan = plan_batch(device, events, last or 0)
    earlier: dict[int, Earlier] = {}
    if plan.stale_range is not None:
        # The ids come in the same query (a stored event's from its body): a
        # reused dseq is told from a re-push at no extra round trip.
        rows = db.execute(
            """SELECT dseq, pos, NULL, NULL, NULL, body FROM events
                WHERE user_id = ? AND device = ? AND dseq BETWEEN ? AND ?
               UNION ALL
               SELECT dseq, NULL, code, reason, event_id, NULL FROM rejections
                WHERE user_id = ? AND device = ? AND dseq BETWEEN ? AND ?""",
            (user_id, device, *plan.stale_range) * 2,
        ).fetchall()
        earlier = {row[0]: earlier_result(*row[1:]) for row in rows}
    accepted = plan.accepted
    if accepted:
        db.executemany(
            "INSERT INTO events (user_id, pos, device, dseq, hlc, body, received_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (user_id, head + i, device, event.dseq, event.hlc, event.body, received_ms)
                for i, event in enumerate(accepted, start=1)
            ],
        )
        db.execute(
            "UPDATE user_heads SET head = ? WHERE user_id = ?",
            (head + len(accepted), user_id),
        )
    rejected = [
        (user_id, device, event.dseq, *event.rejected, received_ms, event.id)
        for event in plan.rejected
        if event.rejected is not None
    ]
    if rejected:
        db.executemany(
            "INSERT INTO rejections (user_id, device, dseq, code, reason, received_ms, event_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            rejected,
        )
    if plan.fresh:
        db.execute(
            "INSERT INTO device_heads (user_id, device, last_dseq) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id, device) DO UPDATE SET last_dseq = excluded.last_dseq",
            (user_id, device, plan.new_last_dseq),
        )
    return plan.results(head + 1, earlier), head + len(accepted)


async def _switch_to_wal(db: aiosqlite.Connection) -> None:
    """Put the file in WAL mode, waiting out other openers.

    Changing the journal mode needs the file to itself, and SQLite reports
    "database is locked" at once instead of calling the busy handler when
    several nodes open a new file together; so wait and try again here.
    """
    for attempt in range(100):
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            await asyncio.sleep(0.01 * (1 + attempt % 10))
