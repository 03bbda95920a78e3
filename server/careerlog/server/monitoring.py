"""``GET /metrics`` and the middleware that counts HTTP requests by route and status.

The route label is the handler's path *template* (``/v1/devices/{device_id}``),
never the raw path, so a scanner trying a thousand URLs cannot blow up the
number of series. Requests that match no route (404, 405) are answered by
the router before any middleware runs and are not counted here; the
websocket at ``/v1/sync`` is counted by its own connection metrics instead.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from careerlog.server.metrics import ServerMetrics
from careerlog.server.runtime import Runtime

__all__ = ["RequestMetrics", "log_unhandled", "metrics"]

log = logging.getLogger("careerlog.server.http")


#: Litestar appends ``; charset=utf-8`` to text types itself (see ``metrics.CONTENT_TYPE``).
MEDIA_TYPE = "text/plain; version=0.0.4"


@get("/metrics", tags=["health"], media_type=MEDIA_TYPE)
async def metrics(runtime: NamedDependency[Runtime]) -> Response[str]:
    """This node's metrics in the Prometheus text format 0.0.4."""
    # Gauges of what is, read when asked rather than kept up to date.
    runtime.metrics.connections.set(runtime.hub.connections())
    await runtime.metrics.projector.refresh(runtime.settings.ready_timeout_s)
    return Response(runtime.metrics.render(), media_type=MEDIA_TYPE)


class RequestMetrics(ASGIMiddleware):
    """Count every routed HTTP request and time it, from first byte in to last byte out."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, server_metrics: ServerMetrics) -> None:
        self._metrics = server_metrics

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = time.perf_counter()
        status = 500  # if the app never starts a response, the client saw a failure

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, counting_send)
        finally:
            scope_any: Any = scope
            method = str(scope_any.get("method", ""))
            route = str(scope_any.get("path_template") or "unrouted")
            self._metrics.http_requests.labels(method, route, str(status)).inc()
            self._metrics.http_seconds.labels(method, route).observe(time.perf_counter() - started)


def log_unhandled(error: Exception, scope: Scope) -> None:
    """An ``after_exception`` hook: log what became a 5xx, with its traceback.

    The app runs without Litestar's own logging config (which would replace
    the root handler and its format), so this is where server errors are logged;
    4xx are the client's mistakes and are only counted.
    """
    if isinstance(error, HTTPException) and error.status_code < 500:
        return
    scope_any: Any = scope
    route = str(scope_any.get("path_template") or "unrouted")
    method = str(scope_any.get("method", ""))
    log.error(
        "unhandled error answering %s %s",
        method,
        route,
        exc_info=error,
        extra={"method": method, "route": route},
    )
