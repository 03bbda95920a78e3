"""The app's side of the read models: open them, and project in-process when the settings say so.

With the embedded SQLite store a server is one process, so it projects
itself: a :class:`Projector` task, woken by the fan-out hub whenever a
user's head moves, plus a catch-up scan at start (and every few seconds, for
wake-ups that never came: an append by another process on the same file).
On PostgreSQL, nodes leave projecting to ``careerlog-server project``
processes unless ``Settings.project_in_process`` asks otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from litestar import Litestar

from careerlog.server.projector import Projector
from careerlog.server.readmodels import open_read_models
from careerlog.server.runtime import Runtime

__all__ = ["read_models_lifespan"]


def read_models_lifespan(
    runtime: Runtime,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """A lifespan to list after the one that opens the store (it closes before it)."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        runtime.read_models = await open_read_models(runtime.settings.db_url)
        if runtime.settings.projects_in_process:
            projector = Projector(runtime.store, runtime.read_models)
            runtime.projector = projector
            runtime.hub.add_listener(projector.wake)
            runtime.projector_task = asyncio.create_task(projector.run())
        try:
            yield
        finally:
            if runtime.projector_task is not None:
                runtime.projector_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runtime.projector_task
                runtime.projector_task = None
            if runtime.projector is not None:
                runtime.hub.remove_listener(runtime.projector.wake)
                runtime.projector = None
            await runtime.read_models.close()
            runtime.read_models = None

    return lifespan
