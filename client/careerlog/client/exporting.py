"""JSON Lines export and import of a person's events.

One event per line, in canonical order, in the same JSON shape the wire and
``docs/events.md`` use. An export is the person's whole history: importing it
into an empty home gives identical read models, and importing it twice adds
nothing (events are identified by their id).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from careerlog.shared.codec import (
    EventDecodeError,
    canonical_key,
    decode_event_json,
    encode_event_json,
)
from careerlog.shared.events import Event

__all__ = ["ImportFileError", "export_jsonl", "read_jsonl"]

#: A line longer than this is not an event we wrote; refuse rather than buffer it.
MAX_LINE_BYTES = 1 << 20


class ImportFileError(ValueError):
    """A file that is not a Careerlog JSON Lines export; names the first bad line."""


def export_jsonl(events: Iterable[Event]) -> Iterator[bytes]:
    """Each event as one JSON line (with its newline), in canonical order."""
    for event in sorted(events, key=canonical_key):
        yield encode_event_json(event) + b"\n"


def read_jsonl(data: bytes) -> list[Event]:
    """Every event of an export, or an error naming the first bad line.

    All or nothing: a file with one bad line imports nothing, so a person never
    ends up with half of a file and no idea which half.
    """
    events: list[Event] = []
    seen: dict[tuple[str, int], Event] = {}
    for number, raw in enumerate(data.split(b"\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        if len(line) > MAX_LINE_BYTES:
            raise ImportFileError(f"line {number}: longer than {MAX_LINE_BYTES} bytes")
        try:
            event = decode_event_json(line)
        except EventDecodeError as exc:
            raise ImportFileError(f"line {number}: {exc}") from None
        slot = (event.device, event.dseq)
        other = seen.get(slot)
        if other is not None and other.id != event.id:
            raise ImportFileError(
                f"line {number}: device {event.device} sequence {event.dseq} "
                f"is used by two different events"
            )
        seen[slot] = event
        events.append(event)
    return events
