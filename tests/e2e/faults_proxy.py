"""A loopback TCP proxy that cuts connections at random byte offsets and times.

Put between sync clients and a server, it relays bytes both ways and, while
``cutting`` is on, aborts each connection (an RST both ways, no websocket
close) once a random byte budget is spent or a random lifetime has passed,
whichever comes first. A cut can land anywhere: inside the HTTP upgrade,
inside a frame, between a ``Push`` and its ``PushResult``. The randomness
comes from the ``random.Random`` given, so a run is reproducible up to the
scheduling of the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

__all__ = ["CuttingProxy"]

CHUNK = 4096


class CuttingProxy:
    def __init__(
        self,
        upstream_port: int,
        rng: random.Random,
        *,
        max_bytes: int = 8_000,
        max_lifetime_s: float = 0.6,
    ) -> None:
        self.upstream_port = upstream_port
        self.rng = rng
        self.max_bytes = max_bytes
        self.max_lifetime_s = max_lifetime_s
        self.cutting = True
        self.cuts = 0
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._relay(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _relay(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(
                "127.0.0.1", self.upstream_port
            )
        except OSError:
            client_writer.transport.abort()
            return
        budget = [self.rng.randint(1, self.max_bytes)]
        lifetime = self.rng.uniform(0.01, self.max_lifetime_s)
        cut = asyncio.Event()

        def spend(size: int) -> int:
            """How many of ``size`` bytes may pass before the cut (all, if not cutting)."""
            if not self.cutting:
                return size
            allowed = min(size, budget[0])
            budget[0] -= allowed
            if budget[0] <= 0:
                cut.set()
            return allowed

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while not cut.is_set():
                    data = await source.read(CHUNK)
                    if not data:
                        with contextlib.suppress(OSError):
                            sink.write_eof()
                        return
                    allowed = spend(len(data))
                    sink.write(data[:allowed])
                    await sink.drain()
            except (OSError, asyncio.IncompleteReadError):
                cut.set()  # one side died: end the other too

        async def timer() -> None:
            await asyncio.sleep(lifetime)
            while not self.cutting:
                await asyncio.sleep(0.05)
                if self.cutting:  # cutting resumed: cut soon after
                    break
            cut.set()

        pumps = [
            asyncio.create_task(pump(client_reader, server_writer)),
            asyncio.create_task(pump(server_reader, client_writer)),
        ]
        clock = asyncio.create_task(timer())
        cutter = asyncio.create_task(cut.wait())
        try:
            await asyncio.wait([cutter, asyncio.gather(*pumps)], return_when="FIRST_COMPLETED")
            if cut.is_set() and self.cutting:
                self.cuts += 1
            client_writer.transport.abort()
            server_writer.transport.abort()
        finally:
            for task in (*pumps, clock, cutter):
                task.cancel()
            for task in (*pumps, clock, cutter):
                with contextlib.suppress(BaseException):
                    await task
