"""The local store: one person's event log and read models in one SQLite file.

Rules of this module:
- One writer. Every write goes through ``_lock`` and one ``BEGIN IMMEDIATE``
  transaction, and the store acknowledges (returns) only after COMMIT. An
  event, its place in the push queue (a partial index of this device's
  events without a server position) and its read-model update (a snapshot,
  when due) commit together, so a process killed at any instant loses no
  acknowledged event and leaves no half-applied state. A plain append is one
  INSERT, so it costs one commit and one round trip.
- Durability: WAL with ``synchronous=NORMAL`` by default. A commit survives
  the process being killed at any instant (the write-ahead log is in the
  operating system's hands before COMMIT returns); after a power cut the last
  few commits may be lost, never half of one. ``CAREERLOG_DURABILITY=full``
  (``synchronous=FULL``) makes every commit survive power loss too, at about
  half the append rate on a typical disk.
- The read model is the fold of the log in canonical order ``(hlc, device,
  dseq)``. It is persisted as *snapshots*: the folded state at a point of that
  order, zlib-compressed, written in the same transaction as the event that
  reached it, every ``SNAPSHOT_EVERY`` events or more: the interval grows with
  the snapshot's size so that snapshots cost at most ``SNAPSHOT_BYTES_PER_EVENT``
  on disk. Opening the store reads the newest usable snapshot and folds the
  events after it.
- A snapshot at key K is the fold of exactly the events <= K (retractions <= K
  applied). It stays usable for a later point N unless a retraction in (K, N]
  targets an event <= K. Inserting an event inside the order (an import, an
  offline device's late events) deletes every snapshot at or after it.
- Time travel is a fold of a prefix: "as recorded by D" is the prefix of
  events whose HLC wall time is <= D, answered from the nearest snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sqlite3
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeAlias, TypeVar
from uuid import UUID

import msgspec

from careerlog.client import database
from careerlog.client.database import BUSY_TIMEOUT_MS, Busy
from careerlog.client.device import Clock, SystemClock, local_zone_name, new_device_id
from careerlog.client.home import (
    DB_NAME,
    MIN_KEY,
    Key,
    RejectedEvent,
    Retraction,
    StoreError,
    decode_snapshot,
    retraction_from_row,
    usable,
)
from careerlog.client.store_schema import MIGRATIONS, own_device_index
from careerlog.client.wakeup import WakeSender
from careerlog.shared import hlc as hlc_clock
from careerlog.shared.codec import decode_event, encode_event
from careerlog.shared.events import EntryRetracted, Envelope, Event
from careerlog.shared.ids import record_id, uuid7
from careerlog.shared.projections import (
    CareerState,
    apply,
    encode_state,
    fold,
    new_state,
)
from careerlog.shared.projections.timeline import happened_by

__all__ = [
    "CLOCK_OFFSET_META",
    "CURSOR_META",
    "DB_NAME",
    "EPOCH_META",
    "SNAPSHOT_EVERY",
    "ImportResult",
    "LocalStore",
    "RejectedEvent",
    "StoreError",
]

#: Fewest events between snapshots. Bounds the work of opening the store and of
#: a time-travel query (the events folded after the nearest snapshot).
SNAPSHOT_EVERY = 1000
#: Disk budget of snapshots, amortised per event: a big state is snapshotted
#: less often (a 200 kB compressed state every 10,000 events at 20 B/event).
SNAPSHOT_BYTES_PER_EVENT = 20
#: New databases use 8 KiB pages: less per-page overhead for ~300-byte rows.
PAGE_SIZE = 8192
#: Meta keys of the sync bookkeeping (read by ``careerlog status`` too).
CLOCK_OFFSET_META = "clock_offset_ms"
CURSOR_META = "sync_cursor"
EPOCH_META = "sync_epoch"

_FETCH = 2000


_PAGE_QUERY = (
    "SELECT body, hlc, device, dseq FROM events WHERE (hlc, device, dseq) > (?, ?, ?) "
    "ORDER BY hlc, device, dseq"
)
_BODY_PAGE_QUERY = _PAGE_QUERY.replace(", hlc, device, dseq FROM", " FROM")
_INSERT_EVENT = "INSERT INTO events (hlc, device, dseq, body) VALUES (?, ?, ?, ?)"
#: A device's head moves up only (imports, pulls and acknowledgements race).
_RAISE_HEAD = (
    "INSERT INTO devices (device, last_dseq) VALUES (?, ?) ON CONFLICT (device) "
    "DO UPDATE SET last_dseq = max(last_dseq, excluded.last_dseq)"
)
#: How far an event's HLC may run ahead of the time in its UUIDv7 id, for a
#: lookup by id (both are read from one clock when the event is minted; the
#: HLC runs ahead only after receiving events from a faster clock).
_ID_WINDOW_MS = 86_400_000


#: A ``record`` call waiting for its group: the command and its caller's future.
_Recording: TypeAlias = tuple[Callable[[CareerState, Envelope], Event], "asyncio.Future[Event]"]
#: Most events in one group's INSERT (four parameters each, well inside
#: SQLite's limit of 32,766 per statement).
_GROUP_ROWS = 1000
#: A write transaction of at most this many rows may run on the event loop
#: (``_write``); bigger ones go to the database thread, and the loop goes on.
_WRITE_HERE_ROWS = 64
#: Events built between two turns of the event loop while a group is built.
_YIELD_EVERY = 32


class _StaleSequence(Exception):
    """Another process appended this device's next event first."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int
    duplicates: int
    #: Of ``added``, this device's own events: the home had lost them (it was
    #: restored from a backup, or copied) and took them back from the server.
    own: int = 0
    #: Events recorded here moved to a new dseq to make room for them.
    moved: int = 0


def _key(event: Event) -> Key:
    return (event.hlc, event.device, event.dseq)


class LocalStore:
    """A person's log on this device. Use ``await LocalStore.open(home)``."""

    def __init__(self, db: database.Connection, home: Path, clock: Clock) -> None:
        self._db = db
        self.home = home
        self._clock = clock
        self._lock = asyncio.Lock()
        self.device = ""
        self.zone = local_zone_name()
        self.state: CareerState = new_state()
        self._next_dseq = 1
        self._last_hlc = 0
        self._count = 0
        #: The log's size (``_size_query``) as this connection last read or
        #: wrote it: another process added events exactly when it differs on disk.
        self._size = 0
        self._since_snapshot = 0
        self._snapshot_bytes = 0
        #: During a rebuild, the size the final snapshot will roughly have.
        self._snapshot_bytes_floor = 0
        self._data_version = 0
        self._retractions: list[Retraction] = []
        #: Every device's ``last_dseq`` as in the ``devices`` table, read when
        #: first needed and kept in step with this connection's writes: a
        #: pull then needs no query to tell new events from held ones.
        #: Another process's write moves ``data_version``, which the write
        #: transactions check, and the reload that follows forgets this.
        self._heads: dict[str, int] | None = None
        #: This device's events up to here have their server ``pos`` stored,
        #: as far as this connection knows (``mark_acked``, ``mark_rejected``):
        #: a pulled page's own events at or below it would change nothing.
        #: A lower bound only: another process's ``requeue_own`` may have made
        #: it too high, which costs nothing but time (an own event left queued
        #: is pushed again and settled by its ``duplicate`` result).
        self._settled_own = 0
        #: This device's highest dseq read from the push queue: held here,
        #: with every one below it, whatever this connection loaded.
        self._seen_own = 0
        #: A read-only connection for short reads on the loop (``_read_here``).
        self._here: sqlite3.Connection | None = None
        #: ``record`` calls waiting to be built and committed as one group,
        #: and the task doing that while any are waiting.
        self._recording: list[_Recording] = []
        self._draining: asyncio.Future[None] | None = None
        #: Whether short writes may run on the event loop (``_write``).
        self._write_here = False
        self._wake = WakeSender(home)

    # --- lifecycle -------------------------------------------------------------

    @classmethod
    async def open(cls, home: Path, *, clock: Clock | None = None, create: bool = True) -> Self:
        path = home / DB_NAME
        if not path.exists():
            if not create:
                raise StoreError(f"no Careerlog home at {home} (run: careerlog init)")
            # Only its owner may read a career's history (or wake its sync engine).
            home.mkdir(parents=True, exist_ok=True, mode=0o700)  # noqa: ASYNC240 -- once, before any I/O loop
        db = await database.connect(path)
        try:
            store = cls(db, home, clock or SystemClock())
            await store._setup()
            if clock is None:
                # The offset the sync server measured (docs/protocol.md §8.8):
                # new events get HLCs the server will not refuse as clock skew.
                offset = await store.get_meta(CLOCK_OFFSET_META)
                if offset:
                    store._clock = SystemClock(int(offset))
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        if self._draining is not None:
            with contextlib.suppress(Exception):
                await self._draining  # every record called before close commits
        if self._here is not None:
            self._here.close()
            self._here = None
        self._wake.close()
        await self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _setup(self) -> None:
        db = self._db
        try:
            await db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            await db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # only takes on a new file
            await _switch_to_wal(db)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.home / DB_NAME} is not a Careerlog database: {exc}") from None
        durability = os.environ.get("CAREERLOG_DURABILITY", "normal").lower()
        if durability not in ("normal", "full"):
            raise StoreError(f"CAREERLOG_DURABILITY must be 'normal' or 'full', not {durability!r}")
        await db.execute(f"PRAGMA synchronous={durability.upper()}")
        # A commit with synchronous=FULL waits for the disk: never on the loop.
        self._write_here = durability == "normal"
        await db.execute("PRAGMA foreign_keys=ON")
        version = await self._scalar("PRAGMA user_version")
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{self.home / DB_NAME} was written by a newer Careerlog (schema {version})"
            )
        for number in range(version, len(MIGRATIONS)):
            await db.execute("BEGIN IMMEDIATE")
            for statement in MIGRATIONS[number]:
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version={number + 1}")
            await db.execute("COMMIT")
        device = await self.get_meta("device")
        if device is None:
            device = new_device_id()
            await self._write_meta({"device": device, "created_ms": str(self._clock.now_ms())})
        self.device = device
        for statement in own_device_index(device):
            await db.execute(statement)
        await self._load()

    async def _load(self) -> None:
        """Read the log's state from disk, in one read transaction: another
        process's commit between two of these reads would otherwise leave
        them describing different logs (a size older than the state, or the
        next dseq below an event just settled)."""
        await self._db.execute("BEGIN")
        try:
            await self._load_in_transaction()
        finally:
            await self._rollback()

    async def _load_in_transaction(self) -> None:
        db = self._db
        self._data_version = await self._scalar("PRAGMA data_version")
        self._count = await self._scalar("SELECT count(*) FROM events")
        self._size = await self._scalar(self._size_query)
        self._next_dseq = 1 + await self._scalar(f"SELECT {self._own_last}")
        self._last_hlc = await self._scalar("SELECT coalesce(max(hlc), 0) FROM events")
        self._heads = None  # read again when next needed
        await self._read_retractions()
        last = await self._last_key()
        self.state = await self._state_at(last) if last is not None else new_state()
        async with db.execute(
            "SELECT count, length(body) FROM snapshots "
            "ORDER BY hlc DESC, device DESC, dseq DESC LIMIT 1"
        ) as cursor:
            latest = await cursor.fetchone()
        self._since_snapshot = self._count - (latest[0] if latest else 0)
        self._snapshot_bytes = latest[1] if latest else 0

    async def _read_retractions(self) -> None:
        self._retractions = []
        async with self._db.execute(
            "SELECT hlc, device, dseq, target_id, target_hlc, target_device, target_dseq "
            "FROM retractions"
        ) as cursor:
            async for row in cursor:
                self._retractions.append(retraction_from_row(row))  # type: ignore[arg-type]
        self._retractions.sort(key=lambda r: r.key)

    # --- small helpers -----------------------------------------------------------

    async def _scalar(self, sql: str, *params: Any) -> Any:
        async with self._db.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    async def _write(self, work: Callable[..., T], *args: Any, rows: int) -> T:
        """The write transaction ``work(connection, wait, *args)``: on the event
        loop when it is short and nothing else uses the connection (database.py
        says why), else on the database thread, which waits for a lock."""
        if rows <= _WRITE_HERE_ROWS and self._write_here:
            try:
                return self._db.run_here(work, False, *args, rows=rows)
            except Busy:
                pass
        return await self._db.run(work, True, *args)

    async def get_meta(self, key: str) -> str | None:
        value = await self._scalar("SELECT value FROM meta WHERE key = ?", key)
        return str(value) if value is not None else None

    async def set_meta(self, values: dict[str, str]) -> None:
        async with self._lock:
            await self._write_meta(values)

    async def _write_meta(self, values: dict[str, str]) -> None:
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            await self._upsert_meta(values)
            await self._db.execute("COMMIT")
        except BaseException:
            await self._rollback()
            raise

    async def _upsert_meta(self, values: dict[str, str]) -> None:
        """Set meta keys inside the caller's transaction."""
        if values:
            await self._db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )

    async def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            await self._db.execute("ROLLBACK")

    async def _last_key(self) -> Key | None:
        async with self._db.execute(
            "SELECT hlc, device, dseq FROM events ORDER BY hlc DESC, device DESC, dseq DESC LIMIT 1"
        ) as cursor:
            row = await cursor.fetchone()
        return (row[0], row[1], row[2]) if row else None

    @property
    def count(self) -> int:
        """Events in the log."""
        return self._count

    # --- folding -------------------------------------------------------------------

    def _usable(self, snapshot: Key, upto: Key) -> bool:
        return usable(snapshot, upto, self._retractions)

    async def _best_snapshot(self, upto: Key) -> tuple[Key, CareerState]:
        async with self._db.execute(
            "SELECT hlc, device, dseq FROM snapshots WHERE (hlc, device, dseq) <= (?, ?, ?) "
            "ORDER BY hlc DESC, device DESC, dseq DESC",
            upto,
        ) as cursor:
            keys = [(row[0], row[1], row[2]) async for row in cursor]
        for key in keys:
            if self._usable(key, upto):
                body = await self._scalar(
                    "SELECT body FROM snapshots WHERE hlc = ? AND device = ? AND dseq = ?", *key
                )
                return key, decode_snapshot(body)
        return MIN_KEY, new_state()

    async def _state_at(self, upto: Key) -> CareerState:
        """The fold of every event <= ``upto``, from the nearest usable snapshot."""
        base, state = await self._best_snapshot(upto)
        async with self._db.execute(
            "SELECT body FROM events WHERE (hlc, device, dseq) > (?, ?, ?) "
            "AND (hlc, device, dseq) <= (?, ?, ?) ORDER BY hlc, device, dseq",
            (*base, *upto),
        ) as cursor:
            rows = await cursor.fetchall()
        # One fold of the tail as a list: retractions in it skip their targets
        # (which are all after ``base``, or the snapshot would not be usable).
        with _collector_paused():
            return fold([decode_event(row[0]) for row in rows], state)

    def _snapshot_interval(self) -> int:
        size = max(self._snapshot_bytes, self._snapshot_bytes_floor)
        return max(SNAPSHOT_EVERY, size // SNAPSHOT_BYTES_PER_EVENT)

    def _snapshot_due(self) -> bool:
        return self._since_snapshot >= self._snapshot_interval()

    async def _write_snapshot(self, state: CareerState) -> None:
        if state.last_key is None:
            return
        body = zlib.compress(encode_state(state), 1)
        await self._store_snapshot((*state.last_key, state.event_count), body)

    async def _store_snapshot(self, where: tuple[int, str, int, int], body: bytes) -> None:
        """Write a compressed snapshot at (hlc, device, dseq, event count)."""
        await self._db.execute(
            "INSERT OR REPLACE INTO snapshots (hlc, device, dseq, count, body) "
            "VALUES (?, ?, ?, ?, ?)",
            (*where, body),
        )
        self._snapshot_bytes = len(body)
        self._since_snapshot = 0

    async def _fold_after(
        self, base: Key, state: CareerState, *, committed: bool = False
    ) -> CareerState:
        """Fold every event after ``base`` onto ``state`` (the fold of the events
        <= base), writing snapshots as they fall due. Inside a write transaction.

        ``committed``: this transaction has inserted no events (a rebuild), so
        pages may be read on a second connection, without round trips.
        """
        refold_at = {r.key for r in self._retractions if r.target_key is not None and r.key > base}
        self._since_snapshot = 0
        if committed:
            assert base == MIN_KEY
            pages = self._committed_pages(keys=bool(refold_at))
        else:
            pages = self._pages(base)
        with _collector_paused():
            return await self._fold_pages(pages, state, refold_at)

    async def _pages(self, base: Key) -> AsyncIterator[list[Any]]:
        """Pages of (body, hlc, device, dseq) after ``base``, in canonical order."""
        async with self._db.execute(_PAGE_QUERY, base) as cursor:
            # The database thread reads the next page while this one folds.
            upcoming = asyncio.ensure_future(cursor.fetchmany(_FETCH))
            while rows := list(await upcoming):
                upcoming = asyncio.ensure_future(cursor.fetchmany(_FETCH))
                yield rows

    async def _committed_pages(self, *, keys: bool) -> AsyncIterator[list[Any]]:
        """Every committed event in pages, read on this thread by a second,
        read-only connection: no round trip to the database thread per page.
        Only for when this connection has no uncommitted events (a rebuild).
        Without ``keys`` a row is just the body: a third of the work."""
        reader = sqlite3.connect(f"{(self.home / DB_NAME).as_uri()}?mode=ro", uri=True)
        try:
            query = (
                _PAGE_QUERY if keys else _PAGE_QUERY.replace(", hlc, device, dseq FROM", " FROM")
            )
            cursor = reader.execute(query, MIN_KEY)
            while rows := cursor.fetchmany(_FETCH):
                yield rows
        finally:
            reader.close()

    async def _fold_pages(
        self, pages: AsyncIterator[list[Any]], state: CareerState, refold_at: set[Key]
    ) -> CareerState:
        # A snapshot is encoded here (the state changes next) but compressed on
        # a worker thread while folding goes on: zlib releases the GIL, and
        # compressing a big state costs as much as folding thousands of events.
        compressing: tuple[tuple[int, str, int, int], asyncio.Future[bytes]] | None = None
        async for rows in pages:
            if not refold_at or not any((r[1], r[2], r[3]) in refold_at for r in rows):
                # The common case: a page with no retraction folds in one call.
                state = fold([decode_event(row[0]) for row in rows], state)
                self._since_snapshot += len(rows)
            else:
                for body, *key in rows:
                    if tuple(key) in refold_at:
                        # The retraction changes what came before it: the
                        # exact state is one _state_at away.
                        state = await self._state_at((key[0], key[1], key[2]))
                    else:
                        apply(state, decode_event(body))
                    self._since_snapshot += 1
            if self._snapshot_due() and state.last_key is not None:
                if compressing is not None:
                    await self._store_snapshot(compressing[0], await compressing[1])
                raw = encode_state(state)
                compressing = (
                    (*state.last_key, state.event_count),
                    asyncio.ensure_future(asyncio.to_thread(zlib.compress, raw, 1)),
                )
                self._since_snapshot = 0
        if compressing is not None:
            await self._store_snapshot(compressing[0], await compressing[1])
        return state

    async def rebuild(self) -> CareerState:
        """Re-derive every read model from the log, writing fresh snapshots."""
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                # The newest snapshot's size sets the interval throughout: the
                # final state is about that big, and snapshotting the early,
                # small states every thousand events would only cost time.
                self._snapshot_bytes_floor = self._snapshot_bytes
                await self._db.execute("DELETE FROM snapshots")
                state = await self._fold_after(MIN_KEY, new_state(), committed=True)
                await self._write_snapshot(state)
                await self._db.execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise
            finally:
                self._snapshot_bytes_floor = 0
            self.state = state
            return state

    # --- recording -------------------------------------------------------------------

    def _envelope(self) -> Envelope:
        now_ms = self._clock.now_ms()
        stamp = hlc_clock.tick(self._last_hlc, now_ms)
        return Envelope(
            id=uuid7(now_ms, self._clock.random(10)),
            device=self.device,
            dseq=self._next_dseq,
            hlc=stamp,
            occurred_at=datetime.fromtimestamp(now_ms / 1000, tz=UTC),
            tz=self.zone,
            record_id=record_id(self._clock.random(8)),
        )

    async def record(self, build: Callable[[CareerState, Envelope], Event]) -> Event:
        """Record the event ``build`` makes from the current state.

        ``build`` may raise (a refused command): then nothing is written and no
        ``dseq`` is used up. Returns only once the event is committed. If
        another process appended to this home meanwhile, the store reloads and
        runs ``build`` again on the state as it now is.

        Group commit: ``record`` calls queue up, and one drain task builds
        everything queued, in arrival order, and commits it in one transaction,
        then takes what queued meanwhile. A caller that records one event at a
        time pays one commit per event, as before; a program recording as fast
        as it can (many calls in flight) pays one commit per group, never one
        per event while more are waiting. The drain is a task of its own so
        that a cancelled caller never strands the rest of its group.
        """
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._recording.append((build, future))
        if self._draining is None:
            self._draining = asyncio.ensure_future(self._drain_recording())
        try:
            return await future
        except asyncio.CancelledError:
            future.cancel()  # not built yet: never will be (built: committed anyway)
            raise

    async def _drain_recording(self) -> None:
        try:
            while self._recording:
                async with self._lock:
                    group, self._recording = self._recording, []
                    await self._record_group(group)
                # A sync engine watching this home (another process) pushes now.
                self._wake.send()
        finally:
            self._draining = None

    async def _record_group(self, group: list[_Recording]) -> None:
        """Record every waiting call of ``group``, settling each future. Under ``_lock``."""
        try:
            for _attempt in range(5):
                try:
                    await self._record_some(group)
                    return
                except _StaleSequence:
                    # Reloaded: build the unsettled ones again on the log as it is.
                    group = [item for item in group if not item[1].done()]
            error: BaseException = StoreError(
                "another process keeps writing to this home; try again"
            )
        except Exception as exc:
            error = exc
        for _, future in group:
            _settle(future, error=error)

    async def _record_some(self, group: list[_Recording]) -> None:
        """Build each unsettled call of ``group`` in order and commit them.

        Plain events are inserted together in one transaction; one that needs a
        transaction of its own (a retraction, or a snapshot falling due)
        commits what was built before it first. ``self.state`` runs ahead of
        the disk by the events being committed, and is reloaded if that fails.
        """
        built: list[tuple[asyncio.Future[Event], Event, tuple[Any, ...]]] = []
        base = self._size
        for n, (build, future) in enumerate(group, start=1):
            if future.done():
                continue  # settled by an earlier attempt, or cancelled
            if n % _YIELD_EVERY == 0:
                # Let the loop breathe inside a big group: a socket read or a
                # finished database trip of another task waits at most this long.
                await asyncio.sleep(0)
            env = self._envelope()
            try:
                event = build(self.state, env)
            except Exception as exc:
                await self._commit_built(built, base)
                built, base = [], self._size
                # Refused, perhaps only because another process changed the
                # log since we loaded it: judge it again on the log as it is.
                if await self._scalar("PRAGMA data_version") != self._data_version:
                    await self._reload()
                    raise _StaleSequence from None
                _settle(future, error=exc)
                continue
            if (event.device, event.dseq, event.hlc) != (env.device, env.dseq, env.hlc):
                _settle(future, error=ValueError("a command must keep the envelope it was given"))
                continue
            body = encode_event(event)
            # Fold exactly what is stored: a command may hand over an int where
            # the schema says float, and a replay would then differ from now.
            event = decode_event(body)
            row = (event.hlc, event.device, event.dseq, body)
            retraction = self._retraction_of(event)
            self._since_snapshot += 1
            if retraction is None and not self._snapshot_due() and len(built) < _GROUP_ROWS:
                self.state = apply(self.state, event)
                self._advance(event)
                built.append((future, event, row))
                continue
            await self._commit_built(built, base)
            built, base = [], self._size
            try:
                if retraction is None and not self._snapshot_due():
                    self.state = apply(self.state, event)  # a full group: start the next
                    self._advance(event)
                    built.append((future, event, row))
                    continue
                state = await self._record_in_transaction(event, row, retraction)
            except BaseException:
                await self._reload()
                raise
            self.state = state
            self._advance(event)
            _settle(future, event)
        await self._commit_built(built, base)

    def _advance(self, event: Event) -> None:
        self._next_dseq += 1
        self._last_hlc = event.hlc
        self._count += 1

    async def _commit_built(
        self,
        built: list[tuple[asyncio.Future[Event], Event, tuple[Any, ...]]],
        base: int,
    ) -> None:
        """Commit events already folded into ``self.state``, in one transaction,
        built on the log of size ``base``.

        Nothing is inserted if another process added to the log since we
        loaded: the commands must then be validated again against the log as
        it is now. Another process's sync bookkeeping (a daemon's push
        results, its cursor) changes nothing they depend on: the events go in.
        """
        if not built:
            return
        try:
            rows = [row for _, _, row in built]
            version = await self._write(
                _insert_group, self._size_query, self._data_version, base, rows, rows=len(rows)
            )
            if version is None:
                raise _StaleSequence
            self._data_version, self._size = version, base + len(rows)
        except BaseException:
            await self._reload()
            raise
        for future, event, _ in built:
            _settle(future, event)

    async def _record_in_transaction(
        self, event: Event, row: tuple[Any, ...], retraction: Retraction | None
    ) -> CareerState:
        db = self._db
        held = self._size  # the log this event was built on
        await db.execute("BEGIN IMMEDIATE")
        try:
            # (Under the write lock: another process's bookkeeping commits
            # leave the log as it was; an event of theirs does not.)
            moved = await self._scalar("PRAGMA data_version") != self._data_version
            if moved and not await self._log_is(held):
                raise _StaleSequence
            await db.execute(_INSERT_EVENT, row)
            if retraction is not None:
                self._retractions.append(await self._insert_retraction(event, retraction))
                state = await self._state_at(_key(event))
            else:
                state = apply(self.state, event)
            await self._write_snapshot(state)
            await db.execute("COMMIT")
        except BaseException:
            await self._rollback()
            raise
        self._size = held + 1
        return state

    async def _reload(self) -> None:
        """After a failed transaction, forget the in-memory state and re-read it.

        Unless the log is as this store holds it: another process (a sync
        daemon) committed only sync bookkeeping (server positions, the cursor),
        which no read model depends on. Then only ``data_version`` moves on,
        and a recording program is not made to re-fold after every push.
        """
        with contextlib.suppress(Exception):
            if not await self._log_unchanged():
                await self._load()

    async def _log_unchanged(self) -> bool:
        """Whether the events on disk are exactly the ones folded in memory.

        The same size means no other process added to the log since this
        one last wrote or read it; the same count and last key mean no write
        of this one's ran ahead of the disk and failed (recorded events sort
        after everything held, so a state ahead has a later last key).
        """
        if self.state.event_count != self._count:
            return False
        if not await self._log_is(self._size):
            return False
        return await self._last_key() == self.state.last_key

    async def _log_is(self, size: int) -> bool:
        """Whether the log on disk has this size; if so, ``data_version``
        is taken as seen."""
        async with self._db.execute(
            f"SELECT (SELECT data_version FROM pragma_data_version()), ({self._size_query})"
        ) as cursor:
            row = await cursor.fetchone()
        assert row is not None
        if row[1] != size:
            return False
        self._data_version = row[0]
        return True

    def _retraction_of(self, event: Event) -> Retraction | None:
        if type(event) is not EntryRetracted:
            return None
        return Retraction(_key(event), event.target, None)

    async def _insert_retraction(self, event: Event, retraction: Retraction) -> Retraction:
        found = await self._locate(retraction.target.hex)
        target_key = _key(found[0]) if len(found) == 1 else None
        await self._db.execute(
            "INSERT OR IGNORE INTO retractions (id, hlc, device, dseq, target_id, "
            "target_hlc, target_device, target_dseq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.id.bytes,
                *retraction.key,
                retraction.target.bytes,
                *(target_key or (None, None, None)),
            ),
        )
        return Retraction(retraction.key, retraction.target, target_key)

    async def _resolve_retractions(self, fresh: Sequence[Event]) -> None:
        """Events arriving after their retraction: record the targets' keys."""
        unresolved = {r.target: i for i, r in enumerate(self._retractions) if r.target_key is None}
        if not unresolved:
            return
        for event in fresh:
            index = unresolved.get(event.id)
            if index is None:
                continue
            r = self._retractions[index]
            self._retractions[index] = Retraction(r.key, r.target, _key(event))
            await self._db.execute(
                "UPDATE retractions SET target_hlc = ?, target_device = ?, target_dseq = ? "
                "WHERE target_id = ?",
                (*_key(event), event.id.bytes),
            )

    async def _locate(self, hex_prefix: str) -> list[Event]:
        """Events whose id starts with ``hex_prefix`` (at most two are returned).

        An id is a UUIDv7: its first 12 hex digits are the millisecond it was
        minted, and the event's HLC is read from the same clock then, so the
        search looks at the events recorded from that millisecond on, then,
        only if that finds nothing, at the whole log.
        """
        digits = hex_prefix[:12]
        low_ms = int(digits.ljust(12, "0"), 16)
        high_ms = int(digits.ljust(12, "f"), 16) + _ID_WINDOW_MS
        latest_ms = (1 << 47) - 1  # the largest wall time an HLC can hold in 63 bits
        window = (
            hlc_clock.pack(min(low_ms, latest_ms), 0),
            hlc_clock.pack(min(high_ms, latest_ms), hlc_clock.MAX_COUNTER),
        )
        for where, params in (("WHERE hlc BETWEEN ? AND ?", window), ("", ())):
            found: list[Event] = []
            async with self._db.execute(f"SELECT body FROM events {where}", params) as cursor:
                while rows := await cursor.fetchmany(_FETCH):
                    for (body,) in rows:
                        event = decode_event(body)
                        if event.id.hex.startswith(hex_prefix):
                            found.append(event)
                    if len(found) > 1:
                        return found
            if found:
                return found
        return []

    # --- adding events minted elsewhere ----------------------------------------------

    async def import_events(self, events: Iterable[Event]) -> ImportResult:
        """Add events from an export or another device; duplicates are skipped."""
        batch = list(events)
        return await self._add_foreign_retrying(batch, None, {})

    async def ingest_remote(
        self,
        events: Sequence[Event],
        positions: Sequence[int],
        *,
        meta: dict[str, str] | None = None,
        bodies: Sequence[bytes] | None = None,
    ) -> ImportResult:
        """Add events pulled from the sync server, with their server positions,
        and ``meta`` (the sync cursor) in the same transaction.

        ``bodies``, when given, are the events' bytes as received (what
        ``decode_event`` made ``events`` from): they are stored as they are,
        instead of encoding every event again.

        The server's log has no place for events it rejected, so a device's
        sequence may skip their ``dseq``s here: the server never sends them later.

        With no events, ``meta`` alone is written (a page of nothing but this
        device's settled events, left out by the engine, still moves the cursor).
        """
        if not events:
            if meta:
                async with self._lock:
                    # One trip to the database thread, as a pull's write is.
                    await self._write(_write_meta_only, list(meta.items()), rows=len(meta))
            return ImportResult(0, 0)
        return await self._add_foreign_retrying(
            list(events), list(positions), meta or {}, list(bodies) if bodies is not None else None
        )

    async def _add_foreign_retrying(
        self,
        batch: list[Event],
        positions: list[int] | None,
        meta: dict[str, str],
        bodies: list[bytes] | None = None,
    ) -> ImportResult:
        for _attempt in range(5):
            async with self._lock:
                try:
                    return await self._add_foreign(batch, positions, meta, bodies)
                except _StaleSequence:
                    continue  # another process (a CLI verb) committed: reloaded, again
        raise StoreError("another process keeps writing to this home; try again")

    def _settled_heads(self, known: list[tuple[Event, int]]) -> list[tuple[str, int]]:
        """This device's head, raised to its events in ``known``: their
        positions take them off the push queue, so the head must cover them
        (``_load`` counts on it), as their acknowledgements would."""
        own = max((e.dseq for e, _ in known if e.device == self.device), default=0)
        return [(self.device, own)] if own else []

    def _remember_heads(self, written: Iterable[tuple[str, int]]) -> None:
        """Keep the cached heads as the ``devices`` rows just committed are."""
        if self._heads is not None:
            for device, head in written:
                self._heads[device] = max(self._heads.get(device, 0), head)

    def _after_everything(self, fresh: list[tuple[Event, int | None]]) -> bool:
        """Whether these new events need no re-fold: none sorts before the
        state, none is a retraction, and no retraction held waits for one."""
        if any(type(e) is EntryRetracted for e, _ in fresh):
            return False
        last = self.state.last_key
        if last is not None and any(_key(e) < last for e, _ in fresh):
            return False
        waiting = {r.target for r in self._retractions if r.target_key is None}
        return not waiting or not any(e.id in waiting for e, _ in fresh)

    async def _add_in_order(
        self,
        fresh: list[tuple[Event, int | None]],
        fresh_bodies: list[bytes | None],
        known: list[tuple[Event, int]],
        heads: dict[str, int],
        meta: dict[str, str],
    ) -> ImportResult:
        """The common pull: events after everything held. Folded here first,
        then written in one trip to the database thread and one transaction
        (positions of events held, new events, device heads, snapshots and
        the cursor), instead of a trip per statement: on this path each trip
        costs more than the statement itself."""
        order = sorted(range(len(fresh)), key=lambda i: _key(fresh[i][0]))
        events = [fresh[i][0] for i in order]
        snapshots: list[tuple[int, str, int, int, bytes]] = []
        rows = [
            (e.hlc, e.device, e.dseq, fresh_bodies[i] or encode_event(e), fresh[i][1])
            for i, e in zip(order, events, strict=True)
        ]
        try:
            state = self._fold_new(events, snapshots) if events else self.state
            await self._write(
                _write_in_order,
                self._data_version,
                [(pos, e.hlc, e.device, e.dseq) for e, pos in known],
                rows,
                (list(heads.items()) if events else []) + self._settled_heads(known),
                snapshots,
                list(meta.items()),
                rows=len(rows) + len(known) + len(snapshots),
            )
        except BaseException:
            await self._reload()
            raise
        self.state = state
        self._size += len(events)
        if not events:
            return ImportResult(0, len(known))
        self._remember_heads(heads.items())
        self._count += len(events)
        remote_max = max(e.hlc for e in events)
        self._last_hlc = hlc_clock.receive(self._last_hlc, remote_max, self._clock.now_ms())
        own_max = max((e.dseq for e in events if e.device == self.device), default=0)
        self._next_dseq = max(self._next_dseq, own_max + 1)
        own = sum(1 for e in events if e.device == self.device)
        return ImportResult(len(events), len(known), own)

    def _fold_new(
        self, events: list[Event], snapshots: list[tuple[int, str, int, int, bytes]]
    ) -> CareerState:
        """Fold events that sort after the state onto it, collecting the
        snapshots that fall due as rows (written by the caller)."""
        state = self.state
        since = self._since_snapshot
        with _collector_paused():
            start = 0
            while start < len(events):
                # Fold up to the next snapshot in one call (the batch fold is
                # twice as fast as one apply per event).
                room = max(1, self._snapshot_interval() - since)
                chunk = events[start : start + room]
                state = fold(chunk, state)
                start += len(chunk)
                since += len(chunk)
                if since >= self._snapshot_interval():
                    body = zlib.compress(encode_state(state), 1)
                    assert state.last_key is not None
                    snapshots.append((*state.last_key, state.event_count, body))
                    self._snapshot_bytes = len(body)
                    since = 0
        self._since_snapshot = since
        return state

    async def _add_foreign(
        self,
        batch: list[Event],
        positions: list[int] | None,
        meta: dict[str, str],
        bodies: list[bytes] | None = None,
    ) -> ImportResult:
        if not batch:
            return ImportResult(0, 0)
        db = self._db
        devices = sorted({e.device for e in batch})
        if self._heads is None:
            stored = await db.execute_fetchall("SELECT device, last_dseq FROM devices")
            self._heads = {row[0]: row[1] for row in stored}
        known_heads = self._heads
        heads = {d: known_heads[d] for d in devices if d in known_heads}
        if self.device in heads or any(e.device == self.device for e in batch):
            # This device's queued events are not in ``devices`` yet; those a
            # sync daemon pushed come back in its pages, recorded by another
            # process after this one loaded (taken as new, they would make it
            # reload the log for nothing).
            heads[self.device] = max(heads.get(self.device, 0), self._next_dseq - 1, self._seen_own)
            if positions is not None:
                taken = await self._take_back_own(batch, positions, bodies, heads[self.device])
                if taken is not None:
                    # Reloaded: the rest of the page goes the usual way.
                    rest = await self._add_foreign(batch, positions, meta, bodies)
                    return ImportResult(
                        rest.added + taken.added,
                        rest.duplicates - taken.added,
                        rest.own + taken.own,
                        taken.moved,
                    )
        # Each device's sequence is kept gapless here, so an event is already
        # held exactly when its dseq is at or below its device's head.
        order = sorted(range(len(batch)), key=lambda i: (batch[i].device, batch[i].dseq))
        fresh: list[tuple[Event, int | None]] = []
        fresh_bodies: list[bytes | None] = []
        known: list[tuple[Event, int]] = []
        for index in order:
            event = batch[index]
            head = heads.get(event.device, 0)
            if event.dseq <= head:
                if positions is not None:
                    known.append((event, positions[index]))
                continue
            if event.dseq != head + 1 and positions is None:
                raise StoreError(
                    f"events {head + 1}..{event.dseq - 1} of device {event.device} are "
                    f"missing; import its complete export"
                )
            heads[event.device] = event.dseq
            fresh.append((event, positions[index] if positions is not None else None))
            fresh_bodies.append(bodies[index] if bodies is not None else None)
        if positions is not None and self._after_everything(fresh):
            return await self._add_in_order(fresh, fresh_bodies, known, heads, meta)
        if known or (meta and not fresh):
            # Events coming back from the server (ours among them): record their pos.
            await db.execute("BEGIN IMMEDIATE")
            try:
                await db.executemany(
                    "UPDATE events SET pos = ? WHERE hlc = ? AND device = ? AND dseq = ? "
                    "AND pos IS NULL",
                    [(pos, e.hlc, e.device, e.dseq) for e, pos in known],
                )
                await db.executemany(_RAISE_HEAD, self._settled_heads(known))
                if not fresh:
                    await self._upsert_meta(meta)
                await db.execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise
        if not fresh:
            return ImportResult(0, len(batch))
        fresh.sort(key=lambda item: _key(item[0]))
        earliest = _key(fresh[0][0])
        last = self.state.last_key
        late = last is not None and earliest < last
        rows = [(e.hlc, e.device, e.dseq, encode_event(e), pos) for e, pos in fresh]
        new_retractions = [e for e, _ in fresh if type(e) is EntryRetracted]
        refold = late or bool(new_retractions)
        inserting: asyncio.Future[Any] | None = None
        try:
            await db.execute("BEGIN IMMEDIATE")
            if await self._scalar("PRAGMA data_version") != self._data_version:
                # The in-memory state misses another process's commit: folding
                # onto it would store wrong snapshots.
                raise _StaleSequence
            inserting = asyncio.ensure_future(
                db.executemany(
                    "INSERT INTO events (hlc, device, dseq, body, pos) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
            )
            snapshots: list[tuple[int, str, int, int, bytes]] = []
            # (Folding on this thread while the database thread inserts was
            # slower: both need the GIL for every row.)
            await inserting
            if not refold:
                # The common case: new events after everything held.
                state = self._fold_new([e for e, _ in fresh], snapshots)
            # (This device's head moves with server verdicts, not imports.)
            written = [
                (d, h) for d, h in heads.items() if d != self.device or positions is not None
            ]
            await db.executemany(_RAISE_HEAD, written)
            await self._resolve_retractions([e for e, _ in fresh])
            for event in new_retractions:
                pending = self._retraction_of(event)
                assert pending is not None
                self._retractions.append(await self._insert_retraction(event, pending))
            self._retractions.sort(key=lambda r: r.key)
            # (This device's own events re-imported from its export have no
            # position: they are in the push queue.)
            if refold:
                await db.execute(
                    "DELETE FROM snapshots WHERE (hlc, device, dseq) >= (?, ?, ?)", earliest
                )
                base, state = await self._best_snapshot(earliest)
                state = await self._fold_after(base, state)
            else:
                await db.executemany(
                    "INSERT OR REPLACE INTO snapshots (hlc, device, dseq, count, body) "
                    "VALUES (?, ?, ?, ?, ?)",
                    snapshots,
                )
            await self._upsert_meta(meta)
            await db.execute("COMMIT")
        except BaseException:
            if inserting is not None and not inserting.done():
                with contextlib.suppress(BaseException):
                    await inserting
            await self._rollback()
            await self._reload()
            raise
        self._remember_heads(written)
        self.state = state
        self._size += len(fresh)
        self._count += len(fresh)
        remote_max = max(e.hlc for e, _ in fresh)
        self._last_hlc = hlc_clock.receive(self._last_hlc, remote_max, self._clock.now_ms())
        own_max = max((e.dseq for e, _ in fresh if e.device == self.device), default=0)
        self._next_dseq = max(self._next_dseq, own_max + 1)
        own = sum(1 for e, _ in fresh if e.device == self.device)
        return ImportResult(len(fresh), len(batch) - len(fresh), own)

    # --- a home behind its own past ---------------------------------------------------

    async def _take_back_own(
        self,
        batch: list[Event],
        positions: list[int],
        bodies: list[bytes] | None,
        head: int,
    ) -> ImportResult | None:
        """Store the own events of a pulled page that this home lacks though
        their dseq is not above its own head; None if there are none.

        That happens when the home was restored from a backup or copied:
        the server holds this device's events the home never saw (recorded
        after the copy was taken), and the home has meanwhile minted the
        same dseqs again for events of its own. Each device's sequence is
        otherwise held gapless, so "held" would mean "dseq at or below the
        head" and the server's events would be dropped as held; an own event
        is therefore held here only if its key ``(hlc, device, dseq)`` is.

        The home's events on those dseqs (the *occupants*) are moved to new
        dseqs after everything this device holds, rather than flagged as
        rejected, because moving loses nothing and asks nothing of the
        person, and it is sound: the server holds another event on each such
        dseq, so the occupant is not on the server (nor, through it, on any
        other replica) under that dseq, and no acknowledgement of it can
        come. Its id, HLC and content stay; only its ``dseq`` changes, so its
        place in the canonical order ``(hlc, device, dseq)`` stays too, and
        retractions (which name events by id) still reach it. The page's
        events, the moves, the retraction index, this device's head and the
        re-fold commit in one transaction. An occupant already given a
        position (a home that met the old server, which answered
        "duplicate" for a different event) is queued again, and one flagged
        rejected is judged again: neither is on the server either.
        """
        own = [i for i, e in enumerate(batch) if e.device == self.device]
        below = [i for i in own if batch[i].dseq <= head]
        if not below:
            return None
        held = await self._own_keys_held([(batch[i].hlc, batch[i].dseq) for i in below])
        lacking = {batch[i].dseq for i in below if (batch[i].hlc, batch[i].dseq) not in held}
        if not lacking:
            return None
        taken: dict[Key, tuple[Event, int, bytes]] = {}
        for i in own:
            event = batch[i]
            if (event.hlc, event.dseq) not in held:
                body = bodies[i] if bodies is not None else encode_event(event)
                taken.setdefault(_key(event), (event, positions[i], body))
        occupants = await self._own_at(lacking)
        above = max(head, max(batch[i].dseq for i in own))
        db = self._db
        await db.execute("BEGIN IMMEDIATE")
        try:
            if await self._scalar("PRAGMA data_version") != self._data_version:
                raise _StaleSequence  # another process wrote: judge the page again
            await self._move_own_rows(occupants, above)
            await db.executemany(
                "INSERT INTO events (hlc, device, dseq, body, pos) VALUES (?, ?, ?, ?, ?)",
                [(e.hlc, e.device, e.dseq, body, pos) for e, pos, body in taken.values()],
            )
            # (Their positions keep them off the push queue: the head covers them.)
            await db.execute(_RAISE_HEAD, (self.device, max(e.dseq for e, _, _ in taken.values())))
            earliest = min([*taken, *((hlc, self.device, dseq) for hlc, dseq, _, _ in occupants)])
            await self._refold_from(earliest, [e for e, _, _ in taken.values()])
            await db.execute("COMMIT")
        except BaseException:
            await self._rollback()
            await self._reload()
            raise
        self._settled_own = min(self._settled_own, min(lacking) - 1)
        await self._load()
        return ImportResult(len(taken), 0, len(taken), len(occupants))

    async def move_own(self, events: Sequence[Event], floor: int) -> int:
        """Move these own events, those still queued as they are, to new dseqs
        after both this device's last and ``floor``, in their order.

        For events the server refused as ``dseq_reused``: it holds another
        event on their dseq (and this device's events up to ``floor``) that
        this home has not pulled yet (a copy of the home pushing too). Sound
        for the reasons :meth:`_take_back_own` gives; the server's events on
        the dseqs left behind arrive later and are taken back there. Only
        these move: the ones after them may be on their way to the server
        already, where each is stored as it is or refused the same way.
        Returns how many moved.
        """
        if not events:
            return 0
        for _attempt in range(5):
            async with self._lock:
                try:
                    return await self._move_queued(events, floor)
                except _StaleSequence:
                    continue
        raise StoreError("another process keeps writing to this home; try again")

    async def _move_queued(self, events: Sequence[Event], floor: int) -> int:
        first = min(e.dseq for e in events)
        keys = {(e.hlc, e.dseq) for e in events}
        async with self._db.execute(
            f"SELECT hlc, dseq, body, pos FROM events WHERE {self._queued} "
            "AND dseq BETWEEN ? AND ? ORDER BY dseq",
            (first, max(e.dseq for e in events)),
        ) as cursor:
            occupants = [tuple(row) for row in await cursor.fetchall() if (row[0], row[1]) in keys]
        if not occupants:
            return 0  # already moved (a page took the server's events back first)
        db = self._db
        await db.execute("BEGIN IMMEDIATE")
        try:
            if await self._scalar("PRAGMA data_version") != self._data_version:
                raise _StaleSequence
            above = max(floor, await self._scalar(f"SELECT {self._own_last}"))
            await self._move_own_rows(occupants, above)
            await self._refold_from((min(o[0] for o in occupants), self.device, 0), [])
            await db.execute("COMMIT")
        except BaseException:
            await self._rollback()
            await self._reload()
            raise
        self._settled_own = min(self._settled_own, first - 1)
        await self._load()
        return len(occupants)

    async def _own_keys_held(self, keys: list[tuple[int, int]]) -> set[tuple[int, int]]:
        """Which (hlc, dseq) of this device's events are in the log: primary-key lookups."""
        held: set[tuple[int, int]] = set()
        for start in range(0, len(keys), 400):
            chunk = keys[start : start + 400]
            values = ", ".join("(?, ?)" for _ in chunk)
            async with self._db.execute(
                f"SELECT e.hlc, e.dseq FROM (VALUES {values}) AS k CROSS JOIN events AS e"
                " ON e.hlc = k.column1 AND e.device = ? AND e.dseq = k.column2",
                [*(v for key in chunk for v in key), self.device],
            ) as cursor:
                held.update((row[0], row[1]) for row in await cursor.fetchall())
        return held

    async def _own_at(self, slots: set[int]) -> list[tuple[int, int, bytes, int | None]]:
        """This device's events on these dseqs, as (hlc, dseq, body, pos), in dseq
        order: from the push queue's index, and only for a dseq not found
        there, from a scan of the log (an event already given a position)."""
        low, high = min(slots), max(slots)
        async with self._db.execute(
            f"SELECT hlc, dseq, body, pos FROM events WHERE {self._queued} "
            "AND dseq BETWEEN ? AND ?",
            (low, high),
        ) as cursor:
            found = [tuple(row) for row in await cursor.fetchall() if row[1] in slots]
        rest = slots - {row[1] for row in found}
        if rest:
            async with self._db.execute(
                "SELECT hlc, dseq, body, pos FROM events WHERE device = ? "
                "AND dseq BETWEEN ? AND ? AND pos IS NOT NULL",
                (self.device, min(rest), max(rest)),
            ) as cursor:
                found += [tuple(row) for row in await cursor.fetchall() if row[1] in rest]
        return sorted(found, key=lambda row: row[1])

    async def _move_own_rows(
        self, occupants: Sequence[tuple[int, int, bytes, int | None]], above: int
    ) -> None:
        """Give these own events the dseqs ``above + 1`` … in their order,
        queued for push, inside the caller's transaction; the retraction index
        follows them (its own rows, and their targets' keys) and a rejection
        flag goes (they are judged again)."""
        db = self._db
        for n, (hlc, dseq, body, _pos) in enumerate(occupants, start=1):
            moved = msgspec.structs.replace(decode_event(body), dseq=above + n)
            await db.execute(
                "DELETE FROM events WHERE hlc = ? AND device = ? AND dseq = ?",
                (hlc, self.device, dseq),
            )
            await db.execute(_INSERT_EVENT, (hlc, self.device, moved.dseq, encode_event(moved)))
            event_id = moved.id.bytes
            await db.execute("UPDATE retractions SET dseq = ? WHERE id = ?", (moved.dseq, event_id))
            await db.execute(
                "UPDATE retractions SET target_dseq = ? WHERE target_id = ? AND target_hlc = ?",
                (moved.dseq, event_id, hlc),
            )
            await db.execute("DELETE FROM rejected WHERE id = ?", (event_id,))

    async def _refold_from(self, earliest: Key, added: Sequence[Event]) -> None:
        """Inside a write transaction that added ``added`` and moved events at
        or after ``earliest``: index the retractions as they now are, and fold
        the read model again from the last usable snapshot before ``earliest``."""
        await self._read_retractions()
        await self._resolve_retractions(added)
        for event in added:
            pending = self._retraction_of(event)
            if pending is not None:
                self._retractions.append(await self._insert_retraction(event, pending))
        self._retractions.sort(key=lambda r: r.key)
        await self._db.execute(
            "DELETE FROM snapshots WHERE (hlc, device, dseq) >= (?, ?, ?)", earliest
        )
        base, state = await self._best_snapshot(earliest)
        self.state = await self._fold_after(base, state)

    async def own_judged(self) -> int:
        """This device's highest dseq the server is known here to have judged
        (acknowledged or rejected): a server holding more of this device's
        events than that has events this home has not seen, or lost an ack."""
        return int(
            await self._scalar(
                "SELECT coalesce(max(last_dseq), 0) FROM devices WHERE device = ?", self.device
            )
        )

    # --- reading -----------------------------------------------------------------

    async def events(
        self,
        *,
        recorded_until_ms: int | None = None,
        occurred_until: datetime | None = None,
        occurred_from: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Event]:
        """Events in canonical order (or newest first), optionally filtered.

        With an ``occurred`` bound, the whole log is read and filtered here: a
        backdated event can sit anywhere in the canonical order, and an index
        on occurred time would cost ~40 bytes an event for a rare query.
        """
        where = ""
        params: list[Any] = []
        if recorded_until_ms is not None:
            where = " WHERE hlc <= ?"
            params.append(hlc_clock.pack(recorded_until_ms, hlc_clock.MAX_COUNTER))
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT body FROM events{where} ORDER BY hlc {order}, device {order}, dseq {order}"
        filtered = occurred_until is not None or occurred_from is not None
        if limit is not None and not filtered:
            sql += " LIMIT ?"
            params.append(limit)
        async with self._db.execute(sql, params) as cursor:
            events = [decode_event(row[0]) for row in await cursor.fetchall()]
        if filtered:
            events = [
                e
                for e in events
                if (occurred_until is None or e.occurred_at <= occurred_until)
                and (occurred_from is None or e.occurred_at >= occurred_from)
            ]
            if limit is not None:
                events = events[:limit]
        return events

    async def find_event(self, prefix: str) -> Event | None:
        """The one event whose id starts with ``prefix`` (hex, dashes optional)."""
        digits = prefix.replace("-", "").lower()
        if not digits or any(c not in "0123456789abcdef" for c in digits) or len(digits) > 32:
            return None
        found = await self._locate(digits)
        return found[0] if len(found) == 1 else None

    async def state_as_of(self, when: datetime) -> CareerState:
        """The plan as it stood at ``when``: the fold of events recorded by then."""
        limit = hlc_clock.pack(int(when.timestamp() * 1000), hlc_clock.MAX_COUNTER)
        async with self._db.execute(
            "SELECT hlc, device, dseq FROM events WHERE hlc <= ? "
            "ORDER BY hlc DESC, device DESC, dseq DESC LIMIT 1",
            (limit,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return new_state()
        return await self._state_at((row[0], row[1], row[2]))

    async def state_occurred_by(self, when: datetime) -> CareerState:
        """What had happened by ``when``: events that occurred by then (mistakes
        retracted since are left out, whenever they were retracted)."""
        return happened_by(await self.events(), when)

    # --- the outbox (sync) ------------------------------------------------------------

    @property
    def _size_query(self) -> str:
        """The log's size: every device's highest dseq held, summed, read in
        index lookups and the small ``devices`` table, never by counting.

        Each device's events are held gapless (see ``_add_foreign``), so this
        is the number of events, and only a transaction that adds events
        changes it: a sync daemon's bookkeeping (positions, its cursor, a
        rejection, a requeue) leaves it as it was. Another process's device
        heads are in ``devices``; this device's is ``_own_last``."""
        return (
            "SELECT (SELECT coalesce(sum(last_dseq), 0) FROM devices"
            f" WHERE device <> '{self.device}') + {self._own_last}"
        )

    @property
    def _own_last(self) -> str:
        """SQL expression of this device's highest dseq held: its head in
        ``devices`` or the push queue's last, whichever is higher. Every own
        event is in the queue or at or below the head (every write that takes
        one off the queue raises the head)."""
        return (
            f"max((SELECT coalesce(max(last_dseq), 0) FROM devices WHERE device = '{self.device}'),"
            f" (SELECT coalesce(max(dseq), 0) FROM events WHERE {self._queued}))"
        )

    @property
    def _queued(self) -> str:
        """SQL condition of the push queue: this device's events without a server
        position. Spelled with the device id as a literal, exactly as the partial
        index ``own_unacked`` is, so SQLite uses the index."""
        return f"device = '{self.device}' AND pos IS NULL"

    async def pending(self, limit: int, *, after: int = 0) -> list[tuple[Event, bytes]]:
        """This device's unacknowledged events, oldest first, with their bytes.

        ``after``: only those with a ``dseq`` above it (a pusher that records
        a batch's outcome while it pushes the next asks past what it sent).
        """
        sql = f"SELECT body FROM events WHERE {self._queued} AND dseq > ? ORDER BY dseq LIMIT ?"
        rows = self._read_here(sql, (after, limit))
        if rows is None:
            async with self._db.execute(sql, (after, limit)) as cursor:
                rows = list(await cursor.fetchall())
        events = [(decode_event(row[0]), row[0]) for row in rows]
        if events:
            self._seen_own = max(self._seen_own, events[-1][0].dseq)
        return events

    def _read_here(self, sql: str, params: tuple[Any, ...]) -> list[Any] | None:
        """Run a short read on the event loop's own thread, or None to go the
        usual way.

        For the push queue, read before every push: a read of committed rows
        through the partial index costs less than the trip to the database
        thread, which is on the path of every live event. A read-only
        connection that never waits for a lock: if it would (None), the
        database thread, with its busy timeout, does the read instead.
        """
        if self._here is None:
            uri = f"{(self.home / DB_NAME).resolve().as_uri()}?mode=ro"
            try:
                self._here = sqlite3.connect(uri, uri=True, isolation_level=None)
                self._here.execute("PRAGMA busy_timeout=0")
            except sqlite3.Error:
                return None
        try:
            return self._here.execute(sql, params).fetchall()
        except sqlite3.Error:  # busy, or used from another thread than it was opened on
            return None

    async def pending_count(self) -> int:
        return int(await self._scalar(f"SELECT count(*) FROM events WHERE {self._queued}"))

    async def _advance_own_head(self, dseq: int) -> None:
        """Remember that the server has judged this device's events up to ``dseq``
        (they leave the queue, which held the head until then)."""
        await self._db.execute(_RAISE_HEAD, (self.device, dseq))

    @property
    def settled_own(self) -> int:
        """This device's events up to this dseq are known to hold their server
        ``pos`` (or to be rejected): pulling one of them again changes nothing,
        so a sync engine may leave them out of ``ingest_remote`` unread."""
        return self._settled_own

    async def mark_acked(self, acks: Sequence[tuple[Event, int]]) -> None:
        """Record server acknowledgements of this device's events: (event, pos) each."""
        if not acks:
            return
        async with self._lock:
            # One transaction, on the loop or in one trip to the database thread.
            # Each row found by its full key: through the push queue's index
            # instead, an ack cost half as much again.
            await self._write(
                _write_acks,
                f"UPDATE events SET pos = ? WHERE hlc = ? AND dseq = ? AND {self._queued}",
                self.device,
                [(pos, event.hlc, event.dseq) for event, pos in acks],
                rows=len(acks),
            )
            # (Only after the commit.) Acks come for a push of the outbox's
            # first events in dseq order, so everything up to the highest is
            # settled: those below it were acknowledged or rejected before.
            self._settled_own = max(self._settled_own, max(e.dseq for e, _ in acks))

    async def mark_rejected(self, event_id: UUID, dseq: int, code: str, reason: str) -> None:
        """The server refused an event: it stays in the log, flagged, off the outbox."""
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                await self._db.execute(
                    "INSERT OR REPLACE INTO rejected (id, dseq, code, reason, at_ms) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (event_id.bytes, dseq, code, reason, self._clock.now_ms()),
                )
                # Position 0: out of the queue (a server position is never 0).
                await self._db.execute(
                    f"UPDATE events SET pos = 0 WHERE {self._queued} AND dseq = ?", (dseq,)
                )
                await self._advance_own_head(dseq)
                await self._db.execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise
            self._settled_own = max(self._settled_own, dseq)

    async def set_clock_offset(self, offset_ms: int) -> None:
        """Keep the server-measured clock offset; a system clock uses it from now on."""
        await self.set_meta({CLOCK_OFFSET_META: str(offset_ms)})
        if isinstance(self._clock, SystemClock):
            self._clock.offset_ms = offset_ms

    async def requeue_own(self, from_dseq: int) -> int:
        """Queue this device's events from ``from_dseq`` on for sync again.

        For a server that says it lacks events this device thought acknowledged.
        Returns how many were queued anew.
        """
        async with self._lock:
            last = await self._scalar(
                "SELECT coalesce(max(last_dseq), 0) FROM devices WHERE device = ?", self.device
            )
            if from_dseq > last:
                return 0
            # (Before the write: queued again, they are no longer settled.)
            self._settled_own = min(self._settled_own, from_dseq - 1)
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = await self._db.execute(
                    "UPDATE events SET pos = NULL "
                    "WHERE device = ? AND dseq >= ? AND pos IS NOT NULL",
                    (self.device, from_dseq),
                )
                added = cursor.rowcount
                await self._db.execute("DELETE FROM rejected WHERE dseq >= ?", (from_dseq,))
                await self._db.execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise
            return max(added, 0)

    async def reset_sync(self, epoch: str) -> None:
        """The server is a new life (wiped, restored, or another server): start over.

        In one transaction: forget every ``pos``, queue every own event for sync
        again (rejections are judged anew), and set the cursor to 0 in ``epoch``.
        Every event is kept.
        """
        async with self._lock:
            self._settled_own = 0  # every own event is queued again
            db = self._db
            await db.execute("BEGIN IMMEDIATE")
            try:
                await db.execute("UPDATE events SET pos = NULL WHERE pos IS NOT NULL")
                # (Every own event is now without a position: queued again.)
                await db.execute("DELETE FROM rejected")
                await db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [(CURSOR_META, "0"), (EPOCH_META, epoch)],
                )
                await db.execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise

    async def rejected(self) -> list[RejectedEvent]:
        async with self._db.execute(
            "SELECT id, dseq, code, reason, at_ms FROM rejected ORDER BY dseq"
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            RejectedEvent(
                UUID(bytes=row[0]),
                row[1],
                row[2],
                row[3],
                datetime.fromtimestamp(row[4] / 1000, tz=UTC),
            )
            for row in rows
        ]

    async def file_size(self) -> int:
        """Bytes on disk, after a checkpoint of the write-ahead log."""
        await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_count = await self._scalar("PRAGMA page_count")
        page_size = await self._scalar("PRAGMA page_size")
        return int(page_count) * int(page_size)


T = TypeVar("T")


#: How long a write on the database thread waits for another process's lock.
_BUSY_S = 10.0


def _begin_immediate(db: sqlite3.Connection, wait: bool) -> None:
    """``BEGIN IMMEDIATE``; if another process holds the write lock, wait for
    it in steps of a fifth of a millisecond, or (``wait`` False, on the event
    loop) raise at once.

    SQLite's own busy handler sleeps 1, 2, 5, 10 … ms between tries: with a
    recording program and a sync daemon writing to one home many times a
    second, most collisions would then cost several milliseconds for a lock
    held a fraction of one.
    """
    if not wait:
        db.execute("BEGIN IMMEDIATE")  # the caller set no busy timeout
        return
    deadline = time.monotonic() + _BUSY_S
    db.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(0.0002)
    finally:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def _write_in_order(
    db: sqlite3.Connection,
    wait: bool,
    data_version: int,
    known: list[tuple[int, int, str, int]],
    rows: list[tuple[int, str, int, bytes, int | None]],
    heads: list[tuple[str, int]],
    snapshots: list[tuple[int, str, int, int, bytes]],
    meta: list[tuple[str, str]],
) -> None:
    """The writes of ``_add_in_order``, in one transaction."""
    _begin_immediate(db, wait)
    try:
        if rows and db.execute("PRAGMA data_version").fetchone()[0] != data_version:
            # The in-memory state misses another process's commit: the fold
            # (and its snapshots) would be wrong. (Positions of events held
            # depend on no state: they are recorded whatever else changed.)
            raise _StaleSequence
        if known:
            db.executemany(
                "UPDATE events SET pos = ? WHERE hlc = ? AND device = ? AND dseq = ? "
                "AND pos IS NULL",
                known,
            )
        if rows:
            db.executemany(
                "INSERT INTO events (hlc, device, dseq, body, pos) VALUES (?, ?, ?, ?, ?)", rows
            )
        if heads:
            db.executemany(_RAISE_HEAD, heads)
        if snapshots:
            db.executemany(
                "INSERT OR REPLACE INTO snapshots (hlc, device, dseq, count, body) "
                "VALUES (?, ?, ?, ?, ?)",
                snapshots,
            )
        if meta:
            db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                meta,
            )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _insert_group(
    db: sqlite3.Connection,
    wait: bool,
    size_query: str,
    data_version: int,
    base: int,
    rows: list[tuple[Any, ...]],
) -> int | None:
    """A group of recorded events in one transaction, built on the log of
    size ``base``. Returns the connection's ``data_version`` as of the
    commit, or None (nothing stored) if another process added to the log
    since.

    The check is made under the write lock, so no other commit can slip in
    between it and the insert (checked outside, a daemon committing every few
    milliseconds could keep a recording program failing). It reads the size
    only when another process has committed at all. One prepared INSERT run
    per row: a multi-row VALUES statement would be compiled anew for every
    group size.
    """
    _begin_immediate(db, wait)
    try:
        version = int(db.execute("PRAGMA data_version").fetchone()[0])
        if version != data_version and db.execute(size_query).fetchone()[0] != base:
            db.execute("ROLLBACK")
            return None
        db.executemany(_INSERT_EVENT, rows)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return version


def _write_acks(
    db: sqlite3.Connection,
    wait: bool,
    update: str,
    device: str,
    positions: list[tuple[int, int, int]],
) -> None:
    """``mark_acked`` in one transaction: ``positions`` are (pos, hlc, dseq)."""
    _begin_immediate(db, wait)
    try:
        db.executemany(update, positions)
        db.execute(_RAISE_HEAD, (device, max(dseq for _, _, dseq in positions)))
        # An event rejected once and accepted after a requeue is no longer
        # rejected. (Rarely any: a statement per ack only when there are.)
        if db.execute("SELECT 1 FROM rejected LIMIT 1").fetchone() is not None:
            db.executemany("DELETE FROM rejected WHERE dseq = ?", [(d,) for _, _, d in positions])
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _write_meta_only(db: sqlite3.Connection, wait: bool, values: list[tuple[str, str]]) -> None:
    """Meta keys in one transaction."""
    _begin_immediate(db, wait)
    try:
        db.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            values,
        )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _settle(
    future: asyncio.Future[Event], event: Event | None = None, *, error: BaseException | None = None
) -> None:
    """Answer a ``record`` caller, unless it gave up (cancelled) meanwhile."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert event is not None
        future.set_result(event)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a long fold.

    A fold makes no reference cycles (decoded events die by reference count),
    but it allocates millions of objects, and every full collection would walk
    the whole growing state again: about a third of a rebuild's time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def _switch_to_wal(db: database.Connection) -> None:
    """Put the file in WAL mode, waiting out another process opening it too.

    Changing the journal mode needs the file to itself, and SQLite reports
    "database is locked" at once instead of calling the busy handler.
    """
    for attempt in range(100):
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            await asyncio.sleep(0.01 * (1 + attempt % 10))
