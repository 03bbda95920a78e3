"""SIGKILL during appends: nothing acknowledged is lost, nothing half-applied remains."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from careerlog.client.store import DB_NAME, LocalStore
from careerlog.shared.codec import decode_event
from careerlog.shared.projections import encode_state, fold

# A writer that records as fast as it can and prints each event id only once
# ``record`` has returned, i.e. once the event is acknowledged as committed.
WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import date
    from functools import partial
    from pathlib import Path
    from careerlog.client import commands
    from careerlog.client.store import LocalStore

    async def main() -> None:
        store = await LocalStore.open(Path(sys.argv[1]))
        goal = next(iter(store.state.goals), None)
        if goal is None:
            event = await store.record(
                partial(commands.set_goal, title="G", due_on=date(2099, 1, 1), target=10**6)
            )
            goal = event.goal_id
            print(event.id, flush=True)
        n = 0
        while True:
            n += 1
            build = (
                partial(commands.record_progress, goal=goal, value=n)
                if n % 2 else partial(commands.log_activity, text=f"step {n}")
            )
            event = await store.record(build)
            print(event.id, flush=True)

    asyncio.run(main())
    """
)


def _acknowledged_then_killed(home: Path, after: int) -> list[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acked: list[str] = []
    try:
        while len(acked) < after:
            line = child.stdout.readline()
            assert line, child.stderr.read() if child.stderr else "writer died"
            acked.append(line.strip())
        time.sleep(random.random() * 0.01)  # land anywhere inside the next append
    finally:
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
    # Lines flushed before the kill are acknowledged too.
    acked.extend(line.strip() for line in rest.splitlines() if line.strip())
    return acked


def _check_home(home: Path) -> None:
    with sqlite3.connect(home / DB_NAME) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # Nothing has been sent anywhere: every event is still queued for sync.
        (device,) = db.execute("SELECT value FROM meta WHERE key = 'device'").fetchone()
        queued = db.execute(
            f"SELECT count(*) FROM events WHERE device = '{device}' AND pos IS NULL"
        ).fetchone()
        assert queued == db.execute("SELECT count(*) FROM events").fetchone()


async def _verify(home: Path, acknowledged: list[str]) -> None:
    async with await LocalStore.open(home) as store:
        events = await store.events()
        assert set(acknowledged) <= {str(e.id) for e in events}
        # Gapless: every dseq from 1 to the count, each once.
        assert [e.dseq for e in events] == list(range(1, len(events) + 1))
        assert encode_state(store.state) == encode_state(fold(events))
        assert encode_state(await store.rebuild()) == encode_state(fold(events))
        assert await store.pending_count() == len(events)


def test_a_killed_writer_loses_no_acknowledged_event(tmp_path: Path) -> None:
    home = tmp_path / "home"
    acknowledged: list[str] = []
    for round_number in range(6):
        acknowledged += _acknowledged_then_killed(home, after=20 + 15 * round_number)
        _check_home(home)
        asyncio.run(_verify(home, acknowledged))


def _careerlog() -> list[str]:
    script = Path(sys.executable).parent / "careerlog"
    return [str(script)] if script.exists() else [sys.executable, "-m", "careerlog.client.cli"]


def test_the_cli_killed_mid_command_loses_no_acknowledged_event(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "CAREERLOG_HOME": str(home)}
    subprocess.run([*_careerlog(), "init"], env=env, check=True, capture_output=True)
    acknowledged: list[str] = []
    killed = 0
    for n in range(16):
        child = subprocess.Popen(
            [*_careerlog(), "log", f"step {n}", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        # Start-up takes ~0.2 s: kill before, during and after the append.
        time.sleep(0.02 + n * 0.06)
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate(timeout=30)
        if child.returncode == 0:
            acknowledged.append(json.loads(out)["event"]["text"])
        else:
            killed += 1
        _check_home(home)
    assert acknowledged, "no command finished: the test proved nothing"
    assert killed, "no command was killed: the test proved nothing"
    asyncio.run(_verify(home, []))
    with sqlite3.connect(home / DB_NAME) as db:
        stored = [decode_event(row[0]) for row in db.execute("SELECT body FROM events")]
    assert set(acknowledged) <= {getattr(e, "text", None) for e in stored}
