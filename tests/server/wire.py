"""A raw protocol peer for server tests: real websockets, hand-built frames, no ClientSession.

The server is tested the way a third-party client would talk to it: each
frame is built from :mod:`careerlog.shared.protocol` messages and each event
from :mod:`careerlog.shared.events`, so a test states exactly what goes over
the wire.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeVar

import httpx
import msgspec
from websockets.asyncio.client import ClientConnection, connect

from careerlog.shared import hlc
from careerlog.shared.codec import encode_event
from careerlog.shared.events import ActivityLogged
from careerlog.shared.ids import record_id, uuid7
from careerlog.shared.protocol import (
    PROTOCOL_VERSION,
    Ack,
    Events,
    Hello,
    Push,
    ServerMessage,
    Welcome,
    decode_server_frame,
    encode_frame,
)

__all__ = ["Peer", "activity", "enroll", "now_ms"]

M = TypeVar("M")

TIMEOUT_S = 5.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def activity(device: str, dseq: int, text: str = "", *, hlc_ms: int | None = None) -> bytes:
    """The wire bytes of a valid ActivityLogged event recorded by ``device``."""
    wall = now_ms() if hlc_ms is None else hlc_ms
    event = ActivityLogged(
        id=uuid7(wall, os.urandom(10)),
        device=device,
        dseq=dseq,
        hlc=hlc.pack(wall, dseq),
        occurred_at=datetime.fromtimestamp(wall / 1000, UTC),
        activity_id=record_id(os.urandom(8)),
        text=text or f"event {dseq} of {device}",
    )
    return encode_event(event)


async def enroll(http_url: str, enrollment_token: str, device: str) -> str:
    """Register ``device`` with an enrollment token; return its device token."""
    async with httpx.AsyncClient(base_url=http_url) as client:
        response = await client.post(
            "/v1/devices",
            json={"enrollment_token": enrollment_token, "device": device, "name": device},
        )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


class Peer:
    """One device's websocket, speaking raw protocol frames."""

    def __init__(self, socket: ClientConnection, device: str) -> None:
        self.socket = socket
        self.device = device
        self.welcome: Welcome | None = None
        self._batch = 0

    @classmethod
    async def connect(cls, ws_url: str, token: str | None, device: str) -> Peer:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        socket = await connect(ws_url, additional_headers=headers, open_timeout=TIMEOUT_S)
        return cls(socket, device)

    @classmethod
    async def open(
        cls,
        ws_url: str,
        token: str,
        device: str,
        cursor: int = 0,
        epoch: str | None = None,
        *,
        skip_acknowledged: bool = False,
    ) -> Peer:
        """Connect and complete the handshake."""
        peer = await cls.connect(ws_url, token, device)
        await peer.hello(cursor, epoch=epoch, skip_acknowledged=skip_acknowledged)
        peer.welcome = await peer.expect(Welcome)
        return peer

    async def hello(
        self,
        cursor: int = 0,
        *,
        epoch: str | None = None,
        protocol: int = PROTOCOL_VERSION,
        skip_acknowledged: bool = False,
    ) -> None:
        await self.send(
            Hello(
                protocol=protocol,
                device=self.device,
                cursor=cursor,
                epoch=epoch,
                client_time_ms=now_ms(),
                skip_acknowledged=skip_acknowledged,
            )
        )

    async def send(self, message: Hello | Push | Ack) -> None:
        await self.socket.send(encode_frame(message))

    async def push(self, events: Sequence[bytes], batch: int | None = None) -> int:
        if batch is None:
            self._batch += 1
            batch = self._batch
        await self.send(Push(batch=batch, events=[msgspec.Raw(e) for e in events]))
        return batch

    async def receive(self) -> ServerMessage:
        data = await asyncio.wait_for(self.socket.recv(), TIMEOUT_S)
        assert isinstance(data, bytes), f"a text frame from the server: {data!r}"
        return decode_server_frame(data)

    async def expect(self, kind: type[M]) -> M:
        message = await self.receive()
        assert isinstance(message, kind), f"expected {kind.__name__}, got {message!r}"
        return message

    async def answer(self, kind: type[M]) -> M:
        """The next ``kind`` message, acking any ``Events`` pages that come first."""
        while True:
            message = await self.receive()
            if isinstance(message, kind):
                return message
            assert isinstance(message, Events), f"expected {kind.__name__}, got {message!r}"
            await self.send(Ack(cursor=message.upto or message.items[-1].pos))

    async def closed(self) -> tuple[int | None, str | None]:
        """Wait for the server to close; return the close code and reason."""
        await asyncio.wait_for(self.socket.wait_closed(), TIMEOUT_S)
        close = self.socket.protocol.close_rcvd
        return (close.code, close.reason) if close else (None, None)

    async def close(self) -> None:
        await self.socket.close()
