"""The projector inside the server and from the CLI: woken by pushes, caught up at start,
quiet on PostgreSQL unless asked, and ``rebuild`` equal to what it projected."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from careerlog.server import logs as logs_module
from careerlog.server import projecting
from careerlog.server import projector as projector_module
from careerlog.server.cli import main
from careerlog.server.projector import Projector, RebuildRaced
from careerlog.server.readmodels import open_read_models
from careerlog.server.settings import Settings
from careerlog.server.store import open_store
from careerlog.shared.projections import encode_state
from careerlog.shared.protocol import PushResult
from tests.contract.careers import busy_history, dump, push
from tests.e2e.test_multinode import server_command
from tests.server.conftest import LiveServer, running
from tests.server.wire import Peer, activity


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_push_is_projected_at_once(server: LiveServer) -> None:
    user = await server.user("ada")
    laptop = await Peer.open(server.ws_url, await server.device(user, "laptop"), "laptop")
    models = server.runtime.read_models
    projector = server.runtime.projector
    assert projector is not None

    await laptop.push([activity("laptop", 1), activity("laptop", 2)])
    await laptop.expect(PushResult)

    async def projected() -> bool:
        checkpoint = await models.checkpoint(user)
        return checkpoint is not None and checkpoint.pos == 2

    started = time.monotonic()
    # Well inside the 5 s catch-up scan: the hub's wake-up did it.
    await eventually(projected, timeout_s=2.0)
    assert time.monotonic() - started < 2.0
    assert (await models.state(user)).activities == 2
    assert (await projector.lag()).events_behind == 0
    await laptop.close()


async def test_users_behind_at_start_are_caught_up(settings: Settings) -> None:
    history = busy_history(50)
    async with await open_store(settings.db_url) as store:
        user = await store.create_user("ada")
        await push(store, user, history.events)

    async with running(settings) as live:

        async def caught_up() -> bool:
            checkpoint = await live.runtime.read_models.checkpoint(user)
            return checkpoint is not None and checkpoint.events == len(history.events)

        await eventually(caught_up)
        projector = live.runtime.projector
        assert projector is not None
        await asyncio.wait_for(projector.caught_up.wait(), 5)


def test_only_the_embedded_store_projects_in_process_by_default() -> None:
    assert Settings(db_url="sqlite:///x.db").projects_in_process
    assert not Settings(db_url="postgresql://db/careerlog").projects_in_process
    assert Settings(db_url="postgresql://db/careerlog", project_in_process=True).projects_in_process
    assert not Settings(db_url="sqlite:///x.db", project_in_process=False).projects_in_process


async def test_a_server_told_not_to_project_leaves_the_log_alone(settings: Settings) -> None:
    quiet = dataclasses.replace(settings, project_in_process=False)
    async with running(quiet) as live:
        user = await live.user("ada")
        await push(live.store, user, busy_history(5).events)
        await asyncio.sleep(0.3)

        assert live.runtime.projector is None
        assert await live.runtime.read_models.checkpoint(user) is None


async def test_rebuild_from_the_cli_gives_the_projected_rows(settings: Settings) -> None:
    url = settings.db_url
    history = busy_history(1500)
    async with await open_store(url) as store, await open_read_models(url) as models:
        user = await store.create_user("ada")
        projector = Projector(store, models)
        for start in range(0, len(history.events), 400):
            await push(store, user, history.events[start : start + 400])
            await projector.project_user(user)
    incremental = await dump(url, user)

    assert await asyncio.to_thread(main, ["rebuild", "--db", url, "--user", "ada"]) == 0

    assert await dump(url, user) == incremental
    assert await asyncio.to_thread(main, ["rebuild", "--db", url, "--user", "bob"]) == 3
    assert await asyncio.to_thread(main, ["rebuild", "--db", url]) == 0
    assert await dump(url, user) == incremental


async def test_the_in_process_projector_lag_is_in_metrics_and_readiness(
    server: LiveServer,
) -> None:
    user = await server.user("ada")
    head = await push(server.store, user, busy_history(20).events)
    # Appended straight to the store, so tell the hub as the sync handler
    # would; otherwise only the 5 s rescan finds it, racing the wait below.
    server.runtime.hub.wake(user, head)
    projector = server.runtime.projector
    assert projector is not None

    async def projected() -> bool:
        return (await projector.lag()).events_behind == 0

    await eventually(projected)
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        metrics = (await client.get("/metrics")).text
        ready = await client.get("/ready")
    assert 'careerlog_projector_lag_events{projection="readmodels"} 0' in metrics
    assert ready.status_code == 200
    assert ready.json()["checks"]["projector readmodels"] == "ok"


async def test_the_cache_stays_within_its_budget_and_states_stay_right(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    history = busy_history(200)
    async with await open_store(url) as store, await open_read_models(url) as models:
        users = [await store.create_user(f"u{n}") for n in range(6)]
        projector = Projector(store, models)
        size = len(encode_state(history.state()))
        # Room for two states' bytes only.
        monkeypatch.setattr(projector_module, "CACHED_BYTES", 2 * size + 1)
        for user in users:
            await push(store, user, history.events[:100])
            await projector.project_user(user)
        assert len(projector._cache) <= 3
        assert projector._cached_bytes == sum(c.size for c in projector._cache.values())
        for user in users:  # evicted users are loaded again, cached ones go on in memory
            await push(store, user, history.events[100:])
            await projector.project_user(user)
            assert encode_state(await models.state(user)) == encode_state(history.state())


async def test_a_rebuild_that_always_loses_the_race_gives_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    async with await open_store(url) as store, await open_read_models(url) as models:
        user = await store.create_user("ada")
        await push(store, user, busy_history(20).events)
        projector = Projector(store, models)

        async def always_moved(_update: object) -> str:
            return "conflict"  # as if a projector committed first every time

        monkeypatch.setattr(models, "write", always_moved)
        with pytest.raises(RebuildRaced):
            await projector.rebuild_user(user)
        assert projector.stats.conflicts == projector_module.REBUILD_ATTEMPTS


def start_projector(url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            [*server_command(), "project", "--db", url], stdout=output, stderr=subprocess.STDOUT
        )


async def test_a_projector_process_on_the_embedded_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    history = busy_history(300)
    async with await open_store(url) as store, await open_read_models(url) as models:
        user = await store.create_user("ada")
        process = start_projector(url, tmp_path / "projector.log")
        try:
            # Another process appends to the file: the projector finds it by scanning.
            await push(store, user, history.events)

            async def projected() -> bool:
                checkpoint = await models.checkpoint(user)
                return checkpoint is not None and checkpoint.events == len(history.events)

            await eventually(projected, timeout_s=15)
            assert encode_state(await models.state(user)) == encode_state(history.state())
        finally:
            process.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(process.wait, 10) == 0
    assert b"projector stopped" in (tmp_path / "projector.log").read_bytes()


async def test_a_projector_process_whose_projector_fails_leaves_nothing_running(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fail(_self: Projector) -> None:
        raise RuntimeError("the read models went away")

    monkeypatch.setattr(Projector, "run", fail)
    monkeypatch.setattr(logs_module, "configure_logging", lambda *_args: None)
    url = settings.db_url
    before = asyncio.all_tasks()
    async with await open_store(url) as store, await open_read_models(url) as models:
        with pytest.raises(RuntimeError, match="went away"):
            await projecting._project_forever(url, store, models, 1, "info")
        # Not even the wait for SIGTERM is left behind, nor its handler.
        assert asyncio.all_tasks() - before == set()
        assert not asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)


async def test_a_server_whose_projector_died_still_shuts_down_cleanly(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def die(_self: Projector) -> None:
        raise RuntimeError("the projector broke")

    monkeypatch.setattr(Projector, "run", die)
    async with running(settings) as node, httpx.AsyncClient(base_url=node.http_url) as client:
        runtime = node.runtime

        async def reported() -> bool:
            return (await client.get("/ready")).status_code == 503

        await eventually(reported)
        checks = (await client.get("/ready")).json()["checks"]
    assert "the projector broke" in checks["projector readmodels"]
    # Shut down past the dead task's error: the read models and the store were closed.
    assert runtime.projector_task is None
    with pytest.raises(RuntimeError, match="not open"):
        _ = runtime.read_models
    with pytest.raises(RuntimeError, match="not open"):
        _ = runtime.store
