"""Fuzzing the HTTP API from its own OpenAPI schema: no input makes the server answer 5xx.

A real server (``careerlog-server serve`` in a subprocess, on a fresh SQLite
store, projecting in-process) with a real user whose device token signs every
request and whose history was synced over the websocket, so the generated
requests reach the read models rather than stopping at a 401. Schemathesis
generates each operation's parameters from the schema (valid and not);
Hypothesis is derandomized and bounded so the run takes seconds and a failure
reproduces.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from careerlog.server.app import create_app
from careerlog.server.settings import Settings
from careerlog.server.store import open_store
from careerlog.server.tokens import ENROLLMENT_PREFIX, hash_token, new_token
from careerlog.shared.codec import encode_event
from careerlog.shared.protocol import PushResult
from tests.server.wire import Peer, now_ms
from tests.shared.builders import History

#: Examples per operation: ~40 operations, a few seconds in all.
EXAMPLES = 20
DEVICE = "fuzz-laptop"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _a_user(db: str, name: str) -> str:
    async with await open_store(db) as store:
        user = await store.create_user(name)
        token = new_token(ENROLLMENT_PREFIX)
        await store.add_enrollment(user, hash_token(token), now_ms() + 3_600_000)
        return token


async def _sync(ws_url: str, token: str, history: History) -> None:
    peer = await Peer.open(ws_url, token, history.device)
    try:
        await peer.push([encode_event(e) for e in history.events])
        await peer.answer(PushResult)
    finally:
        await peer.close()


def _history() -> History:
    h = History(device=DEVICE)
    gid = h.goal("Ship", target=10)
    mid = h.milestone(gid, "First")
    h.progress(gid, 3)
    h.reach(mid)
    h.revise(gid, ("target", 10, 12), reason_code="scope_changed", reason="why")
    h.activity(text="read")
    h.share("fuzz", ["progress", "history", "timeline", "activity", "skills", "journal"])
    return h


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """``(base URL, device token)`` of a running server with one synced user."""
    db = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'server.db'}"
    enrollment = asyncio.run(_a_user(db, "fuzz"))
    port = _free_port()
    env = {**os.environ, "CAREERLOG_SERVER_DB": db}
    process = subprocess.Popen(
        [sys.executable, "-m", "careerlog.server.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=Path(__file__).parents[2],
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            assert process.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not get ready"
            time.sleep(0.1)
        enrolled = httpx.post(
            f"{base}/v1/devices", json={"enrollment_token": enrollment, "device": DEVICE}
        )
        token = str(enrolled.json()["token"])
        asyncio.run(_sync(f"ws://127.0.0.1:{port}/v1/sync", token, _history()))
        yield base, token
    finally:
        process.terminate()
        process.wait(10)


def _openapi() -> dict[str, Any]:
    """The schema the server serves at /schema/openapi.json (building it needs no store)."""
    app = create_app(Settings(db_url="sqlite:///unused.db", node="fuzz"))
    return app.openapi_schema.to_schema()


schema = schemathesis.openapi.from_dict(_openapi()).exclude(
    # Deleting the account or revoking the device would end the run's own
    # access; both are tested on their own (test_api_account, test_http).
    method="DELETE",
)
# The run signs every request with the real token (bad tokens are tested on
# their own): no generated Authorization header replaces it.
schema.config.generation.update(with_security_parameters=False)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_makes_a_server_error(case: schemathesis.Case, live: tuple[str, str]) -> None:
    base, token = live
    response = case.call_and_validate(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error]
    )
    # Every request is signed: a 401 would mean the run never got past authentication.
    assert response.status_code != 401, response.text
