"""Encoding events for storage, the wire and export, with upcasting on read.

Encoders and decoders are module-level and reused (msgspec is fastest that
way). Decoding takes the typed fast path; only an event written at an older
schema version goes through the raw, upcast path.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from careerlog.shared.events import ALL_EVENT_TYPES, CURRENT_VERSIONS, Event, EventBase
from careerlog.shared.upcasting import upcast

__all__ = [
    "EventDecodeError",
    "canonical_key",
    "decode_event",
    "decode_event_json",
    "encode_event",
    "encode_event_json",
]


class EventDecodeError(ValueError):
    """Bytes that are not a valid event of a known type and version."""


#: Ids as 16 raw bytes, not 36 characters: 20 bytes less on every stored event.
_msgpack_encoder = msgspec.msgpack.Encoder(uuid_format="bytes")
_msgpack_decoder: msgspec.msgpack.Decoder[Event] = msgspec.msgpack.Decoder(Event)
_msgpack_raw_decoder = msgspec.msgpack.Decoder()
_json_encoder = msgspec.json.Encoder()


@functools.cache
def _json_decoder() -> msgspec.json.Decoder[Event]:
    """Built on first use: analysing the union takes milliseconds, and most
    processes (every read verb) never decode JSON."""
    return msgspec.json.Decoder(Event)


_json_raw_decoder = msgspec.json.Decoder()

#: ``CURRENT_VERSIONS`` keyed by class: the check runs on every decoded event,
#: and ``type(event)`` is at hand where ``__name__`` is one more lookup.
_CURRENT_VERSION_OF: dict[type, int] = {
    cls: CURRENT_VERSIONS[name] for name, cls in ALL_EVENT_TYPES.items()
}


def canonical_key(event: EventBase) -> tuple[int, str, int]:
    """The fold order every replica agrees on: ``(hlc, device, dseq)``."""
    return (event.hlc, event.device, event.dseq)


def encode_event(event: EventBase) -> bytes:
    return _msgpack_encoder.encode(event)


def encode_event_json(event: EventBase) -> bytes:
    return _json_encoder.encode(event)


def decode_event(data: bytes) -> Event:
    """Decode a MessagePack event, upcasting an old schema version."""
    try:
        event = _msgpack_decoder.decode(data)
    except msgspec.DecodeError as exc:
        return _decode_slow(data, _msgpack_raw_decoder, exc)
    if event.v != _CURRENT_VERSION_OF[type(event)]:
        return _decode_slow(data, _msgpack_raw_decoder, None)
    return event


def decode_event_json(data: bytes) -> Event:
    """Decode a JSON event (export lines), upcasting an old schema version."""
    try:
        event = _json_decoder().decode(data)
    except msgspec.DecodeError as exc:
        return _decode_slow(data, _json_raw_decoder, exc)
    if event.v != _CURRENT_VERSION_OF[type(event)]:
        return _decode_slow(data, _json_raw_decoder, None)
    return event


def _decode_slow(
    data: bytes,
    raw_decoder: msgspec.msgpack.Decoder[Any] | msgspec.json.Decoder[Any],
    typed_error: msgspec.DecodeError | None,
) -> Event:
    try:
        raw = raw_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise EventDecodeError(f"not an event: {exc}") from None
    if not isinstance(raw, dict):
        raise EventDecodeError("not an event: expected an object")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in CURRENT_VERSIONS:
        raise EventDecodeError(f"unknown event type: {kind!r}")
    current = CURRENT_VERSIONS[kind]
    version = raw.get("v", 1)
    if not isinstance(version, int) or version < 1:
        raise EventDecodeError(f"{kind}: invalid schema version {version!r}")
    if version > current:
        raise EventDecodeError(
            f"{kind} v{version} is newer than this Careerlog understands (v{current}); upgrade"
        )
    if version == current:
        # The typed decode failed on a current-version event: report why.
        raise EventDecodeError(f"invalid {kind}: {typed_error}")
    try:
        lifted = upcast(raw, current)
        event: Event = msgspec.convert(lifted, Event, strict=False)
        return event
    except (KeyError, TypeError, ValueError, msgspec.ValidationError) as exc:
        raise EventDecodeError(f"cannot upcast {kind} v{version}: {exc}") from None
