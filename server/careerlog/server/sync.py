"""The websocket endpoint ``/v1/sync``: authenticate the upgrade, then serve the connection.

A missing, unknown, revoked or expired token fails the upgrade with HTTP 401
and a JSON body whose ``code`` says which, and no websocket is opened
(docs/protocol.md §1), using the ASGI websocket denial
response extension. On a server without that extension the upgrade is
refused with a plain close, which a client sees as HTTP 403.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.di import NamedDependency

from careerlog.server.connection import SyncConnection, now_ms
from careerlog.server.runtime import Runtime
from careerlog.server.telemetry import ConnectionTelemetry
from careerlog.server.tokens import bearer_token, hash_token
from careerlog.shared.protocol import SYNC_PATH, codes

__all__ = ["sync_socket"]

log = logging.getLogger("careerlog.server.sync")

_DENIAL_EXTENSION = "websocket.http.response"


@websocket(SYNC_PATH, name="sync")
async def sync_socket(socket: WebSocket[Any, Any, Any], runtime: NamedDependency[Runtime]) -> None:
    """One device's sync connection (binary MessagePack frames, see docs/protocol.md)."""
    failures = runtime.metrics.auth_failures
    token = bearer_token(socket.headers.get("authorization"))
    if token is None:
        failures.labels("missing_token").inc()
        log.warning("sync upgrade refused: no bearer token", extra={"client": _client(socket)})
        await _deny(
            socket, codes.MISSING_TOKEN, "missing or malformed Authorization: Bearer <device token>"
        )
        return
    token_hash = hash_token(token)
    try:
        device = await runtime.store.device_for_token(token_hash)
    except Exception:
        failures.labels("store").inc()
        log.exception("store failed while authenticating a sync connection")
        await _deny(socket, codes.INTERNAL, "storage unavailable, retry later", status=503)
        return
    if device is None:
        failures.labels("unknown_token").inc()
        log.warning("sync upgrade refused: unknown token", extra={"client": _client(socket)})
        await _deny(socket, codes.UNKNOWN_TOKEN, "unknown device token")
        return
    refusal = device.refusal(now_ms())
    if refusal is not None:
        failures.labels(refusal).inc()
        log.warning(
            f"sync upgrade refused: {refusal} device token",
            extra={"user_id": device.user_id, "device": device.device, "client": _client(socket)},
        )
        code = codes.REVOKED if refusal == "revoked" else codes.TOKEN_EXPIRED
        await _deny(socket, code, f"this device's token was {refusal}")
        return
    await socket.accept()
    telemetry = ConnectionTelemetry(runtime.metrics, device)
    connection = SyncConnection(
        socket,
        runtime.store,
        runtime.hub,
        device,
        token_hash,
        runtime.settings.session_limits,
        runtime.settings.revocation_check_ms,
        telemetry,
    )
    telemetry.opened()
    try:
        await connection.run()
    finally:
        telemetry.closed()


def _client(socket: WebSocket[Any, Any, Any]) -> str | None:
    return socket.client.host if socket.client else None


async def _deny(
    socket: WebSocket[Any, Any, Any], code: str, detail: str, status: int = 401
) -> None:
    if _DENIAL_EXTENSION not in (socket.scope.get("extensions") or {}):
        await socket.close(code=1008, reason=detail[:120])
        return
    await socket.receive()  # the websocket.connect message comes first
    body = msgspec.json.encode({"status_code": status, "code": code, "detail": detail})
    start: Any = {
        "type": "websocket.http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Bearer realm="careerlog"'),
        ],
    }
    await socket.send(start)
    done: Any = {"type": "websocket.http.response.body", "body": body, "more_body": False}
    await socket.send(done)
