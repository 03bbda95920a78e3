"""Appending and reading: idempotent, gap-free pushes and a cursor that never skips."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from careerlog.server.store import (
    AppendResult,
    EventStore,
    Incoming,
    SequenceGap,
    Stored,
    UnknownUser,
)
from tests.contract.pushes import event, events, origin

NOW = 1_772_442_000_000


def statuses(results: list[AppendResult]) -> list[str]:
    return [result.status for result in results]


def where(stored: list[Stored]) -> list[tuple[int, str, int]]:
    return [(item.pos, item.device, item.dseq) for item in stored]


async def test_a_first_push_is_accepted_in_order_and_read_back_byte_for_byte(
    store: EventStore,
) -> None:
    user = await store.create_user("ada")
    pushed = events("laptop", 1, 3)

    results, head = await store.append(user, "laptop", pushed, NOW)

    assert results == [AppendResult("accepted", pos) for pos in (1, 2, 3)]
    assert head == 3
    assert await store.head(user) == 3
    assert await store.device_head(user, "laptop") == 3
    stored = await store.read(user, 0, 100)
    assert stored == [
        Stored(pos, "laptop", item.dseq, item.body, NOW) for pos, item in enumerate(pushed, start=1)
    ]


async def test_a_re_push_is_a_duplicate_with_the_original_pos_and_stores_nothing(
    store: EventStore,
) -> None:
    user = await store.create_user("ada")
    await store.append(user, "laptop", events("laptop", 1, 3), NOW)

    results, head = await store.append(user, "laptop", events("laptop", 1, 3), NOW + 5)

    assert results == [AppendResult("duplicate", pos) for pos in (1, 2, 3)]
    assert head == 3
    assert [item.received_ms for item in await store.read(user, 0, 100)] == [NOW] * 3


async def test_an_overlapping_push_answers_duplicates_and_accepts_the_rest(
    store: EventStore,
) -> None:
    user = await store.create_user("ada")
    await store.append(user, "laptop", events("laptop", 1, 3), NOW)

    results, head = await store.append(user, "laptop", events("laptop", 2, 5), NOW)

    assert results == [
        AppendResult("duplicate", 2),
        AppendResult("duplicate", 3),
        AppendResult("accepted", 4),
        AppendResult("accepted", 5),
    ]
    assert head == 5
    assert await store.device_head(user, "laptop") == 5


async def test_an_event_repeated_within_a_batch_is_stored_once(store: EventStore) -> None:
    user = await store.create_user("ada")
    batch = [event("laptop", 1), event("laptop", 1), event("laptop", 2)]

    results, head = await store.append(user, "laptop", batch, NOW)

    assert results == [
        AppendResult("accepted", 1),
        AppendResult("duplicate", 1),
        AppendResult("accepted", 2),
    ]
    assert head == 2
    assert where(await store.read(user, 0, 10)) == [(1, "laptop", 1), (2, "laptop", 2)]


async def test_a_batch_starting_past_the_next_dseq_is_a_gap(store: EventStore) -> None:
    user = await store.create_user("ada")

    with pytest.raises(SequenceGap) as gap:
        await store.append(user, "laptop", events("laptop", 2, 4), NOW)

    assert (gap.value.device, gap.value.expected) == ("laptop", 1)
    assert await store.read(user, 0, 10) == []
    assert await store.head(user) == 0
    assert await store.device_head(user, "laptop") == 0


async def test_a_gap_inside_a_batch_stores_none_of_it(store: EventStore) -> None:
    user = await store.create_user("ada")
    await store.append(user, "laptop", events("laptop", 1, 3), NOW)
    batch = [event("laptop", 4), event("laptop", 5), event("laptop", 7)]

    with pytest.raises(SequenceGap) as gap:
        await store.append(user, "laptop", batch, NOW)

    # The server still needs 4: nothing of the refused batch was kept.
    assert gap.value.expected == 4
    assert await store.device_head(user, "laptop") == 3
    assert await store.head(user) == 3
    assert where(await store.read(user, 0, 10)) == [(pos, "laptop", pos) for pos in (1, 2, 3)]
    # Resending from where the server said works.
    results, _ = await store.append(user, "laptop", events("laptop", 4, 7), NOW)
    assert statuses(results) == ["accepted"] * 4


async def test_a_rejected_event_takes_no_pos_but_is_remembered(store: EventStore) -> None:
    user = await store.create_user("ada")
    refused = event("laptop", 2, rejected=("unknown_type", "no such event type: GoalSmashed"))
    batch = [event("laptop", 1), refused, event("laptop", 3)]

    results, head = await store.append(user, "laptop", batch, NOW)

    assert results == [
        AppendResult("accepted", 1),
        AppendResult("rejected", None, "unknown_type", "no such event type: GoalSmashed"),
        AppendResult("accepted", 2),
    ]
    assert head == 2
    assert where(await store.read(user, 0, 10)) == [(1, "laptop", 1), (2, "laptop", 3)]
    # The high-water mark moved past the rejected event: 4 is next, not a gap.
    assert await store.device_head(user, "laptop") == 3
    results, head = await store.append(user, "laptop", [event("laptop", 4)], NOW)
    assert results == [AppendResult("accepted", 3)]
    # A re-push of the rejected event gets the same rejection, even if the
    # caller would now let it through.
    results, head = await store.append(user, "laptop", events("laptop", 1, 4), NOW)
    assert results == [
        AppendResult("duplicate", 1),
        AppendResult("rejected", None, "unknown_type", "no such event type: GoalSmashed"),
        AppendResult("duplicate", 2),
        AppendResult("duplicate", 3),
    ]
    assert head == 3


async def test_a_batch_of_only_rejections_moves_the_device_but_not_the_head(
    store: EventStore,
) -> None:
    user = await store.create_user("ada")
    batch = [event("laptop", dseq, rejected=("too_large", "event over 64 KiB")) for dseq in (1, 2)]

    results, head = await store.append(user, "laptop", batch, NOW)

    assert statuses(results) == ["rejected", "rejected"]
    assert head == 0
    assert await store.device_head(user, "laptop") == 2
    assert await store.read(user, 0, 10) == []


async def test_an_empty_batch_changes_nothing(store: EventStore) -> None:
    user = await store.create_user("ada")
    await store.append(user, "laptop", events("laptop", 1, 2), NOW)

    assert await store.append(user, "laptop", [], NOW) == ([], 2)


async def test_a_batch_carrying_another_devices_event_is_refused_whole(
    store: EventStore,
) -> None:
    user = await store.create_user("ada")

    with pytest.raises(ValueError, match="phone"):
        await store.append(user, "laptop", [event("laptop", 1), event("phone", 1)], NOW)

    assert await store.head(user) == 0
    assert await store.device_head(user, "laptop") == 0


async def test_appending_for_a_user_that_does_not_exist_fails(store: EventStore) -> None:
    user = await store.create_user("ada")
    await store.delete_user(user)

    with pytest.raises(UnknownUser):
        await store.append(user, "laptop", events("laptop", 1, 1), NOW)
    with pytest.raises(UnknownUser):
        await store.append(user + 1000, "laptop", events("laptop", 1, 1), NOW)


async def test_pos_is_gapless_per_user_across_interleaved_devices(store: EventStore) -> None:
    user = await store.create_user("ada")
    pushes = [("laptop", 1, 2), ("phone", 1, 3), ("laptop", 3, 3), ("tablet", 1, 1)]
    pushes += [("phone", 2, 5), ("laptop", 4, 6)]  # the phone re-pushes 2-3 on the way
    for device, first, last in pushes:
        await store.append(user, device, events(device, first, last), NOW)

    stored = await store.read(user, 0, 100)

    assert [item.pos for item in stored] == list(range(1, 13))
    assert await store.head(user) == 12
    by_device: dict[str, list[int]] = {}
    for item in stored:
        by_device.setdefault(item.device, []).append(item.dseq)
    assert by_device == {"laptop": [1, 2, 3, 4, 5, 6], "phone": [1, 2, 3, 4, 5], "tablet": [1]}


async def test_users_never_see_each_other(store: EventStore) -> None:
    ada = await store.create_user("ada")
    bob = await store.create_user("bob")
    # Same device id and dseq for both: per user, neither is a duplicate.
    ada_results, _ = await store.append(ada, "laptop", events("laptop", 1, 3, owner="ada"), NOW)
    bob_results, bob_head = await store.append(
        bob, "laptop", events("laptop", 1, 2, owner="bob"), NOW
    )

    assert statuses(ada_results) == ["accepted"] * 3
    assert bob_results == [AppendResult("accepted", 1), AppendResult("accepted", 2)]
    assert bob_head == 2
    assert {origin(item.body)[0] for item in await store.read(bob, 0, 100)} == {"bob"}
    assert {origin(item.body)[0] for item in await store.read(ada, 0, 100)} == {"ada"}
    assert (await store.head(ada), await store.head(bob)) == (3, 2)
    assert await store.device_head(ada, "laptop") == 3
    assert await store.device_head(bob, "laptop") == 2
    assert await store.device_head(bob, "phone") == 0


async def test_reading_pages_from_a_cursor(store: EventStore) -> None:
    user = await store.create_user("ada")
    await store.append(user, "laptop", events("laptop", 1, 25), NOW)

    pages: list[list[int]] = []
    cursor = 0
    while page := await store.read(user, cursor, 10):
        pages.append([item.pos for item in page])
        cursor = page[-1].pos

    assert pages == [list(range(1, 11)), list(range(11, 21)), list(range(21, 26))]
    assert [item.pos for item in await store.read(user, 7, 3)] == [8, 9, 10]
    assert await store.read(user, 25, 10) == []
    assert await store.read(user, 1000, 10) == []
    assert await store.read(user, 0, 0) == []


async def test_a_large_batch_is_stored_whole_with_bodies_intact(store: EventStore) -> None:
    user = await store.create_user("ada")
    # Bodies of every size up to a few KiB, including NUL bytes and an empty one.
    batch = [
        Incoming("laptop", dseq, hlc=dseq, body=bytes([dseq % 256]) * ((dseq - 1) * 7 % 4099))
        for dseq in range(1, 501)
    ]

    results, head = await store.append(user, "laptop", batch, NOW)

    assert statuses(results) == ["accepted"] * 500
    assert head == 500
    stored = await store.read(user, 0, 1000)
    assert [item.body for item in stored] == [item.body for item in batch]
    assert any(item.body == b"" for item in stored)


async def test_a_cancelled_append_stores_all_of_its_batch_or_none_of_it(
    store: EventStore,
) -> None:
    user = await store.create_user("ada")
    sent = 0
    for attempt in range(30):
        first = await store.device_head(user, "laptop") + 1
        push = asyncio.create_task(
            store.append(user, "laptop", events("laptop", first, first + 4), NOW)
        )
        # Cancel at a different point of the transaction each time.
        for _ in range(attempt % 6):
            await asyncio.sleep(0)
        push.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await push
        sent = first + 4

    # Whatever was cancelled where, the store is consistent and usable.
    last = await store.device_head(user, "laptop")
    stored = await store.read(user, 0, 1000)
    assert last % 5 == 0
    assert last <= sent
    assert where(stored) == [(dseq, "laptop", dseq) for dseq in range(1, last + 1)]
    results, head = await store.append(user, "laptop", events("laptop", 1, last + 1), NOW)
    assert statuses(results) == ["duplicate"] * last + ["accepted"]
    assert head == last + 1


async def test_appends_at_the_same_moment_are_answered_each_on_its_own(
    store: EventStore,
) -> None:
    # On SQLite these commit as one group; every backend must answer each as
    # if it had been alone: a refused batch fails alone and stores nothing.
    ada = await store.create_user("ada")
    bob = await store.create_user("bob")
    outcomes = await asyncio.gather(
        store.append(ada, "laptop", events("laptop", 1, 3), NOW),
        store.append(ada, "phone", events("phone", 1, 2), NOW),
        store.append(bob, "desk", events("desk", 2, 4), NOW),  # a gap: desk starts at 1
        store.append(bob, "tablet", events("tablet", 1, 1), NOW),
        store.append(10**9, "ghost", events("ghost", 1, 1), NOW),
        return_exceptions=True,
    )
    laptop, phone, desk, tablet, ghost = outcomes
    assert isinstance(desk, SequenceGap)
    assert desk.expected == 1
    assert isinstance(ghost, UnknownUser)
    assert not isinstance(laptop, BaseException)
    assert not isinstance(phone, BaseException)
    assert not isinstance(tablet, BaseException)
    # Per user, positions are gapless whatever order the group took.
    assert sorted(r.pos or 0 for r in laptop[0] + phone[0]) == [1, 2, 3, 4, 5]
    assert tablet[0] == [AppendResult("accepted", 1)]
    assert await store.head(ada) == 5
    assert await store.head(bob) == 1
    assert await store.device_head(bob, "desk") == 0
    assert [item.device for item in await store.read(bob, 0, 10)] == ["tablet"]
    page, head = await store.read_page(ada, 2, 2)
    assert ([pos for pos, _ in page], head) == ([3, 4], 5)
    assert await store.read_page(ada, 5, 10) == ([], 5)
