"""Many writers and tailing readers at once: no reader ever misses or repeats an event.

This is the failure es-anchors §1C describes: if ``pos`` were handed out
before commit without a per-user lock, a reader paging ``pos > cursor`` could
pass a position whose transaction commits later and never see that event.
Each reader here asserts, page by page, that the next event it sees is exactly
``cursor + 1``, while dozens of pushes commit around it.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

from careerlog.server.store import AppendResult, EventStore, Stored
from tests.contract.pushes import event, origin

USERS = 6
DEVICES = ("laptop", "phone", "tablet")
#: Two sessions per device race on it, as after a reconnect with the old socket
#: not yet closed: 36 writer tasks in all.
SESSIONS_PER_DEVICE = 2
EVENTS_PER_DEVICE = 200
#: Every REJECT_EVERY-th dseq is refused by the (simulated) validator.
REJECT_EVERY = 13
NOW = 1_772_442_000_000
TIME_LIMIT_S = 30


def is_refused(dseq: int) -> bool:
    return dseq % REJECT_EVERY == 0


async def test_concurrent_pushes_and_tailing_readers(store: EventStore) -> None:
    rng = random.Random(20260302)
    names = [f"user-{n}" for n in range(USERS)]
    users = {name: await store.create_user(name) for name in names}
    accepted_per_device = sum(not is_refused(d) for d in range(1, EVENTS_PER_DEVICE + 1))
    total_per_user = accepted_per_device * len(DEVICES)
    #: (user, device, dseq) -> pos, from every accepted or duplicate answer.
    answers: dict[tuple[int, str, int], set[int | None]] = defaultdict(set)

    async def session(name: str, device: str, seed: int) -> int:
        """Push the device's events in random batches from wherever the server is."""
        own = random.Random(seed)
        user = users[name]
        pushes = 0
        while (start := await store.device_head(user, device) + 1) <= EVENTS_PER_DEVICE:
            stop = min(start + own.randint(0, 11), EVENTS_PER_DEVICE)
            batch = [
                event(
                    device,
                    dseq,
                    owner=name,
                    rejected=("invalid", f"refused {dseq}") if is_refused(dseq) else None,
                )
                for dseq in range(start, stop + 1)
            ]
            results, _ = await store.append(user, device, batch, NOW + pushes)
            pushes += 1
            for item, result in zip(batch, results, strict=True):
                check_answer(item.dseq, result)
                answers[(user, device, item.dseq)].add(result.pos)
            if own.random() < 0.3:
                await asyncio.sleep(0)
        return pushes

    async def tail(name: str, seed: int) -> list[Stored]:
        """Follow one user's log by cursor until every event has been seen."""
        own = random.Random(seed)
        user = users[name]
        seen: list[Stored] = []
        cursor = 0
        while len(seen) < total_per_user:
            page = await store.read(user, cursor, own.randint(1, 40))
            if not page:
                await asyncio.sleep(0.001)
                continue
            for item in page:
                # Never a skip (a later commit passed over) nor a repeat.
                assert item.pos == cursor + 1, (name, cursor, item.pos)
                cursor = item.pos
                seen.append(item)
        return seen

    writers = [
        session(name, device, rng.getrandbits(32))
        for name in names
        for device in DEVICES
        for _ in range(SESSIONS_PER_DEVICE)
    ]
    readers = [tail(name, rng.getrandbits(32)) for name in names]
    async with asyncio.timeout(TIME_LIMIT_S):
        pushes, tails = await asyncio.gather(asyncio.gather(*writers), asyncio.gather(*readers))

    assert len(pushes) >= 30
    for name, seen in zip(names, tails, strict=True):
        user = users[name]
        assert [item.pos for item in seen] == list(range(1, total_per_user + 1))
        assert await store.head(user) == total_per_user
        # Nothing of another user, nothing refused, every device complete and
        # in dseq order within the user's log.
        by_device: dict[str, list[int]] = defaultdict(list)
        for item in seen:
            owner, device, dseq = origin(item.body)
            assert (owner, device, dseq) == (name, item.device, item.dseq)
            by_device[device].append(dseq)
        expected = [d for d in range(1, EVENTS_PER_DEVICE + 1) if not is_refused(d)]
        assert by_device == dict.fromkeys(DEVICES, expected)
        # Every answer a session got names where the event really is.
        where = {(item.device, item.dseq): item.pos for item in seen}
        for device in DEVICES:
            assert await store.device_head(user, device) == EVENTS_PER_DEVICE
            for dseq in range(1, EVENTS_PER_DEVICE + 1):
                assert answers[(user, device, dseq)] == {where.get((device, dseq))}


def check_answer(dseq: int, result: AppendResult) -> None:
    if is_refused(dseq):
        assert result == AppendResult("rejected", None, "invalid", f"refused {dseq}")
    else:
        assert result.status in ("accepted", "duplicate")
        assert result.pos is not None
