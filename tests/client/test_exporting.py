"""JSON Lines export and import: canonical order, all-or-nothing, line numbers."""

from __future__ import annotations

import json
from datetime import date
from functools import partial
from pathlib import Path

import pytest

from careerlog.client import commands
from careerlog.client.exporting import ImportFileError, export_jsonl, read_jsonl
from careerlog.client.store import LocalStore


async def _events(store: LocalStore) -> list[bytes]:
    await store.record(partial(commands.set_goal, title="G", due_on=date(2027, 1, 1)))
    await store.record(partial(commands.log_activity, text="read"))
    return list(export_jsonl(reversed(await store.events())))


async def test_export_is_one_json_line_per_event_in_canonical_order(store: LocalStore) -> None:
    lines = await _events(store)
    assert all(line.endswith(b"\n") for line in lines)
    assert [json.loads(line)["dseq"] for line in lines] == [1, 2]
    assert read_jsonl(b"".join(lines)) == await store.events()


async def test_blank_lines_are_ignored(store: LocalStore) -> None:
    lines = await _events(store)
    assert len(read_jsonl(b"\n\n" + b"\n".join(lines) + b"\n\n")) == 2


async def test_a_bad_line_is_named_and_nothing_is_read(store: LocalStore) -> None:
    lines = await _events(store)
    with pytest.raises(ImportFileError, match=r"^line 2: "):
        read_jsonl(lines[0] + b'{"type": "GoalSet", "title": 1}\n' + lines[1])
    with pytest.raises(ImportFileError, match="unknown event type"):
        read_jsonl(b'{"type": "Nope"}\n')


async def test_two_different_events_claiming_one_sequence_number_are_refused(
    store: LocalStore,
) -> None:
    first, second = await _events(store)
    forged = json.loads(second)
    forged["dseq"] = 1
    with pytest.raises(ImportFileError, match="sequence 1 is used by two different events"):
        read_jsonl(first + json.dumps(forged).encode() + b"\n")


def test_an_old_schema_version_is_upcast_on_import() -> None:
    fixture = Path(__file__).parent.parent / "shared" / "fixtures" / "goal_set_v1.jsonl"
    events = read_jsonl(fixture.read_bytes())
    assert events
    assert {type(event).__name__ for event in events} == {"GoalSet"}
    assert {event.v for event in events} == {2}
