"""Replicas agree: any interleaving of devices, any batching, redelivery, and
export/import give the same read models as folding the history in canonical order."""

from __future__ import annotations

import asyncio
import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careerlog.client.exporting import export_jsonl, read_jsonl
from careerlog.client.store import LocalStore
from careerlog.shared.codec import canonical_key
from careerlog.shared.events import Event
from careerlog.shared.projections import encode_state, fold
from tests.strategies import histories

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


async def _receive(home: Path, batches: list[list[Event]]) -> tuple[bytes, bytes]:
    async with await LocalStore.open(home) as store:
        for batch in batches:
            await store.import_events(batch)
        live = encode_state(store.state)
    async with await LocalStore.open(home) as reopened:
        assert encode_state(reopened.state) == live
        return live, encode_state(await reopened.rebuild())


@SETTINGS
@given(histories(max_events=50), st.integers(0, 2**32 - 1))
def test_a_replica_receiving_events_in_any_order_and_batches_agrees(
    events: list[Event], seed: int
) -> None:
    rng = random.Random(seed)
    # Sync keeps each device's events in order (gap-free pushes, pos order);
    # across devices, anything goes.
    queues = {device: [e for e in events if e.device == device] for device in {
        e.device for e in events}}  # fmt: skip
    shuffled: list[Event] = []
    while queues:
        device = rng.choice(sorted(queues))
        shuffled.append(queues[device].pop(0))
        if not queues[device]:
            del queues[device]
    batches: list[list[Event]] = []
    while shuffled:
        size = rng.randint(1, 8)
        batches.append(shuffled[:size])
        shuffled = shuffled[size:]
    if events and rng.random() < 0.5:
        batches.insert(rng.randrange(len(batches) + 1), events[: rng.randint(1, len(events))])
    expected = encode_state(fold(sorted(events, key=canonical_key)))
    with tempfile.TemporaryDirectory() as tmp:
        live, rebuilt = asyncio.run(_receive(Path(tmp), batches))
    assert live == expected
    assert rebuilt == expected


@SETTINGS
@given(histories(max_events=50))
def test_export_then_import_into_an_empty_home_gives_identical_read_models(
    events: list[Event],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        original, _ = asyncio.run(_receive(Path(tmp) / "a", [events]))
        data = b"".join(export_jsonl(events))
        copied, _ = asyncio.run(_receive(Path(tmp) / "b", [read_jsonl(data)]))
        again, _ = asyncio.run(_receive(Path(tmp) / "b", [read_jsonl(data)]))
    assert copied == original
    assert again == original
