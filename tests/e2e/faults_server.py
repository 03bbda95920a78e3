"""A real ``careerlog-server serve`` process that a test can SIGKILL and start again.

Also the operator's side (``careerlog-server user add``) through the real
admin CLI, so the fault tests use the server exactly as it is deployed.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

__all__ = ["ServerProcess", "admin", "free_port", "server_command"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_command() -> list[str]:
    script = Path(sys.executable).with_name("careerlog-server")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "careerlog.server.cli"]  # not installed as a script


def admin(db_url: str, *argv: str) -> str:
    """Run an admin command of the real CLI; return its stdout (the secret, if any)."""
    done = subprocess.run(
        [*server_command(), *argv, "--db", db_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


class ServerProcess:
    """``careerlog-server serve`` on a fixed loopback port; restartable on that port."""

    def __init__(self, db_url: str, log_dir: Path, name: str = "node") -> None:
        self.db_url = db_url
        self.log_dir = log_dir
        self.name = name
        self.port = free_port()
        self.http_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/v1/sync"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        self.starts += 1
        log = (self.log_dir / f"{self.name}-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [
                *server_command(),
                *("serve", "--db", self.db_url, "--port", str(self.port)),
                *("--node", self.name, "--log-level", "warning"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()  # the child holds its own descriptor

    async def wait_ready(self, timeout_s: float = 30) -> None:
        assert self.process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        async with httpx.AsyncClient(base_url=self.http_url) as client:
            while True:
                assert self.process.poll() is None, f"{self.name} exited: {self.log()}"
                try:
                    if (await client.get("/ready", timeout=2)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert loop.time() < deadline, f"{self.name} not ready: {self.log()}"
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no close frames, whatever was in flight is cut."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        path = self.log_dir / f"{self.name}-{self.starts}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""
