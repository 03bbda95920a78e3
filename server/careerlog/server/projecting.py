"""Running the projector: inside the app, as its own process, or once to rebuild.

With the embedded SQLite store a server is one process, so it projects
itself: a :class:`Projector` task, woken by the fan-out hub whenever a
user's head moves, plus a catch-up scan at start (and every few seconds, for
wake-ups that never came: an append by another process on the same file).
On PostgreSQL, nodes leave projecting to ``careerlog-server project``
processes unless ``Settings.project_in_process`` asks otherwise.

``careerlog-server project`` (:func:`projection_command`) is that process:
on PostgreSQL it leads a fair share of partitions (see
:mod:`careerlog.server.partitions`), LISTENs for wake-ups and scans its
partitions every few seconds; on SQLite (another process on the same file)
it scans every second. ``careerlog-server rebuild`` recomputes read models
from the log, user by user, each in one transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any

from litestar import Litestar

from careerlog.server.projector import Projector, now_ms
from careerlog.server.readmodels import ReadModelStore, open_read_models
from careerlog.server.runtime import Runtime
from careerlog.server.settings import is_postgres_url
from careerlog.server.store import EventStore

__all__ = ["projection_command", "read_models_lifespan"]

log = logging.getLogger("careerlog.server.projector")


def read_models_lifespan(
    runtime: Runtime,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """A lifespan to list after the one that opens the store (it closes before it)."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        runtime.read_models = await open_read_models(runtime.settings.db_url)
        # Everything after the open is inside the try: a start-up that fails
        # half-way still closes the read models.
        try:
            settings = runtime.settings
            if settings.projects_in_process:
                projector = Projector(runtime.store, runtime.read_models)
                runtime.projector = projector
                runtime.hub.add_listener(projector.wake)
                if settings.store_kind == "postgresql":
                    # Asked to project on PostgreSQL: lead a share of partitions, like
                    # a `careerlog-server project` process, so nodes do not all
                    # project every user.
                    from careerlog.server.partitions import PartitionLeader

                    leader = PartitionLeader(
                        settings.db_url, projector, partitions=settings.projector_partitions
                    )
                    runtime.projector_task = asyncio.create_task(
                        _together(leader.run(), projector.run())
                    )
                else:
                    runtime.projector_task = asyncio.create_task(projector.run())
                # /metrics and /ready measure the lag from the checkpoints when asked.
                runtime.metrics.projector.watch(projector.lag)
                runtime.projector_task.add_done_callback(_report_death(runtime))
            else:
                # Projector processes run elsewhere (PostgreSQL): every node's
                # /metrics still shows their lag, measured from the checkpoints.
                read_models = runtime.read_models
                runtime.metrics.projector.watch(
                    lambda: read_models.lag(now_ms()), gates_readiness=False
                )
            yield
        finally:
            runtime.metrics.projector.unwatch()
            if runtime.projector_task is not None:
                runtime.projector_task.cancel()
                # Gathered: a projector that died would raise its error again
                # here and leave the read models open (its death is reported).
                await asyncio.gather(runtime.projector_task, return_exceptions=True)
                runtime.projector_task = None
            if runtime.projector is not None:
                runtime.hub.remove_listener(runtime.projector.wake)
                runtime.projector = None
            await runtime.read_models.close()
            runtime.read_models = None

    return lifespan


def _report_death(runtime: Runtime) -> Callable[[asyncio.Task[None]], None]:
    def done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("the projector stopped: %r", task.exception())
            runtime.metrics.projector.stopped("readmodels", repr(task.exception()))

    return done


async def _together(*runs: Coroutine[Any, Any, None]) -> None:
    """Run until cancelled; if one ends with an error, cancel the others and raise it."""
    async with asyncio.TaskGroup() as group:
        for run in runs:
            group.create_task(run)


async def projection_command(args: argparse.Namespace) -> int:
    """``careerlog-server project`` and ``careerlog-server rebuild``."""
    from careerlog.server.cli import EXIT_NOT_FOUND, EXIT_OK, CliError, _redact
    from careerlog.server.settings import default_db_url
    from careerlog.server.store import StoreError, open_store

    url = args.db or default_db_url()
    try:
        store = await open_store(url)
    except (OSError, StoreError) as error:
        raise CliError(f"cannot open the store at {_redact(url)}: {error}") from None
    async with store, await open_read_models(url) as read_models:
        if args.command == "rebuild":
            if args.user is not None:
                found = await store.user_by_name(args.user)
                if found is None:
                    raise CliError(f"no user named {args.user!r}", EXIT_NOT_FOUND)
                users = [(found, args.user)]
            else:
                users = await store.list_users()
            projector = Projector(store, read_models)
            total = 0
            for user_id, name in users:
                folded = await projector.rebuild_user(user_id)
                total += folded
                print(f"rebuilt {name}: {folded} events", file=sys.stderr)
            print(f"rebuilt {len(users)} users, {total} events", file=sys.stderr)
            return EXIT_OK
        await _project_forever(url, store, read_models, args.partitions, args.log_level)
    return EXIT_OK


async def _project_forever(
    url: str, store: EventStore, read_models: ReadModelStore, partitions: int, level: str
) -> None:
    from careerlog.server.logs import configure_logging

    configure_logging("text", level, socket.gethostname())
    postgres = is_postgres_url(url)
    if postgres:
        from careerlog.server.partitions import PartitionLeader

        projector = Projector(store, read_models, partitions=partitions, concurrency=4)
        leader = PartitionLeader(url, projector, partitions=partitions)
        tasks = [asyncio.create_task(leader.run()), asyncio.create_task(projector.run())]
    else:
        # Another process appends to the file: no wake-ups reach this one.
        projector = Projector(store, read_models, scan_interval_s=1.0)
        tasks = [asyncio.create_task(projector.run())]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("projecting %s", "partitions of users" if postgres else "every user")
    stopping = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task in tasks and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        # Whichever way it ends (a signal, or a task's error), nothing is left
        # running: not the other tasks, not the wait for a signal.
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        for task in [*tasks, stopping]:
            task.cancel()
        # Gathered, not awaited one by one: awaiting the failed task would
        # raise its error again here and leave the rest un-awaited.
        await asyncio.gather(*tasks, stopping, return_exceptions=True)
        log.info("projector stopped: %s", projector.stats)
