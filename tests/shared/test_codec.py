from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from uuid import UUID

import msgspec
import pytest

from careerlog.shared.codec import (
    EventDecodeError,
    canonical_key,
    decode_event,
    decode_event_json,
    encode_event,
    encode_event_json,
)
from careerlog.shared.events import (
    ALL_EVENT_TYPES,
    ActivityLogged,
    Envelope,
    GoalRevised,
    GoalSet,
    Measure,
)

ENV = Envelope(
    id=UUID("018e0a6b-3c00-7a1b-9c2d-3e4f5a6b7c8d"),
    device="laptop",
    dseq=3,
    hlc=(1_700_000_000_000 << 16) | 2,
    occurred_at=datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
    tz="Europe/Paris",
    record_id="abcdefghjk12",
)


def _goal() -> GoalSet:
    return GoalSet(
        **ENV.stamp(),
        goal_id=ENV.record_id,
        title="Become a staff engineer",
        measure=Measure(metric="promotion case ready", target=1.0),
        start_on=date(2026, 1, 1),
        due_on=date(2026, 12, 31),
    )


def test_msgpack_and_json_round_trip() -> None:
    goal = _goal()
    assert decode_event(encode_event(goal)) == goal
    assert decode_event_json(encode_event_json(goal)) == goal


def test_the_tag_is_the_type_name() -> None:
    raw = msgspec.json.decode(encode_event_json(_goal()))
    assert raw["type"] == "GoalSet"
    assert set(ALL_EVENT_TYPES) >= {"GoalSet", "GoalRevised", "EntryRetracted", "ActivityLogged"}


def test_backdated_time_keeps_its_offset_in_json() -> None:
    paris = timezone(timedelta(hours=1))
    goal = msgspec.structs.replace(_goal(), occurred_at=datetime(2025, 2, 1, 9, 0, tzinfo=paris))
    text = encode_event_json(goal).decode()
    assert '"occurred_at":"2025-02-01T09:00:00+01:00"' in text
    assert decode_event(encode_event(goal)).occurred_at == goal.occurred_at  # same instant


def test_canonical_key_orders_by_hlc_then_device_then_dseq() -> None:
    a = msgspec.structs.replace(_goal(), hlc=10, device="b", dseq=1)
    b = msgspec.structs.replace(_goal(), hlc=10, device="a", dseq=9)
    c = msgspec.structs.replace(_goal(), hlc=9, device="z", dseq=5)
    assert sorted([a, b, c], key=canonical_key) == [c, b, a]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda raw: raw.update(type="GoalInvented"), "unknown event type"),
        (lambda raw: raw.update(title=""), "invalid GoalSet"),
        (lambda raw: raw.update(goal_id="x" * 33), "invalid GoalSet"),
        (lambda raw: raw.pop("device"), "invalid GoalSet"),
        (lambda raw: raw.update(dseq=0), "invalid GoalSet"),
    ],
)
def test_invalid_events_raise_one_clear_error(mutate: object, message: str) -> None:
    raw = msgspec.json.decode(encode_event_json(_goal()))
    mutate(raw)  # type: ignore[operator]
    with pytest.raises(EventDecodeError, match=message):
        decode_event_json(msgspec.json.encode(raw))
    with pytest.raises(EventDecodeError, match=message):
        decode_event(msgspec.msgpack.encode(raw))


@pytest.mark.parametrize("garbage", [b"", b"\xc1", b"[1,2", b"42", b"\x93\x01\x02\x03"])
def test_garbage_is_an_event_decode_error(garbage: bytes) -> None:
    with pytest.raises(EventDecodeError):
        decode_event(garbage)


def test_revision_values_keep_their_types() -> None:
    revision = GoalRevised(
        **ENV.stamp(),
        goal_id="abcdefghjk12",
        changes=[{"field": "target", "before": 10.0, "after": 12.5}],  # type: ignore[list-item]
        reason_code="learned_new_info",
    )
    revision = msgspec.convert(msgspec.to_builtins(revision), GoalRevised)
    decoded = decode_event(encode_event(revision))
    assert isinstance(decoded, GoalRevised)
    assert decoded.changes[0].after == 12.5


def test_unknown_fields_from_a_newer_writer_are_ignored() -> None:
    activity = ActivityLogged(**ENV.stamp(), activity_id="abcdefghjk12", text="Wrote a design doc")
    raw = msgspec.json.decode(encode_event_json(activity))
    raw["mood"] = "great"  # a field a later version might add, with a default
    assert decode_event_json(msgspec.json.encode(raw)) == activity
