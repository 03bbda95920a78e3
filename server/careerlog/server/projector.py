"""The projector: folds every user's new events into their read models.

Rules of this module:
- A step, for one user: read the events with ``pos`` past the checkpoint (a
  page), decode them, fold, and write rows and checkpoint in one transaction
  that applies only if the checkpoint has not moved since it was read
  (:meth:`ReadModelStore.write`). A step that loses that race writes nothing
  and starts again from the new checkpoint, so no event is ever applied
  twice; the checkpoint only moves to the last ``pos`` folded, so none is
  ever skipped (``pos`` order is commit order, see the event store).
- If every new event sorts after the checkpoint's canonical key, and no new
  retraction takes back an event already folded, the step folds forward from
  the current state. Otherwise (an offline device's late events) it re-folds
  the user from the newest usable snapshot before the earliest affected key,
  reading the log in canonical order up to the page's last ``pos``.
- Wake-ups are hints: the fan-out hub (or PostgreSQL NOTIFY) names a user
  whose head moved; periodic catch-up scans find any user whose head is past
  their checkpoint, so a lost wake-up only delays a user.
- On PostgreSQL, several processes split users into partitions by
  ``user_id % partitions`` and project only the partitions they lead (see
  :mod:`careerlog.server.partitions`); the compare-and-set keeps a race at a
  hand-over harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import operator
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from uuid import UUID

from careerlog.server.readmodels.base import Checkpoint
from careerlog.server.readmodels.folding import Folded, collector_paused, fold_run, key_of
from careerlog.server.readmodels.rows import (
    MIN_KEY,
    Key,
    RetractionRow,
    Update,
    compressed,
    goal_rows,
    grant_rows,
)
from careerlog.server.readmodels.writer import ProjectionLag, ReadModelStore, WriteOutcome
from careerlog.server.store import EventStore, Stored
from careerlog.shared.codec import decode_event
from careerlog.shared.events import EntryRetracted, Event
from careerlog.shared.projections import CareerState, decode_state, encode_state, new_state
from careerlog.shared.projections.analytics import encode_member_facts, member_facts

__all__ = ["Projector", "ProjectorStats", "RebuildRaced"]

log = logging.getLogger("careerlog.server.projector")

#: The canonical key, in C (a page is sorted by it: ``key_of`` costs a call each).
_canonical = operator.attrgetter("hlc", "device", "dseq")

#: Events read and folded per step (one transaction).
PAGE = 2000
#: Events read per query when re-folding after a late event.
REFOLD_PAGE = 5000
#: Users whose state stays decoded between steps, at most, and at most this
#: many bytes of their encoded states (decoded, a state takes several times
#: that: a 100,000-event history encodes to ~1.5 MB).
CACHED_USERS = 256
CACHED_BYTES = 32 << 20
#: Times a rebuild of one user tries before giving up to a faster projector.
REBUILD_ATTEMPTS = 5
#: How long a wake-up waits for more pushes of the same user before its step.
LINGER_S = 0.05
#: How often a projector looks for users a wake-up missed.
SCAN_INTERVAL_S = 5.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class RebuildRaced(Exception):
    """A rebuild lost the compare-and-set to projectors every time it tried."""

    def __init__(self, user_id: int) -> None:
        super().__init__(
            f"user {user_id}: projectors kept moving the checkpoint; rebuild again later"
        )
        self.user_id = user_id


@dataclass(slots=True)
class ProjectorStats:
    """What this projector did since it started (for logs, tests and benchmarks)."""

    #: Events folded forward (each exactly once per successful step).
    applied: int = 0
    #: Steps that re-folded a user after a late event or a retraction reaching back.
    refolds: int = 0
    #: Steps that lost the compare-and-set to another projector and wrote nothing.
    conflicts: int = 0
    #: Steps that failed with an error (the user is retried by the next scan).
    failures: int = 0


@dataclass(slots=True)
class _Step:
    """A folded page, ready to write."""

    update: Update
    #: Where the user stands once ``update`` applies.
    after: _Cached
    events: int
    refold: bool


@dataclass(slots=True)
class _Cached:
    """Where a user stands (checkpoint, state, snapshot chain), kept between steps."""

    pos: int
    key: Key
    state: CareerState
    snap_since: int
    snap_bytes: int
    #: Size of the state encoded (what the cache's budget counts).
    size: int = 0


class Projector:
    """Projects users' logs into read models; :meth:`run` keeps doing so as wake-ups come."""

    def __init__(
        self,
        store: EventStore,
        read_models: ReadModelStore,
        *,
        partitions: int = 1,
        concurrency: int = 2,
        scan_interval_s: float = SCAN_INTERVAL_S,
        linger_s: float = LINGER_S,
    ) -> None:
        self.store = store
        self.read_models = read_models
        self.stats = ProjectorStats()
        self.partitions = partitions
        #: The partitions this projector leads; None: every user (one projector).
        self.owned: frozenset[int] | None = None
        self._concurrency = concurrency
        self._scan_interval_s = scan_interval_s
        self._linger_s = linger_s
        self._cache: OrderedDict[int, _Cached] = OrderedDict()
        self._cached_bytes = 0
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._queued: set[int] = set()
        self._active: set[int] = set()
        self._again: set[int] = set()
        self._rescan = asyncio.Event()
        #: Set after the first catch-up scan is done (readiness).
        self.caught_up = asyncio.Event()

    # -- what metrics and readiness read ----------------------------------

    async def lag(self) -> ProjectionLag:
        """How far the read models are behind the log, over all users (not only this process's)."""
        return await self.read_models.lag(now_ms())

    # -- wake-ups ---------------------------------------------------------

    def wake(self, user_id: int, head: int | None = None) -> None:
        """The user's head moved (a fan-out hub listener): project them soon.

        "Soon" is ``linger_s`` later: the pushes that arrive meanwhile (a
        device sends a batch every few milliseconds while it catches up) are
        folded in the same step, so a busy user costs a few big steps rather
        than one small transaction per push, competing with the pushes for
        SQLite's one writer.
        """
        if not self._leads(user_id) or user_id in self._queued:
            return
        self._queued.add(user_id)
        if self._linger_s > 0:
            asyncio.get_running_loop().call_later(self._linger_s, self._queue.put_nowait, user_id)
        else:
            self._queue.put_nowait(user_id)

    def set_partitions(self, owned: frozenset[int]) -> None:
        """Lead exactly these partitions from now on; scan the new ones at once."""
        gained = owned - (self.owned or frozenset())
        self.owned = owned
        for user_id in [u for u in self._cache if not self._leads(u)]:
            self._forget(user_id)
        if gained:
            self._rescan.set()

    def _leads(self, user_id: int) -> bool:
        return self.owned is None or user_id % self.partitions in self.owned

    # -- running ----------------------------------------------------------

    async def run(self) -> None:
        """Project forever: a catch-up scan, then wake-ups, with a scan every so often."""
        workers = [asyncio.create_task(self._work()) for _ in range(self._concurrency)]
        try:
            while True:
                try:
                    await self.scan()
                    self.caught_up.set()
                except Exception:
                    log.exception("catch-up scan failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._rescan.wait(), self._scan_interval_s)
                self._rescan.clear()
        finally:
            for worker in workers:
                worker.cancel()
            for worker in workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await worker

    async def scan(self) -> int:
        """Queue every user (of the partitions led) whose head is past their checkpoint."""
        if self.owned is None:
            behind = await self.read_models.behind()
        else:
            behind = await self.read_models.behind(self.partitions, self.owned)
        for user in behind:
            if self._leads(user.user_id) and user.user_id not in self._queued:
                self._queued.add(user.user_id)
                self._queue.put_nowait(user.user_id)
        return len(behind)

    async def _work(self) -> None:
        while True:
            user_id = await self._queue.get()
            self._queued.discard(user_id)
            if user_id in self._active:
                self._again.add(user_id)
                continue
            self._active.add(user_id)
            try:
                if self._leads(user_id):
                    await self.project_user(user_id)
            except Exception:
                self.stats.failures += 1
                self._forget(user_id)
                log.exception("projecting user %s failed", user_id)
            finally:
                self._active.discard(user_id)
                if user_id in self._again:
                    self._again.discard(user_id)
                    self.wake(user_id)

    async def drain(self, concurrency: int = 1) -> None:
        """Project every user that is behind, until none is (one-shot, for tests and tools).

        ``concurrency`` users at a time: on PostgreSQL one user's round trips
        overlap another's folding.
        """
        gate = asyncio.Semaphore(concurrency)

        async def one(user_id: int) -> None:
            async with gate:
                await self.project_user(user_id)

        while behind := await self.read_models.behind():
            await asyncio.gather(*(one(user.user_id) for user in behind))

    # -- one user ---------------------------------------------------------

    async def project_user(self, user_id: int) -> int:
        """Fold the user's new events, page by page, until caught up; return how many.

        Pipelined: while page k is being written (on the database's thread or
        server), page k+1 is read and folded onto the state page k left in
        memory. Writes stay in order, one at a time: page k+1's write is sent
        only once page k's applied, and expects the checkpoint it set. If page
        k's write does not apply, page k+1's fold is thrown away with the
        state it was folded on, and the user is loaded again.
        """
        folded = 0
        cached = self._forget(user_id)
        ahead: asyncio.Task[list[Stored]] | None = None
        writing: tuple[asyncio.Task[WriteOutcome], _Step] | None = None
        # The collector stays out for the whole run, not just each fold: a page's
        # events and rows live until its write commits, and a collection
        # between would walk all of them (and every cached state) for nothing.
        with collector_paused():
            try:
                while True:
                    if cached is None:
                        cached = await self._load(user_id)
                    step: _Step | None = None
                    if self._leads(user_id):
                        step, ahead = await self._fold_page(user_id, cached, ahead)
                    if writing is not None:
                        task, previous = writing
                        writing = None
                        outcome = await task
                        if outcome != "applied":
                            if outcome == "conflict":
                                self.stats.conflicts += 1
                            cached = None
                            if outcome == "gone":
                                return folded
                            continue  # lost a race: again from the new checkpoint
                        folded += self._count(previous)
                    if step is None:
                        if cached is not None:
                            self._remember(user_id, cached)
                        return folded
                    writing = (asyncio.create_task(self._write(step.update)), step)
                    cached = step.after
            finally:
                if ahead is not None:
                    ahead.cancel()
                    with contextlib.suppress(BaseException):
                        await ahead
                if writing is not None:
                    # Cancelled mid-write: let it finish (it commits or not), forget the state.
                    with contextlib.suppress(BaseException):
                        await writing[0]
                    self._forget(user_id)

    async def _write(self, update: Update) -> WriteOutcome:
        if update.snapshots:
            # Compressing a big state costs as much as folding thousands of
            # events; on a worker thread it overlaps the next page's fold.
            snapshots = await asyncio.to_thread(compressed, update.snapshots)
            update = dataclasses.replace(update, snapshots=snapshots)
        return await self.read_models.write(update)

    def _count(self, step: _Step) -> int:
        if step.refold:
            self.stats.refolds += 1
        else:
            self.stats.applied += step.events
        return step.events

    async def _load(self, user_id: int) -> _Cached:
        loaded = await self.read_models.load(user_id)
        if loaded is None:
            return _Cached(0, MIN_KEY, new_state(), 0, 0)
        cp = loaded.checkpoint
        with collector_paused():
            state = decode_state(loaded.state)
        return _Cached(
            cp.pos, cp.key, state, loaded.snap_since, loaded.snap_bytes, len(loaded.state)
        )

    async def _fold_page(
        self, user_id: int, cached: _Cached, ahead: asyncio.Task[list[Stored]] | None
    ) -> tuple[_Step | None, asyncio.Task[list[Stored]] | None]:
        """Read and fold the page after ``cached``; None when there is none.

        Also returns the read of the next page, started before this one is
        folded. ``cached.state`` is folded in place: it belongs to the step now.
        """
        if ahead is not None:
            stored = await ahead
            if stored and stored[0].pos != cached.pos + 1:  # read for another checkpoint
                stored = await self.store.read(user_id, cached.pos, PAGE)
        else:
            stored = await self.store.read(user_id, cached.pos, PAGE)
        if not stored:
            return None, None
        max_pos = stored[-1].pos
        # A full page: the next one is probably there too; read it while folding.
        ahead = (
            asyncio.create_task(self.store.read(user_id, max_pos, PAGE))
            if len(stored) == PAGE
            else None
        )
        with collector_paused():
            events = sorted([decode_event(s.body) for s in stored], key=_canonical)
        targets = await self._outside_targets(user_id, events)
        reach_back = [k for k in targets.values() if k <= cached.key]
        late = key_of(events[0]) < cached.key
        replace_after: Key | None = None
        if not late and not reach_back:
            with collector_paused():
                result = fold_run(
                    cached.state,
                    events,
                    snap_since=cached.snap_since,
                    snap_bytes=cached.snap_bytes,
                    targets=targets,
                )
        else:
            earliest = min([key_of(events[0]), *reach_back] if late else reach_back)
            replace_after, result = await self._refold(user_id, earliest, events, targets, max_pos)
        # A checkpoint is only ever written with events, so pos 0 means none yet.
        update = self._update(user_id, cached.pos or None, max_pos, result, replace_after)
        state = result.state
        assert state.last_key is not None
        after = _Cached(
            max_pos,
            state.last_key,
            state,
            result.snap_since,
            result.snap_bytes,
            len(update.state),
        )
        return _Step(update, after, len(events), replace_after is not None), ahead

    async def _outside_targets(self, user_id: int, events: list[Event]) -> dict[UUID, Key]:
        """Keys of the already-folded events that new retractions take back."""
        ids = {e.id for e in events}
        wanted = [e.target for e in events if type(e) is EntryRetracted and e.target not in ids]
        if not wanted:
            return {}
        found = await self.read_models.event_keys(user_id, [str(t) for t in wanted])
        return {UUID(text): key for text, key in found.items()}

    async def _refold(
        self,
        user_id: int,
        earliest: Key,
        events: list[Event],
        targets: dict[UUID, Key],
        max_pos: int,
    ) -> tuple[Key, Folded]:
        """Re-fold from the newest usable snapshot before ``earliest``."""
        pending = [
            RetractionRow(key_of(e), targets.get(e.target))
            for e in events
            if type(e) is EntryRetracted
        ]
        snapshot = await self.read_models.best_snapshot(user_id, earliest, pending)
        if snapshot is None:
            base, state, size = MIN_KEY, new_state(), 0
        else:
            raw = zlib.decompress(snapshot.body)
            base, size = snapshot.key, len(raw)
            state = decode_state(raw)
        run = await self._read_after(user_id, base, max_pos)
        with collector_paused():
            return base, fold_run(state, run, snap_since=0, snap_bytes=size)

    async def _read_after(self, user_id: int, after: Key, max_pos: int) -> list[Event]:
        run: list[Event] = []
        while True:
            page = await self.store.read_in_order(user_id, after, max_pos, REFOLD_PAGE)
            with collector_paused():
                run.extend(decode_event(s.body) for s in page)
            if len(page) < REFOLD_PAGE:
                return run
            after = key_of(run[-1])

    def _update(
        self,
        user_id: int,
        expected: int | None,
        max_pos: int,
        result: Folded,
        replace_after: Key | None,
    ) -> Update:
        state = result.state
        assert state.last_key is not None
        return Update(
            user_id=user_id,
            expected_pos=expected,
            checkpoint=Checkpoint(max_pos, state.last_key, state.event_count, now_ms()),
            snap_since=result.snap_since,
            snap_bytes=result.snap_bytes,
            state=encode_state(state),
            replace_after=replace_after,
            timeline=result.timeline,
            snapshots=result.snapshots,
            retractions=result.retractions,
            goals=goal_rows(state),
            grants=grant_rows(state),
            member_facts=encode_member_facts(member_facts(state)),
        )

    def _remember(self, user_id: int, cached: _Cached) -> None:
        self._forget(user_id)
        self._cache[user_id] = cached
        self._cached_bytes += cached.size
        while len(self._cache) > CACHED_USERS or (
            self._cached_bytes > CACHED_BYTES and len(self._cache) > 1
        ):
            _, evicted = self._cache.popitem(last=False)
            self._cached_bytes -= evicted.size

    def _forget(self, user_id: int) -> _Cached | None:
        cached = self._cache.pop(user_id, None)
        if cached is not None:
            self._cached_bytes -= cached.size
        return cached

    # -- rebuilding -------------------------------------------------------

    async def rebuild_user(self, user_id: int) -> int:
        """Recompute the user's read models from the whole log; return the events folded.

        One transaction replaces every row (compare-and-set like a step, so a
        projector running meanwhile is never overwritten by a stale rebuild).
        A rebuild that keeps losing that race (the user's log grows faster than
        it can be folded whole) gives up with :class:`RebuildRaced`.
        """
        for _ in range(REBUILD_ATTEMPTS):
            self._forget(user_id)
            loaded = await self.read_models.load(user_id)
            expected = loaded.checkpoint.pos if loaded is not None else None
            head = await self.store.head(user_id)
            if head == 0:
                await self.read_models.delete_user(user_id)
                return 0
            run = await self._read_after(user_id, MIN_KEY, head)
            with collector_paused():
                result = fold_run(new_state(), run, snap_since=0, snap_bytes=0)
            update = self._update(user_id, expected, head, result, MIN_KEY)
            outcome = await self._write(update)
            if outcome == "applied":
                return len(run)
            if outcome == "gone":
                return 0
            self.stats.conflicts += 1
        raise RebuildRaced(user_id)
