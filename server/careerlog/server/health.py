"""Liveness and readiness probes.

``/health`` answers as long as the process serves HTTP (restart it if not);
``/ready`` also proves the store answers a query within
``Settings.ready_timeout_s``, that the PostgreSQL fan-out listener is in
place, and that no in-process projection lags more than
``Settings.ready_max_projector_lag_s`` or has stopped (route traffic to the
node only then). Every check runs each time, so a 503 names everything that
is wrong, not just the first thing.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from careerlog.server.runtime import Runtime

__all__ = ["Health", "health", "ready"]

log = logging.getLogger("careerlog.server")

OK = "ok"


class Health(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    node: str
    connections: int
    #: What is wrong, in one line (readiness only; None when ready).
    detail: str | None = None
    #: Each readiness check and its verdict: ``ok`` or what is wrong.
    checks: dict[str, str] = {}


@get("/health", tags=["health"])
async def health(runtime: NamedDependency[Runtime]) -> Health:
    return Health(status="ok", node=runtime.settings.node, connections=runtime.hub.connections())


@get("/ready", tags=["health"])
async def ready(runtime: NamedDependency[Runtime]) -> Response[Health]:
    checks = {"store": await _store_check(runtime)}
    if runtime.listener is not None:
        checks["listener"] = OK if runtime.listener.ready.is_set() else "not connected"
    checks.update(await _projector_checks(runtime))
    problems = [f"{name}: {verdict}" for name, verdict in checks.items() if verdict != OK]
    is_ready = not problems
    if runtime.metrics.last_ready is not is_ready:
        # Log transitions only (and the first verdict): probes come every few seconds.
        if is_ready:
            log.info("node ready")
        else:
            log.warning("node not ready", extra={"problems": problems})
    runtime.metrics.last_ready = is_ready
    runtime.metrics.ready.set(float(is_ready))
    return Response(
        Health(
            status="ready" if is_ready else "unavailable",
            node=runtime.settings.node,
            connections=runtime.hub.connections(),
            detail="; ".join(problems) or None,
            checks=checks,
        ),
        status_code=HTTP_200_OK if is_ready else HTTP_503_SERVICE_UNAVAILABLE,
    )


async def _store_check(runtime: Runtime) -> str:
    timeout = runtime.settings.ready_timeout_s
    try:
        await asyncio.wait_for(runtime.store.head(0), timeout)
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except Exception as error:
        return f"unreachable: {type(error).__name__}"
    return OK


async def _projector_checks(runtime: Runtime) -> dict[str, str]:
    if not runtime.metrics.projector.gates_readiness:
        return {}
    await runtime.metrics.projector.refresh(runtime.settings.ready_timeout_s)
    limit = runtime.settings.ready_max_projector_lag_s
    checks: dict[str, str] = {}
    for projection, lag in sorted(runtime.metrics.projector.lags().items()):
        if lag.problem is not None:
            verdict = lag.problem
        elif lag.seconds > limit:
            verdict = f"{lag.events} events behind, {lag.seconds:.1f} s (limit {limit:g} s)"
        else:
            verdict = OK
        checks[f"projector {projection}"] = verdict
    return checks
