"""Old event shapes, kept here forever, still decode to today's types."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import msgspec
import pytest

from careerlog.shared.codec import (
    EventDecodeError,
    decode_event,
    decode_event_json,
    encode_event,
)
from careerlog.shared.events import CURRENT_VERSIONS, GoalSet
from careerlog.shared.upcasting import UPCASTERS, upcast

FIXTURES = Path(__file__).parent / "fixtures"


def _v1_lines() -> list[bytes]:
    return (FIXTURES / "goal_set_v1.jsonl").read_bytes().splitlines()


def test_goal_set_v1_fixture_upcasts_to_current_shape() -> None:
    first, second = (decode_event_json(line) for line in _v1_lines())

    assert isinstance(first, GoalSet)
    assert first.v == CURRENT_VERSIONS["GoalSet"] == 2
    assert first.due_on == date(2024, 9, 30)
    assert first.start_on == date(2024, 3, 1)  # the day it was set, in its own zone
    assert first.measure.metric == "migration shipped to all tenants"
    assert (first.measure.baseline, first.measure.target) == (0.0, 1.0)
    assert first.specific == "Own the billing migration end to end"
    assert first.tz == "Europe/Berlin"
    # A v1 goal without a measure is measured by its title.
    assert isinstance(second, GoalSet)
    assert second.measure.metric == "Speak at a meetup"


def test_v1_event_stored_as_msgpack_upcasts_too() -> None:
    raw = msgspec.json.decode(_v1_lines()[0])
    packed = msgspec.msgpack.encode(raw)

    event = decode_event(packed)

    assert isinstance(event, GoalSet)
    assert event.due_on == date(2024, 9, 30)
    # Upcasting is a read-time view: re-encoding gives the v2 shape.
    assert decode_event(encode_event(event)) == event


def test_every_versioned_type_has_a_complete_upcaster_chain() -> None:
    for name, current in CURRENT_VERSIONS.items():
        for version in range(1, current):
            assert (name, version) in UPCASTERS, f"{name} v{version} has no upcaster"


def test_upcast_is_pure() -> None:
    raw = msgspec.json.decode(_v1_lines()[0])
    before = dict(raw)
    upcast(raw, 2)
    assert raw == before


def test_newer_version_than_known_is_refused_clearly() -> None:
    raw = msgspec.json.decode(_v1_lines()[0])
    raw["v"] = 99
    with pytest.raises(EventDecodeError, match="newer than this Careerlog understands"):
        decode_event_json(msgspec.json.encode(raw))
