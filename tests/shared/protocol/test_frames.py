from __future__ import annotations

import msgspec
import pytest

from careerlog.shared.protocol import (
    Ack,
    Events,
    Hello,
    Item,
    ProtocolError,
    Push,
    codes,
    decode_client_frame,
    decode_server_frame,
    encode_frame,
    reconnect_delays,
)


def test_round_trip_keeps_raw_events_byte_for_byte() -> None:
    body = msgspec.msgpack.encode({"type": "ActivityLogged", "dseq": 1})
    frame = encode_frame(Push(batch=7, events=[msgspec.Raw(body)]))
    message = decode_client_frame(frame, 1 << 20)
    assert isinstance(message, Push)
    assert message.batch == 7
    assert bytes(message.events[0]) == body


def test_tag_is_t() -> None:
    assert msgspec.msgpack.decode(encode_frame(Ack(cursor=3))) == {"t": "ack", "cursor": 3}


def test_server_frames_decode_on_the_client_side() -> None:
    frame = encode_frame(Events(items=[Item(pos=1, event=msgspec.Raw(b"\x80"))], head=1))
    assert isinstance(decode_server_frame(frame), Events)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\xc1", codes.MALFORMED_FRAME),  # never used in MessagePack
        (b"", codes.MALFORMED_FRAME),
        (msgspec.msgpack.encode([1, 2]), codes.MALFORMED_FRAME),
        (msgspec.msgpack.encode({"cursor": 1}), codes.MALFORMED_FRAME),
        (msgspec.msgpack.encode({"t": "ack", "cursor": "x"}), codes.MALFORMED_FRAME),
        (msgspec.msgpack.encode({"t": "teleport"}), codes.UNKNOWN_MESSAGE),
        # A server message sent by a client is unknown in that direction.
        (msgspec.msgpack.encode({"t": "reset", "epoch": "e"}), codes.UNKNOWN_MESSAGE),
        (b"\x00" * 2000, codes.FRAME_TOO_LARGE),
    ],
)
def test_garbage_raises_protocol_error_with_a_code(frame: bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_client_frame(frame, 1000)
    assert info.value.code == code
    assert info.value.close_code == codes.CLOSE_CODES[code]


def test_every_error_code_has_a_distinct_close_code_in_range() -> None:
    closes = list(codes.CLOSE_CODES.values())
    assert len(set(closes)) == len(closes)
    assert all(4000 <= close <= 4999 for close in closes)
    assert all(codes.code_for_close(codes.close_code(c)) == c for c in codes.CLOSE_CODES)
    assert set(codes.CLOSE_CODES) >= codes.FATAL


def test_hello_requires_its_fields() -> None:
    frame = msgspec.msgpack.encode({"t": "hello", "protocol": 1, "device": "d"})
    with pytest.raises(ProtocolError) as info:
        decode_client_frame(frame, 1000)
    assert info.value.code == codes.MALFORMED_FRAME
    ok = encode_frame(Hello(protocol=1, device="d", cursor=0, client_time_ms=5))
    assert decode_client_frame(ok, 1000) == Hello(
        protocol=1, device="d", cursor=0, client_time_ms=5
    )


def test_reconnect_delays_are_exponential_capped_and_jittered() -> None:
    top = reconnect_delays(100, 1_000, lambda: 0.999999)
    assert [next(top) for _ in range(6)] == [99, 199, 399, 799, 999, 999]
    halves = reconnect_delays(100, 1_000, lambda: 0.5)
    assert [next(halves) for _ in range(3)] == [50, 100, 200]
    assert next(reconnect_delays(100, 1_000, lambda: 0.0)) == 0


def test_reconnect_delays_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="base_ms"):
        next(reconnect_delays(0, 10, lambda: 0.5))
