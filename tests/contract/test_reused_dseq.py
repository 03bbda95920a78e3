"""A pushed ``dseq`` the server holds already is a re-push only if it is the same event.

A device whose home was restored from a backup (or copied) mints again
``dseq``s the server holds, for other events: answering those ``duplicate``
would make the device drop events the server never held. The id decides, on
both backends alike: the same id is a duplicate, another id ``dseq_reused``.
"""

from __future__ import annotations

from uuid import UUID

import msgspec

from careerlog.server.store import AppendResult, EventStore, Incoming
from careerlog.shared.protocol import codes

NOW = 1_772_442_000_000


def pushed(dseq: int, tag: int, *, rejected: tuple[str, str] | None = None) -> Incoming:
    """Event ``tag`` of the laptop at ``dseq``: its id is made from the tag."""
    event_id = UUID(int=tag)
    body = msgspec.msgpack.encode(
        {"type": "activity_logged", "id": event_id.bytes, "device": "laptop", "dseq": dseq}
    )
    return Incoming("laptop", dseq, 1_000_000 + dseq, body, rejected, event_id.bytes)


def without_id(incoming: Incoming) -> Incoming:
    return msgspec.structs.replace(incoming, id=None)


def is_reused(result: AppendResult, dseq: int, held: int, pushed_tag: int) -> bool:
    return (
        result.status == "rejected"
        and result.pos is None
        and result.code == codes.DSEQ_REUSED
        and result.reason is not None
        and f"dseq {dseq} of device laptop" in result.reason
        and str(UUID(int=held)) in result.reason
        and str(UUID(int=pushed_tag)) in result.reason
    )


async def test_another_event_on_a_held_dseq_is_refused_alone_and_stores_nothing(
    store: EventStore,
) -> None:
    user = await store.create_user("ada")
    await store.append(user, "laptop", [pushed(d, d) for d in (1, 2, 3)], NOW)

    # dseq 2 again with another event, 3 re-pushed as it was, 4 new.
    batch = [pushed(2, 102), pushed(3, 3), pushed(4, 4)]
    results, head = await store.append(user, "laptop", batch, NOW + 5)

    assert is_reused(results[0], 2, held=2, pushed_tag=102)
    assert results[1:] == [AppendResult("duplicate", 3), AppendResult("accepted", 4)]
    assert head == 4
    assert await store.device_head(user, "laptop") == 4
    assert [(s.dseq, s.body) for s in await store.read(user, 0, 100)] == [
        (d, pushed(d, d).body) for d in (1, 2, 3, 4)
    ]
    # Asked again, the same answer: nothing of it was remembered.
    again, _ = await store.append(user, "laptop", [pushed(2, 102)], NOW + 9)
    assert is_reused(again[0], 2, held=2, pushed_tag=102)


async def test_another_event_on_a_rejected_dseq_is_not_given_that_rejection(
    store: EventStore,
) -> None:
    user = await store.create_user("ada")
    skew = (codes.CLOCK_SKEW, "recorded an hour ahead")
    await store.append(user, "laptop", [pushed(1, 1, rejected=skew)], NOW)

    same, _ = await store.append(user, "laptop", [pushed(1, 1)], NOW)
    other, _ = await store.append(user, "laptop", [pushed(1, 77)], NOW)

    assert same == [AppendResult("rejected", None, *skew)]
    assert is_reused(other[0], 1, held=1, pushed_tag=77)


async def test_another_event_repeating_a_dseq_of_its_own_batch_is_refused(
    store: EventStore,
) -> None:
    user = await store.create_user("ada")

    results, head = await store.append(
        user, "laptop", [pushed(1, 1), pushed(1, 1), pushed(1, 51)], NOW
    )

    assert results[:2] == [AppendResult("accepted", 1), AppendResult("duplicate", 1)]
    assert is_reused(results[2], 1, held=1, pushed_tag=51)
    assert head == 1


async def test_an_event_stored_without_its_id_is_told_apart_by_its_body(
    store: EventStore,
) -> None:
    """Events stored before the store kept ids: the id is read from the body."""
    user = await store.create_user("ada")
    await store.append(user, "laptop", [without_id(pushed(d, d)) for d in (1, 2)], NOW)

    results, _ = await store.append(user, "laptop", [pushed(1, 1), pushed(2, 92)], NOW)

    assert results[0] == AppendResult("duplicate", 1)
    assert is_reused(results[1], 2, held=2, pushed_tag=92)


async def test_without_an_id_on_either_side_a_push_is_taken_as_a_re_push(
    store: EventStore,
) -> None:
    """Nothing to compare (an envelope with no readable id, a stored body that
    names none): a duplicate, as before ids were kept."""
    user = await store.create_user("ada")
    await store.append(user, "laptop", [pushed(1, 1)], NOW)
    await store.append(user, "laptop", [Incoming("laptop", 2, 1_000_002, b"\x01")], NOW)

    results, _ = await store.append(
        user, "laptop", [Incoming("laptop", 1, 1_000_001, b"\x01\x02"), pushed(2, 62)], NOW
    )

    assert results == [AppendResult("duplicate", 1), AppendResult("duplicate", 2)]
