"""The read-model stores and the projector over them, on both backends.

Every expectation is computed by the shared pure folds from the same events:
whatever the projector stores must be what a replica folding the log gets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest

from careerlog.server.projector import Projector
from careerlog.server.readmodels import open_read_models
from careerlog.server.readmodels.base import Checkpoint
from careerlog.server.readmodels.rows import OutOfRange, Update
from careerlog.server.readmodels.writer import ReadModelStore
from careerlog.server.store import EventStore
from careerlog.shared.codec import canonical_key
from careerlog.shared.events import Event
from careerlog.shared.hlc import wall_ms
from careerlog.shared.projections import encode_state, fold
from careerlog.shared.projections.analytics import (
    decode_member_facts,
    member_facts,
)
from careerlog.shared.projections.timeline import happened_by, plan_as_of, timeline_entry
from tests.contract.careers import NOW, busy_history, dump, push, push_in_batches
from tests.contract.database import raw_fetch, user_traces
from tests.shared.builders import History, full_history


@pytest.fixture
async def models(store: EventStore, store_url: str) -> AsyncIterator[ReadModelStore]:
    opened = await open_read_models(store_url)
    try:
        yield opened
    finally:
        await opened.close()


def canonical(events: list[Event]) -> list[Event]:
    return sorted(events, key=canonical_key)


def same_state(a: object, b: object) -> bool:
    return encode_state(a) == encode_state(b)  # type: ignore[arg-type]


async def test_a_projected_user_has_the_fold_of_their_log(
    store: EventStore, models: ReadModelStore
) -> None:
    h = full_history()
    user = await store.create_user("ada")
    head = await push(store, user, h.events)

    projector = Projector(store, models)
    assert await projector.project_user(user) == len(h.events)

    assert same_state(await models.state(user), h.state())
    checkpoint = await models.checkpoint(user)
    assert checkpoint is not None
    assert (checkpoint.pos, checkpoint.events) == (head, len(h.events))
    assert checkpoint.key == canonical_key(h.events[-1])
    assert await projector.project_user(user) == 0  # caught up: nothing applied twice
    assert projector.stats.applied == len(h.events)


async def test_before_any_projection_a_user_has_nothing(
    store: EventStore, models: ReadModelStore
) -> None:
    user = await store.create_user("ada")

    assert await models.checkpoint(user) is None
    assert (await models.state(user)).event_count == 0
    assert await models.timeline(user) == []
    assert (await models.state_as_recorded(user, datetime(2030, 1, 1, tzinfo=UTC))).goals == {}
    assert await models.member_facts([user]) == {}


async def test_the_timeline_is_newest_first_with_names_as_they_were(
    store: EventStore, models: ReadModelStore
) -> None:
    h = full_history()
    user = await store.create_user("ada")
    await push(store, user, h.events)
    await Projector(store, models).drain()

    entries = await models.timeline(user, limit=1000)

    # The summary names records from the state just before each event.
    expected = []
    for i, event in enumerate(h.events):
        entry = timeline_entry(event, fold(h.events[:i]))
        entry.retracted = str(event.id) in h.state().retracted
        expected.append(entry)
    assert entries == expected[::-1]
    assert sum(e.retracted for e in entries) == 1


async def test_timeline_pages_and_filters(store: EventStore, models: ReadModelStore) -> None:
    h = busy_history(300)
    user = await store.create_user("ada")
    await push(store, user, h.events)
    await Projector(store, models).drain()
    newest_first = canonical(h.events)[::-1]

    first = await models.timeline(user, limit=20)
    assert [e.event_id for e in first] == [str(e.id) for e in newest_first[:20]]
    cursor = canonical_key(newest_first[19])
    second = await models.timeline(user, before=cursor, limit=20)
    assert [e.event_id for e in second] == [str(e.id) for e in newest_first[20:40]]

    progress = await models.timeline(user, types=frozenset({"ProgressRecorded"}), limit=1000)
    assert {e.type for e in progress} == {"ProgressRecorded"}
    assert len(progress) == sum(type(e).__name__ == "ProgressRecorded" for e in h.events)

    start = datetime(2026, 1, 20, tzinfo=UTC)
    end = datetime(2026, 1, 25, tzinfo=UTC)
    window = await models.timeline(user, occurred_from=start, occurred_to=end, limit=1000)
    assert [e.event_id for e in window] == [
        str(e.id) for e in newest_first if start <= e.occurred_at <= end
    ]
    by = datetime(2026, 1, 10, tzinfo=UTC)
    recorded = await models.timeline(user, recorded_by=by, limit=1000)
    assert len(recorded) == sum(wall_ms(e.hlc) <= by.timestamp() * 1000 for e in h.events)
    assert await models.timeline(user, types=frozenset()) == []


async def test_incremental_projection_equals_a_rebuild_row_for_row(
    store: EventStore, models: ReadModelStore, store_url: str
) -> None:
    h = busy_history(2600)  # past two snapshots
    user = await store.create_user("ada")
    projector = Projector(store, models)
    for start in range(0, len(h.events), 333):
        await push(store, user, h.events[start : start + 333])
        await projector.project_user(user)
    incremental = await dump(store_url, user)
    assert incremental["rm_snapshots"], "the history is long enough for snapshots"

    await Projector(store, models).rebuild_user(user)

    assert await dump(store_url, user) == incremental
    assert same_state(await models.state(user), h.state())


async def test_a_late_device_refolds_the_user_as_a_rebuild_would(
    store: EventStore, models: ReadModelStore, store_url: str
) -> None:
    laptop = busy_history(2500, device="laptop")
    # The phone was offline: its events were recorded early on but arrive last.
    phone = History(device="phone", today=date(2026, 1, 7))
    gid = phone.goal("Learn Rust", due=date(2026, 6, 30))
    for day in range(8, 20):
        phone.activity(date(2026, 1, day), "learning", goal_id=gid)
    user = await store.create_user("ada")
    projector = Projector(store, models)
    await push(store, user, laptop.events)
    await projector.project_user(user)

    await push(store, user, phone.events)
    await projector.project_user(user)

    everything = canonical(laptop.events + phone.events)
    assert projector.stats.refolds == 1
    assert same_state(await models.state(user), fold(everything))
    checkpoint = await models.checkpoint(user)
    assert checkpoint is not None
    assert checkpoint.events == len(everything)
    entries = await models.timeline(user, limit=10_000)
    assert [e.event_id for e in entries] == [str(e.id) for e in everything[::-1]]
    incremental = await dump(store_url, user)
    await Projector(store, models).rebuild_user(user)
    assert await dump(store_url, user) == incremental


async def test_a_retraction_of_an_event_folded_earlier_takes_its_effects_back(
    store: EventStore, models: ReadModelStore, store_url: str
) -> None:
    h = busy_history(1500)
    user = await store.create_user("ada")
    projector = Projector(store, models)
    await push(store, user, h.events)
    await projector.project_user(user)
    goal_event = h.event_for(next(iter(h.state().goals)))

    retraction = h.retract(goal_event, on=date(2026, 12, 1))
    await push(store, user, [retraction])
    await projector.project_user(user)

    state = await models.state(user)
    assert same_state(state, h.state())
    assert state.goals == {}
    entries = await models.timeline(user, limit=5000)
    [entry] = [e for e in entries if e.event_id == str(goal_event.id)]
    assert entry.retracted
    incremental = await dump(store_url, user)
    await Projector(store, models).rebuild_user(user)
    assert await dump(store_url, user) == incremental


async def test_time_travel_as_recorded_and_as_happened(
    store: EventStore, models: ReadModelStore
) -> None:
    h = busy_history(3500)
    # A backdated entry: recorded late, happened early.
    h.activity(date(2026, 1, 2), "networking", recorded=datetime(2026, 12, 20, tzinfo=UTC))
    user = await store.create_user("ada")
    await push_in_batches(store, user, h.events, 1000)
    await Projector(store, models).drain()

    for at in (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 5, 12, tzinfo=UTC),
        datetime(2026, 2, 3, 17, 30, tzinfo=UTC),
        datetime(2026, 3, 30, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    ):
        assert same_state(await models.state_as_recorded(user, at), plan_as_of(h.events, at))
        assert same_state(await models.state_happened_by(user, at), happened_by(h.events, at))


async def test_times_and_keys_past_what_an_hlc_can_name_are_refused_not_overflowed(
    store: EventStore, models: ReadModelStore
) -> None:
    h = full_history()
    user = await store.create_user("ada")
    await push(store, user, h.events)
    await Projector(store, models).drain()
    far = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)  # its ms << 16 needs 65 bits

    with pytest.raises(OutOfRange):
        await models.state_as_recorded(user, far)
    with pytest.raises(OutOfRange):
        await models.timeline(user, recorded_by=far)
    with pytest.raises(OutOfRange):
        await models.timeline(user, before=(1 << 64, "dev", 1))
    # What happened by then needs no HLC: everything did.
    assert same_state(await models.state_happened_by(user, far), happened_by(h.events, far))
    assert len(await models.timeline(user, occurred_to=far, limit=1 << 70)) == len(h.events)
    # An id whose UUIDv7 time is past every HLC names no entry; the others are still found.
    late = UUID(int=(1 << 47) << 80 | 7 << 76 | 2 << 62)
    known = str(h.events[0].id)
    found = await models.event_keys(user, [str(late), known])
    assert found == {known: canonical_key(h.events[0])}


async def test_grants_are_found_by_grantee_across_users(
    store: EventStore, models: ReadModelStore
) -> None:
    ada, bob, cy = [await store.create_user(name) for name in ("ada", "bob", "cy")]
    a = History(device="laptop", today=date(2026, 1, 5))
    a.share("coach@example.com", ["progress", "history"])
    b = History(device="laptop", today=date(2026, 1, 5))
    b.share("coach@example.com", ["progress"], expires_on=date(2026, 3, 1))
    c = History(device="laptop", today=date(2026, 1, 5))
    c.share("coach@example.com")
    c.revoke("coach@example.com", on=date(2026, 1, 6))
    for user, h in ((ada, a), (bob, b), (cy, c)):
        await push(store, user, h.events)
    await Projector(store, models).drain()

    grants = await models.grants_to("coach@example.com", date(2026, 3, 1))
    assert [(g.owner_id, g.owner_name, g.scopes, g.expires_on) for g in grants] == [
        (ada, "ada", ("progress", "history"), None),
        (bob, "bob", ("progress",), date(2026, 3, 1)),
    ]
    assert grants[0].granted_on == date(2026, 1, 5)
    later = await models.grants_to("coach@example.com", date(2026, 3, 2))
    assert [g.owner_id for g in later] == [ada]
    assert await models.grants_to("nobody@example.com", date(2026, 1, 1)) == []


async def test_member_facts_and_goal_rows(
    store: EventStore, models: ReadModelStore, store_url: str
) -> None:
    h = full_history()
    user = await store.create_user("ada")
    other = await store.create_user("bob")
    await push(store, user, h.events)
    await Projector(store, models).drain()

    facts = await models.member_facts([user, other])
    assert list(facts) == [user]
    assert decode_member_facts(facts[user]) == member_facts(h.state())
    goals = await raw_fetch(
        store_url, f"SELECT goal_id, status FROM rm_goals WHERE user_id = {user} ORDER BY goal_id"
    )
    assert goals == sorted((g.goal_id, g.status) for g in h.state().goals.values())


async def test_a_stale_write_is_refused_and_changes_nothing(
    store: EventStore, models: ReadModelStore, store_url: str
) -> None:
    h = busy_history(10)
    user = await store.create_user("ada")
    await push(store, user, h.events)
    await Projector(store, models).drain()
    before = await dump(store_url, user)
    loaded = await models.load(user)
    assert loaded is not None

    stale = Update(
        user_id=user,
        expected_pos=loaded.checkpoint.pos - 1,
        checkpoint=Checkpoint(999, (1, "x", 1), 999, 0),
        snap_since=0,
        snap_bytes=0,
        state=b"",
        replace_after=(-1, "", 0),
        timeline=[],
        snapshots=[],
        retractions=[],
        goals=[],
        grants=[],
        member_facts=b"",
    )
    assert await models.write(stale) == "conflict"
    first = await models.write(dataclasses.replace(stale, expected_pos=None))
    assert first == "conflict"  # a checkpoint exists already
    assert await dump(store_url, user) == before


async def test_racing_projectors_apply_every_event_exactly_once(
    store: EventStore, store_url: str
) -> None:
    histories = {}
    for n in range(6):
        user = await store.create_user(f"user{n}")
        histories[user] = busy_history(400 + 50 * n, device=f"dev{n}")
    opened = [await open_read_models(store_url) for _ in range(3)]
    projectors = [Projector(store, m) for m in opened]
    try:

        async def write(user: int) -> None:
            await push_in_batches(store, user, histories[user].events, 60)

        async def chase() -> None:
            for _ in range(30):
                await asyncio.gather(*(p.drain() for p in projectors))
                await asyncio.sleep(0)

        await asyncio.gather(*(write(u) for u in histories), chase())
        await asyncio.gather(*(p.drain() for p in projectors))

        models = opened[0]
        for user, h in histories.items():
            checkpoint = await models.checkpoint(user)
            assert checkpoint is not None
            assert checkpoint.events == len(h.events)
            assert checkpoint.pos == await store.head(user)
            assert same_state(await models.state(user), h.state())
            assert len(await models.timeline(user, limit=10_000)) == len(h.events)
        applied = sum(p.stats.applied for p in projectors)
        assert applied == sum(len(h.events) for h in histories.values())
    finally:
        for m in opened:
            await m.close()


async def test_deleting_a_user_deletes_their_read_models(
    store: EventStore, models: ReadModelStore, store_url: str
) -> None:
    ada = await store.create_user("ada")
    bob = await store.create_user("bob")
    for user in (ada, bob):
        await push(store, user, busy_history(1200).events)
    projector = Projector(store, models)
    await projector.drain()
    read_model_traces = {t: n for t, n in (await user_traces(store_url, ada)).items()}
    assert all(read_model_traces[t] for t in read_model_traces if t.startswith("rm_"))

    assert await store.delete_user(ada)

    assert set((await user_traces(store_url, ada)).values()) == {0}
    assert await projector.project_user(ada) == 0  # nothing comes back
    assert set((await user_traces(store_url, ada)).values()) == {0}
    assert all(n for t, n in (await user_traces(store_url, bob)).items() if t.startswith("rm_"))


async def test_lag_counts_what_is_not_projected_yet(
    store: EventStore, models: ReadModelStore
) -> None:
    user = await store.create_user("ada")
    h = busy_history(20)
    await push(store, user, h.events)
    lag = await models.lag(NOW + 3000)
    assert (lag.users_behind, lag.events_behind) == (1, len(h.events))
    assert lag.seconds_behind == pytest.approx(3.0)
    assert [b.user_id for b in await models.behind()] == [user]

    projector = Projector(store, models)
    await projector.drain()

    lag = await projector.lag()
    assert (lag.users_behind, lag.events_behind, lag.seconds_behind) == (0, 0, 0.0)
    assert await models.behind() == []


async def test_a_projector_leading_some_partitions_projects_only_their_users(
    store: EventStore, models: ReadModelStore
) -> None:
    users = [await store.create_user(f"u{n}") for n in range(6)]
    for user in users:
        await push(store, user, busy_history(5).events)
    projector = Projector(store, models, partitions=2)
    projector.set_partitions(frozenset({1}))

    await projector.scan()
    worker = asyncio.create_task(projector.run())
    try:
        for _ in range(200):
            if not await models.behind(2, frozenset({1})):
                break
            await asyncio.sleep(0.02)
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker

    projected = {u for u in users if await models.checkpoint(u) is not None}
    assert projected == {u for u in users if u % 2 == 1}


@pytest.mark.parametrize("seed", [1, 2])
async def test_any_arrival_order_gives_the_rows_of_a_rebuild(
    store: EventStore, models: ReadModelStore, store_url: str, seed: int
) -> None:
    rng = random.Random(seed)
    laptop = busy_history(1400, device="laptop")
    phone = History(device="phone", today=date(2026, 1, 6))
    gid = phone.goal("Learn Rust", due=date(2026, 6, 30))
    for n in range(300):
        when = datetime(2026, 1, 6, 10, tzinfo=UTC) + timedelta(hours=5 * n + rng.random())
        if n % 37 == 5:
            # Take back one of its own entries, or one the laptop had synced.
            pool = phone.events[1:] if rng.random() < 0.5 else laptop.events[: 4 * n + 1]
            phone.retract(rng.choice(pool), on=when)
        else:
            phone.activity(when, "learning", goal_id=gid)
    user = await store.create_user("ada")
    projector = Projector(store, models)
    queues = {"laptop": list(laptop.events), "phone": list(phone.events)}
    while any(queues.values()):
        device = rng.choice([d for d, q in queues.items() if q])
        size = rng.randint(1, 250)
        batch, queues[device] = queues[device][:size], queues[device][size:]
        await push(store, user, batch)
        if rng.random() < 0.6:
            await projector.project_user(user)
    await projector.project_user(user)

    assert projector.stats.refolds > 0  # late batches did arrive
    everything = canonical(laptop.events + phone.events)
    assert same_state(await models.state(user), fold(everything))
    incremental = await dump(store_url, user)
    assert incremental["rm_snapshots"]
    await Projector(store, models).rebuild_user(user)
    assert await dump(store_url, user) == incremental
