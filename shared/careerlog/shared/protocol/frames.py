"""Frames: wire messages to and from bytes, with size limits.

A frame is one binary websocket message holding one MessagePack-encoded
message. Decoding is typed at the edge (msgspec validates every field), and
anything that is not a well-formed message of the expected direction raises
:class:`ProtocolError` with a stable code, never a bare decoding error.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

from careerlog.shared.protocol import codes
from careerlog.shared.protocol.messages import ClientMessage, Message, ServerMessage

__all__ = [
    "CLIENT_MAX_FRAME_BYTES",
    "ProtocolError",
    "decode_client_frame",
    "decode_server_frame",
    "encode_frame",
]

#: What a client accepts from a server before it knows the server's limits:
#: generous, since a server sizes its pages to its own (smaller) limit.
CLIENT_MAX_FRAME_BYTES = 16 << 20


M = TypeVar("M")


class ProtocolError(Exception):
    """A frame or message the protocol does not allow; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def close_code(self) -> int:
        return codes.close_code(self.code)


class _Tagged(msgspec.Struct):
    """Just the tag of a frame, to tell an unknown message from a broken one."""

    t: str


_encoder = msgspec.msgpack.Encoder()
_client_decoder: msgspec.msgpack.Decoder[ClientMessage] = msgspec.msgpack.Decoder(ClientMessage)
_server_decoder: msgspec.msgpack.Decoder[ServerMessage] = msgspec.msgpack.Decoder(ServerMessage)
_tag_decoder: msgspec.msgpack.Decoder[_Tagged] = msgspec.msgpack.Decoder(_Tagged)


def encode_frame(message: Message) -> bytes:
    return _encoder.encode(message)


def decode_client_frame(data: bytes, max_bytes: int) -> ClientMessage:
    """Decode a frame a client sent (the server side of the wire)."""
    return _decode(data, max_bytes, _client_decoder)


def decode_server_frame(data: bytes, max_bytes: int = CLIENT_MAX_FRAME_BYTES) -> ServerMessage:
    """Decode a frame a server sent (the client side of the wire)."""
    return _decode(data, max_bytes, _server_decoder)


def _decode(data: bytes, max_bytes: int, decoder: msgspec.msgpack.Decoder[M]) -> M:
    if len(data) > max_bytes:
        raise ProtocolError(
            codes.FRAME_TOO_LARGE, f"frame of {len(data)} bytes exceeds {max_bytes}"
        )
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise _classify(data, exc) from None
    except msgspec.DecodeError as exc:
        raise ProtocolError(codes.MALFORMED_FRAME, f"not MessagePack: {exc}") from None


def _classify(data: bytes, exc: msgspec.ValidationError) -> ProtocolError:
    """A valid MessagePack frame that is not a valid message: unknown or malformed?"""
    try:
        tag = _tag_decoder.decode(data).t
    except (msgspec.ValidationError, msgspec.DecodeError):
        return ProtocolError(codes.MALFORMED_FRAME, f"not a tagged message: {exc}")
    if str(exc).endswith("at `$.t`"):
        return ProtocolError(codes.UNKNOWN_MESSAGE, f"unknown message type {tag!r}")
    return ProtocolError(codes.MALFORMED_FRAME, f"invalid {tag!r} message: {exc}")
