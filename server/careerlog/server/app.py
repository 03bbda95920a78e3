"""The Litestar app: sync websocket, device API, probes, OpenAPI at ``/schema``.

``create_app(settings)`` is the whole server; the CLI runs it under uvicorn
and the tests start it on a free port. The lifespan opens (and migrates) the
store, starts the PostgreSQL fan-out listener when there is one, and on the
way out closes every live socket with 1001 before the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from careerlog.server.api import Api
from careerlog.server.dashboard import dashboard_handlers
from careerlog.server.devices import current_device, enroll_device, list_devices, revoke_device
from careerlog.server.fanout import PostgresListener
from careerlog.server.health import health, ready
from careerlog.server.monitoring import RequestMetrics, log_unhandled, metrics
from careerlog.server.projecting import read_models_lifespan
from careerlog.server.runtime import Runtime
from careerlog.server.settings import Settings, is_postgres_url
from careerlog.server.store import open_store
from careerlog.server.sync import sync_socket

__all__ = ["close_connections", "create_app"]

log = logging.getLogger("careerlog.server")

#: How long shutdown waits for live connections to say goodbye.
SHUTDOWN_GRACE_S = 2.0


async def close_connections(runtime: Runtime) -> None:
    """Close every live sync socket with 1001 (going away), waiting a moment for them."""
    runtime.hub.shutdown()
    for _ in range(int(SHUTDOWN_GRACE_S / 0.05)):
        if not runtime.hub.connections():
            break
        await asyncio.sleep(0.05)


def create_app(settings: Settings) -> Litestar:
    runtime = Runtime(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        runtime.store = await open_store(settings.db_url)
        if is_postgres_url(settings.db_url):
            runtime.listener = PostgresListener(settings.db_url, runtime.hub)
            runtime.listener_task = asyncio.create_task(runtime.listener.run())
        log.info(
            "node %s serving store epoch %s",
            settings.node,
            runtime.store.epoch,
            extra={"store": settings.store_kind, "epoch": runtime.store.epoch},
        )
        try:
            yield
        finally:
            await close_connections(runtime)
            if runtime.listener_task is not None:
                runtime.listener_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runtime.listener_task
            await runtime.store.close()
            runtime.store = None
            log.info("node %s stopped", settings.node)

    caller = {"caller": Provide(current_device)}
    api = Api(runtime)
    return Litestar(
        route_handlers=[
            sync_socket,
            enroll_device,
            list_devices,
            revoke_device,
            health,
            ready,
            metrics,
            *dashboard_handlers(),
            *api.routers(),
        ],
        middleware=[RequestMetrics(runtime.metrics)],
        plugins=api.plugins(),
        # Litestar's logging config would replace the root handler (and so the
        # CLI's JSON lines) when the app is made; server errors are logged by
        # the hook instead.
        logging_config=None,
        after_exception=[log_unhandled],
        exception_handlers=api.routing_error_handlers(),
        dependencies={
            "runtime": Provide(lambda: runtime, use_cache=True, sync_to_thread=False),
            **caller,
        },
        lifespan=[lifespan, read_models_lifespan(runtime), api.lifespan],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Careerlog sync server", version="1", components=api.openapi_components()
        ),
        # For the uvicorn shell (serving.py), which says goodbye to live sockets.
        state=State({"runtime": runtime}),
    )
