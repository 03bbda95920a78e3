"""The sync protocol: wire messages, frames and sans-I/O sessions.

Pure code: no sockets, no clock reads, no randomness. The asyncio adapters
in ``careerlog.client`` and ``careerlog.server`` pump frames through a
:class:`ClientSession` or :class:`ServerSession` and carry out the actions
they return. docs/protocol.md describes the wire for third-party clients.
"""

from __future__ import annotations

from careerlog.shared.protocol import codes
from careerlog.shared.protocol.actions import Close, Send
from careerlog.shared.protocol.backoff import reconnect_delays
from careerlog.shared.protocol.client import (
    ClientAction,
    ClientSession,
    ClientState,
    ClockOffset,
    Fatal,
    PushOutcome,
    Ready,
    ResendFrom,
    ResetLocal,
    StoreRemote,
)
from careerlog.shared.protocol.frames import (
    ProtocolError,
    decode_client_frame,
    decode_server_frame,
    encode_frame,
)
from careerlog.shared.protocol.limits import DEFAULT_LIMITS, Limits
from careerlog.shared.protocol.messages import (
    PROTOCOL_VERSION,
    Ack,
    ClientMessage,
    Error,
    Events,
    Gap,
    Hello,
    Item,
    Message,
    Ping,
    Pong,
    Push,
    PushResult,
    Reset,
    Result,
    ResultStatus,
    ServerMessage,
    Welcome,
)
from careerlog.shared.protocol.server import (
    Append,
    IncomingEvent,
    Read,
    Rejection,
    ServerAction,
    ServerSession,
    ServerState,
)

#: The websocket path; authenticate the upgrade with ``Authorization: Bearer <device token>``.
SYNC_PATH = "/v1/sync"

__all__ = [
    "DEFAULT_LIMITS",
    "PROTOCOL_VERSION",
    "SYNC_PATH",
    "Ack",
    "Append",
    "ClientAction",
    "ClientMessage",
    "ClientSession",
    "ClientState",
    "ClockOffset",
    "Close",
    "Error",
    "Events",
    "Fatal",
    "Gap",
    "Hello",
    "IncomingEvent",
    "Item",
    "Limits",
    "Message",
    "Ping",
    "Pong",
    "ProtocolError",
    "Push",
    "PushOutcome",
    "PushResult",
    "Read",
    "Ready",
    "Rejection",
    "ResendFrom",
    "Reset",
    "ResetLocal",
    "Result",
    "ResultStatus",
    "Send",
    "ServerAction",
    "ServerMessage",
    "ServerSession",
    "ServerState",
    "StoreRemote",
    "Welcome",
    "codes",
    "decode_client_frame",
    "decode_server_frame",
    "encode_frame",
    "reconnect_delays",
]
