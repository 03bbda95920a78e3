"""The HTTP API against a running server: enrollment, devices, probes, bad input."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import cast

import httpx
import pytest

from careerlog.server.settings import Settings
from careerlog.server.store import EventStore, open_store
from careerlog.server.tokens import ENROLLMENT_PREFIX, hash_token, new_token
from tests.server.conftest import LiveServer, expire_token, running
from tests.server.wire import now_ms


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_probes_and_the_openapi_schema(http: httpx.AsyncClient) -> None:
    health = await http.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    ready = await http.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    schema = await http.get("/schema/openapi.json")
    assert schema.status_code == 200
    assert {"/v1/devices", "/v1/devices/{device_id}", "/health", "/ready"} <= set(
        schema.json()["paths"]
    )


async def test_enrollment_gives_a_device_token_that_is_stored_only_hashed(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    user = await server.user("ada")
    enrollment = await server.enrollment(user)
    response = await http.post(
        "/v1/devices",
        json={"enrollment_token": enrollment, "device": "laptop", "name": "work laptop"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["user_id"] == user
    assert body["device"] == "laptop"
    token = body["token"]
    record = await server.store.device_for_token(hash_token(token))
    assert record is not None
    assert (record.user_id, record.device, record.name) == (user, "laptop", "work laptop")

    # Single use: the same enrollment token never works twice.
    again = await http.post("/v1/devices", json={"enrollment_token": enrollment, "device": "x"})
    assert again.status_code == 403


async def test_bad_enrollments_are_4xx_with_a_reason(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    user = await server.user("ada")
    expired = new_token(ENROLLMENT_PREFIX)
    await server.store.add_enrollment(user, hash_token(expired), now_ms() - 1)
    cases = [
        ({"enrollment_token": "cle_nope", "device": "laptop"}, 403),
        ({"enrollment_token": expired, "device": "laptop"}, 403),
        ({"device": "laptop"}, 400),
        ({"enrollment_token": "x", "device": ""}, 400),
        ({"enrollment_token": "x", "device": "d" * 65}, 400),
        ({"enrollment_token": "x", "device": "tab\there"}, 400),
        ({"enrollment_token": 42, "device": "laptop"}, 400),
    ]
    for body, status in cases:
        response = await http.post("/v1/devices", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["detail"]
    not_json = await http.post(
        "/v1/devices", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    huge = await http.post("/v1/devices", json={"enrollment_token": "x" * 20_000, "device": "d"})
    assert huge.status_code == 413


async def test_enrolling_a_known_device_renews_it_and_kills_its_old_token(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    user = await server.user("ada")
    old = await server.device(user, "laptop")
    other = await server.device(user, "phone")
    assert (await http.delete("/v1/devices/laptop", headers=bearer(other))).status_code == 204
    assert (await http.get("/v1/devices", headers=bearer(old))).status_code == 401
    again = {"enrollment_token": await server.enrollment(user), "device": "laptop"}
    renewed = await http.post("/v1/devices", json=again)
    assert renewed.status_code == 201
    body = renewed.json()
    assert (body["renewed"], body["expires_ms"], body["device"]) == (True, None, "laptop")
    # The revocation is lifted for the new token only; the old one stays dead.
    assert (await http.get("/v1/devices", headers=bearer(body["token"]))).status_code == 200
    assert (await http.get("/v1/devices", headers=bearer(old))).status_code == 401
    devices = (await http.get("/v1/devices", headers=bearer(other))).json()
    assert [(d["device"], d["revoked_ms"]) for d in devices] == [("laptop", None), ("phone", None)]
    # The enrollment token was spent on the renewal.
    assert (await http.post("/v1/devices", json=again)).status_code == 403
    # The same id for another user is a new device of theirs, not Ada's laptop.
    bob = await server.user("bob")
    bobs = {"enrollment_token": await server.enrollment(bob), "device": "laptop"}
    assert (await http.post("/v1/devices", json=bobs)).json()["renewed"] is False


async def test_device_tokens_expire_when_the_operator_says_and_renew(settings: Settings) -> None:
    day = 86_400_000
    expiring = dataclasses.replace(settings, device_token_ttl_ms=day)
    async with running(expiring) as server, httpx.AsyncClient(base_url=server.http_url) as http:
        user = await server.user("ada")
        before = now_ms()
        enrolled = await http.post(
            "/v1/devices",
            json={"enrollment_token": await server.enrollment(user), "device": "laptop"},
        )
        body = enrolled.json()
        assert before + day <= body["expires_ms"] <= now_ms() + day
        token = body["token"]
        listed = await http.get("/v1/devices", headers=bearer(token))
        assert listed.json()[0]["token_expires_ms"] == body["expires_ms"]
        # A day later (moved into the past in the database, as time would).
        expire_token(server.settings, user, "laptop")
        refused = await http.get("/v1/devices", headers=bearer(token))
        assert refused.status_code == 401
        assert "expired" in refused.json()["detail"]
        renewed = await http.post(
            "/v1/devices",
            json={"enrollment_token": await server.enrollment(user), "device": "laptop"},
        )
        assert renewed.json()["renewed"] is True
        fresh = renewed.json()["token"]
        assert (await http.get("/v1/devices", headers=bearer(fresh))).status_code == 200


async def test_enrollment_attempts_are_rate_limited_per_client(settings: Settings) -> None:
    limited = dataclasses.replace(settings, enrollment_burst=3, enrollments_per_minute=1)
    async with running(limited) as server, httpx.AsyncClient(base_url=server.http_url) as http:
        statuses = [
            (await http.post("/v1/devices", json={"enrollment_token": "x", "device": "d"}))
            for _ in range(4)
        ]
    assert [r.status_code for r in statuses] == [403, 403, 403, 429]
    assert int(statuses[-1].headers["retry-after"]) >= 1


async def test_devices_are_listed_and_revoked_only_within_the_user(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    ada = await server.user("ada")
    laptop = await server.device(ada, "laptop")
    phone = await server.device(ada, "phone")
    bob = await server.user("bob")
    desktop = await server.device(bob, "desktop")

    listed = await http.get("/v1/devices", headers=bearer(laptop))
    assert listed.status_code == 200
    assert [(d["device"], d["current"]) for d in listed.json()] == [
        ("laptop", True),
        ("phone", False),
    ]
    assert [
        d["device"] for d in (await http.get("/v1/devices", headers=bearer(desktop))).json()
    ] == ["desktop"]
    # Bob cannot revoke Ada's phone: to him it does not exist.
    assert (await http.delete("/v1/devices/phone", headers=bearer(desktop))).status_code == 404
    assert (await http.delete("/v1/devices/phone", headers=bearer(laptop))).status_code == 204
    assert (await http.delete("/v1/devices/phone", headers=bearer(laptop))).status_code == 404
    # The revoked token no longer authenticates anything.
    assert (await http.get("/v1/devices", headers=bearer(phone))).status_code == 401
    for headers in ({}, {"Authorization": "Basic abc"}, bearer("cld_forged")):
        assert (await http.get("/v1/devices", headers=headers)).status_code == 401


async def test_ready_fails_with_the_reason_when_the_store_is_closed(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    serving = server.runtime.store
    closed = await open_store(server.settings.db_url)
    await closed.close()
    server.runtime.store = closed
    try:
        ready = await http.get("/ready")
        # Liveness does not depend on the store: restarting would not help.
        assert (await http.get("/health")).status_code == 200
    finally:
        server.runtime.store = serving
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["store"].startswith("unreachable: ")
    assert body["detail"].startswith("store: unreachable")
    assert (await http.get("/ready")).status_code == 200


class HangingStore:
    """A store that never answers (a stuck disk, a PostgreSQL behind a dead route)."""

    async def head(self, user_id: int) -> int:
        await asyncio.sleep(3600)
        return 0


async def test_ready_fails_when_the_store_does_not_answer_in_time(settings: Settings) -> None:
    quick = dataclasses.replace(settings, ready_timeout_s=0.1)
    async with running(quick) as server, httpx.AsyncClient(base_url=server.http_url) as http:
        serving = server.runtime.store
        server.runtime.store = cast(EventStore, HangingStore())
        try:
            ready = await http.get("/ready")
        finally:
            server.runtime.store = serving
        assert ready.status_code == 503
        assert ready.json()["checks"]["store"] == "no answer within 0.1 s"
        samples = (await http.get("/metrics")).text
        assert "careerlog_ready 0" in samples.splitlines()


async def test_ready_reflects_the_lag_of_an_in_process_projector(settings: Settings) -> None:
    strict = dataclasses.replace(settings, ready_max_projector_lag_s=5.0)
    async with running(strict) as server, httpx.AsyncClient(base_url=server.http_url) as http:
        lag = server.runtime.metrics.projector
        lag.report("goal_progress", events=3, seconds=0.2)
        ready = await http.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"]["projector goal_progress"] == "ok"

        lag.report("goal_progress", events=9000, seconds=12.5)
        behind = await http.get("/ready")
        assert behind.status_code == 503
        assert behind.json()["checks"]["projector goal_progress"] == (
            "9000 events behind, 12.5 s (limit 5 s)"
        )

        lag.report("goal_progress", events=0, seconds=0.0)
        assert (await http.get("/ready")).status_code == 200
        lag.stopped("goal_progress", "crashed: OperationalError")
        stopped = await http.get("/ready")
        assert stopped.status_code == 503
        assert "stopped: crashed: OperationalError" in stopped.json()["detail"]


@dataclasses.dataclass(frozen=True)
class Reading:
    """What a projector's ``lag()`` returns (the fields ``LagReading`` names)."""

    projection: str
    events_behind: int
    seconds_behind: float


async def test_ready_asks_a_watched_lag_source_each_time(settings: Settings) -> None:
    quick = dataclasses.replace(settings, ready_timeout_s=0.2, ready_max_projector_lag_s=5.0)
    async with running(quick) as server, httpx.AsyncClient(base_url=server.http_url) as http:
        readings = [Reading("read_models", 0, 0.0)]

        async def lag() -> Reading:
            return readings[-1]

        lag_tracker = server.runtime.metrics.projector
        lag_tracker.watch(lag)
        assert (await http.get("/ready")).status_code == 200
        readings.append(Reading("read_models", 40_000, 9.0))
        behind = await http.get("/ready")
        assert behind.status_code == 503
        assert behind.json()["checks"]["projector read_models"].startswith("40000 events behind")

        async def failing() -> Reading:
            raise OSError("disk I/O error")

        lag_tracker.watch(failing)
        broken = (await http.get("/ready")).json()
        assert broken["checks"]["projector watch"] == "lag query failed: OSError('disk I/O error')"

        async def hanging() -> Reading:
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")

        lag_tracker.watch(hanging)
        stuck = (await http.get("/ready")).json()
        assert stuck["checks"]["projector watch"] == "lag query failed: no answer in time"

        readings.append(Reading("read_models", 0, 0.0))
        lag_tracker.watch(lag)
        assert (await http.get("/ready")).status_code == 200
