"""Prometheus metrics: the registry's text format, and what a real server counts."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from careerlog.server.metrics import Counter, Gauge, Histogram, Registry
from careerlog.server.settings import Settings
from careerlog.shared.protocol import Ack, Events, PushResult, codes
from tests.server.conftest import LiveServer, running
from tests.server.wire import Peer, activity, now_ms

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

# One sample line of the text format 0.0.4: name, optional {labels}, value.
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> Samples:
    """Every sample of an exposition, failing on any line that is not the format."""
    assert text.endswith("\n")
    samples: Samples = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            assert kind in {"counter", "gauge", "histogram"}, line
            typed.add(name)
            continue
        if line.startswith("# HELP "):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, _, labels, value = match.groups()
        assert re.sub(r"_(bucket|sum|count)$", "", name) in typed or name in typed, line
        pairs = frozenset(_LABEL.findall(labels or ""))
        samples[(name, pairs)] = float(value)
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        yield client


async def scrape(http: httpx.AsyncClient) -> Samples:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(response.text)


# --- the registry, alone ---------------------------------------------------------------


def test_the_text_format_has_help_type_and_escaped_labels() -> None:
    registry = Registry()
    counter = registry.add(Counter("jobs_total", "Jobs done.\nAll of them.", ["kind"]))
    counter.labels('say "hi"\\').inc(2)
    registry.add(Gauge("temperature", "Now.")).labels().set(-1.5)
    assert registry.render() == (
        "# HELP jobs_total Jobs done.\\nAll of them.\n"
        "# TYPE jobs_total counter\n"
        'jobs_total{kind="say \\"hi\\"\\\\"} 2\n'
        "# HELP temperature Now.\n"
        "# TYPE temperature gauge\n"
        "temperature -1.5\n"
    )
    with pytest.raises(ValueError, match="only goes up"):
        counter.labels("x").inc(-1)
    with pytest.raises(ValueError, match="takes labels"):
        counter.labels()
    with pytest.raises(ValueError, match="already registered"):
        registry.add(Counter("jobs_total", "again"))


def test_a_histogram_counts_cumulatively_with_an_inf_bucket() -> None:
    registry = Registry()
    seconds = registry.add(Histogram("wait_seconds", "Waits.", ["queue"], buckets=[0.1, 1.0]))
    series = seconds.labels("a")
    for observed in (0.05, 0.1, 0.5, 3.0):
        series.observe(observed)
    samples = parse(registry.render())
    assert value(samples, "wait_seconds_bucket", queue="a", le="0.1") == 2  # le is inclusive
    assert value(samples, "wait_seconds_bucket", queue="a", le="1") == 3
    assert value(samples, "wait_seconds_bucket", queue="a", le="+Inf") == 4
    assert value(samples, "wait_seconds_count", queue="a") == 4
    assert value(samples, "wait_seconds_sum", queue="a") == pytest.approx(3.65)


# --- a live server ---------------------------------------------------------------------


async def test_pushes_count_each_event_by_result_and_time_the_batch(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    user = await server.user("ada")
    laptop = await Peer.open(server.ws_url, await server.device(user, "laptop"), "laptop")
    events = [activity("laptop", dseq) for dseq in (1, 2, 3)]
    await laptop.push(events)
    await laptop.answer(PushResult)
    await laptop.push(events[:2])  # a retry: two duplicates
    await laptop.answer(PushResult)
    ahead = now_ms() + 3_600_000
    await laptop.push([activity("laptop", 4, hlc_ms=ahead), activity("laptop", 5, hlc_ms=ahead)])
    results = (await laptop.answer(PushResult)).results
    assert [r.code for r in results] == [codes.CLOCK_SKEW, codes.CLOCK_SKEW]

    samples = await scrape(http)
    assert value(samples, "careerlog_events_ingested_total", result="accepted") == 3
    assert value(samples, "careerlog_events_ingested_total", result="duplicate") == 2
    assert value(samples, "careerlog_events_ingested_total", result="rejected") == 2
    assert value(samples, "careerlog_events_rejected_total", code=codes.CLOCK_SKEW) == 2
    assert value(samples, "careerlog_sync_pushes_total", outcome="result") == 3
    assert value(samples, "careerlog_sync_push_duration_seconds_count") == 3
    assert 0 < value(samples, "careerlog_sync_push_duration_seconds_sum") < 5
    await laptop.close()


async def test_a_gap_and_the_pages_served_are_counted(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    user = await server.user("ada")
    laptop = await Peer.open(server.ws_url, await server.device(user, "laptop"), "laptop")
    await laptop.push([activity("laptop", 2)])  # dseq 1 is missing
    await laptop.receive()  # the Gap
    await laptop.push([activity("laptop", 1), activity("laptop", 2)])
    await laptop.expect(PushResult)
    page = await laptop.expect(Events)  # its own events come back: one page
    await laptop.send(Ack(cursor=page.items[-1].pos))

    samples = await scrape(http)
    assert value(samples, "careerlog_sync_pushes_total", outcome="gap") == 1
    assert value(samples, "careerlog_sync_pages_total") == 1
    assert value(samples, "careerlog_sync_page_events_total") == 2
    assert value(samples, "careerlog_sync_push_duration_seconds_count") == 2
    await laptop.close()


async def test_a_connection_shows_in_the_gauge_until_it_closes(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    connections = "careerlog_sync_connections"
    assert value(await scrape(http), connections, node="test") == 0
    user = await server.user("ada")
    laptop = await Peer.open(server.ws_url, await server.device(user, "laptop"), "laptop")
    samples = await scrape(http)
    assert value(samples, connections, node="test") == 1
    assert value(samples, "careerlog_sync_connections_opened_total") == 1
    assert value(samples, "careerlog_node_info", node="test", store="sqlite") == 1

    await laptop.close()
    for _ in range(100):
        samples = await scrape(http)
        if value(samples, connections, node="test") == 0:
            break
        await asyncio.sleep(0.02)
    assert value(samples, connections, node="test") == 0
    assert value(samples, "careerlog_sync_connections_closed_total", code="1000") == 1


async def test_server_closes_are_counted_by_close_code(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    user = await server.user("ada")
    token = await server.device(user, "laptop")
    first = await Peer.open(server.ws_url, token, "laptop")
    second = await Peer.open(server.ws_url, token, "laptop")  # replaces the first
    assert (await first.closed())[0] == codes.close_code(codes.REPLACED)
    await second.close()
    for _ in range(100):
        samples = await scrape(http)
        if value(samples, "careerlog_sync_connections", node="test") == 0:
            break
        await asyncio.sleep(0.02)
    closed = "careerlog_sync_connections_closed_total"
    assert value(samples, closed, code=str(codes.close_code(codes.REPLACED))) == 1
    assert value(samples, closed, code="1000") == 1


async def test_refused_upgrades_and_enrollments_are_counted(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    for token in (None, "cld_forged"):
        with pytest.raises(InvalidStatus):
            await Peer.connect(server.ws_url, token, "laptop")
    user = await server.user("ada")
    await server.device(user, "laptop")
    refused = await http.post("/v1/devices", json={"enrollment_token": "cle_no", "device": "x"})
    assert refused.status_code == 403

    samples = await scrape(http)
    failures = "careerlog_sync_auth_failures_total"
    assert value(samples, failures, reason="missing_token") == 1
    assert value(samples, failures, reason="unknown_token") == 1
    assert value(samples, "careerlog_enrollments_total", outcome="enrolled") == 1
    assert value(samples, "careerlog_enrollments_total", outcome="bad_token") == 1


async def test_http_requests_are_counted_by_route_template_and_status(
    http: httpx.AsyncClient,
) -> None:
    for _ in range(2):
        assert (await http.get("/health")).status_code == 200
    for device in ("a", "b", "c"):
        assert (await http.delete(f"/v1/devices/{device}")).status_code == 401

    samples = await scrape(http)
    requests = "careerlog_http_requests_total"
    assert value(samples, requests, method="GET", route="/health", status="200") == 2
    # Three paths, one series: the label is the template, not the path.
    route = "/v1/devices/{device_id}"
    assert value(samples, requests, method="DELETE", route=route, status="401") == 3
    assert (
        value(
            samples, "careerlog_http_request_duration_seconds_count", method="GET", route="/health"
        )
        == 2
    )


async def test_projector_lag_is_exposed_per_projection(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    lag = server.runtime.metrics.projector
    lag.report("goal_progress", events=120, seconds=0.75)
    lag.report("timeline", events=0, seconds=0.0)
    samples = await scrape(http)
    assert value(samples, "careerlog_projector_lag_events", projection="goal_progress") == 120
    assert value(samples, "careerlog_projector_lag_seconds", projection="goal_progress") == 0.75
    assert value(samples, "careerlog_projector_lag_events", projection="timeline") == 0
    lag.forget("timeline")
    samples = await scrape(http)
    assert ("careerlog_projector_lag_events", frozenset({("projection", "timeline")})) not in (
        samples
    )


async def test_a_watched_lag_source_is_asked_at_each_scrape(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    @dataclasses.dataclass(frozen=True)
    class Reading:
        projection: str
        events_behind: int
        seconds_behind: float

    behind = [Reading("read_models", 7, 1.5), Reading("analytics", 0, 0.0)]

    async def lag() -> list[Reading]:
        return behind

    server.runtime.metrics.projector.watch(lag)
    samples = await scrape(http)
    assert value(samples, "careerlog_projector_lag_events", projection="read_models") == 7
    assert value(samples, "careerlog_projector_lag_seconds", projection="read_models") == 1.5
    behind = [Reading("read_models", 0, 0.0), Reading("analytics", 0, 0.0)]
    samples = await scrape(http)
    assert value(samples, "careerlog_projector_lag_events", projection="read_models") == 0
    server.runtime.metrics.projector.unwatch()


async def test_each_node_counts_only_its_own(settings: Settings, tmp_path: Path) -> None:
    other = dataclasses.replace(settings, db_url=f"sqlite:///{tmp_path / 'b.db'}", node="b")
    async with running(settings) as a, running(other) as b:
        user = await a.user("ada")
        laptop = await Peer.open(a.ws_url, await a.device(user, "laptop"), "laptop")
        await laptop.push([activity("laptop", 1)])
        await laptop.answer(PushResult)
        async with httpx.AsyncClient(base_url=a.http_url) as http_a:
            on_a = await scrape(http_a)
        async with httpx.AsyncClient(base_url=b.http_url) as http_b:
            on_b = await scrape(http_b)
        await laptop.close()
    accepted = "careerlog_events_ingested_total"
    assert value(on_a, accepted, result="accepted") == 1
    assert value(on_a, "careerlog_sync_connections", node="test") == 1
    assert value(on_b, accepted, result="accepted") == 0
    assert value(on_b, "careerlog_sync_connections", node="b") == 0
    assert value(on_b, "careerlog_node_info", node="b", store="sqlite") == 1


async def test_a_node_without_a_projector_shows_the_lag_but_stays_ready(
    settings: Settings,
) -> None:
    # As a PostgreSQL node beside `careerlog-server project` processes: nothing
    # folds here, so the pushed event stays behind, and the node still serves.
    alone = dataclasses.replace(settings, project_in_process=False)
    async with running(alone) as node, httpx.AsyncClient(base_url=node.http_url) as http:
        user = await node.user("ada")
        laptop = await Peer.open(node.ws_url, await node.device(user, "laptop"), "laptop")
        await laptop.push([activity("laptop", 1), activity("laptop", 2)])
        await laptop.answer(PushResult)
        samples = await scrape(http)
        ready = await http.get("/ready")
        await laptop.close()
    assert value(samples, "careerlog_projector_lag_events", projection="readmodels") == 2
    assert value(samples, "careerlog_projector_lag_seconds", projection="readmodels") >= 0
    assert ready.status_code == 200, ready.text
    assert not any(check.startswith("projector") for check in ready.json()["checks"])
