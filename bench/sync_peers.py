"""Peers for the sync benchmark (bench/sync.py): a lean raw-protocol device, and
two helper processes, started by the benchmark, that keep their load off the
measuring process.

- ``python -m bench.sync_peers idle TOKENS_FILE`` holds one websocket per
  line of ``ws_url<TAB>device<TAB>token``, completes the handshake, answers
  every ``Ping`` with ``Pong`` and otherwise stays idle; prints ``ready N``
  once all are connected and closes them all when stdin closes.
- ``python -m bench.sync_peers receiver HOME SERVER_URL TOKEN`` is a real device:
  ``SyncEngine.watch`` on a ``LocalStore``. After each durable
  ``ingest_remote`` (the events are committed) it prints
  ``stored <events so far> <time.perf_counter()>`` (``perf_counter`` is the
  system-wide monotonic clock on Linux, comparable across processes); it
  prints ``ready`` after its first synced round and stops when stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import sys
import time
from pathlib import Path

import msgspec
from websockets.asyncio.client import ClientConnection, connect

from careerlog.shared.protocol import (
    PROTOCOL_VERSION,
    Error,
    Hello,
    Ping,
    Pong,
    Push,
    PushResult,
    Reset,
    ServerMessage,
    Welcome,
    decode_server_frame,
    encode_frame,
)

__all__ = ["RawPeer", "raise_file_limit"]


def raise_file_limit() -> int:
    """Raise the soft open-file limit as far as the hard one allows (for 1,000 sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class PeerClosed(Exception):
    """The server ended the connection (``error`` is its Error frame, if any)."""

    def __init__(self, error: Error | None) -> None:
        super().__init__(f"closed by the server: {error}")
        self.error = error


class RawPeer:
    """One device speaking raw protocol frames: hello, push, wait for the result.

    ``Events`` pages addressed to it are not acknowledged (the server then
    sends one page and waits: it never buffers a backlog), ``Ping`` is answered.
    """

    def __init__(self, socket: ClientConnection, device: str) -> None:
        self.socket = socket
        self.device = device
        self.welcome: Welcome | None = None
        self.batch = 0

    @classmethod
    async def open(cls, ws_url: str, token: str, device: str, cursor: int = 0) -> RawPeer:
        socket = await connect(
            ws_url,
            additional_headers={"Authorization": f"Bearer {token}"},
            open_timeout=60,
            max_size=16 << 20,
            compression=None,
            ping_interval=None,
        )
        peer = cls(socket, device)
        hello = Hello(
            protocol=PROTOCOL_VERSION,
            device=device,
            cursor=cursor,
            epoch=None,
            client_time_ms=_now_ms(),
        )
        await socket.send(encode_frame(hello))
        while peer.welcome is None:
            message = await peer.receive()
            if isinstance(message, Welcome):
                peer.welcome = message
            elif not isinstance(message, Reset):
                raise RuntimeError(f"unexpected {message!r} before Welcome")
        return peer

    async def receive(self) -> ServerMessage:
        try:
            data = await self.socket.recv()
        except Exception:
            raise PeerClosed(None) from None
        assert isinstance(data, bytes)
        message = decode_server_frame(data)
        if isinstance(message, Error):
            raise PeerClosed(message)
        return message

    async def send_frame(self, frame: bytes) -> None:
        await self.socket.send(frame)

    async def push(self, bodies: list[bytes]) -> PushResult:
        self.batch += 1
        frame = encode_frame(Push(batch=self.batch, events=[msgspec.Raw(b) for b in bodies]))
        await self.socket.send(frame)
        return await self.result()

    async def result(self) -> PushResult:
        """The next PushResult; pages in between are skipped, pings answered."""
        while True:
            message = await self.receive()
            if isinstance(message, PushResult):
                return message
            if isinstance(message, Ping):
                await self.socket.send(encode_frame(Pong(nonce=message.nonce)))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.socket.close(), 5)


# --- helper process: idle devices ---------------------------------------------------------


async def _idle(lines: list[list[str]]) -> None:
    raise_file_limit()
    gate = asyncio.Semaphore(32)
    peers: list[RawPeer] = []

    async def hold(ws_url: str, device: str, token: str) -> None:
        async with gate:
            peer = await RawPeer.open(ws_url, token, device)
        peers.append(peer)
        with contextlib.suppress(PeerClosed):
            while True:
                message = await peer.receive()
                if isinstance(message, Ping):
                    await peer.socket.send(encode_frame(Pong(nonce=message.nonce)))

    tasks = [asyncio.create_task(hold(url, device, token)) for url, device, token in lines]
    while len(peers) < len(lines):
        failed = [t for t in tasks if t.done() and t.exception() is not None]
        if failed:
            raise failed[0].exception()  # type: ignore[misc]
        await asyncio.sleep(0.05)
    print(f"ready {len(peers)}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the benchmark closes stdin
    for task in tasks:
        task.cancel()
    await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)


# --- helper process: a receiving device ------------------------------------------------------


async def _receiver(home: str, server_url: str, token: str) -> None:
    from careerlog.client.store import LocalStore
    from careerlog.client.sync import SyncEngine

    async with await LocalStore.open(Path(home)) as store:
        stored = 0
        ingest = store.ingest_remote

        async def ingest_and_report(events, positions, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal stored
            result = await ingest(events, positions, **kwargs)  # committed when this returns
            stored += len(events)
            print(f"stored {stored} {time.perf_counter()}", flush=True)
            return result

        store.ingest_remote = ingest_and_report  # type: ignore[method-assign]
        ready = False

        def on_round(_report: object) -> None:
            nonlocal ready
            if not ready:
                ready = True
                print("ready", flush=True)

        engine = SyncEngine(store, server_url, token, on_round=on_round)
        watching = asyncio.create_task(engine.watch())
        loop = asyncio.get_running_loop()
        stdin_closed = loop.run_in_executor(None, sys.stdin.read)
        await asyncio.wait([watching, stdin_closed], return_when=asyncio.FIRST_COMPLETED)
        engine.stop()
        await asyncio.wait_for(watching, 10)


def main() -> None:
    command, *args = sys.argv[1:]
    if command == "idle":
        text = Path(args[0]).read_text()
        asyncio.run(_idle([line.split("\t") for line in text.splitlines() if line]))
    elif command == "receiver":
        asyncio.run(_receiver(*args))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
