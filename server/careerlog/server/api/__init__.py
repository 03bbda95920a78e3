"""The HTTP API over the read models: the person, their coaches, organisations.

``routers(runtime)`` gives the app its ``/v1/me``, ``/v1/coach`` and
``/v1/orgs`` routers, and ``lifespan(runtime)`` opens what they read besides
the event store (the organisation tables). Every route is authenticated by a
device token (the app's ``caller`` dependency) and every error is a 4xx with
a stable ``code`` (see :mod:`careerlog.server.api.errors` and docs/api.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from litestar import Litestar, Router
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ExceptionHandlersMap

from careerlog.server.api.account import ACCOUNT_ROUTES
from careerlog.server.api.coach import COACH_ROUTES
from careerlog.server.api.errors import api_error_response, out_of_range_response
from careerlog.server.api.me import ME_ROUTES
from careerlog.server.api.orgs import ORG_ROUTES
from careerlog.server.api.schema import ArrayLikeStructs
from careerlog.server.orgs import OrgStore, open_orgs
from careerlog.server.readmodels.rows import OutOfRange
from careerlog.server.runtime import Runtime

__all__ = ["SECURITY_SCHEME", "Api"]

#: The OpenAPI name of the device-token bearer scheme every API route requires.
SECURITY_SCHEME = "deviceToken"


class Api:
    """The API's routers and the resources they hold, for one app."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._orgs: OrgStore | None = None

    @property
    def orgs(self) -> OrgStore:
        if self._orgs is None:
            raise RuntimeError("the organisation store is not open (the app is not running)")
        return self._orgs

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Litestar) -> AsyncIterator[None]:
        """Runs after the app's own lifespan opened (and migrated) the store."""
        self._orgs = await open_orgs(self.runtime.settings.db_url)
        try:
            yield
        finally:
            await self._orgs.close()
            self._orgs = None

    def openapi_components(self) -> Components:
        """What the app's OpenAPI schema declares for the API: the bearer scheme."""
        return Components(
            security_schemes={
                SECURITY_SCHEME: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="A device token (cld_…) from POST /v1/devices.",
                )
            }
        )

    def routing_error_handlers(self) -> ExceptionHandlersMap:
        """For the app: a path or method no route matches is an API error with a code.

        Litestar raises these before any router is chosen, so the routers' own
        handlers never see them.
        """
        return {
            NotFoundException: api_error_response,
            MethodNotAllowedException: api_error_response,
        }

    def plugins(self) -> list[ArrayLikeStructs]:
        """The app plugins the API's schema needs."""
        return [ArrayLikeStructs()]

    def routers(self) -> list[Router]:
        dependencies: dict[str, Any] = {
            # Closures, not bound methods: Litestar deep-copies its layers,
            # and a copied bound method would carry a copy of this object.
            "models": _provide(lambda: self.runtime.read_models),
            "orgs": _provide(lambda: self.orgs),
        }
        handlers: ExceptionHandlersMap = {
            HTTPException: api_error_response,
            OutOfRange: out_of_range_response,
        }

        def router(path: str, routes: list[Any]) -> Router:
            return Router(
                path=path,
                route_handlers=routes,
                dependencies=dependencies,
                exception_handlers=handlers,
                security=[{SECURITY_SCHEME: []}],
                # Personal data: never kept by a shared cache or the browser's.
                cache_control=CacheControlHeader(no_store=True, private=True),
            )

        return [
            router("/v1/me", [*ME_ROUTES, *ACCOUNT_ROUTES]),
            router("/v1/coach", COACH_ROUTES),
            router("/v1/orgs", ORG_ROUTES),
        ]


def _provide(get: Callable[[], Any]) -> Provide:
    return Provide(get, use_cache=True, sync_to_thread=False)
