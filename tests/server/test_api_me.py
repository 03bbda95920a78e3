"""The person's API on a real server: synced events come back as the same views the client folds."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from careerlog.client.cli import main as client_main
from careerlog.client.store import LocalStore
from careerlog.server.readmodels.rows import OutOfRange
from careerlog.shared.codec import decode_event_json
from careerlog.shared.projections import encode_state
from careerlog.shared.projections.activity import insights
from careerlog.shared.projections.agenda import agenda
from careerlog.shared.projections.corrections import correction_history
from careerlog.shared.projections.progress import progress_list
from careerlog.shared.projections.skills import skill_gaps
from careerlog.shared.projections.timeline import happened_by, plan_as_of, plan_view
from tests.server.conftest import LiveServer
from tests.server.people import Person, person
from tests.shared.builders import History, at

TODAY = date(2026, 1, 20)


def day(n: int, month: int = 1) -> date:
    return date(2026, month, n)


def as_json(value: Any) -> Any:
    """A view as the API's JSON would carry it."""
    return msgspec.json.decode(msgspec.json.encode(value))


def career() -> tuple[History, dict[str, str]]:
    """A month of a career loop, recorded in order, one entry backdated."""
    h = History(today=day(1))
    ids: dict[str, str] = {}
    ids["ship"] = h.goal("Ship the CLI", due=day(31), start=day(1), target=10, on=day(1))
    ids["talk"] = h.goal("Give a talk", due=day(28, 2), start=day(1), on=day(1))
    ids["m1"] = h.milestone(ids["ship"], "First release", due=day(15), on=day(1))
    h.cadence(7, on=day(1))
    h.skill("writing", 2, 4, on=day(2))
    h.progress(ids["ship"], 3, on=day(5), confidence=0.7)
    h.activity(on=day(6), kind="learning", text="read the asyncio docs")
    h.reach(ids["m1"], on=day(9))
    h.revise(
        ids["ship"],
        ("target", 10, 12),
        reason_code="scope_changed",
        reason="a second platform",
        on=day(10),
    )
    h.reschedule(ids["talk"], day(15, 3), reason_code="external_blocker", on=day(11))
    h.review(on=day(12), statuses=[(ids["ship"], "on_track")], notes="good week")
    # Recorded on the 14th, backdated to the 8th.
    h.progress(ids["ship"], 5, on=day(8), recorded=day(14))
    h.activity(on=day(16), kind="shipping", text="cut v0.1")
    return h, ids


async def synced(server: LiveServer) -> tuple[Person, History, dict[str, str]]:
    ada = await person(server, "ada")
    h, ids = career()
    await ada.sync(h)
    return ada, h, ids


async def test_goals_history_and_views_match_the_pure_folds(server: LiveServer) -> None:
    ada, h, ids = await synced(server)
    state = h.state()
    today = TODAY.isoformat()

    assert await ada.json("/v1/me/goals", today=today) == as_json(progress_list(state, TODAY))
    ship = await ada.json(f"/v1/me/goals/{ids['ship']}", today=today)
    assert ship["target"] == 12.0
    # The check-in backdated to the 8th is newer than the 5th's, so it shows.
    assert ship["current"] == 5.0
    assert ship["milestones_reached"] == 1
    active = await ada.json("/v1/me/goals", status="active", today=today)
    assert {g["goal_id"] for g in active} == {ids["ship"], ids["talk"]}
    assert await ada.json("/v1/me/goals", status="dropped") == []

    history = await ada.json(f"/v1/me/goals/{ids['ship']}/history")
    assert history == as_json(correction_history(state, ids["ship"]))
    (revision,) = history["entries"]
    assert (revision["reason_code"], revision["reason"]) == ("scope_changed", "a second platform")
    talk = await ada.json(f"/v1/me/goals/{ids['talk']}/history")
    assert talk["slip_days"] == (day(15, 3) - day(28, 2)).days

    overview = await ada.json("/v1/me/history")
    assert {g["goal_id"] for g in overview["goals"]} == {ids["ship"], ids["talk"]}
    assert {r["reason_code"] for r in overview["reasons"]} == {"scope_changed", "external_blocker"}

    assert await ada.json("/v1/me/agenda", today=today) == as_json(agenda(state, TODAY))
    assert await ada.json("/v1/me/insights", today=today) == as_json(insights(state, TODAY))
    assert await ada.json("/v1/me/skills") == as_json(skill_gaps(state))
    (review,) = await ada.json("/v1/me/reviews")
    assert review["notes"] == "good week"
    notes = await ada.json("/v1/me/journal/notes")
    assert [e["summary"] for e in notes["entries"]] == [
        "shipping: cut v0.1",
        "learning: read the asyncio docs",
    ]


async def test_replay_as_recorded_and_as_occurred(server: LiveServer) -> None:
    ada, h, ids = await synced(server)
    # The plan as it stood on the 9th: the target not yet revised.
    replay = await ada.json("/v1/me/replay", as_recorded="2026-01-09")
    assert replay["mode"] == "as_recorded"
    assert replay["plan"] == as_json(plan_view(plan_as_of(h.events, at(day(9), 23))))
    (ship,) = [g for g in replay["plan"]["goals"] if g["goal_id"] == ids["ship"]]
    assert (ship["target"], ship["current"]) == (10.0, 3.0)
    # By the 13th as recorded, the backdated check-in (recorded on the 14th) is unknown…
    recorded = await ada.json("/v1/me/replay", as_recorded="2026-01-13T23:00:00Z")
    (ship,) = [g for g in recorded["plan"]["goals"] if g["goal_id"] == ids["ship"]]
    assert (ship["target"], ship["current"]) == (12.0, 3.0)
    # …but it had happened by the 13th.
    occurred = await ada.json("/v1/me/replay", occurred_by="2026-01-13T23:00:00Z")
    assert occurred["mode"] == "occurred_by"
    assert occurred["plan"] == as_json(plan_view(happened_by(h.events, at(day(13), 23))))
    (ship,) = [g for g in occurred["plan"]["goals"] if g["goal_id"] == ids["ship"]]
    assert ship["current"] == 5.0
    assert [g["goal_id"] for g in occurred["goals"]]  # progress as of that day


async def test_timeline_pages_newest_first_without_gaps_or_repeats(server: LiveServer) -> None:
    ada, h, _ids = await synced(server)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = await ada.json("/v1/me/timeline", **params)
        seen += [e["event_id"] for e in page["entries"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(e.id) for e in reversed(h.events)]
    assert pages == len(h.events) // 3 + 1
    revised = await ada.json("/v1/me/timeline", types="GoalRevised,GoalRescheduled")
    assert [e["type"] for e in revised["entries"]] == ["GoalRescheduled", "GoalRevised"]
    window = await ada.json(
        "/v1/me/timeline", occurred_from="2026-01-08T00:00:00Z", occurred_to="2026-01-09"
    )
    assert {e["type"] for e in window["entries"]} == {"ProgressRecorded", "MilestoneReached"}
    before = await ada.json("/v1/me/timeline", recorded_by="2026-01-06")
    assert len(before["entries"]) == 7


async def test_analytics_for_a_period(server: LiveServer) -> None:
    ada, _h, _ids = await synced(server)
    figures = await ada.json("/v1/me/analytics", **{"from": "2026-01-01", "to": "2026-01-31"})
    assert (figures["goals_set"], figures["milestones_reached"]) == (2, 1)
    assert figures["median_days_to_milestone"] == 8.0
    assert (figures["reschedules"], figures["slip_days_total"]) == (1, 15)
    assert {r["reason_code"] for r in figures["revision_reasons"]} == {
        "scope_changed",
        "external_blocker",
    }
    assert sum(w["actions"] for w in figures["weekly_activity"]) == figures["actions"] > 0


async def test_export_is_every_event_as_json_lines_that_import_back(
    server: LiveServer, tmp_path: Path
) -> None:
    ada, h, _ids = await synced(server)
    response = await ada.get("/v1/me/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [line for line in response.content.split(b"\n") if line]
    assert [decode_event_json(line) for line in lines] == h.events
    # `careerlog import` on a new home folds exactly the person's state.
    export = tmp_path / "export.jsonl"
    export.write_bytes(response.content)
    home = tmp_path / "home"
    code = await asyncio.to_thread(client_main, ["--home", str(home), "import", str(export)])
    assert code == 0
    store = await LocalStore.open(home, create=False)
    try:
        assert encode_state(store.state) == encode_state(h.state())
    finally:
        await store.close()


def cursor(event_id: str) -> str:
    return base64.urlsafe_b64encode(event_id.encode()).decode().rstrip("=")


async def test_bad_parameters_are_4xx_with_stable_codes(server: LiveServer) -> None:
    ada, _h, _ids = await synced(server)
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("/v1/me/goals", {"today": "2026-02-30"}, 400, "invalid_date"),
        ("/v1/me/goals", {"today": "0001-01-01"}, 400, "date_out_of_range"),
        ("/v1/me/goals", {"status": "sleeping"}, 400, "invalid_parameter"),
        ("/v1/me/goals/nope", {}, 404, "unknown_goal"),
        ("/v1/me/goals/nope/history", {}, 404, "unknown_goal"),
        ("/v1/me/timeline", {"limit": 100000}, 400, "invalid_parameter"),
        ("/v1/me/timeline", {"limit": 0}, 400, "invalid_parameter"),
        ("/v1/me/timeline", {"limit": "many"}, 400, "invalid_parameter"),
        ("/v1/me/timeline", {"cursor": "garbage!"}, 400, "invalid_cursor"),
        (
            "/v1/me/timeline",
            {"cursor": "MDE5YjAwMDAtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAw"},
            400,
            "invalid_cursor",
        ),
        # A UUIDv7 at the end of time, and a UUIDv4: no event has either id.
        (
            "/v1/me/timeline",
            {"cursor": cursor("ffffffff-ffff-7fff-bfff-ffffffffffff")},
            400,
            "invalid_cursor",
        ),
        ("/v1/me/timeline", {"cursor": cursor(str(uuid.uuid4()))}, 400, "invalid_cursor"),
        ("/v1/me/timeline", {"types": "GoalSet,Nonsense"}, 400, "unknown_type"),
        ("/v1/me/timeline", {"recorded_by": "yesterday"}, 400, "invalid_date"),
        ("/v1/me/replay", {}, 400, "replay_needs_one_time"),
        (
            "/v1/me/replay",
            {"as_recorded": "2026-01-01", "occurred_by": "2026-01-01"},
            400,
            "replay_needs_one_time",
        ),
        ("/v1/me/replay", {"as_recorded": "2026-01-01T25:00:00Z"}, 400, "invalid_date"),
        ("/v1/me/analytics", {"from": "2026-02-01", "to": "2026-01-01"}, 400, "invalid_period"),
        ("/v1/me/analytics", {"from": "1990-01-01", "to": "2026-01-01"}, 400, "period_too_long"),
        ("/v1/me/agenda", {"horizon_days": 9999}, 400, "invalid_parameter"),
        ("/v1/me/insights", {"idle_days": 0}, 400, "invalid_parameter"),
        # Routing errors come before any router: they carry a code all the same.
        ("/v1/me/nothing-here", {}, 404, "not_found"),
        ("/v1/nothing-here", {}, 404, "not_found"),
    ]
    # The edges of the calendar are answered, not failed on.
    edges: list[tuple[str, dict[str, Any]]] = [
        ("/v1/me/timeline", {"recorded_by": "5999-12-31"}),
        ("/v1/me/timeline", {"occurred_from": "1970-01-01", "occurred_to": "5999-12-31"}),
        ("/v1/me/replay", {"as_recorded": "5999-12-31T10:00:00-12:00"}),
        ("/v1/me/replay", {"occurred_by": "1970-01-01T00:00:00-14:00"}),
        ("/v1/me/agenda", {"today": "5999-12-31", "horizon_days": 366}),
        ("/v1/me/insights", {"today": "1970-01-01"}),
        ("/v1/me/analytics", {"from": "5990-01-01", "to": "5999-12-31"}),
    ]
    for path, params in edges:
        response = await ada.get(path, **params)
        assert response.status_code == 200, (path, params, response.text)
    cases += [
        ("/v1/me/timeline", {"recorded_by": "6000-01-01"}, 400, "date_out_of_range"),
        ("/v1/me/replay", {"as_recorded": "9999-12-31T23:00:00Z"}, 400, "date_out_of_range"),
    ]
    for path, params, status, code in cases:
        response = await ada.get(path, **params)
        assert (response.status_code, response.json()["code"]) == (status, code), (
            path,
            params,
            response.text,
        )
        assert response.json()["detail"]
    async with ada.client() as client:
        response = await client.post("/v1/me/goals")
    assert (response.status_code, response.json()["code"]) == (405, "method_not_allowed")


async def test_a_time_the_read_models_refuse_is_a_400_not_a_500(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The API's own bounds keep such times out today; if a route ever lets one
    # through, the read models' refusal still reaches the caller as a 400.
    ada = await person(server, "ada")

    async def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise OutOfRange("6500-01-01T00:00:00+00:00 is past the last time an HLC can name")

    monkeypatch.setattr(server.runtime.read_models, "timeline", refuse)
    response = await ada.get("/v1/me/timeline")
    assert (response.status_code, response.json()["code"]) == (400, "date_out_of_range")
    assert "6500-01-01" in response.json()["detail"]


async def test_no_token_no_data_and_nobody_sees_another_persons_goals(
    server: LiveServer,
) -> None:
    _ada, _h, ids = await synced(server)
    async with httpx.AsyncClient(base_url=server.http_url) as anonymous:
        for path in ("/v1/me", "/v1/me/goals", "/v1/me/export", "/v1/coach/people"):
            response = await anonymous.get(path)
            assert response.status_code == 401
            assert response.json()["code"] == "unauthorized"
        forged = await anonymous.get("/v1/me/goals", headers={"Authorization": "Bearer cld_x"})
        assert forged.status_code == 401
    bob = await person(server, "bob")
    assert await bob.json("/v1/me/goals") == []
    assert (await bob.get(f"/v1/me/goals/{ids['ship']}")).status_code == 404
    assert (await bob.json("/v1/me/timeline"))["entries"] == []
    assert (await bob.get("/v1/me/export")).content == b""
