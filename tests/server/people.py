"""People for API tests: a user with an enrolled device whose history was synced for real.

``Person.sync(history)`` pushes a :class:`tests.shared.builders.History` over
a real websocket (as a device would), then waits until the server's
in-process projector has folded it, so a test reads the read models the way a
client would: through ``/v1/me/…`` with the device token.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import httpx

from careerlog.shared.codec import encode_event
from careerlog.shared.protocol import PushResult
from tests.server.conftest import LiveServer
from tests.server.wire import Peer
from tests.shared.builders import DEVICE, History

__all__ = ["Person", "person"]

PROJECTED_TIMEOUT_S = 15.0


@dataclasses.dataclass
class Person:
    server: LiveServer
    name: str
    user_id: int
    token: str
    device: str = DEVICE

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.server.http_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )

    async def get(self, path: str, **params: Any) -> httpx.Response:
        async with self.client() as client:
            return await client.get(path, params=params or None)

    async def json(self, path: str, **params: Any) -> Any:
        response = await self.get(path, **params)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    async def sync(self, history: History, *, start: int = 0) -> int:
        """Push ``history.events[start:]`` and wait until they are projected; the head."""
        peer = await Peer.open(self.server.ws_url, self.token, self.device)
        head = 0
        try:
            events = history.events[start:]
            for first in range(0, len(events), 500):
                await peer.push([encode_event(e) for e in events[first : first + 500]])
                results = (await peer.answer(PushResult)).results
                assert {r.status for r in results} <= {"accepted", "duplicate"}, results
                head = max(head, max(r.pos or 0 for r in results))
        finally:
            await peer.close()
        await self.projected(head)
        return head

    async def projected(self, head: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PROJECTED_TIMEOUT_S
        while True:
            me = await self.json("/v1/me")
            if (me["projected_pos"] or 0) >= head:
                return
            assert loop.time() < deadline, f"not projected to {head} in time: {me}"
            await asyncio.sleep(0.05)


async def person(server: LiveServer, name: str, device: str = DEVICE) -> Person:
    user_id = await server.user(name)
    token = await server.device(user_id, device)
    return Person(server, name, user_id, token, device)
