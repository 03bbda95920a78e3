"""Liveness and readiness probes.

``/health`` answers as long as the process serves HTTP (restart it if not);
``/ready`` also proves the store answers and, with PostgreSQL, that the
fan-out listener is in place (route traffic to the node only then).
"""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from careerlog.server.runtime import Runtime

__all__ = ["Health", "health", "ready"]

READY_TIMEOUT_S = 2.0


class Health(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    node: str
    connections: int
    detail: str | None = None


@get("/health", tags=["health"])
async def health(runtime: NamedDependency[Runtime]) -> Health:
    return Health(status="ok", node=runtime.settings.node, connections=runtime.hub.connections())


@get("/ready", tags=["health"])
async def ready(runtime: NamedDependency[Runtime]) -> Response[Health]:
    detail: str | None = None
    try:
        await asyncio.wait_for(runtime.store.head(0), READY_TIMEOUT_S)
    except Exception as error:
        detail = f"store unreachable: {type(error).__name__}"
    if detail is None and runtime.listener is not None and not runtime.listener.ready.is_set():
        detail = "fan-out listener not connected"
    return Response(
        Health(
            status="ready" if detail is None else "unavailable",
            node=runtime.settings.node,
            connections=runtime.hub.connections(),
            detail=detail,
        ),
        status_code=HTTP_200_OK if detail is None else HTTP_503_SERVICE_UNAVAILABLE,
    )
