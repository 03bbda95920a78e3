"""``EventStore.read_in_order``: a user's events in canonical order, up to a position."""

from __future__ import annotations

from careerlog.server.store import EventStore, Incoming
from tests.contract.pushes import origin

NOW = 1_772_442_000_000


def stamped(device: str, dseq: int, hlc: int) -> Incoming:
    import msgspec

    body = msgspec.msgpack.encode({"owner": "", "device": device, "dseq": dseq})
    return Incoming(device=device, dseq=dseq, hlc=hlc, body=body)


async def test_events_come_in_canonical_order_not_arrival_order(store: EventStore) -> None:
    user = await store.create_user("ada")
    other = await store.create_user("bob")
    await store.append(user, "laptop", [stamped("laptop", 1, 10), stamped("laptop", 2, 30)], NOW)
    # The phone was offline: its events sort between the laptop's.
    await store.append(user, "phone", [stamped("phone", 1, 20), stamped("phone", 2, 30)], NOW)
    await store.append(other, "laptop", [stamped("laptop", 1, 15)], NOW)

    everything = await store.read_in_order(user, (-1, "", 0), 4, 100)

    assert [(s.device, s.dseq) for s in everything] == [
        ("laptop", 1),
        ("phone", 1),
        ("laptop", 2),  # same hlc as phone 2: device breaks the tie
        ("phone", 2),
    ]
    assert [s.pos for s in everything] == [1, 3, 2, 4]
    assert [origin(s.body)[1:] for s in everything] == [(s.device, s.dseq) for s in everything]


async def test_reading_resumes_after_a_key_and_stops_at_a_position(store: EventStore) -> None:
    user = await store.create_user("ada")
    await store.append(user, "laptop", [stamped("laptop", n, 100 - n) for n in range(1, 6)], NOW)

    after = await store.read_in_order(user, (97, "laptop", 3), 5, 100)
    assert [s.dseq for s in after] == [2, 1]
    assert [s.dseq for s in await store.read_in_order(user, (-1, "", 0), 3, 100)] == [3, 2, 1]
    assert [s.dseq for s in await store.read_in_order(user, (-1, "", 0), 5, 2)] == [5, 4]
    assert await store.read_in_order(user, (-1, "", 0), 5, 0) == []
    assert await store.read_in_order(user + 1, (-1, "", 0), 5, 10) == []
