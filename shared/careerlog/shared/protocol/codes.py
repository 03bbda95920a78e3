"""Stable error codes, websocket close codes and per-event rejection codes.

Codes are part of the wire contract: clients branch on them, so a code is
never renamed or reused. Every connection-level error code has exactly one
close code in 4000-4999; ``FATAL`` lists the ones after which a client must
stop reconnecting until a person acts (upgrade, re-register the device).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BATCH_TOO_LARGE",
    "CLOCK_SKEW",
    "CLOSE_CODES",
    "DSEQ_REUSED",
    "EVENT_TOO_LARGE",
    "FATAL",
    "FRAME_TOO_LARGE",
    "GOING_AWAY",
    "INTERNAL",
    "INVALID_EVENT",
    "MALFORMED_FRAME",
    "MISSING_TOKEN",
    "RATE_LIMITED",
    "REJECTION_CODES",
    "REPLACED",
    "REVOKED",
    "TIMEOUT",
    "TOKEN_EXPIRED",
    "UNEXPECTED_MESSAGE",
    "UNKNOWN_EVENT_TYPE",
    "UNKNOWN_MESSAGE",
    "UNKNOWN_TOKEN",
    "UNSUPPORTED_EVENT_VERSION",
    "UNSUPPORTED_PROTOCOL",
    "WRONG_DEVICE",
    "close_code",
    "code_for_close",
    "is_fatal",
]

# --- connection errors (Error.code, then a close) ----------------------------------

UNSUPPORTED_PROTOCOL: Final = "unsupported_protocol"
MALFORMED_FRAME: Final = "malformed_frame"
FRAME_TOO_LARGE: Final = "frame_too_large"
BATCH_TOO_LARGE: Final = "batch_too_large"
UNKNOWN_MESSAGE: Final = "unknown_message"
UNEXPECTED_MESSAGE: Final = "unexpected_message"
WRONG_DEVICE: Final = "wrong_device"
RATE_LIMITED: Final = "rate_limited"
REVOKED: Final = "revoked"
INTERNAL: Final = "internal"
TIMEOUT: Final = "timeout"
REPLACED: Final = "replaced"
TOKEN_EXPIRED: Final = "token_expired"

#: Close code of each connection error code.
CLOSE_CODES: Final[dict[str, int]] = {
    UNSUPPORTED_PROTOCOL: 4001,
    MALFORMED_FRAME: 4002,
    FRAME_TOO_LARGE: 4003,
    BATCH_TOO_LARGE: 4004,
    UNKNOWN_MESSAGE: 4005,
    UNEXPECTED_MESSAGE: 4006,
    WRONG_DEVICE: 4007,
    RATE_LIMITED: 4008,
    REVOKED: 4009,
    INTERNAL: 4010,
    TIMEOUT: 4011,
    REPLACED: 4012,
    TOKEN_EXPIRED: 4013,
}
_CODE_OF_CLOSE: Final[dict[int, str]] = {close: code for code, close in CLOSE_CODES.items()}

#: The standard close code a server uses when it shuts down (reconnect soon).
GOING_AWAY: Final = 1001

#: Errors a retry cannot fix: the client stops reconnecting and tells the person.
FATAL: Final[frozenset[str]] = frozenset(
    {UNSUPPORTED_PROTOCOL, WRONG_DEVICE, REVOKED, TOKEN_EXPIRED}
)

# --- refused upgrades (the ``code`` of the HTTP 401 body; no websocket opens) --------
# ``revoked`` and ``token_expired`` above are also such codes.

MISSING_TOKEN: Final = "missing_token"
UNKNOWN_TOKEN: Final = "unknown_token"

# --- per-event rejections (Result.code with status "rejected") -----------------------

UNKNOWN_EVENT_TYPE: Final = "unknown_event_type"
UNSUPPORTED_EVENT_VERSION: Final = "unsupported_event_version"
INVALID_EVENT: Final = "invalid_event"
CLOCK_SKEW: Final = "clock_skew"
EVENT_TOO_LARGE: Final = "event_too_large"
#: The server holds another event (or another event's remembered rejection)
#: at this ``dseq`` of the device: its log reused a sequence number (a home
#: restored from a backup, or copied). Nothing was stored; the device gives
#: the event a fresh ``dseq`` after the server's and pushes it again.
DSEQ_REUSED: Final = "dseq_reused"
# WRONG_DEVICE doubles as a rejection code: an event naming another device.

REJECTION_CODES: Final[frozenset[str]] = frozenset(
    {
        UNKNOWN_EVENT_TYPE,
        UNSUPPORTED_EVENT_VERSION,
        INVALID_EVENT,
        CLOCK_SKEW,
        WRONG_DEVICE,
        EVENT_TOO_LARGE,
        DSEQ_REUSED,
    }
)


def close_code(code: str) -> int:
    """The websocket close code for an error code (``internal`` if unknown)."""
    return CLOSE_CODES.get(code, CLOSE_CODES[INTERNAL])


def code_for_close(close: int) -> str | None:
    """The error code behind a close code, or ``None`` for a non-protocol close."""
    return _CODE_OF_CLOSE.get(close)


def is_fatal(code: str) -> bool:
    return code in FATAL
