"""Two real ``careerlog-server serve`` processes on one PostgreSQL: fan-out across nodes.

A device on node A pushes, a device on node B hears it live (through
LISTEN/NOTIFY); node A is then killed outright and its device carries on
through node B without losing or duplicating anything. Without a reachable
PostgreSQL the test is skipped, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from careerlog.server.store import open_store
from careerlog.server.tokens import ENROLLMENT_PREFIX, hash_token, new_token
from careerlog.shared.protocol import Ack, Events, PushResult
from tests.server.wire import Peer, activity, enroll, now_ms

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_command() -> list[str]:
    script = Path(sys.executable).with_name("careerlog-server")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "careerlog.server.cli"]  # not installed as a script


def terminate(process: subprocess.Popen[bytes]) -> None:
    """Stop a server process as an operator would (SIGTERM), killing it if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Node:
    def __init__(self, name: str, url: str, log: Path) -> None:
        self.name = name
        self.port = free_port()
        self.http_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/v1/sync"
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [*server_command(), "serve", "--db", url, "--port", str(self.port), "--node", name],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    async def wait_ready(self, timeout_s: float = 20) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        async with httpx.AsyncClient(base_url=self.http_url) as client:
            while True:
                assert self.process.poll() is None, f"node {self.name} exited"
                try:
                    if (await client.get("/ready")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert asyncio.get_running_loop().time() < deadline, f"{self.name} not ready"
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        terminate(self.process)
        self._log.close()


@contextmanager
def nodes(url: str, tmp_path: Path, *names: str) -> Iterator[list[Node]]:
    started: list[Node] = []
    try:
        for name in names:
            started.append(Node(name, url, tmp_path / f"{name}.log"))
        yield started
    finally:
        for node in started:
            node.stop()


async def test_two_nodes_fan_out_and_a_killed_node_loses_nothing(
    database: str, tmp_path: Path
) -> None:
    # Migrate first, so that the nodes start on a ready schema (they would
    # also migrate concurrently, safely, under an advisory lock).
    async with await open_store(database) as store:
        user = await store.create_user("ada")
        enrollments = [new_token(ENROLLMENT_PREFIX) for _ in range(2)]
        for token in enrollments:
            await store.add_enrollment(user, hash_token(token), now_ms() + 60_000)

        with nodes(database, tmp_path, "a", "b") as (a, b):
            await asyncio.gather(a.wait_ready(), b.wait_ready())
            laptop_token = await enroll(a.http_url, enrollments[0], "laptop")
            phone_token = await enroll(b.http_url, enrollments[1], "phone")
            laptop = await Peer.open(a.ws_url, laptop_token, "laptop")
            phone = await Peer.open(b.ws_url, phone_token, "phone")
            assert laptop.welcome is not None

            # Pushed on node A, heard live on node B.
            events = [activity("laptop", dseq) for dseq in (1, 2, 3)]
            await laptop.push(events[:1])
            assert (await laptop.expect(PushResult)).results[0].pos == 1
            page = await phone.expect(Events)
            assert [(i.pos, bytes(i.event)) for i in page.items] == [(1, events[0])]
            await phone.send(Ack(cursor=1))

            # Kill node A while a push may be in flight.
            await laptop.push(events[1:2])
            a.process.send_signal(signal.SIGKILL)
            a.process.wait(10)
            await laptop.closed()

            # The laptop reconnects to node B and resumes from what B's store holds.
            laptop = await Peer.open(
                b.ws_url, laptop_token, "laptop", cursor=0, epoch=laptop.welcome.epoch
            )
            assert laptop.welcome is not None
            resume = laptop.welcome.device_head + 1
            assert resume in (2, 3)
            await laptop.push(events[resume - 1 :])
            results = (await laptop.answer(PushResult)).results
            assert all(r.status == "accepted" for r in results)

            heard: list[int] = []
            while heard[-1:] != [3]:
                page = await phone.expect(Events)
                heard += [item.pos for item in page.items]
                await phone.send(Ack(cursor=heard[-1]))
            assert heard == [2, 3]
            assert [s.body for s in await store.read(user, 0, 10)] == events
            await laptop.close()
            await phone.close()
