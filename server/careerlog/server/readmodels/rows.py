"""The rows of the read models, as plain values: what the projector writes and the stores keep.

Pure: no I/O. Both backends store exactly these values, so one projector
serves both and a rebuild can be compared with incremental folding row for
row.

Rules of this module:
- Timeline rows, snapshots and retraction rows are keyed by canonical key
  ``(hlc, device, dseq)``: a late event replaces every such row after the
  snapshot the projector re-folds from (``Update.replace_after``), so rows
  never depend on the order events arrived in.
- Goal rows, grants and member facts are functions of the current state
  alone: every update replaces the user's whole set.
- Snapshots are placed by a rule of the canonical prefix alone (events since
  the previous snapshot, and that snapshot's size), so incremental folding
  and a rebuild put them in the same places.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from careerlog.server.readmodels.base import Checkpoint
from careerlog.shared import hlc as hlc_clock
from careerlog.shared.projections.progress import goal_progress
from careerlog.shared.projections.state import CareerState
from careerlog.shared.projections.timeline import TimelineEntry

__all__ = [
    "EPOCH",
    "ID_WINDOW_MS",
    "MAX_HLC",
    "MIN_KEY",
    "SNAPSHOT_BYTES_PER_EVENT",
    "SNAPSHOT_MAX_EVERY",
    "SNAPSHOT_MIN_EVERY",
    "GoalRow",
    "GrantRow",
    "Key",
    "Loaded",
    "OutOfRange",
    "RetractionRow",
    "SnapshotRow",
    "TimelineRow",
    "Update",
    "compressed",
    "entry_from_row",
    "goal_rows",
    "grant_rows",
    "id_windows",
    "micros",
    "parse_event_id",
    "recorded_limit",
    "snapshot_interval",
    "timeline_query",
    "usable",
]

Key = tuple[int, str, int]
#: Sorts before every real key (``hlc >= 0``, devices are non-empty).
MIN_KEY: Key = (-1, "", 0)
#: The largest HLC either backend can hold (a signed 64-bit column): a wall
#: time near the year 6429. Anything past it is refused before it reaches a
#: driver, which would raise OverflowError mid-query.
MAX_HLC = (1 << 63) - 1
#: How far an event's HLC may run ahead of the time in its UUIDv7 id (both are
#: read from one clock when the event is minted): the window searched first
#: when an event is looked up by id.
ID_WINDOW_MS = 86_400_000

#: Fewest events between two snapshots.
SNAPSHOT_MIN_EVERY = 1000
#: Most events between two snapshots: bounds the tail a time-travel query
#: folds (a few tens of milliseconds at ~2.5 µs an event).
SNAPSHOT_MAX_EVERY = 8000
#: Snapshot budget, amortised per event, in bytes of the encoded state (before
#: compression, about 4:1): a big state is snapshotted less often, within the
#: bounds above. Counted before compression so that the fold can place the
#: next snapshot without waiting for the last one to be compressed.
SNAPSHOT_BYTES_PER_EVENT = 160

#: What ``occurred_us`` counts from.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def snapshot_interval(last_snapshot_bytes: int) -> int:
    """Events to fold after a snapshot (of this many encoded bytes) before the next one."""
    wanted = last_snapshot_bytes // SNAPSHOT_BYTES_PER_EVENT
    return min(SNAPSHOT_MAX_EVERY, max(SNAPSHOT_MIN_EVERY, wanted))


def usable(snapshot: Key, upto: Key, retractions: list[RetractionRow]) -> bool:
    """May the fold of the events <= ``upto`` start from a snapshot at ``snapshot``?

    Not if a retraction between them takes back an event the snapshot folded
    in (the client store's rule, for the same reason).
    """
    for r in retractions:
        if r.target is not None and snapshot < r.key <= upto and r.target <= snapshot:
            return False
    return True


def micros(at: datetime) -> int:
    """Microseconds since the epoch, exactly (``timestamp()`` would round)."""
    delta = at - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


class OutOfRange(ValueError):
    """A time or key past what an HLC can name: a caller's mistake (the API answers 400)."""


def recorded_limit(at: datetime) -> int:
    """The largest HLC of an event recorded by ``at`` (as ``plan_as_of`` counts it).

    Raises:
        OutOfRange: ``at`` is past the last time an HLC can name.
    """
    limit = hlc_clock.pack(int(at.timestamp() * 1000), hlc_clock.MAX_COUNTER)
    if limit > MAX_HLC:
        raise OutOfRange(f"{at.isoformat()} is past the last time an HLC can name")
    return limit


#: What a 64-bit integer column holds.
_INT64 = range(-(1 << 63), 1 << 63)


def _checked(key: Key) -> Key:
    if key[0] not in _INT64 or key[2] not in _INT64:
        raise OutOfRange(f"key {key!r} is outside the 64-bit range of the stores")
    return key


def timeline_query(
    user_id: int,
    *,
    recorded_by: datetime | None,
    occurred_from: datetime | None,
    occurred_to: datetime | None,
    types: frozenset[str] | None,
    before: Key | None,
    limit: int,
    mark: Callable[[int], str],
) -> tuple[str, list[Any]] | None:
    """The SELECT of one timeline page and its parameters (None: no row can match).

    One query for both backends, which differ only in how a placeholder is
    spelled: ``mark(n)`` gives the n-th (1-based), ``?`` or ``$n``. Rows come
    newest first in canonical order, as :func:`entry_from_row` reads them.

    Raises:
        OutOfRange: ``recorded_by`` or ``before`` is past what an HLC can name.
    """
    if limit <= 0 or (types is not None and not types):
        return None
    params: list[Any] = []

    def param(value: Any) -> str:
        params.append(value)
        return mark(len(params))

    where = [f"user_id = {param(user_id)}"]
    if before is not None:
        hlc, device, dseq = _checked(before)
        where.append(f"(hlc, device, dseq) < ({param(hlc)}, {param(device)}, {param(dseq)})")
    if recorded_by is not None:
        where.append(f"hlc <= {param(recorded_limit(recorded_by))}")
    if occurred_from is not None:
        where.append(f"occurred_us >= {param(micros(occurred_from))}")
    if occurred_to is not None:
        where.append(f"occurred_us <= {param(micros(occurred_to))}")
    if types is not None:
        where.append(f"type IN ({', '.join(param(t) for t in sorted(types))})")
    sql = (
        "SELECT hlc, device, dseq, event_id, type, occurred_us, record_id, summary, retracted"
        f" FROM rm_timeline WHERE {' AND '.join(where)}"
        f" ORDER BY hlc DESC, device DESC, dseq DESC LIMIT {param(min(limit, MAX_HLC))}"
    )
    return sql, params


def parse_event_id(text: str) -> UUID | None:
    """The id an event id's text names (None: not an id, so it names no event)."""
    try:
        return UUID(text)
    except ValueError:
        return None


def id_windows(event_id: UUID) -> list[tuple[int, int] | None]:
    """Where to look for an event by its id, in turn: an HLC range, then (None) anywhere.

    Near the time in its UUIDv7 first, clamped to the HLCs the stores hold (an
    id whose time is past them has no window and is looked for anywhere).
    """
    ms = event_id.int >> 80
    low = hlc_clock.pack(ms)
    if low > MAX_HLC:
        return [None]
    return [(low, min(hlc_clock.pack(ms + ID_WINDOW_MS), MAX_HLC)), None]


class TimelineRow(NamedTuple):
    """One timeline entry as stored. A tuple in column order: a projector step
    writes thousands, so both backends bind them as they are."""

    hlc: int
    device: str
    dseq: int
    #: The event's id, as its 16 bytes (a third of the text form's size).
    event_id: bytes
    type: str
    occurred_us: int
    record_id: str | None
    summary: str
    retracted: bool

    @property
    def key(self) -> Key:
        return (self.hlc, self.device, self.dseq)


def entry_from_row(row: TimelineRow) -> TimelineEntry:
    return TimelineEntry(
        event_id=str(UUID(bytes=row.event_id)),
        type=row.type,
        occurred_at=from_micros(row.occurred_us),
        recorded_at=datetime.fromtimestamp(hlc_clock.wall_ms(row.key[0]) / 1000, tz=UTC),
        summary=row.summary,
        record_id=row.record_id,
        retracted=row.retracted,
    )


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """The fold of exactly the events <= ``key``: the msgpack state, zlib-compressed
    as stored (``fold_run`` hands them out uncompressed; see :func:`compressed`)."""

    key: Key
    events: int
    body: bytes


def compressed(snapshots: list[SnapshotRow]) -> list[SnapshotRow]:
    """The snapshots as stored. zlib releases the GIL: run it on a worker thread."""
    return [SnapshotRow(s.key, s.events, zlib.compress(s.body, 1)) for s in snapshots]


@dataclass(frozen=True, slots=True)
class RetractionRow:
    """A retraction at ``key`` and the key of the event it takes back (None: not in the log)."""

    key: Key
    target: Key | None


@dataclass(frozen=True, slots=True)
class GoalRow:
    """One goal as facts for analytics (no title: aggregates never read what people wrote)."""

    goal_id: str
    status: str
    horizon: str
    parent_id: str | None
    start_on: date
    due_on: date
    original_due_on: date
    set_on: date
    closed_on: date | None
    baseline: float
    target: float
    last_value: float | None
    #: Done so far, 0 to 100: the goal-progress view's figure, which does not
    #: depend on today (only the expected path and the verdict do).
    percent_done: float
    milestones_total: int
    milestones_reached: int
    tasks_open: int
    tasks_done: int
    corrections: int
    #: Days the due date has slipped in all (rescheduling later minus earlier).
    slip_days: int
    last_progress_on: date | None


@dataclass(frozen=True, slots=True)
class GrantRow:
    grantee: str
    scopes: tuple[str, ...]
    granted_on: date
    expires_on: date | None


def goal_rows(state: CareerState) -> list[GoalRow]:
    rows = []
    for goal in state.goals.values():
        progress = goal_progress(state, goal.goal_id, goal.set_on)
        corrections = state.corrections.get(goal.goal_id, [])
        rows.append(
            GoalRow(
                goal_id=goal.goal_id,
                status=goal.status,
                horizon=goal.horizon,
                parent_id=goal.parent_id,
                start_on=goal.start_on,
                due_on=goal.due_on,
                original_due_on=goal.original_due_on,
                set_on=goal.set_on,
                closed_on=goal.closed_on,
                baseline=goal.measure.baseline,
                target=goal.measure.target,
                last_value=goal.last_value,
                percent_done=progress.percent_done,
                milestones_total=progress.milestones_total,
                milestones_reached=progress.milestones_reached,
                tasks_open=progress.tasks_open,
                tasks_done=progress.tasks_done,
                corrections=len(corrections),
                slip_days=sum(c.slip_days for c in corrections if c.milestone_id is None),
                last_progress_on=goal.last_progress_on,
            )
        )
    return rows


def grant_rows(state: CareerState) -> list[GrantRow]:
    return [
        GrantRow(share.grantee, tuple(share.scopes), share.granted_on, share.expires_on)
        for share in state.shares.values()
    ]


@dataclass(frozen=True, slots=True)
class Loaded:
    """What the projector needs to go on folding a user: checkpoint, state, snapshot chain."""

    checkpoint: Checkpoint
    state: bytes
    #: Events folded since the newest snapshot, and that snapshot's size.
    snap_since: int
    snap_bytes: int


@dataclass(frozen=True, slots=True)
class Update:
    """Everything one projector step writes for one user, in one transaction.

    Applied only if the user's checkpoint ``pos`` is still ``expected_pos``
    (None: no checkpoint yet); otherwise another projector got there first
    and nothing is written.
    """

    user_id: int
    expected_pos: int | None
    checkpoint: Checkpoint
    snap_since: int
    snap_bytes: int
    state: bytes
    #: None: rows are only added after the old checkpoint key. A key: every
    #: timeline, snapshot and retraction row after it is replaced by these.
    replace_after: Key | None
    timeline: list[TimelineRow]
    snapshots: list[SnapshotRow]
    retractions: list[RetractionRow]
    goals: list[GoalRow]
    grants: list[GrantRow]
    member_facts: bytes
