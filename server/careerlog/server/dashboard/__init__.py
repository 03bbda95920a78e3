"""The web dashboard: one HTML page and its assets, served as they are.

The page is plain HTML, CSS and JavaScript shipped inside the package (no
build step, nothing from a CDN: the server and the people using it may be
offline). It holds no data of its own: it signs in with a token and reads
the JSON API like any other client, so everything it shows is scoped to the
token's user exactly as the API is. The page is sent with a strict Content
Security Policy (scripts and styles only from this server, no inline code,
connections only back to this server), so even a title that slipped past the
page's own escaping (it only ever sets ``textContent``) could not run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import MediaType, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.handlers import BaseRouteHandler
from litestar.router import Router
from litestar.static_files import create_static_files_router

__all__ = ["ASSETS", "CONTENT_SECURITY_POLICY", "dashboard_handlers"]

#: The page's files: ``index.html`` and the scripts and styles it loads.
ASSETS = Path(__file__).resolve().parent / "assets"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


#: Read once: the page is part of the installed package and changes only with it.
_PAGE = (ASSETS / "index.html").read_bytes()


def _harden(response: Response[Any]) -> Response[Any]:
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@get(["/dashboard", "/dashboard/"], include_in_schema=False, sync_to_thread=False)
def dashboard_page() -> Response[bytes]:
    """The dashboard's single page; views are chosen by the URL fragment (``#/goals``)."""
    return Response(
        _PAGE,
        media_type=MediaType.HTML,
        headers={**_HEADERS, "Cache-Control": "no-cache"},
    )


def dashboard_handlers() -> list[BaseRouteHandler | Router]:
    """The route handlers to add to the app: the page and ``/dashboard/assets/…``."""
    assets = create_static_files_router(
        path="/dashboard/assets",
        directories=[ASSETS],
        name="dashboard-assets",
        include_in_schema=False,
        # Revalidate every time: a new server version must not run old scripts.
        cache_control=CacheControlHeader(no_cache=True),
        after_request=_harden,
    )
    return [dashboard_page, assets]
