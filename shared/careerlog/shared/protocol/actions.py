"""Actions both sessions hand to their I/O adapter.

A session never touches a socket: each call returns a list of actions, and
the adapter performs them in order. Side-specific actions live beside their
session (:mod:`.server`, :mod:`.client`).
"""

from __future__ import annotations

from dataclasses import dataclass

from careerlog.shared.protocol.messages import Message

__all__ = ["Close", "Send"]


@dataclass(frozen=True, slots=True)
class Send:
    """Encode ``message`` (:func:`.frames.encode_frame`) and send it as one binary frame."""

    message: Message


@dataclass(frozen=True, slots=True)
class Close:
    """Close the websocket with ``code`` and ``reason``; the session is over.

    On the client this also means: reconnect after the next backoff delay.
    """

    code: int
    reason: str
