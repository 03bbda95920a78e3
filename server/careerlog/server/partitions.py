"""Leadership of projector partitions on PostgreSQL, through session advisory locks.

Users are split into ``P`` partitions by ``user_id % P`` (ids are handed
out in sequence, so the split is even). Each ``careerlog-server project``
process keeps one dedicated connection, and on it:

- a *membership* lock ``(MEMBER_CLASS, backend pid)``: the live projector
  processes are exactly the holders of such locks, read from ``pg_locks``.
  No heartbeat table and no clock: a process that dies loses its
  connection, and PostgreSQL drops its locks at once;
- one lock ``(PARTITION_CLASS, p)`` per partition it leads, taken with
  ``pg_try_advisory_lock`` (session-level: a transaction-scoped lock would
  hold a transaction open and stall every xmin-based reader);
- ``LISTEN careerlog_events``: the wake-ups every append sends, handed to
  the projector for the users it leads.

Every ``REBALANCE_S`` a process counts the live members and aims at
``ceil(P / live)`` partitions: it releases extras (so a newcomer gets its
share, the fix for "the first node grabs every lock") and tries free ones
when short (so the partitions of a dead process are taken over within a
tick or two). If the connection drops, every lock is gone with it: the
process stops projecting at once and starts over. The projector's
compare-and-set makes a short overlap at a hand-over harmless.

PgBouncer in transaction mode would break session locks: point projectors
at PostgreSQL directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from typing import Any

from careerlog.server.fanout import parse_wakeup
from careerlog.server.projector import Projector

__all__ = ["MEMBER_CLASS", "PARTITION_CLASS", "PROJECTOR_NAME", "PartitionLeader"]

log = logging.getLogger("careerlog.server.partitions")

#: The two-int advisory lock spaces: ``(MEMBER_CLASS, pid)`` and ``(PARTITION_CLASS, p)``.
MEMBER_CLASS = 0x636C_706D  # "clpm"
PARTITION_CLASS = 0x636C_7070  # "clpp"
#: The leader connection's application_name, to find it in pg_stat_activity.
PROJECTOR_NAME = "careerlog-projector"

_LIVE_MEMBERS = f"""
SELECT count(*) FROM pg_locks
 WHERE locktype = 'advisory' AND granted AND classid = {MEMBER_CLASS}::oid
   AND objsubid = 2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""

_HELD_BY_OTHERS = f"""
SELECT objid::int FROM pg_locks
 WHERE locktype = 'advisory' AND granted AND classid = {PARTITION_CLASS}::oid
   AND objsubid = 2 AND pid <> pg_backend_pid()
   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


class PartitionLeader:
    """Keeps a fair share of partitions led by this process and feeds the projector."""

    REBALANCE_S = 1.0
    RETRY_DELAYS_S = (0.1, 0.5, 1.0, 2.0, 5.0)

    def __init__(self, dsn: str, projector: Projector, *, partitions: int) -> None:
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        self._dsn = dsn
        self._projector = projector
        self.partitions = partitions
        projector.partitions = partitions
        projector.set_partitions(frozenset())
        self.owned: set[int] = set()
        self.live = 0

    async def run(self) -> None:
        import asyncpg

        from careerlog.server.store.postgres import NOTIFY_CHANNEL

        failures = 0
        while True:
            connection: Any = None
            try:
                connection = await asyncpg.connect(
                    self._dsn, timeout=10, server_settings={"application_name": PROJECTOR_NAME}
                )
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _c, lost=lost: lost.set())
                await connection.execute(
                    "SELECT pg_advisory_lock($1, pg_backend_pid())", MEMBER_CLASS
                )
                await connection.add_listener(NOTIFY_CHANNEL, self._on_append)
                failures = 0
                while not lost.is_set():
                    await asyncio.wait_for(self._rebalance(connection), 10)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), self.REBALANCE_S)
                log.warning("projector leader connection lost; leading nothing until back")
            except asyncio.CancelledError:
                raise
            except Exception as error:  # any failure: lead nothing, wait, reconnect
                log.warning("projector leadership failed: %s", error)
            finally:
                self._lead(set())
                if connection is not None:
                    with contextlib.suppress(Exception):
                        connection.terminate()
            await asyncio.sleep(self.RETRY_DELAYS_S[min(failures, len(self.RETRY_DELAYS_S) - 1)])
            failures += 1

    async def _rebalance(self, connection: Any) -> None:
        self.live = max(1, int(await connection.fetchval(_LIVE_MEMBERS)))
        share = math.ceil(self.partitions / self.live)
        owned = set(self.owned)
        # Release the highest first: newcomers try the lowest free ones first,
        # so hand-overs converge instead of bouncing.
        for partition in sorted(owned, reverse=True)[: max(0, len(owned) - share)]:
            await connection.execute(
                "SELECT pg_advisory_unlock($1, $2)", PARTITION_CLASS, partition
            )
            owned.discard(partition)
        if len(owned) < share:
            taken = {int(row[0]) for row in await connection.fetch(_HELD_BY_OTHERS)}
            for partition in range(self.partitions):
                if len(owned) >= share:
                    break
                if partition in owned or partition in taken:
                    continue
                if await connection.fetchval(
                    "SELECT pg_try_advisory_lock($1, $2)", PARTITION_CLASS, partition
                ):
                    owned.add(partition)
        self._lead(owned)

    def _lead(self, owned: set[int]) -> None:
        if owned != self.owned:
            log.info("leading partitions %s", sorted(owned) or "none")
        self.owned = owned
        self._projector.set_partitions(frozenset(owned))

    def _on_append(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        wakeup = parse_wakeup(payload)
        if wakeup is not None:
            self._projector.wake(*wakeup)
