"""Two real ``careerlog-server project`` processes on one PostgreSQL: partitions and take-over.

Both processes start on a fresh database while users push; they split the
16 partitions between them (advisory locks seen in ``pg_locks``). One is
then killed with SIGKILL mid-stream: its locks go with its connection and
the survivor takes every partition over within seconds. In the end every
user's read models are complete and equal to a fresh fold of their log.
A server node asked to project in-process leads partitions the same way,
and three leaders in one process share the partitions fairly and cover a
stopped one's.
Without a reachable PostgreSQL the test is skipped, except under
``CI=true``, where it fails.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import asyncpg
import pytest

from careerlog.server.partitions import PARTITION_CLASS, PartitionLeader
from careerlog.server.projector import Projector
from careerlog.server.readmodels import open_read_models
from careerlog.server.settings import Settings
from careerlog.server.store import open_store
from careerlog.shared.projections import encode_state
from tests.contract.careers import busy_history, push, push_in_batches
from tests.e2e.test_multinode import server_command, terminate
from tests.server.conftest import running
from tests.server.test_projector import eventually

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PARTITIONS = 16
USERS = 24


class ProjectorProcess:
    def __init__(self, url: str, log: Path) -> None:
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [*server_command(), "project", "--db", url, "--partitions", str(PARTITIONS)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.pid = self.process.pid

    def stop(self) -> None:
        terminate(self.process)
        self._log.close()


async def leaders(url: str) -> Counter[int]:
    """How many partitions each projector process leads (by its connection's pid)."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted"
            " AND l.classid = $1::oid AND l.objsubid = 2"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            PARTITION_CLASS,
        )
    finally:
        await connection.close()
    return Counter(int(row[0]) for row in rows)


async def wait_for(check: object, timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while True:
        if await check():  # type: ignore[operator]
            return time.monotonic() - started
        assert time.monotonic() - started < timeout_s, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_projectors_split_partitions_and_take_over_from_a_killed_one(
    database: str, tmp_path: Path
) -> None:
    async with await open_store(database) as store:  # migrated before the projectors start
        users = [await store.create_user(f"user{n}") for n in range(USERS)]
        histories = {u: busy_history(500, device=f"dev{n}") for n, u in enumerate(users)}
        first_half = {u: h.events[:250] for u, h in histories.items()}
        second_half = {u: h.events[250:] for u, h in histories.items()}
        processes = [ProjectorProcess(database, tmp_path / f"projector{n}.log") for n in range(2)]
        try:
            await asyncio.gather(
                *(push_in_batches(store, u, events, 25) for u, events in first_half.items())
            )

            async def split() -> bool:
                counts = await leaders(database)
                return sorted(counts.values()) == [PARTITIONS // 2] * 2

            await wait_for(split, 30, "the partitions to be split between the two")
            assert all(p.process.poll() is None for p in processes)

            # Kill one mid-stream: the other must take its partitions and finish.
            pushing = asyncio.gather(
                *(push_in_batches(store, u, events, 25) for u, events in second_half.items())
            )
            await asyncio.sleep(0.3)
            victim, survivor = processes
            victim.process.send_signal(signal.SIGKILL)
            victim.process.wait()

            async def taken_over() -> bool:
                counts = await leaders(database)
                return list(counts.values()) == [PARTITIONS]

            took = await wait_for(taken_over, 15, "the survivor to lead every partition")
            assert took < 5, f"take-over took {took:.1f} s"
            await pushing

            async with await open_read_models(database) as models:

                async def caught_up() -> bool:
                    return not await models.behind()

                await wait_for(caught_up, 60, "every user to be projected")
                assert survivor.process.poll() is None
                for user, h in histories.items():
                    checkpoint = await models.checkpoint(user)
                    assert checkpoint is not None
                    assert checkpoint.pos == await store.head(user) == len(h.events)
                    assert checkpoint.events == len(h.events)
                    assert encode_state(await models.state(user)) == encode_state(h.state())
                    entries = await models.timeline(user, limit=10_000)
                    assert len(entries) == len(h.events)
        finally:
            for process in processes:
                process.stop()


async def test_a_postgres_node_asked_to_project_leads_partitions(database: str) -> None:
    settings = Settings(db_url=database, port=0, node="test", project_in_process=True)
    async with running(settings) as live:
        user = await live.user("ada")
        history = busy_history(30)
        await push(live.store, user, history.events)
        projector = live.runtime.projector
        assert projector is not None

        async def projected() -> bool:
            checkpoint = await live.runtime.read_models.checkpoint(user)
            return checkpoint is not None and checkpoint.events == len(history.events)

        await eventually(projected, timeout_s=10)
        assert projector.owned == frozenset(range(settings.projector_partitions))


async def test_leaders_share_partitions_fairly_and_cover_them_all(database: str) -> None:
    async with await open_store(database) as store, await open_read_models(database) as models:
        leaders = [
            PartitionLeader(database, Projector(store, models), partitions=PARTITIONS)
            for _ in range(3)
        ]
        tasks = [asyncio.create_task(leader.run()) for leader in leaders]
        try:

            def fair(group: list[PartitionLeader]) -> bool:
                owned = [leader.owned for leader in group]
                share = -(-PARTITIONS // len(group))
                return (
                    set().union(*owned) == set(range(PARTITIONS))
                    and sum(map(len, owned)) == PARTITIONS  # disjoint
                    and all(len(o) <= share for o in owned)
                )

            async def three() -> bool:
                return fair(leaders)

            await wait_for(three, 15, "three leaders to share the partitions")
            # Each projector follows its leader's partitions.
            assert [leader._projector.owned for leader in leaders] == [
                frozenset(leader.owned) for leader in leaders
            ]
            tasks[0].cancel()
            with pytest.raises(asyncio.CancelledError):
                await tasks[0]

            async def two() -> bool:
                return fair(leaders[1:])

            await wait_for(two, 15, "the other two to take the partitions over")
            assert leaders[0].owned == set()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
