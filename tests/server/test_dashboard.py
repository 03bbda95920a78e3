"""The dashboard's page and assets as the server sends them (the browser tests are in e2e)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from careerlog.server.dashboard import ASSETS
from tests.server.conftest import LiveServer


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        yield client


async def test_the_page_is_served_with_a_strict_policy(http: httpx.AsyncClient) -> None:
    for path in ("/dashboard", "/dashboard/"):
        page = await http.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "<main" in page.text


async def test_every_asset_the_page_names_is_served_from_this_server(
    http: httpx.AsyncClient,
) -> None:
    page = (await http.get("/dashboard")).text
    linked = re.findall(r'(?:src|href)="([^"#]+)"', page)
    assert linked, "the page loads no assets"
    for url in linked:
        assert url.startswith("/dashboard/assets/"), f"{url} is not served by this server"
        asset = await http.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["x-content-type-options"] == "nosniff"
    # Modules import each other: each imported file must exist too.
    for script in ASSETS.glob("*.js"):
        for name in re.findall(r'from "\./([\w.-]+)"', script.read_text()):
            assert (ASSETS / name).is_file(), f"{script.name} imports missing {name}"


async def test_nothing_outside_the_assets_is_reachable(http: httpx.AsyncClient) -> None:
    for path in (
        "/dashboard/assets/../__init__.py",
        "/dashboard/assets/%2e%2e/__init__.py",
        "/dashboard/assets/missing.js",
    ):
        assert (await http.get(path)).status_code == 404, path


def test_no_asset_reaches_outside_the_server() -> None:
    """Offline-safe: no CDN, no remote font, no external URL in any asset."""
    for asset in ASSETS.iterdir():
        text = asset.read_text()
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), asset.name


def test_scripts_never_parse_markup() -> None:
    """XSS-safe by construction: text goes in through ``textContent``, never as HTML."""
    for script in ASSETS.glob("*.js"):
        text = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{script.name} uses {sink}"
