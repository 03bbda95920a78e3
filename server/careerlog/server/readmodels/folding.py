"""Folding a run of events into read-model rows: the projector's pure core.

A *run* is a list of events in canonical order that all sort after the state
they are folded onto. :func:`fold_run` folds them one at a time and returns
the rows they produce: a timeline row each (its summary named from the state
just before the event), the snapshots that fall due, the retractions, and the
state after the last one.

Rules of this module:
- Every state this produces is *prefix-exact*: the state after event i is
  the fold of exactly the events up to i. That is what makes a snapshot
  usable for time travel, and what makes a rebuild (one run from the empty
  state) and incremental folding (many runs) produce the same rows.
- A retraction of an event folded earlier in the run cannot be applied on
  top (its target's effects are in the state): the state is re-folded from
  the newest snapshot of the run before the target that stays usable, or
  from the run's start. A retraction reaching behind the run is the
  projector's business: it starts the run before the target instead.
- Snapshots fall due by a rule of the canonical prefix alone (see
  :func:`careerlog.server.readmodels.rows.snapshot_interval`). They come out
  uncompressed: the caller compresses them off the event loop's thread.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from uuid import UUID

from careerlog.server.readmodels.rows import (
    EPOCH,
    Key,
    RetractionRow,
    SnapshotRow,
    TimelineRow,
    snapshot_interval,
)
from careerlog.shared.events import EntryRetracted, Event
from careerlog.shared.projections import CareerState, apply, decode_state, encode_state, fold
from careerlog.shared.projections.timeline import summarize

__all__ = ["Folded", "collector_paused", "fold_run", "key_of"]


def key_of(event: Event) -> Key:
    return (event.hlc, event.device, event.dseq)


@dataclass(slots=True)
class Folded:
    state: CareerState
    timeline: list[TimelineRow]
    snapshots: list[SnapshotRow]
    retractions: list[RetractionRow]
    #: The snapshot chain after the run: events since the newest snapshot, its size.
    snap_since: int
    snap_bytes: int


def fold_run(
    state: CareerState,
    run: list[Event],
    *,
    snap_since: int,
    snap_bytes: int,
    targets: Mapping[UUID, Key] | None = None,
) -> Folded:
    """Fold ``run`` (canonical order, all after ``state``) onto ``state``, which it takes over.

    ``snap_since`` and ``snap_bytes`` are where the snapshot chain stands;
    ``targets`` gives the keys of retraction targets folded before the run.
    """
    targets = targets or {}
    has_retractions = EntryRetracted in map(type, run)
    # Only a run with a retraction may need to go back to its start.
    base = encode_state(state) if has_retractions else b""
    index = {event.id: i for i, event in enumerate(run)} if has_retractions else {}
    #: (index of the last event folded in, encoded state) of this run's snapshots.
    marks: list[tuple[int, bytes]] = []
    #: (index of a retraction, index of its target) inside this run.
    reaches: list[tuple[int, int]] = []
    snapshots: list[SnapshotRow] = []
    retractions: list[RetractionRow] = []
    interval = snapshot_interval(snap_bytes)
    epoch = EPOCH
    row = tuple.__new__  # a TimelineRow without the call through ``_make``
    timeline: list[TimelineRow] = []
    append = timeline.append
    # The loop runs once per event of every rebuild: names are local and the
    # work is inlined (``micros``, the key) where a call would cost as much.
    for i, event in enumerate(run):
        kind = type(event)
        # Named from the state just before the event, as it stood then.
        summary, record_id = summarize(event, state)
        delta = event.occurred_at - epoch
        append(
            row(
                TimelineRow,
                (
                    event.hlc,
                    event.device,
                    event.dseq,
                    event.id.bytes,
                    kind.__name__,
                    (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds,
                    record_id,
                    summary,
                    False,
                ),
            )
        )
        if kind is EntryRetracted:
            assert isinstance(event, EntryRetracted)
            key = (event.hlc, event.device, event.dseq)
            j = index.get(event.target)
            # A retraction that sorts before its target takes nothing back (see
            # ``retracted_ids``): it has no target, whether or not that event
            # has arrived yet, so incremental folding and a rebuild agree.
            target: Key | None = None
            if j is None:
                target = targets.get(event.target)
            elif j < i:
                target = key_of(run[j])
            retractions.append(RetractionRow(key, target))
            if j is not None and j < i:
                reaches.append((i, j))
                state = _refold(run, i, j, base, marks, reaches)
            else:
                apply(state, event)
        else:
            apply(state, event)
        snap_since += 1
        if snap_since >= interval:
            raw = encode_state(state)
            snapshots.append(SnapshotRow(key_of(event), state.event_count, raw))
            if has_retractions:
                marks.append((i, raw))
            snap_since, snap_bytes = 0, len(raw)
            interval = snapshot_interval(snap_bytes)
    # Rows start as not retracted; the few the state says are get their flag.
    if state.retracted:
        retracted = {UUID(target).bytes for target in state.retracted}
        timeline = [r._replace(retracted=True) if r[3] in retracted else r for r in timeline]
    return Folded(state, timeline, snapshots, retractions, snap_since, snap_bytes)


def _refold(
    run: list[Event],
    i: int,
    j: int,
    base: bytes,
    marks: list[tuple[int, bytes]],
    reaches: list[tuple[int, int]],
) -> CareerState:
    """The exact state after ``run[i]``, a retraction of ``run[j]`` (j < i)."""
    start, raw = -1, base
    for mark, encoded in reversed(marks):
        # Usable: before the target, and no retraction since reaches behind it.
        if mark < j and not any(mark < r <= i and t <= mark for r, t in reaches):
            start, raw = mark, encoded
            break
    return fold(run[start + 1 : i + 1], decode_state(raw))


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Folding and decoding allocate many small objects that never form cycles:
    keep the cyclic collector out of it (it would cost more than the work)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
