"""Structured logs: JSON lines with the promised fields, and never a token or an event body."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from careerlog.server.logs import JsonFormatter, TextFormatter, configure_logging
from careerlog.server.store import open_store
from careerlog.shared.protocol import PushResult
from tests.server.conftest import LiveServer
from tests.server.wire import Peer, activity, now_ms

REQUIRED = {"ts", "level", "logger", "msg", "node"}


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything logged during the test, through the server's JSON formatter."""
    root, ours = logging.getLogger(), logging.getLogger("careerlog")
    saved = (list(root.handlers), root.level, ours.level)
    stream = io.StringIO()
    configure_logging("json", "debug", "test", stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        ours.setLevel(saved[2])


def lines(text: str) -> list[dict[str, Any]]:
    parsed = []
    for line in text.splitlines():
        record = json.loads(line)  # every line is one JSON object
        assert isinstance(record, dict)
        assert record.keys() >= REQUIRED, record
        parsed.append(record)
    return parsed


def one(records: list[dict[str, Any]], msg: str) -> dict[str, Any]:
    found = [r for r in records if r["msg"] == msg]
    assert found, f"no {msg!r} in {[r['msg'] for r in records]}"
    return found[-1]


def test_a_record_becomes_one_json_line_with_its_extra_fields() -> None:
    record = logging.LogRecord("careerlog.x", logging.WARNING, __file__, 1, "%d left", (3,), None)
    record.user_id = 7
    record.counts = {"accepted": 2}
    line = JsonFormatter("node-a").format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["ts"].endswith("Z")
    del parsed["ts"]
    assert parsed == {
        "level": "warning",
        "logger": "careerlog.x",
        "msg": "3 left",
        "node": "node-a",
        "user_id": 7,
        "counts": {"accepted": 2},
    }
    text = TextFormatter().format(record)
    assert text.endswith("WARNING careerlog.x: 3 left user_id=7 counts={'accepted': 2}")


async def test_sync_and_enrollment_log_ids_and_counts_but_no_secret(
    server: LiveServer, captured: io.StringIO
) -> None:
    user = await server.user("ada")
    enrollment = await server.enrollment(user)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        response = await http.post(
            "/v1/devices", json={"enrollment_token": enrollment, "device": "laptop"}
        )
    token = response.json()["token"]
    laptop = await Peer.open(server.ws_url, token, "laptop")
    secret_text = "interviewed at a secret employer"
    await laptop.push([activity("laptop", 1, secret_text)])
    await laptop.answer(PushResult)
    ahead = now_ms() + 3_600_000
    await laptop.push([activity("laptop", 2, secret_text, hlc_ms=ahead)])
    await laptop.answer(PushResult)
    await laptop.close()
    with pytest.raises(InvalidStatus):
        await Peer.connect(server.ws_url, "cld_forged_token_value", "laptop")
    for _ in range(100):  # the server logs the close once it has seen it
        if "sync connection closed" in captured.getvalue():
            break
        await asyncio.sleep(0.02)

    text = captured.getvalue()
    for secret in (token, enrollment, "cld_forged_token_value", secret_text):
        assert secret not in text
    records = lines(text)
    assert all(r["node"] == "test" for r in records)
    enrolled = one(records, "device enrolled")
    assert (enrolled["user_id"], enrolled["device"]) == (user, "laptop")
    opened = one(records, "sync connection opened")
    assert (opened["level"], opened["user_id"], opened["device"]) == ("info", user, "laptop")
    stored = next(r for r in records if r["msg"] == "push batch stored")
    assert stored["level"] == "debug"
    assert (stored["accepted"], stored["duplicate"], stored["rejected"]) == (1, 0, 0)
    rejected = one(records, "pushed events rejected")
    assert rejected["rejected"] == {"clock_skew": 1}
    closed = one(records, "sync connection closed")
    assert closed["close_code"] == 1000
    assert closed["seconds"] >= 0
    refused = one(records, "sync upgrade refused: unknown token")
    assert refused["level"] == "warning"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_serve_writes_json_lines_for_itself_and_uvicorn(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "careerlog.server.cli", "serve", "--port", str(port)]
    command += ["--db", f"sqlite:///{tmp_path / 'server.db'}", "--node", "n1"]
    command += ["--log-format", "json", "--log-level", "info"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = await asyncio.create_subprocess_exec(
        *command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(200):
                try:
                    if (await http.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            assert (await http.get("/ready")).status_code == 200
    finally:
        process.terminate()
        _, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode in (0, -15), err.decode()  # uvicorn re-raises SIGTERM
    records = lines(err.decode())
    assert {r["node"] for r in records} == {"n1"}
    serving = next(r for r in records if r["msg"].startswith("node n1 serving store epoch"))
    assert serving["store"] == "sqlite"
    assert any(r["logger"] == "uvicorn.error" and "running on" in r["msg"] for r in records)
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any(r["path"] == "/ready" and r["status"] == 200 for r in access), access
    assert records[-1]["msg"].startswith(("node n1 stopped", "Finished server process"))
    assert any(r["msg"] == "node n1 stopped" for r in records)


async def test_a_server_error_is_logged_with_its_traceback_but_not_the_token(
    server: LiveServer, captured: io.StringIO
) -> None:
    user = await server.user("ada")
    token = await server.device(user, "laptop")
    serving = server.runtime.store
    broken = await open_store(server.settings.db_url)
    await broken.close()
    server.runtime.store = broken
    try:
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            response = await http.get("/v1/devices", headers={"Authorization": f"Bearer {token}"})
    finally:
        server.runtime.store = serving
    assert response.status_code == 500
    text = captured.getvalue()
    assert token not in text
    error = one(lines(text), "unhandled error answering GET /v1/devices")
    assert error["level"] == "error"
    assert error["route"] == "/v1/devices"
    assert "Traceback" in error["exc"]


async def test_readiness_changes_are_logged_once_each(
    server: LiveServer, captured: io.StringIO
) -> None:
    serving = server.runtime.store
    closed = await open_store(server.settings.db_url)
    await closed.close()
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        server.runtime.store = closed
        try:
            statuses = [(await http.get("/ready")).status_code for _ in range(3)]
        finally:
            server.runtime.store = serving
        statuses += [(await http.get("/ready")).status_code for _ in range(2)]
    assert statuses == [503, 503, 503, 200, 200]
    records = [r for r in lines(captured.getvalue()) if r["msg"].startswith("node ")]
    assert [(r["msg"], r["level"]) for r in records] == [
        ("node not ready", "warning"),
        ("node ready", "info"),
    ]
    [problem] = records[0]["problems"]
    assert problem.startswith("store: unreachable: ")
