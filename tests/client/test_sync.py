"""``careerlog login`` and ``careerlog sync`` against a real server.

Everything is real: uvicorn serving the sync server on a loopback port (in
this event loop), websockets, SQLite homes, and the CLI's ``main`` (run in a
worker thread, since it starts its own event loop) or the installed command
in a subprocess for ``sync --watch``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import signal
import stat
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
import pytest

from careerlog.client.cli import EXIT_INTERRUPTED, EXIT_OK, EXIT_SYNC, main
from careerlog.client.enrollment import TOKEN_FILE
from careerlog.client.home import HomeReader
from careerlog.client.store import LocalStore
from careerlog.server.settings import Settings
from careerlog.shared import hlc
from careerlog.shared.codec import decode_event, encode_event
from careerlog.shared.events import ActivityLogged
from careerlog.shared.ids import record_id, uuid7
from careerlog.shared.projections import encode_state
from tests.client.conftest import StepClock
from tests.server.conftest import LiveServer, expire_token, running
from tests.server.wire import now_ms


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'server.db'}", port=0, node="test")
    async with running(settings) as live:
        yield live


class Device:
    """One home, driven through the real CLI in a worker thread."""

    def __init__(self, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.home = home
        self.capsys = capsys

    async def run(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, ["--home", str(self.home), *argv])
        out, err = self.capsys.readouterr()
        return code, out, err

    async def ok(self, *argv: str) -> str:
        code, out, err = await self.run(*argv)
        assert code == EXIT_OK, err
        return out

    async def json(self, *argv: str) -> Any:
        return json.loads(await self.ok(*argv, "--json"))

    async def login(self, server: LiveServer, user_id: int) -> dict[str, Any]:
        token = await server.enrollment(user_id)
        return dict(await self.json("login", server.http_url, "--token", token))

    async def sync(self) -> dict[str, Any]:
        return dict(await self.json("sync"))

    async def snapshot(self) -> tuple[bytes, set[bytes]]:
        """The read model (encoded) and the set of event bytes."""
        store = await LocalStore.open(self.home, create=False)
        try:
            from careerlog.shared.codec import encode_event

            events = {encode_event(e) for e in await store.events()}
            return encode_state(store.state), events
        finally:
            await store.close()


@pytest.fixture
def devices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Device, Device]:
    return Device(tmp_path / "a", capsys), Device(tmp_path / "b", capsys)


async def _career(device: Device, tag: str) -> None:
    goal = (await device.ok("goal", "set", f"Staff engineer {tag}", "--due", "+180d")).strip()
    await device.ok("milestone", "add", goal, f"Design review {tag}", "--due", "+20d")
    await device.ok("log", f"Mentored a new hire {tag}", "--goal", goal)
    await device.ok("progress", goal, "0.3")


async def test_two_devices_of_one_user_converge(
    server: LiveServer, devices: tuple[Device, Device]
) -> None:
    a, b = devices
    user = await server.user("ada")
    login = await a.login(server, user)
    assert login["server"] == server.http_url
    assert login["user_id"] == user
    await _career(a, "from A")
    first = await a.sync()
    assert first == {
        "pushed": 4,
        "pulled": 0,
        "rejected": 0,
        "cursor": 4,
        "head": 4,
        "restored": 0,
        "moved": 0,
    }

    await b.login(server, user)
    pulled = await b.sync()
    assert pulled["pulled"] == 4
    assert pulled["cursor"] == pulled["head"] == 4
    assert await b.snapshot() == await a.snapshot()

    status = (await b.json("status"))["sync"]
    assert status["server"] == server.http_url
    assert status["last_sync_at"] is not None
    assert status["pending"] == 0
    assert status["rejected"] == []
    assert status["cursor"] == 4

    # A second sync with nothing to do is quick and changes nothing.
    assert await a.sync() == {
        "pushed": 0,
        "pulled": 0,
        "rejected": 0,
        "cursor": 4,
        "head": 4,
        "restored": 0,
        "moved": 0,
    }


async def test_concurrent_offline_edits_converge(
    server: LiveServer, devices: tuple[Device, Device]
) -> None:
    a, b = devices
    user = await server.user("ada")
    await a.login(server, user)
    await b.login(server, user)
    await _career(a, "A1")
    await a.sync()
    await b.sync()
    # Both offline, both edit.
    await _career(a, "A2")
    await _career(b, "B1")
    await b.ok("log", "Read a book on negotiation")
    for _round in range(2):
        await a.sync()
        await b.sync()
    state_a, events_a = await a.snapshot()
    state_b, events_b = await b.snapshot()
    assert len(events_a) == 4 + 4 + 4 + 1
    assert events_a == events_b
    assert state_a == state_b
    assert (await a.json("status"))["sync"]["pending"] == 0


async def test_rejected_event_stays_in_the_log_and_is_reported(
    server: LiveServer, devices: tuple[Device, Device]
) -> None:
    a, b = devices
    user = await server.user("ada")
    await a.login(server, user)
    await a.ok("log", "an honest event")
    # A device whose clock runs a year ahead: the server refuses its event.
    future = StepClock(start_ms=now_ms() + 365 * 86_400_000)
    store = await LocalStore.open(a.home, clock=future)
    try:
        from careerlog.client.commands import log_activity

        skewed = await store.record(
            lambda state, env: log_activity(state, env, text="from the future", kind="other")
        )
    finally:
        await store.close()
    report = await a.sync()
    assert report["pushed"] == 1
    assert report["rejected"] == 1

    status = (await a.json("status"))["sync"]
    assert status["pending"] == 0
    [rejected] = status["rejected"]
    assert (rejected["event_id"], rejected["code"]) == (str(skewed.id), "clock_skew")
    assert rejected["reason"]
    code, out, _ = await a.run("status")
    assert code == EXIT_OK
    assert "rejected" in out
    assert "clock_skew" in out
    # The event is still in A's log and read model; the other device never sees it.
    _, events = await a.snapshot()
    assert len(events) == 2
    await b.login(server, user)
    assert (await b.sync())["pulled"] == 1


async def test_watch_receives_an_event_within_a_second(
    server: LiveServer, devices: tuple[Device, Device]
) -> None:
    a, b = devices
    user = await server.user("ada")
    await a.login(server, user)
    await b.login(server, user)
    env = {**os.environ, "CAREERLOG_HOME": str(b.home)}
    watcher = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "careerlog.client.cli", "sync", "--watch", "--json",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert watcher.stdout is not None
        first = await asyncio.wait_for(watcher.stdout.readline(), 15)
        assert json.loads(first)["cursor"] == 0  # connected and synced (nothing yet)
        await a.ok("log", "told B live")
        await a.sync()
        synced_at = time.monotonic()
        while True:
            with HomeReader.open(b.home) as reader:
                if reader.state().event_count == 1:
                    break
            assert time.monotonic() - synced_at < 1.0, "the watcher did not receive the event"
            await asyncio.sleep(0.02)
        # And B's own new events go out as they are recorded.
        await b.ok("log", "recorded beside the watcher")
        line = json.loads(await asyncio.wait_for(watcher.stdout.readline(), 5))
        while line["pushed"] < 1:
            line = json.loads(await asyncio.wait_for(watcher.stdout.readline(), 5))
        assert (await a.sync())["pulled"] == 1
    finally:
        if watcher.returncode is None:
            watcher.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(watcher.wait(), 10)
    assert code == EXIT_INTERRUPTED


async def test_a_watching_engine_pushes_at_once_what_another_process_records(
    server: LiveServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    short_dir: Path,
) -> None:
    from careerlog.client import commands
    from careerlog.client import sync as sync_module
    from careerlog.client.enrollment import read_token
    from careerlog.client.sync import SyncEngine

    # Only a wake-up can make the engine look at its outbox in this test.
    monkeypatch.setattr(sync_module, "POLL_S", 60.0)
    a = Device(short_dir / "a", capsys)
    user = await server.user("ada")
    await a.login(server, user)
    token = read_token(a.home)
    assert token is not None
    async with await LocalStore.open(a.home, create=False) as store:
        synced = asyncio.Event()
        engine = SyncEngine(store, server.http_url, token, on_round=lambda _: synced.set())
        watching = asyncio.create_task(engine.watch())
        try:
            await asyncio.wait_for(synced.wait(), 10)  # connected, nothing to do
            # Another connection to the home, as a `careerlog log` process has.
            async with await LocalStore.open(a.home, create=False) as cli:
                for n in range(3):
                    await cli.record(partial(commands.log_activity, text=f"n{n}"))
                    recorded = time.monotonic()
                    while await server.store.head(user) < n + 1:
                        assert time.monotonic() - recorded < 5, "no wake-up reached the engine"
                        await asyncio.sleep(0.005)
        finally:
            engine.stop()
            await asyncio.wait_for(watching, 10)
    assert not (a.home / "sync.wake").exists()  # the engine's socket goes with it


async def test_an_offline_device_with_10000_events_syncs_in_one_go(
    server: LiveServer, devices: tuple[Device, Device]
) -> None:
    a, b = devices
    user = await server.user("ada")
    await a.login(server, user)
    store = await LocalStore.open(a.home, create=False)
    try:
        start = now_ms() - 20_000
        events = [
            ActivityLogged(
                id=uuid7(start + dseq, os.urandom(10)),
                device=store.device,
                dseq=dseq,
                hlc=hlc.pack(start + dseq, 0),
                occurred_at=datetime.fromtimestamp((start + dseq) / 1000, UTC),
                activity_id=record_id(os.urandom(8)),
                text=f"offline day {dseq}",
            )
            for dseq in range(1, 10_001)
        ]
        await store.import_events(events)
        assert await store.pending_count() == 10_000
    finally:
        await store.close()
    pushed = await a.sync()
    assert pushed == {
        "pushed": 10_000, "pulled": 0, "rejected": 0, "cursor": 10_000, "head": 10_000,
        "restored": 0, "moved": 0,
    }  # fmt: skip
    await b.login(server, user)
    assert (await b.sync())["pulled"] == 10_000
    assert await b.snapshot() == await a.snapshot()


async def test_a_reset_server_epoch_pushes_everything_again(
    server: LiveServer, devices: tuple[Device, Device]
) -> None:
    a, _ = devices
    user = await server.user("ada")
    await a.login(server, user)
    await _career(a, "A")
    await a.sync()
    store = await LocalStore.open(a.home, create=False)
    try:
        await store.set_meta({"sync_epoch": "an-older-server-life"})
    finally:
        await store.close()
    # The server answers Reset: the client starts over, its events come back duplicates.
    report = await a.sync()
    assert report == {
        "pushed": 0,
        "pulled": 0,
        "rejected": 0,
        "cursor": 4,
        "head": 4,
        "restored": 0,
        "moved": 0,
    }
    status = (await a.json("status"))["sync"]
    assert status["pending"] == 0


async def test_revoked_device_stops_with_exit_code_4(
    server: LiveServer, devices: tuple[Device, Device]
) -> None:
    a, _ = devices
    user = await server.user("ada")
    device = (await a.login(server, user))["device"]
    await a.sync()
    assert await server.store.revoke_device(user, device, now_ms())
    code, out, err = await a.run("sync")
    assert code == EXIT_SYNC
    assert out == ""
    assert "revoked" in err
    assert "careerlog login" in err
    assert err.count("\n") == 1


async def test_a_revoked_or_expired_device_logs_in_again_and_loses_nothing(
    server: LiveServer, devices: tuple[Device, Device]
) -> None:
    a, b = devices
    user = await server.user("ada")
    device = (await a.login(server, user))["device"]
    await b.login(server, user)
    await _career(a, "before")
    await a.sync()
    assert await server.store.revoke_device(user, device, now_ms())
    await _career(a, "while revoked")  # recorded offline, waiting in the outbox
    assert (await a.run("sync"))[0] == EXIT_SYNC

    again = await a.login(server, user)
    assert (again["device"], again["renewed"]) == (device, True)
    assert (await a.sync())["pushed"] == 4

    expire_token(server.settings, user, device)
    await _career(a, "while expired")
    code, _, err = await a.run("sync")
    assert (code, err.count("\n")) == (EXIT_SYNC, 1)
    assert "token expired" in err
    assert "careerlog login" in err
    out = await a.ok("login", server.http_url, "--token", await server.enrollment(user))
    assert f"device {device} reconnected" in out
    assert (await a.sync())["pushed"] == 4
    assert (await a.json("status"))["sync"]["pending"] == 0

    await b.sync()
    assert await b.snapshot() == await a.snapshot()
    assert len((await b.snapshot())[1]) == 12


async def test_login_keeps_the_token_secret_and_refuses_bad_input(
    server: LiveServer, devices: tuple[Device, Device]
) -> None:
    a, _ = devices
    user = await server.user("ada")
    code, out, err = await a.run("login", server.http_url, "--token", "cle_not-a-token")
    assert code == EXIT_SYNC
    assert "refused the enrollment token" in err
    code, _, err = await a.run("login", "ftp://example.org", "--token", "x")
    assert (code, err.count("\n")) == (EXIT_SYNC, 1)
    assert "not a server URL" in err
    code, _, err = await a.run("login", "http://127.0.0.1:9", "--token", "x")
    assert code == EXIT_SYNC
    assert "cannot reach" in err
    code, _, err = await a.run("sync")
    assert code == EXIT_SYNC
    assert "careerlog login" in err

    out = await a.ok("login", server.http_url, "--token", await server.enrollment(user))
    token_file = a.home / TOKEN_FILE
    token = token_file.read_text().strip()
    assert token
    assert token not in out
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    with HomeReader.open(a.home) as reader:
        assert reader.get_meta("server_url") == server.http_url
    # The token is in the file only, never in the database.
    assert token.encode() not in (a.home / "careerlog.db").read_bytes()


async def test_watch_stops_with_exit_code_4_when_its_device_is_revoked(
    server: LiveServer, devices: tuple[Device, Device]
) -> None:
    import httpx

    a, b = devices
    user = await server.user("ada")
    await a.login(server, user)
    device_b = (await b.login(server, user))["device"]
    env = {**os.environ, "CAREERLOG_HOME": str(b.home)}
    watcher = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "careerlog.client.cli", "sync", "--watch", "--json",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert watcher.stdout is not None
        await asyncio.wait_for(watcher.stdout.readline(), 15)
        token_a = (a.home / TOKEN_FILE).read_text().strip()
        async with httpx.AsyncClient(base_url=server.http_url) as client:
            response = await client.delete(
                f"/v1/devices/{device_b}", headers={"Authorization": f"Bearer {token_a}"}
            )
        assert response.status_code < 300, response.text
        code = await asyncio.wait_for(watcher.wait(), 10)
    finally:
        if watcher.returncode is None:
            watcher.kill()
            await watcher.wait()
    assert code == EXIT_SYNC
    assert watcher.stderr is not None
    err = (await watcher.stderr.read()).decode()
    assert "careerlog: error: this device was revoked" in err


async def test_the_server_clock_offset_corrects_new_events(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = await LocalStore.open(home)
    try:
        await store.set_clock_offset(3_600_000)
    finally:
        await store.close()
    store = await LocalStore.open(home)  # a command opens it later, with no clock given
    try:
        from careerlog.client.commands import log_activity

        event = await store.record(lambda s, env: log_activity(s, env, text="x", kind="other"))
    finally:
        await store.close()
    ahead = hlc.wall_ms(event.hlc) - now_ms()
    assert 3_500_000 < ahead <= 3_600_000


def test_progress_line_shows_only_large_catch_ups() -> None:
    from careerlog.client.sync import ProgressLine, SyncReport

    written: list[str] = []
    small = ProgressLine(written.append, interval_s=0)
    small(SyncReport(cursor=0, head=40))
    small(SyncReport(cursor=40, head=40))
    small.done()
    assert written == []
    large = ProgressLine(written.append, interval_s=0)
    large(SyncReport(cursor=0, head=5000, pending=1000))
    large(SyncReport(cursor=2500, head=5000, pushed=400, pending=600))
    assert "pushed 400/1000" in written[-1]
    assert "2500/5000" in written[-1]
    large.done()
    assert written[-1] == "\r\x1b[2K"


async def test_watch_reconnects_after_the_server_restarts(
    tmp_path: Path, devices: tuple[Device, Device]
) -> None:
    a, b = devices
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'server.db'}", port=0, node="test")
    async with running(settings) as first:
        user = await first.user("ada")
        await a.login(first, user)
        await b.login(first, user)
        port = int(first.http_url.rsplit(":", 1)[1])
        env = {**os.environ, "CAREERLOG_HOME": str(b.home)}
        watcher = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "careerlog.client.cli", "sync", "--watch", "--json",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert watcher.stdout is not None
        await asyncio.wait_for(watcher.stdout.readline(), 15)
    try:
        await asyncio.sleep(0.3)  # the server is down; the watcher backs off
        assert watcher.returncode is None
        async with running(dataclasses.replace(settings, port=port)):
            await a.ok("log", "after the restart")
            await a.sync()
            line = json.loads(await asyncio.wait_for(watcher.stdout.readline(), 10))
            while line["pulled"] < 1:
                line = json.loads(await asyncio.wait_for(watcher.stdout.readline(), 10))
            watcher.send_signal(signal.SIGINT)
            assert await asyncio.wait_for(watcher.wait(), 10) == EXIT_INTERRUPTED
    finally:
        if watcher.returncode is None:
            watcher.kill()
            await watcher.wait()


async def test_a_person_lists_their_devices_and_revokes_a_lost_one(
    server: LiveServer, devices: tuple[Device, Device]
) -> None:
    laptop, phone = devices
    user = await server.user("ada")
    await laptop.login(server, user)
    await phone.login(server, user)
    listed = await laptop.json("devices", "list")
    phone_id = HomeReader.open(phone.home).device
    assert {d["device"] for d in listed} == {HomeReader.open(laptop.home).device, phone_id}
    assert [d["current"] for d in listed if d["device"] == phone_id] == [False]
    assert "this device" in await laptop.ok("devices", "list")
    assert await laptop.json("devices", "revoke", phone_id) == {"revoked": phone_id}
    code, _, err = await phone.run("sync")
    assert code == EXIT_SYNC
    assert "revoked" in err
    code, _, err = await laptop.run("devices", "revoke", phone_id)
    assert code == EXIT_SYNC
    assert "no active device" in err
    (revoked,) = [d for d in await laptop.json("devices", "list") if d["device"] == phone_id]
    assert revoked["revoked_ms"] is not None


async def test_device_verbs_need_a_connected_home(devices: tuple[Device, Device]) -> None:
    laptop, _ = devices
    await laptop.ok("init")
    code, _, err = await laptop.run("devices", "list")
    assert code == EXIT_SYNC
    assert "not connected" in err


async def test_a_watching_device_streams_past_its_own_events_coming_back(
    server: LiveServer, devices: tuple[Device, Device]
) -> None:
    """A's pages hold its own acknowledged events; the engine leaves them out
    unread, and the cursor still reaches the head with B's events stored."""
    from functools import partial

    from careerlog.client import commands
    from careerlog.client.enrollment import read_token
    from careerlog.client.store import CURSOR_META
    from careerlog.client.sync import SyncEngine

    a, b = devices
    user = await server.user("ada")
    await a.login(server, user)
    await b.login(server, user)
    await _career(b, "from B")  # 4 events A must still pull among its own
    store = await LocalStore.open(a.home, create=False)
    token = read_token(a.home)
    assert token is not None
    engine = SyncEngine(store, server.http_url, token)
    watching = asyncio.create_task(engine.watch())
    try:
        await asyncio.gather(
            *(store.record(partial(commands.log_activity, text=f"n{n}")) for n in range(300)),
            b.sync(),
        )
        deadline = time.monotonic() + 20
        while not (
            await store.pending_count() == 0 and engine.report.cursor == engine.report.head == 304
        ):
            assert time.monotonic() < deadline, engine.report
            await asyncio.sleep(0.02)
        assert store.settled_own == 300
        assert engine.report.pulled == 4
        assert await store.get_meta(CURSOR_META) == "304"
        # (No own event is queued: each holds the pos its acknowledgement gave.)
        held = {e.dseq for e in await store.events() if e.device == store.device}
        assert held == set(range(1, 301))
    finally:
        engine.stop()
        await asyncio.wait_for(watching, 10)
        await store.close()
    await b.sync()
    assert await b.snapshot() == await a.snapshot()


async def test_settled_own_events_are_queued_again_by_a_requeue_or_reset(
    server: LiveServer, devices: tuple[Device, Device]
) -> None:
    from careerlog.client.store import CURSOR_META

    a, _ = devices
    user = await server.user("ada")
    await a.login(server, user)
    await _career(a, "A")
    store = await LocalStore.open(a.home, create=False)
    try:
        assert store.settled_own == 0  # a fresh connection knows nothing settled
    finally:
        await store.close()
    await a.sync()
    store = await LocalStore.open(a.home, create=False)
    try:
        await store.mark_acked([])
        # A page of nothing but settled events still moves the cursor, alone.
        await store.ingest_remote([], [], meta={CURSOR_META: "7"})
        assert await store.get_meta(CURSOR_META) == "7"
        await store.mark_rejected(uuid7(now_ms(), os.urandom(10)), 4, "x", "y")
        assert store.settled_own == 4
        await store.requeue_own(2)
        assert store.settled_own == 1
        await store.reset_sync("another-epoch")
        assert store.settled_own == 0
    finally:
        await store.close()


async def test_a_device_can_push_smaller_batches_than_the_server_allows(
    server: LiveServer, devices: tuple[Device, Device]
) -> None:
    import re
    from functools import partial

    import httpx

    from careerlog.client import commands
    from careerlog.client.enrollment import read_token
    from careerlog.client.sync import SyncEngine

    a, _ = devices
    await a.login(server, await server.user("ada"))
    store = await LocalStore.open(a.home, create=False)
    try:
        for n in range(10):
            await store.record(partial(commands.log_activity, text=f"n{n}"))
        token = read_token(a.home)
        assert token is not None
        report = await SyncEngine(store, server.http_url, token, max_batch=3).run_once()
        assert report.pushed == 10
        assert await store.pending_count() == 0
    finally:
        await store.close()
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        metrics = (await http.get("/metrics")).text
    pushes = re.search(r'^careerlog_sync_pushes_total\{outcome="result"\} (\S+)$', metrics, re.M)
    assert pushes is not None
    assert float(pushes.group(1)) == 4  # 3 + 3 + 3 + 1


async def _server_log(server: LiveServer, user: int) -> list[tuple[str, int, UUID]]:
    """The server's log of ``user`` as (device, dseq, event id), in ``pos`` order."""
    stored = await server.store.read(user, 0, 100_000)
    return [(s.device, s.dseq, decode_event(s.body).id) for s in stored]


async def test_a_home_restored_from_a_backup_loses_nothing(
    server: LiveServer, devices: tuple[Device, Device], tmp_path: Path
) -> None:
    """A home restored from an old copy of itself mints dseqs the server already
    holds (other events, recorded after the copy): none of either may be lost."""
    a, b = devices
    user = await server.user("ada")
    await a.login(server, user)
    for n in range(3):
        await a.ok("log", f"before the backup {n}")
    await a.sync()
    backup = tmp_path / "backup"
    shutil.copytree(a.home, backup)
    for n in range(4):
        await a.ok("log", f"after the backup {n}")  # dseq 4..7, on the server
    await a.sync()
    shutil.rmtree(a.home)
    shutil.copytree(backup, a.home)  # the laptop is restored: its log ends at dseq 3
    for n in range(2):
        await a.ok("log", f"after the restore {n}")  # dseq 4, 5 again, offline

    code, out, err = await a.run("sync")
    assert code == EXIT_OK, err
    summary, told = out.strip().splitlines()  # the person is told, in one line
    # The server's 4..7 came back; the two recorded here went after them, as 8, 9.
    assert summary.endswith("pushed 2, pulled 4, rejected 0 (cursor 9/9)")
    assert told == (
        "this home was behind its own past on the server (restored from a backup, or copied):"
        " took back 4 of this device's events from the server and moved 2 recorded here to"
        " new sequence numbers after them; nothing was lost"
    )

    texts = {f"before the backup {n}" for n in range(3)}
    texts |= {f"after the backup {n}" for n in range(4)}
    texts |= {f"after the restore {n}" for n in range(2)}
    on_server = await _server_log(server, user)
    assert len(on_server) == 9
    assert len({event_id for _, _, event_id in on_server}) == 9  # nothing twice
    assert sorted(dseq for _, dseq, _ in on_server) == list(range(1, 10))  # gapless

    store = await LocalStore.open(a.home, create=False)
    try:
        held = await store.events()
        assert {e.id for e in held} == {event_id for _, _, event_id in on_server}
        assert {e.text for e in held if isinstance(e, ActivityLogged)} == texts
        assert sorted(e.dseq for e in held) == list(range(1, 10))
        assert await store.pending_count() == 0
        assert await store.rejected() == []
    finally:
        await store.close()

    # Another device gets every one of them, and both fold the same state.
    await b.login(server, user)
    await b.sync()
    assert await b.snapshot() == await a.snapshot()
    # And a sync with nothing left to do says nothing about a restore.
    assert "restored" not in await a.ok("sync")
    assert await a.sync() == {
        "pushed": 0,
        "pulled": 0,
        "rejected": 0,
        "cursor": 9,
        "head": 9,
        "restored": 0,
        "moved": 0,
    }


async def test_a_restored_home_catches_up_over_many_pages_with_its_retraction_intact(
    tmp_path: Path, devices: tuple[Device, Device]
) -> None:
    """Pages of two events: the home's own events are moved page after page
    (each time after the server's events seen so far), and a retraction of one
    of them still retracts it, on this home and on the other device."""
    limits = msgspec.structs.replace(Settings().limits, page_size=2)
    settings = Settings(db_url=f"sqlite:///{tmp_path / 's.db'}", port=0, node="t", limits=limits)
    a, b = devices
    async with running(settings) as server:
        user = await server.user("ada")
        await a.login(server, user)
        for n in range(3):
            await a.ok("log", f"before the backup {n}")
        await a.sync()
        backup = tmp_path / "backup"
        shutil.copytree(a.home, backup)
        for n in range(5):
            await a.ok("log", f"after the backup {n}")
        await a.sync()
        shutil.rmtree(a.home)
        shutil.copytree(backup, a.home)
        await a.ok("log", "kept after the restore")
        await a.ok("log", "a mistake after the restore")
        store = await LocalStore.open(a.home, create=False)
        try:
            (mistake,) = [
                e
                for e in await store.events()
                if getattr(e, "text", "") == "a mistake after the restore"
            ]
        finally:
            await store.close()
        await a.ok("retract", str(mistake.id), "--reason", "typo")

        report = await a.sync()
        assert report["restored"] == 5
        assert report["pushed"] == 3
        assert report["moved"] >= 3  # moved again with each page of the server's events

        on_server = await _server_log(server, user)
        assert sorted(dseq for _, dseq, _ in on_server) == list(range(1, 12))
        assert len({event_id for _, _, event_id in on_server}) == 11
        store = await LocalStore.open(a.home, create=False)
        try:
            held = await store.events()
            assert {e.id for e in held} == {event_id for _, _, event_id in on_server}
            assert sorted(e.dseq for e in held) == list(range(1, 12))
            assert str(mistake.id) in store.state.retracted
            assert await store.pending_count() == 0
            # The fold kept on disk is the fold of the log as it now is.
            kept = encode_state(store.state)
            assert encode_state(await store.rebuild()) == kept
        finally:
            await store.close()
        await b.login(server, user)
        await b.sync()
        assert await b.snapshot() == await a.snapshot()


async def test_a_dseq_taken_meanwhile_by_a_copy_of_the_home_is_moved_not_lost(
    server: LiveServer, devices: tuple[Device, Device]
) -> None:
    """A copy of this home (same device) pushes dseq 4 while this one, already
    synced, records its own 4: the server answers ``dseq_reused``, the event
    moves to 5 and is pushed again, and the copy's 4 arrives later into the
    place it left."""
    from careerlog.client import commands
    from careerlog.client.enrollment import read_token
    from careerlog.client.sync import SyncEngine
    from careerlog.server.store import Incoming

    a, _ = devices
    user = await server.user("ada")
    await a.login(server, user)
    for n in range(3):
        await a.ok("log", f"shared {n}")
    await a.sync()
    token = read_token(a.home)
    assert token is not None
    async with await LocalStore.open(a.home, create=False) as store:
        device = store.device
        synced = asyncio.Event()
        engine = SyncEngine(store, server.http_url, token, on_round=lambda _: synced.set())
        watching = asyncio.create_task(engine.watch())
        try:
            await asyncio.wait_for(synced.wait(), 10)
            # The copy's event 4 reaches the server; no wake-up, so this
            # connection does not hear of it yet.
            wall = now_ms()
            theirs = ActivityLogged(
                id=uuid7(wall, os.urandom(10)),
                device=device,
                dseq=4,
                hlc=hlc.pack(wall, 0),
                occurred_at=datetime.fromtimestamp(wall / 1000, UTC),
                activity_id=record_id(os.urandom(8)),
                text="recorded on the copy",
            )
            body = encode_event(theirs)
            await server.store.append(
                user, device, [Incoming(device, 4, theirs.hlc, body, id=theirs.id.bytes)], now_ms()
            )
            synced.clear()
            async with await LocalStore.open(a.home, create=False) as cli:
                ours = await cli.record(partial(commands.log_activity, text="recorded here"))
            assert ours.dseq == 4
            deadline = time.monotonic() + 10
            while await server.store.head(user) < 5:
                assert time.monotonic() < deadline, "the moved event never reached the server"
                await asyncio.sleep(0.01)
            server.runtime.hub.wake(user, 5)  # now the copy's event comes
            while store.count < 5 or await store.pending_count():
                assert time.monotonic() < deadline, "the copy's event never came"
                await asyncio.sleep(0.01)
            assert engine.report.moved == 1
            assert engine.report.rejected == 0
        finally:
            engine.stop()
            await asyncio.wait_for(watching, 10)
        held = {(e.dseq, e.id) for e in await store.events()}
    on_server = {(dseq, event_id) for _, dseq, event_id in await _server_log(server, user)}
    assert held == on_server
    assert (4, theirs.id) in held
    assert (5, ours.id) in held
    assert (await a.json("status"))["sync"]["rejected"] == []
