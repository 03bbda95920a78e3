"""The local store: durable appends, reopening, rebuild, late events, retractions."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from careerlog.client import commands, database
from careerlog.client import store as store_module
from careerlog.client.commands import CommandError
from careerlog.client.store import LocalStore, StoreError
from careerlog.client.store_schema import MIGRATIONS
from careerlog.shared.codec import canonical_key, encode_event
from careerlog.shared.events import Event, GoalSet
from careerlog.shared.projections import encode_state, fold
from tests.client.conftest import START_MS, StepClock
from tests.lockholder import other_connection, release_later


class _LoadCounter:
    """Counts how often ``store`` reads the log from disk again (``_load``)."""

    def __init__(self, store: LocalStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        load = store._load

        async def counting() -> None:
            self.count += 1
            await load()

        monkeypatch.setattr(store, "_load", counting)


async def _goal(store: LocalStore, title: str = "Ship the platform", **kw: object) -> str:
    event = await store.record(
        partial(commands.set_goal, title=title, due_on=date(2026, 9, 1), target=10, **kw)
    )
    assert isinstance(event, GoalSet)
    return event.goal_id


async def _plan(store: LocalStore) -> str:
    goal = await _goal(store)
    milestone = await store.record(
        partial(commands.add_milestone, goal=goal, title="Design approved", due_on=date(2026, 4, 1))
    )
    await store.record(partial(commands.record_progress, goal=goal, value=3))
    await store.record(partial(commands.reach_milestone, milestone=milestone.milestone_id))  # type: ignore[attr-defined]
    await store.record(
        partial(
            commands.revise_goal,
            goal=goal,
            changes={"target": 12.0},
            reason_code="scope_changed",
            reason="bigger scope",
        )
    )
    return goal


async def test_appends_are_gapless_ordered_and_queued_for_sync(store: LocalStore) -> None:
    await _plan(store)
    events = await store.events()
    assert [e.dseq for e in events] == [1, 2, 3, 4, 5]
    assert [e.hlc for e in events] == sorted({e.hlc for e in events})
    assert {e.device for e in events} == {store.device}
    assert await store.pending_count() == 5
    assert [e.dseq for e, _ in await store.pending(10)] == [1, 2, 3, 4, 5]


async def test_reopening_gives_the_same_state_and_continues_the_sequence(
    tmp_path: Path, clock: StepClock
) -> None:
    home = tmp_path / "home"
    async with await LocalStore.open(home, clock=clock) as first:
        await _plan(first)
        before = encode_state(first.state)
        device = first.device
    async with await LocalStore.open(home, clock=clock) as second:
        assert encode_state(second.state) == before
        assert second.device == device
        event = await second.record(partial(commands.log_activity, text="Read a paper"))
        assert event.dseq == 6


async def test_a_refused_command_records_nothing_and_uses_no_sequence_number(
    store: LocalStore,
) -> None:
    goal = await _goal(store)
    before = encode_state(store.state)
    with pytest.raises(CommandError, match="no milestone matches"):
        await store.record(partial(commands.reach_milestone, milestone="zzzz"))
    with pytest.raises(CommandError, match="must not be empty"):
        await store.record(partial(commands.add_milestone, goal=goal, title="  "))
    assert encode_state(store.state) == before
    assert store.count == 1
    event = await store.record(partial(commands.record_progress, goal=goal, value=1))
    assert event.dseq == 2


async def test_reaching_a_milestone_twice_is_refused(store: LocalStore) -> None:
    goal = await _goal(store)
    milestone = await store.record(partial(commands.add_milestone, goal=goal, title="Demo"))
    mid = milestone.milestone_id  # type: ignore[attr-defined]
    await store.record(partial(commands.reach_milestone, milestone=mid))
    with pytest.raises(CommandError, match="already reached"):
        await store.record(partial(commands.reach_milestone, milestone=mid))
    assert store.count == 3


async def test_rebuild_gives_identical_read_models_across_snapshots(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "SNAPSHOT_EVERY", 3)
    goal = await _plan(store)
    for value in range(4, 10):
        await store.record(partial(commands.record_progress, goal=goal, value=value))
    incremental = encode_state(store.state)
    assert encode_state(await store.rebuild()) == incremental
    assert encode_state(fold(await store.events())) == incremental


async def test_retraction_removes_the_effect_and_survives_reopening(
    tmp_path: Path, clock: StepClock
) -> None:
    home = tmp_path / "home"
    async with await LocalStore.open(home, clock=clock) as opened:
        goal = await _goal(opened)
        wrong = await opened.record(partial(commands.record_progress, goal=goal, value=9))
        assert opened.state.goals[goal].last_value == 9
        await opened.record(partial(commands.retract, target=wrong.id, known=True, reason="typo"))
        assert opened.state.goals[goal].last_value is None
        assert str(wrong.id) in opened.state.retracted
        with pytest.raises(CommandError, match="already retracted"):
            await opened.record(partial(commands.retract, target=wrong.id, known=True))
        state = encode_state(opened.state)
    async with await LocalStore.open(home, clock=clock) as reopened:
        assert encode_state(reopened.state) == state
        assert encode_state(await reopened.rebuild()) == state
        # The mistake stays in the log: history is corrected, never rewritten.
        assert wrong.id in {e.id for e in await reopened.events()}


async def test_importing_the_same_events_twice_adds_nothing(
    tmp_path: Path, clock: StepClock
) -> None:
    async with await LocalStore.open(tmp_path / "a", clock=clock) as source:
        await _plan(source)
        events = await source.events()
        expected = encode_state(source.state)
    async with await LocalStore.open(tmp_path / "b", clock=StepClock(seed="b")) as target:
        first = await target.import_events(events)
        second = await target.import_events(events)
        assert (first.added, first.duplicates) == (5, 0)
        assert (second.added, second.duplicates) == (0, 5)
        assert encode_state(target.state) == expected
        # Foreign events are not this device's to push.
        assert await target.pending_count() == 0


async def test_a_late_event_is_folded_in_canonical_order(tmp_path: Path) -> None:
    early_clock = StepClock(seed="early")
    async with await LocalStore.open(tmp_path / "offline", clock=early_clock) as offline:
        goal_elsewhere = await _goal(offline, "Learn Rust")
        old_events = await offline.events()
    late_clock = StepClock(start_ms=early_clock.ms + 3_600_000, seed="late")
    async with await LocalStore.open(tmp_path / "main", clock=late_clock) as main:
        await _plan(main)
        result = await main.import_events(old_events)
        assert result.added == 1
        everything = await main.events()
        assert [canonical_key(e) for e in everything] == sorted(
            canonical_key(e) for e in everything
        )
        assert everything[0].id == old_events[0].id
        assert goal_elsewhere in main.state.goals
        assert encode_state(main.state) == encode_state(fold(everything))
        assert encode_state(await main.rebuild()) == encode_state(fold(everything))


async def test_a_retraction_arriving_before_its_target_still_applies(
    tmp_path: Path, clock: StepClock
) -> None:
    # Device A records a goal and a mistaken check-in; device B, having
    # received them, retracts the check-in; C hears from B before A is done.
    async with await LocalStore.open(tmp_path / "a", clock=clock) as a:
        goal = await _goal(a)
        wrong = await a.record(partial(commands.record_progress, goal=goal, value=7))
        from_a = await a.events()
    async with await LocalStore.open(tmp_path / "b", clock=StepClock(seed="b")) as b:
        await b.import_events(from_a)
        retraction = await b.record(partial(commands.retract, target=wrong.id, known=True))
        expected = encode_state(b.state)
    async with await LocalStore.open(tmp_path / "c", clock=StepClock(seed="c")) as c:
        await c.import_events([from_a[0], retraction])
        assert c.state.retracted == {str(wrong.id): ""}
        await c.import_events([from_a[1]])
        assert c.state.goals[goal].last_value is None
        assert encode_state(c.state) == expected
        assert encode_state(await c.rebuild()) == expected


async def test_a_gap_in_a_devices_sequence_is_refused_and_adds_nothing(
    tmp_path: Path, clock: StepClock
) -> None:
    async with await LocalStore.open(tmp_path / "a", clock=clock) as a:
        await _plan(a)
        events = await a.events()
    async with await LocalStore.open(tmp_path / "b", clock=StepClock(seed="b")) as b:
        with pytest.raises(StoreError, match=r"events 2\.\.3 of device"):
            await b.import_events([events[0], events[3]])
        assert b.count == 0
        assert (await b.import_events(events)).added == 5


async def test_plan_as_of_a_time_and_what_had_happened_by_a_date(
    store: LocalStore, clock: StepClock
) -> None:
    clock.at(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    goal = await _goal(store)
    clock.at(datetime(2026, 3, 20, 9, 0, tzinfo=UTC))
    await store.record(
        partial(
            commands.revise_goal,
            goal=goal,
            changes={"target": 20.0},
            reason_code="scope_changed",
        )
    )
    # Recorded on 20 March, but it happened on 5 March.
    await store.record(
        partial(
            commands.log_activity,
            text="Gave a talk",
            kind="speaking",
            occurred_at=datetime(2026, 3, 5, 12, 0, tzinfo=UTC),
        )
    )
    before_revision = await store.state_as_of(datetime(2026, 3, 10, tzinfo=UTC))
    assert before_revision.goals[goal].measure.target == 10
    assert before_revision.activities == 0
    happened = await store.state_occurred_by(datetime(2026, 3, 10, tzinfo=UTC))
    assert happened.activities == 1
    assert happened.goals[goal].measure.target == 10
    now = await store.state_as_of(datetime(2026, 3, 21, tzinfo=UTC))
    assert now.goals[goal].measure.target == 20
    assert (await store.state_as_of(datetime(2026, 1, 1, tzinfo=UTC))).goals == {}


async def test_event_filters_and_lookup_by_prefix(store: LocalStore) -> None:
    await _plan(store)
    events = await store.events()
    newest = await store.events(limit=2, newest_first=True)
    assert [e.id for e in newest] == [events[-1].id, events[-2].id]
    target = events[2]
    assert await store.find_event(target.id.hex[-12:]) is None  # a suffix is not a prefix
    assert await store.find_event(target.id.hex) == target
    assert await store.find_event(str(target.id)) == target
    assert await store.find_event("not-hex") is None
    assert await store.find_event(target.id.hex[:6]) is None  # all share the timestamp


async def test_acknowledged_events_leave_the_outbox_and_rejected_ones_stay_flagged(
    store: LocalStore,
) -> None:
    await _plan(store)
    pending = [e for e, _ in await store.pending(10)]
    await store.mark_acked([(e, pos) for pos, e in enumerate(pending[:3], start=1)])
    await store.mark_rejected(pending[3].id, pending[3].dseq, "clock_skew", "too far ahead")
    assert [e.dseq for e, _ in await store.pending(10)] == [5]
    rejected = await store.rejected()
    assert [(r.dseq, r.code, r.reason) for r in rejected] == [(4, "clock_skew", "too far ahead")]
    assert store.count == 5  # still in the log


async def test_opening_a_missing_or_foreign_home_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="careerlog init"):
        await LocalStore.open(tmp_path / "nowhere", create=False)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / store_module.DB_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a Careerlog database"):
        await LocalStore.open(junk)


async def test_a_new_home_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    async with await LocalStore.open(tmp_path / "home"):
        pass
    assert stat.S_IMODE((tmp_path / "home").stat().st_mode) == 0o700


async def test_a_home_from_a_newer_careerlog_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    async with await LocalStore.open(home):
        pass
    with sqlite3.connect(home / store_module.DB_NAME) as db:
        db.execute("PRAGMA user_version=999")
    with pytest.raises(StoreError, match="newer Careerlog"):
        await LocalStore.open(home)


async def test_file_size_counts_the_database_pages(store: LocalStore) -> None:
    empty = await store.file_size()
    for n in range(200):
        await store.record(partial(commands.log_activity, text=f"step {n}"))
    assert await store.file_size() > empty


async def test_two_processes_on_one_home_never_reuse_a_sequence_number(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    first = await LocalStore.open(home, clock=StepClock(seed="1"))
    second = await LocalStore.open(home, clock=StepClock(start_ms=START_MS + 500, seed="2"))
    try:
        goal = await _goal(first)
        # ``second`` has not seen the goal, nor dseq 1: it must reload, find
        # the goal, and take dseq 2.
        event = await second.record(partial(commands.record_progress, goal=goal, value=1))
        assert event.dseq == 2
        again = await first.record(partial(commands.record_progress, goal=goal, value=2))
        assert again.dseq == 3
        events = await first.events()
        assert sorted(e.dseq for e in events) == [1, 2, 3]
        assert second.state.goals[goal].last_value == 1
        # Another device's events arriving through ``second`` (a sync daemon)
        # are in ``first``'s state as soon as it records again.
        async with await LocalStore.open(tmp_path / "other", clock=StepClock(seed="o")) as other:
            foreign = await _goal(other, "Learn Rust")
            await second.import_events(await other.events())
        await first.record(partial(commands.log_activity, text="after the sync"))
        assert foreign in first.state.goals
        assert encode_state(first.state) == encode_state(fold(await first.events()))
    finally:
        await first.close()
        await second.close()


async def test_a_version_1_home_is_migrated_without_losing_anything(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    db = sqlite3.connect(home / store_module.DB_NAME)
    for statement in MIGRATIONS[0]:
        db.execute(statement)
    source = await LocalStore.open(tmp_path / "source", clock=StepClock())
    await _plan(source)
    events = await source.events()
    device = source.device
    expected = encode_state(source.state)
    await source.close()
    db.execute("INSERT INTO meta VALUES ('device', ?)", (device,))
    db.executemany(
        "INSERT INTO events (hlc, device, dseq, id, occurred_ms, body) VALUES (?,?,?,?,?,?)",
        [(e.hlc, e.device, e.dseq, e.id.bytes, 0, encode_event(e)) for e in events],
    )
    db.executemany(
        "INSERT INTO outbox (dseq, hlc) VALUES (?, ?)", [(e.dseq, e.hlc) for e in events]
    )
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    async with await LocalStore.open(home, clock=StepClock(start_ms=START_MS + 10**6)) as store:
        assert encode_state(store.state) == expected
        assert await store.pending_count() == 5
        event = await store.record(partial(commands.log_activity, text="after the upgrade"))
        assert event.dseq == 6
        assert await store.pending_count() == 6


async def test_importing_own_events_that_skip_ahead_is_refused(
    tmp_path: Path, clock: StepClock
) -> None:
    async with await LocalStore.open(tmp_path / "a", clock=clock) as store:
        await _plan(store)
        events = await store.events()
        await store.close()
    # An old backup of the home: it holds only the first two events.
    with sqlite3.connect(tmp_path / "a" / store_module.DB_NAME) as db:
        db.execute("DELETE FROM events WHERE dseq > 2")
        db.execute("UPDATE devices SET last_dseq = 2")
    async with await LocalStore.open(tmp_path / "a", clock=clock) as store:
        with pytest.raises(StoreError, match=r"events 3\.\.3 of device \w+ are missing"):
            await store.import_events(events[3:])
        assert store.count == 2
        result = await store.import_events(events)
        assert (result.added, result.duplicates) == (3, 2)


async def test_concurrent_records_commit_as_groups_gapless_and_each_on_its_own(
    tmp_path: Path, clock: StepClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    groups: list[int] = []
    insert_group = store_module._insert_group

    def counting(
        db: sqlite3.Connection,
        wait: bool,
        size_query: str,
        version: int,
        base: int,
        rows: list[tuple[object, ...]],
    ) -> int | None:
        groups.append(len(rows))
        return insert_group(db, wait, size_query, version, base, rows)

    monkeypatch.setattr(store_module, "_insert_group", counting)
    async with await LocalStore.open(home, clock=clock) as store:
        goal = await _goal(store)
        calls = [store.record(partial(commands.log_activity, text=f"step {n}")) for n in range(40)]
        # A refused command in the middle fails alone and takes no dseq.
        calls.insert(20, store.record(partial(commands.reach_milestone, milestone="zzzz")))
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        refused = outcomes.pop(20)
        assert isinstance(refused, CommandError)
        assert [e.dseq for e in outcomes] == list(range(2, 42))  # type: ignore[union-attr]
        # Groups, not one commit per event (the first call may go alone).
        assert sum(groups) >= 38
        assert len(groups) <= 3
        assert store.count == 41
        state = encode_state(store.state)
    async with await LocalStore.open(home, clock=clock) as reopened:
        assert [e.dseq for e in await reopened.events()] == list(range(1, 42))
        assert encode_state(reopened.state) == state
        assert goal in reopened.state.goals


async def test_a_cancelled_record_does_not_strand_its_group(store: LocalStore) -> None:
    first = asyncio.ensure_future(store.record(partial(commands.log_activity, text="a")))
    second = asyncio.ensure_future(store.record(partial(commands.log_activity, text="b")))
    third = asyncio.ensure_future(store.record(partial(commands.log_activity, text="c")))
    await asyncio.sleep(0)  # all three are waiting; the first leads
    second.cancel()
    await asyncio.gather(first, third, return_exceptions=True)
    assert not first.exception()
    assert not third.exception()
    events = await store.events()
    assert [e.dseq for e in events] == list(range(1, len(events) + 1))
    assert {first.result().id, third.result().id} <= {e.id for e in events}
    # The next record continues the sequence, whatever happened to the cancelled one.
    after = await store.record(partial(commands.log_activity, text="d"))
    assert after.dseq == len(events) + 1


async def test_pulled_events_commit_with_the_cursor_and_snapshots_in_one_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "SNAPSHOT_EVERY", 10)
    async with await LocalStore.open(tmp_path / "other", clock=StepClock(seed="o")) as other:
        for n in range(25):
            await other.record(partial(commands.log_activity, text=f"remote {n}"))
        remote = await other.events()
    bodies = [encode_event(e) for e in remote]
    home = tmp_path / "home"
    async with (
        await LocalStore.open(home, clock=StepClock(seed="h")) as store,
        await LocalStore.open(home, clock=StepClock(seed="x")) as rival,
    ):
        await store.record(partial(commands.log_activity, text="mine"))
        added = await store.ingest_remote(
            remote[:12], list(range(1, 13)), meta={"sync_cursor": "12"}, bodies=bodies[:12]
        )
        assert (added.added, added.duplicates) == (12, 0)
        # Another process writes in between: the next pull reloads first, and
        # its fold (and snapshots) include that event.
        await rival.record(partial(commands.log_activity, text="from another process"))
        again = await store.ingest_remote(remote, list(range(1, 26)), meta={"sync_cursor": "25"})
        assert (again.added, again.duplicates) == (13, 12)
        assert await store.get_meta("sync_cursor") == "25"
        assert store.count == 27
        state = encode_state(store.state)
        assert state == encode_state(fold(await store.events()))
    async with await LocalStore.open(home, clock=StepClock(seed="h")) as reopened:
        assert encode_state(reopened.state) == state
        assert [e.id for e in await reopened.events() if e.device == remote[0].device] == [
            e.id for e in remote
        ]
        with sqlite3.connect(home / "careerlog.db") as db:
            (snapshots,) = db.execute("SELECT count(*) FROM snapshots").fetchone()
            stored = {row[0] for row in db.execute("SELECT body FROM events")}
        assert snapshots >= 1  # written on the way, with the events that reached them
        assert set(bodies) <= stored  # the bytes as pulled, stored as they are


async def test_a_group_built_on_a_stale_log_is_built_again(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = await LocalStore.open(home, clock=StepClock(seed="1"))
    second = await LocalStore.open(home, clock=StepClock(start_ms=START_MS + 500, seed="2"))
    try:
        await first.record(partial(commands.log_activity, text="first"))
        await second.record(partial(commands.log_activity, text="from the other process"))
        group = await asyncio.gather(
            *(first.record(partial(commands.log_activity, text=f"n{n}")) for n in range(10))
        )
        assert [e.dseq for e in group] == list(range(3, 13))
        events = await first.events()
        assert sorted(e.dseq for e in events) == list(range(1, 13))
        assert encode_state(first.state) == encode_state(fold(events))
    finally:
        await first.close()
        await second.close()


async def test_a_pull_after_another_process_imported_counts_its_events_as_held(
    tmp_path: Path,
) -> None:
    async with await LocalStore.open(tmp_path / "other", clock=StepClock(seed="o")) as other:
        for n in range(10):
            await other.record(partial(commands.log_activity, text=f"remote {n}"))
        remote = await other.events()
    home = tmp_path / "home"
    async with (
        await LocalStore.open(home, clock=StepClock(seed="h")) as store,
        await LocalStore.open(home, clock=StepClock(seed="x")) as rival,
    ):
        await store.ingest_remote(remote[:5], [1, 2, 3, 4, 5])
        await rival.import_events(remote[:8])  # behind the first store's back
        result = await store.ingest_remote(remote, list(range(1, 11)))
        assert (result.added, result.duplicates) == (2, 8)
        assert store.count == 10
        assert encode_state(store.state) == encode_state(fold(await store.events()))


async def test_another_process_recording_positions_does_not_force_a_refold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    recorder = await LocalStore.open(home, clock=StepClock(seed="r"))
    daemon = await LocalStore.open(home, clock=StepClock(seed="d"))
    try:
        for n in range(5):
            await recorder.record(partial(commands.log_activity, text=f"n{n}"))
        queued = await daemon.pending(10)
        await daemon.mark_acked([(e, pos) for pos, (e, _) in enumerate(queued, 1)])
        loads = _LoadCounter(recorder, monkeypatch)
        event = await recorder.record(partial(commands.log_activity, text="after the push"))
        assert event.dseq == 6
        assert loads.count == 0  # only positions changed: nothing to re-fold
        # A new event from the other process does make it re-read the log.
        await daemon.record(partial(commands.log_activity, text="from the daemon"))
        event = await recorder.record(partial(commands.log_activity, text="and again"))
        assert event.dseq == 8
        assert loads.count == 1
        assert encode_state(recorder.state) == encode_state(fold(await recorder.events()))
    finally:
        await recorder.close()
        await daemon.close()


async def test_only_another_processs_new_events_make_a_recorder_read_the_log_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log's size tells new events from a sync daemon's bookkeeping, by
    every way each reaches the home."""
    remote = await _remote(tmp_path, 3)
    home = tmp_path / "home"
    async with (
        await LocalStore.open(home, clock=StepClock(seed="r")) as recorder,
        await LocalStore.open(home, clock=StepClock(seed="d")) as daemon,
    ):
        loads = _LoadCounter(recorder, monkeypatch)

        async def reloads_after(write: Callable[[], Any]) -> int:
            before = loads.count
            await write()
            await recorder.record(partial(commands.log_activity, text="next"))
            return loads.count - before

        first = await recorder.record(partial(commands.log_activity, text="first"))
        pushed = [e for e, _ in await daemon.pending(10)]
        # Bookkeeping: positions by acknowledgement and by a pull, the cursor,
        # a rejection, a requeue.
        assert await reloads_after(lambda: daemon.mark_acked([(pushed[0], 1)])) == 0
        own = [e for e, _ in await daemon.pending(10)]
        assert await reloads_after(lambda: daemon.ingest_remote(own, [2])) == 0
        assert await reloads_after(lambda: daemon.set_meta({store_module.CURSOR_META: "2"})) == 0
        queued = (await daemon.pending(1))[0][0]
        assert (
            await reloads_after(lambda: daemon.mark_rejected(queued.id, queued.dseq, "x", "y")) == 0
        )
        assert await reloads_after(lambda: daemon.requeue_own(queued.dseq)) == 0
        # New events: recorded, pulled, imported, a retraction.
        assert (
            await reloads_after(
                lambda: daemon.record(partial(commands.log_activity, text="daemon"))
            )
            == 1
        )
        assert await reloads_after(lambda: daemon.ingest_remote(remote[:1], [9])) == 1
        assert await reloads_after(lambda: daemon.import_events(remote[1:2])) == 1
        assert (
            await reloads_after(
                lambda: daemon.record(partial(commands.retract, target=first.id, known=True))
            )
            == 1
        )
        events = await recorder.events()
        mine = sorted(e.dseq for e in events if e.device == recorder.device)
        assert mine == list(range(1, len(mine) + 1))  # no dseq given twice
        assert encode_state(recorder.state) == encode_state(fold(events))


async def test_an_earlier_event_another_process_pulled_is_folded_in_before_recording(
    tmp_path: Path,
) -> None:
    """The other process's event sorts before this one's last: only the
    stamp tells that the log changed under the state held in memory."""
    early = await _remote(tmp_path, 1)
    home = tmp_path / "home"
    later = StepClock(start_ms=START_MS + 2 * 10**7, seed="r")
    async with (
        await LocalStore.open(home, clock=later) as recorder,
        await LocalStore.open(home, clock=StepClock(seed="d")) as daemon,
    ):
        await recorder.record(partial(commands.log_activity, text="mine"))
        await daemon.ingest_remote(early, [1])
        event = await recorder.record(partial(commands.log_activity, text="after the pull"))

        events = await recorder.events()
        assert [e.device for e in events] == [early[0].device, recorder.device, recorder.device]
        assert event.dseq == 2
        assert recorder.count == 3
        assert encode_state(recorder.state) == encode_state(fold(events))


async def test_own_events_a_pull_settles_before_their_acks_never_give_their_dseq_again(
    tmp_path: Path,
) -> None:
    """A watching daemon gets its own pushed events back in a page before it
    has written their acknowledgements: the page gives them their position,
    which takes them off the push queue. A recording process that then
    reloads must still count them when it picks the next dseq (reused, the
    server would answer "duplicate" for a different event, and lose it)."""
    foreign = await _remote(tmp_path, 1)
    home = tmp_path / "home"
    async with (
        await LocalStore.open(home, clock=StepClock(seed="r")) as recorder,
        await LocalStore.open(home, clock=StepClock(seed="d")) as daemon,
    ):
        for n in range(5):
            await recorder.record(partial(commands.log_activity, text=f"n{n}"))
        own = [e for e, _ in await daemon.pending(10)]
        await daemon.ingest_remote(own, [1, 2, 3, 4, 5])  # pushed, and back in a page
        assert await daemon.pending_count() == 0
        await daemon.ingest_remote(foreign, [6])  # the log grows: the recorder reloads
        event = await recorder.record(partial(commands.log_activity, text="after the pull"))

        assert event.dseq == 6
        mine = [e.dseq for e in await recorder.events() if e.device == recorder.device]
        assert sorted(mine) == [1, 2, 3, 4, 5, 6]
    async with await LocalStore.open(home, clock=StepClock(seed="x")) as reopened:
        assert (await reopened.record(partial(commands.log_activity, text="later"))).dseq == 7


async def test_a_daemon_getting_back_what_it_pushed_does_not_reload_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    async with (
        await LocalStore.open(home, clock=StepClock(seed="d")) as daemon,
        await LocalStore.open(home, clock=StepClock(seed="r")) as recorder,
    ):
        for n in range(5):  # recorded after the daemon loaded the log
            await recorder.record(partial(commands.log_activity, text=f"n{n}"))
        pushed = [e for e, _ in await daemon.pending(10)]
        loads = _LoadCounter(daemon, monkeypatch)
        result = await daemon.ingest_remote(pushed, [1, 2, 3, 4, 5])  # back in a page

        assert (result.added, result.duplicates) == (0, 5)
        assert loads.count == 0
        assert await daemon.pending_count() == 0


# --- short writes on the event loop -------------------------------------------------


@pytest.fixture
def holder(store: LocalStore) -> Iterator[sqlite3.Connection]:
    """Another connection to the home's database: another process, as SQLite sees it."""
    with other_connection(store.home / store_module.DB_NAME) as other:
        yield other


async def _remote(tmp_path: Path, count: int) -> list[Event]:
    """``count`` events another device recorded later than this one's, as a pull brings them."""
    clock = StepClock(start_ms=START_MS + 10**7, seed="o")
    async with await LocalStore.open(tmp_path / "other", clock=clock) as other:
        await asyncio.gather(
            *(
                other.record(partial(commands.log_activity, text=f"remote {n}"))
                for n in range(count)
            )
        )
        return await other.events()


async def test_a_record_waits_off_the_loop_for_another_processs_write_lock(
    store: LocalStore, holder: sqlite3.Connection
) -> None:
    await store.record(partial(commands.log_activity, text="first"))
    holder.execute("BEGIN IMMEDIATE")

    pending = asyncio.ensure_future(store.record(partial(commands.log_activity, text="second")))
    await release_later(holder, pending)
    event = await asyncio.wait_for(pending, 5)

    assert event.dseq == 2
    assert [e.dseq for e in await store.events()] == [1, 2]
    assert await store.pending_count() == 2
    after = await store.record(partial(commands.log_activity, text="third"))
    assert after.dseq == 3


async def test_a_pulled_page_waits_off_the_loop_for_another_processs_write_lock(
    tmp_path: Path, store: LocalStore, holder: sqlite3.Connection
) -> None:
    remote = await _remote(tmp_path, 3)
    await store.record(partial(commands.log_activity, text="mine"))
    holder.execute("BEGIN IMMEDIATE")

    pending = asyncio.ensure_future(
        store.ingest_remote(remote, [1, 2, 3], meta={store_module.CURSOR_META: "3"})
    )
    await release_later(holder, pending)
    result = await asyncio.wait_for(pending, 5)

    assert (result.added, result.duplicates) == (3, 0)
    assert store.count == 4
    assert await store.get_meta(store_module.CURSOR_META) == "3"
    assert encode_state(store.state) == encode_state(fold(await store.events()))


async def test_acks_and_the_cursor_wait_off_the_loop_for_another_processs_write_lock(
    store: LocalStore, holder: sqlite3.Connection
) -> None:
    event = await store.record(partial(commands.log_activity, text="pushed"))

    holder.execute("BEGIN IMMEDIATE")
    pending = asyncio.ensure_future(store.mark_acked([(event, 7)]))
    await release_later(holder, pending)
    await asyncio.wait_for(pending, 5)
    assert await store.pending_count() == 0

    holder.execute("BEGIN IMMEDIATE")
    cursor = asyncio.ensure_future(
        store.ingest_remote([], [], meta={store_module.CURSOR_META: "7"})
    )
    await release_later(holder, cursor)
    await asyncio.wait_for(cursor, 5)
    assert await store.get_meta(store_module.CURSOR_META) == "7"


async def test_short_writes_commit_on_the_loop_and_a_big_page_on_the_thread(
    tmp_path: Path, store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = await _remote(tmp_path, 100)
    here: list[str] = []
    run_here = database.Connection.run_here

    def watched(self: database.Connection, work: Callable[..., Any], *args: Any, rows: int) -> Any:
        result = run_here(self, work, *args, rows=rows)
        here.append(work.__name__)  # (only once it ran: not Busy)
        return result

    monkeypatch.setattr(database.Connection, "run_here", watched)
    event = await store.record(partial(commands.log_activity, text="mine"))
    await store.ingest_remote(remote[:2], [1, 2], meta={store_module.CURSOR_META: "2"})
    await store.mark_acked([(event, 3)])
    await store.ingest_remote([], [], meta={store_module.CURSOR_META: "3"})
    assert here == ["_insert_group", "_write_in_order", "_write_acks", "_write_meta_only"]

    here.clear()
    result = await store.ingest_remote(remote, list(range(4, 104)))
    assert (result.added, result.duplicates) == (98, 2)
    assert here == []  # too big for the loop
    assert store.count == 101


async def test_with_full_durability_no_write_runs_on_the_loop(
    tmp_path: Path, clock: StepClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = await _remote(tmp_path, 2)

    def refused(self: database.Connection, work: Callable[..., Any], *args: Any, rows: int) -> Any:
        raise AssertionError(f"{work.__name__} ran on the event loop with synchronous=FULL")

    monkeypatch.setattr(database.Connection, "run_here", refused)
    monkeypatch.setenv("CAREERLOG_DURABILITY", "full")
    async with await LocalStore.open(tmp_path / "home", clock=clock) as store:
        event = await store.record(partial(commands.log_activity, text="mine"))
        result = await store.ingest_remote(remote, [1, 2], meta={store_module.CURSOR_META: "2"})
        await store.mark_acked([(event, 3)])
        await store.ingest_remote([], [], meta={store_module.CURSOR_META: "3"})

        assert event.dseq == 1
        assert (result.added, result.duplicates) == (2, 0)
        assert await store.pending_count() == 0
        assert await store.get_meta(store_module.CURSOR_META) == "3"
        assert await store._scalar("PRAGMA synchronous") == 2  # FULL


async def test_recording_beside_a_process_committing_every_few_milliseconds_never_fails(
    tmp_path: Path,
) -> None:
    """A sync daemon commits its bookkeeping (push results, the cursor) many
    times a second while a program records on the same home. Those commits
    change nothing the program's events were built on, and it must never be
    told "another process keeps writing": the check that the log is as it was
    is made under the write lock, where no commit can slip in after it."""
    home = tmp_path / "home"
    async with await LocalStore.open(home) as store:
        writer = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _BOOKKEEPER, str(home / store_module.DB_NAME),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert writer.stdout is not None
            assert (await writer.stdout.readline()).strip() == b"writing"
            room = asyncio.Semaphore(256)

            async def one(n: int) -> Event:
                async with room:
                    return await store.record(partial(commands.log_activity, text=f"n{n}"))

            # (Many groups: each one is a chance for a commit to land between
            # a check and its insert, were the check made outside the lock.)
            recorded = await asyncio.gather(*(one(n) for n in range(30_000)))
        finally:
            writer.kill()
            await writer.wait()
        assert [e.dseq for e in recorded] == list(range(1, 30_001))
        assert store.count == 30_000
    async with await LocalStore.open(home) as reopened:
        assert reopened.count == 30_000


#: A process committing a meta row every millisecond, as a busy daemon's
#: bookkeeping does.
_BOOKKEEPER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA busy_timeout=10000")
print("writing", flush=True)
n = 0
while True:
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO meta (key, value) VALUES ('test_bookkeeping', ?)"
               " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(n),))
    db.execute("COMMIT")
    n += 1
    time.sleep(0.001)
"""


async def test_opening_a_home_whose_settled_events_outran_the_head_repairs_it(
    tmp_path: Path,
) -> None:
    """A home written before the fix: a pull settled own events (dseq 4-5)
    without raising the device's head (3). Migrating raises it."""
    home = tmp_path / "home"
    async with await LocalStore.open(home, clock=StepClock(seed="r")) as store:
        events = [
            await store.record(partial(commands.log_activity, text=f"n{n}")) for n in range(5)
        ]
        await store.mark_acked([(e, n) for n, e in enumerate(events[:3], start=1)])
    with sqlite3.connect(home / store_module.DB_NAME) as db:
        db.execute("UPDATE events SET pos = dseq WHERE pos IS NULL")  # settled by a pull
        db.execute("PRAGMA user_version=3")
        assert db.execute("SELECT last_dseq FROM devices").fetchall() == [(3,)]
    async with await LocalStore.open(home, clock=StepClock(seed="x")) as reopened:
        assert await reopened.pending_count() == 0
        assert (await reopened.record(partial(commands.log_activity, text="next"))).dseq == 6


async def test_an_own_event_of_the_server_on_a_dseq_held_here_is_taken_back(
    tmp_path: Path,
) -> None:
    """A home that met a server answering 'duplicate' for another event on its
    dseq (before servers compared ids) holds its event as acknowledged: the
    server's event on that dseq is taken back when it comes, and the home's is
    queued again under a fresh dseq (same id and content), to be pushed."""
    import msgspec

    from careerlog.shared import hlc
    from careerlog.shared.events import ActivityLogged
    from careerlog.shared.ids import record_id, uuid7

    async with await LocalStore.open(tmp_path / "home", clock=StepClock()) as store:
        for n in range(3):
            await store.record(partial(commands.log_activity, text=f"shared {n}"))
        ours = await store.record(partial(commands.log_activity, text="recorded here"))
        await store.mark_acked([(e, e.dseq) for e in await store.events()])  # ours 'duplicate'
        theirs = ActivityLogged(
            id=uuid7(START_MS - 60_000, bytes(10)),
            device=store.device,
            dseq=4,
            hlc=hlc.pack(START_MS - 60_000, 0),
            occurred_at=datetime.fromtimestamp(START_MS / 1000 - 60, UTC),
            activity_id=record_id(bytes(8)),
            text="recorded before the restore",
        )
        result = await store.ingest_remote([theirs], [4])

        assert (result.added, result.own, result.moved) == (1, 1, 1)
        held = {e.dseq: e for e in await store.events()}
        assert sorted(held) == [1, 2, 3, 4, 5]
        assert held[4] == theirs
        assert held[5] == msgspec.structs.replace(ours, dseq=5)
        assert [e.id for e, _ in await store.pending(10)] == [ours.id]
        in_order = sorted(held.values(), key=canonical_key)
        assert encode_state(store.state) == encode_state(fold(in_order))
        # The next event goes after them both.
        nxt = await store.record(partial(commands.log_activity, text="next"))
        assert nxt.dseq == 6
