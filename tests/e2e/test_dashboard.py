"""The web dashboard in a real browser: Debian's Chromium driven by Playwright.

Everything is real: uvicorn serving the app on a loopback port with its
SQLite stores, a person's device (a real local store on a controlled clock,
so events are recorded on chosen days) that logs in and syncs its events
over the websocket, a coach's account, and the dashboard's page in headless
Chromium. One server, one career and one browser serve the whole module;
each test gets a fresh browser context (a fresh sessionStorage).

Chromium is Debian's ``/usr/bin/chromium`` (``scripts/install-browser.sh``
installs it), never Playwright's download. Without it these tests fail under
``CI=true`` and skip locally, saying how to install it.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import pytest_asyncio

from careerlog.client import commands
from careerlog.client.enrollment import SERVER_META, enroll, write_token
from careerlog.client.store import LocalStore
from careerlog.client.sync import SyncEngine
from careerlog.server.orgs import open_orgs
from careerlog.server.settings import Settings
from careerlog.shared.events import Envelope, Event
from careerlog.shared.projections import CareerState
from careerlog.shared.projections.analytics import MIN_GROUP
from tests.client.conftest import StepClock
from tests.server.conftest import LiveServer, running

if TYPE_CHECKING:
    from playwright.async_api import Browser, ConsoleMessage, Locator, Page

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHROMIUM = os.environ.get("CAREERLOG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: How long an expectation waits for the page (ms).
WAIT_MS = 10_000


def _missing(reason: str) -> None:
    hint = f"{reason}; install it with scripts/install-browser.sh (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(hint)
    pytest.skip(hint)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"the browser tests need Chromium at {CHROMIUM}")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _missing("the browser tests need playwright (pip install -e '.[dev]')")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


def day(text: str, hour: int = 9) -> datetime:
    """A moment on a day of 2026 (UTC), when the device records something."""
    return datetime.fromisoformat(text).replace(hour=hour, tzinfo=UTC)


@dataclass
class Career:
    """The module's world: a server, a person with a synced career, a coach, an outsider."""

    server: LiveServer
    person: int
    coach: int
    outsider: int
    goals: dict[str, str]

    @property
    def url(self) -> str:
        return f"{self.server.http_url}/dashboard"


class Device:
    """A person's device: a real local store whose clock the test sets, and real sync."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.clock = StepClock(seed=home.name)
        self.store: LocalStore | None = None

    async def __aenter__(self) -> Device:
        self.store = await LocalStore.open(self.home, clock=self.clock)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self.store is not None
        await self.store.close()

    async def on(self, when: str, build: Callable[..., Event], **fields: Any) -> Event:
        """Record one event on ``when`` (the day it is recorded; occurred too unless given)."""
        assert self.store is not None
        self.clock.at(day(when))
        command: Callable[[CareerState, Envelope], Event] = partial(build, **fields)
        return await self.store.record(command)

    async def sync_to(self, server: LiveServer, user_id: int) -> None:
        """``careerlog login`` then ``careerlog sync``, as the CLI does them."""
        assert self.store is not None
        enrolled = await asyncio.to_thread(
            enroll, server.http_url, await server.enrollment(user_id), self.store.device, "laptop"
        )
        write_token(self.home, enrolled.token)
        await self.store.set_meta({SERVER_META: server.http_url})
        report = await SyncEngine(self.store, server.http_url, enrolled.token).run_once()
        assert report.rejected == 0
        assert await self.store.pending_count() == 0


async def _ada(device: Device) -> dict[str, str]:
    """Ada's year: a goal set, revised and rescheduled; another set and dropped."""
    staff = await device.on(
        "2026-03-02",
        commands.set_goal,
        title="Become a staff engineer",
        due_on=date(2027, 3, 1),
        metric="packet sections",
        target=5,
    )
    goal = staff.goal_id  # type: ignore[attr-defined]
    await device.on("2026-03-09", commands.record_progress, goal=goal, value=1)
    await device.on(
        "2026-03-16", commands.log_activity, text="Mentored a new hire", kind="mentoring"
    )
    talk = await device.on(
        "2026-04-06",
        commands.set_goal,
        title="Speak at a conference",
        due_on=date(2026, 11, 30),
        metric="talks",
        target=1,
    )
    await device.on("2026-04-07", commands.record_progress, goal=goal, value=2)
    await device.on(
        "2026-05-04",
        commands.revise_goal,
        goal=goal,
        changes={"title": "Become a principal engineer"},
        reason_code="priorities_changed",
        reason="the platform rewrite needs a principal",
    )
    await device.on(
        "2026-05-04",
        commands.reschedule_goal,
        goal=goal,
        to_due=date(2027, 6, 1),
        reason_code="external_blocker",
        reason="the reorg froze promotions",
    )
    await device.on(
        "2026-05-05",
        commands.drop_goal,
        goal=talk.goal_id,  # type: ignore[attr-defined]
        reason_code="no_longer_relevant",
        reason="the conference was cancelled",
    )
    # Recorded in May, but it happened in March: "what had happened by" sees it.
    await device.on(
        "2026-05-11",
        commands.log_activity,
        text="Gave a brown-bag talk on sagas",
        kind="shipping",
        occurred_at=day("2026-03-20"),
    )
    await device.on("2026-06-01", commands.record_progress, goal=goal, value=3)
    markup = await device.on(
        "2026-06-02",
        commands.set_goal,
        title='<img src=x onerror="document.title=1">Write a design doc',
        due_on=date(2027, 1, 15),
    )
    await device.on(
        "2026-06-03",
        commands.pause_goal,
        goal=markup.goal_id,  # type: ignore[attr-defined]
        reason_code="life_event",
        reason="parental leave",
    )
    await device.on(
        "2026-06-04", commands.grant_share, grantee="grace", scopes=["progress", "history"]
    )
    return {
        "principal": goal,
        "talk": talk.goal_id,  # type: ignore[attr-defined]
        "markup": markup.goal_id,  # type: ignore[attr-defined]
    }


async def _projected(server: LiveServer, token: str) -> None:
    """Wait until the server's read models have folded everything the user pushed."""
    async with httpx.AsyncClient(
        base_url=server.http_url, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        for _ in range(600):
            me = (await client.get("/v1/me")).raise_for_status().json()
            if me["head"] and me["projected_pos"] == me["head"]:
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"the projector did not catch up: {me}")


async def _organisation(server: LiveServer, root: Path, members: list[int], admin: int) -> None:
    """Organisation "acme": the given members and four colleagues who each changed a
    plan for the same reason, so that one reason's group reaches five and is shown."""
    everyone = list(members)
    for n in range(MIN_GROUP - len(members)):
        colleague = await server.user(f"colleague-{n}")
        async with Device(root / f"colleague-{n}") as device:
            goal = await device.on(
                "2026-05-01", commands.set_goal, title="Lead a team", due_on=date(2027, 5, 1)
            )
            await device.on(
                "2026-05-02",
                commands.revise_goal,
                goal=goal.goal_id,  # type: ignore[attr-defined]
                changes={"title": "Lead a platform team"},
                reason_code="priorities_changed",
            )
            await device.sync_to(server, colleague)
        await _projected(server, await server.device(colleague, "probe"))
        everyone.append(colleague)
    orgs = await open_orgs(server.settings.db_url)
    try:
        await orgs.create_org("acme", 1)
        for user in everyone:
            await orgs.add("acme", user, 1, admin=False)
        await orgs.add("acme", admin, 1, admin=True)
    finally:
        await orgs.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def career(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Career]:
    root = tmp_path_factory.mktemp("dashboard")
    settings = Settings(
        db_url=f"sqlite:///{root / 'server.db'}",
        port=0,
        node="dashboard",
        enrollments_per_minute=600.0,
        enrollment_burst=100,
    )
    async with running(settings) as server:
        person = await server.user("ada")
        coach = await server.user("grace")
        outsider = await server.user("mallory")
        async with Device(root / "ada") as device:
            goals = await _ada(device)
            await device.sync_to(server, person)
        await _projected(server, await server.device(person, "probe"))
        await _organisation(server, root, [person], admin=coach)
        yield Career(server=server, person=person, coach=coach, outsider=outsider, goals=goals)


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    from playwright.async_api import expect

    expect.set_options(timeout=WAIT_MS)
    context = await browser.new_context()
    context.set_default_timeout(WAIT_MS)
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))

    def console(message: ConsoleMessage) -> None:
        # A refused request (a bad token's 401) is logged by Chromium; not a fault.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    opened.on("console", console)
    try:
        yield opened
    finally:
        await context.close()
    assert not errors, f"the page raised: {errors}"


async def sign_in(page: Page, career: Career, token: str) -> None:
    await page.goto(career.url)
    await page.get_by_label("Token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


async def test_an_enrollment_token_signs_in_as_a_web_dashboard_device(
    page: Page, career: Career
) -> None:
    from playwright.async_api import expect

    await sign_in(page, career, await career.server.enrollment(career.person))
    await expect(page.get_by_role("navigation", name="Dashboard")).to_be_visible()
    devices = await career.server.store.list_devices(career.person)
    web = [d for d in devices if d.name == "web dashboard"]
    assert len(web) == 1
    assert web[0].revoked_ms is None
    # The token is in this tab's sessionStorage only, and works as a bearer token.
    stored = await page.evaluate("sessionStorage.getItem('careerlog.token')")
    assert stored.startswith("cld_")
    assert await page.evaluate("localStorage.length") == 0
    # Signing out forgets the token and revokes the device it minted.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in to Careerlog")).to_be_visible()
    await expect(page.get_by_role("status")).to_have_text("You are signed out.")
    assert await page.evaluate("sessionStorage.length") == 0
    devices = await career.server.store.list_devices(career.person)
    assert [d.revoked_ms is not None for d in devices if d.name == "web dashboard"] == [True]


async def test_a_bad_token_shows_an_error_and_no_data(page: Page, career: Career) -> None:
    from playwright.async_api import expect

    await sign_in(page, career, "cld_not-a-real-token")
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("not valid")
    await expect(page.get_by_role("navigation", name="Dashboard")).to_have_count(0)
    await page.get_by_label("Token").fill("cle_used-or-unknown")
    await page.get_by_role("button", name="Sign in").click()
    await expect(alert).to_contain_text("enrollment token was refused")
    assert await page.evaluate("sessionStorage.length") == 0


async def test_goals_show_progress_and_a_goal_its_path_and_corrections(
    page: Page, career: Career
) -> None:
    from playwright.async_api import expect

    await sign_in(page, career, await career.server.device(career.person, "web-goals"))
    await expect(page.get_by_role("heading", name="Goals", exact=True)).to_be_visible()
    # Nothing logged since June: the stagnation warning leads the page.
    await expect(page.get_by_role("heading", name="Needs attention")).to_be_visible()
    await expect(page.locator(".warnings [data-code='no_activity']")).to_have_count(1)
    principal = page.locator(f"[data-goal='{career.goals['principal']}']")
    await expect(principal.get_by_role("heading")).to_have_text("Become a principal engineer")
    await expect(principal).to_contain_text("60% done")  # 3 of 5 packet sections
    bar = principal.get_by_role("progressbar")
    await expect(bar).to_have_attribute("aria-valuenow", "60")
    talk = page.locator(f"[data-goal='{career.goals['talk']}']")
    await expect(talk.locator(".badge")).to_have_text("dropped")
    # A title full of markup is shown as text and never run.
    markup = page.locator(f"[data-goal='{career.goals['markup']}']")
    await expect(markup.get_by_role("heading")).to_have_text(
        '<img src=x onerror="document.title=1">Write a design doc'
    )
    assert await page.locator("main img").count() == 0
    assert await page.title() != "1"

    await principal.get_by_role("link").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Become a principal engineer")
    chart = page.get_by_role("img", name=re.compile("expected path and check-ins"))
    await expect(chart).to_be_visible()
    await expect(chart.locator(".series-expected")).to_have_count(1)
    await expect(chart.locator(".series-actual-marks rect")).to_have_count(3)
    corrections = page.locator("ol.corrections > li")
    await expect(corrections).to_have_count(2)
    revised = page.locator("li.correction.revised")
    await expect(revised).to_contain_text(
        "title: “Become a staff engineer” → “Become a principal engineer”"
    )
    await expect(revised).to_contain_text("Reason: priorities changed")
    await expect(revised.locator(".reason-text")).to_have_text(
        "the platform rewrite needs a principal"
    )
    rescheduled = page.locator("li.correction.rescheduled")
    await expect(rescheduled).to_contain_text("Due 1 Mar 2027 → 1 Jun 2027 (slipped 92 days)")
    await expect(rescheduled).to_contain_text("the reorg froze promotions")

    await page.goto(f"{career.url}#/goals/{career.goals['talk']}")
    dropped = page.locator("li.correction.dropped")
    await expect(dropped).to_contain_text("Reason: no longer relevant")
    await expect(dropped).to_contain_text("the conference was cancelled")
    await page.goto(f"{career.url}#/goals/{career.goals['markup']}")
    paused = page.locator("li.correction.paused")
    await expect(paused).to_contain_text("Reason: life event — parental leave")
    await expect(page.locator(".badge").first).to_have_text("paused")


async def test_the_timeline_replays_the_plan_as_it_stood_on_a_date(
    page: Page, career: Career
) -> None:
    from playwright.async_api import expect

    await sign_in(page, career, await career.server.device(career.person, "web-timeline"))
    await page.get_by_role("link", name="Timeline").click()
    await expect(page.get_by_role("link", name="Timeline")).to_have_attribute(
        "aria-current", "page"
    )
    date_control = page.get_by_label("Replay date")
    goals = page.locator("[data-goal]")

    # April: the goal has its first title and due date; the later goals do not exist yet.
    await date_control.fill("2026-04-01")
    await expect(page.locator("#replay-heading")).to_have_text("The plan as it stood on 1 Apr 2026")
    await expect(goals).to_have_count(1)
    await expect(goals.get_by_role("heading")).to_have_text("Become a staff engineer")
    await expect(goals).to_contain_text("due 1 Mar 2027")
    assert "at=2026-04-01" in page.url

    # Late May: revised, rescheduled, the talk set and then dropped.
    await date_control.fill("2026-05-20")
    await expect(page.locator("#replay-heading")).to_have_text(
        "The plan as it stood on 20 May 2026"
    )
    await expect(goals).to_have_count(2)
    principal = page.locator(f"[data-goal='{career.goals['principal']}']")
    await expect(principal.get_by_role("heading")).to_have_text("Become a principal engineer")
    await expect(principal).to_contain_text("due 1 Jun 2027")
    await expect(page.locator(f"[data-goal='{career.goals['talk']}'] .badge")).to_have_text(
        "dropped"
    )

    # The talk given in March was only logged in May: as recorded on 25 March
    # it is not there; what had happened by 25 March includes it.
    await date_control.fill("2026-03-25")
    entries = page.locator("ol.entries")
    await expect(entries).to_contain_text("Mentored a new hire")
    await expect(entries).not_to_contain_text("brown-bag")
    await page.get_by_label("What had happened by that date").check()
    await expect(page.locator("#replay-heading")).to_have_text("What had happened by 25 Mar 2026")
    await expect(entries).to_contain_text("Gave a brown-bag talk on sagas")
    assert "mode=occurred_by" in page.url
    # Only the results were redrawn (the control kept focus); back steps to the last replay.
    await date_control.fill("2026-03-26")
    await expect(page.locator("#replay-heading")).to_have_text("What had happened by 26 Mar 2026")
    await expect(date_control).to_be_focused()
    await page.go_back()
    await expect(page.locator("#replay-heading")).to_have_text("What had happened by 25 Mar 2026")


async def test_a_replay_date_past_the_apis_calendar_is_not_asked_for(
    page: Page, career: Career
) -> None:
    from playwright.async_api import expect

    await sign_in(page, career, await career.server.device(career.person, "web-far-future"))
    await page.get_by_role("link", name="Timeline").click()
    await expect(page.get_by_label("Replay date")).to_have_attribute("max", "5999-12-31")
    # A bookmarked date the API would refuse (date_out_of_range) falls back to today.
    await page.evaluate("location.hash = '#/timeline?at=7000-01-01&mode=as_recorded'")
    heading = page.locator("#replay-heading")
    await expect(heading).to_contain_text("The plan as it stood on")
    await expect(heading).not_to_contain_text("7000")
    await expect(page.get_by_role("alert")).to_have_count(0)


async def test_analytics_charts_for_a_period(page: Page, career: Career) -> None:
    from playwright.async_api import expect

    await sign_in(page, career, await career.server.device(career.person, "web-analytics"))
    await page.get_by_role("link", name="Analytics").click()
    await page.get_by_label("From").fill("2026-03-01")
    await page.get_by_label("To (included)").fill("2026-06-30")
    await page.get_by_role("button", name="Show").click()
    await expect(page.get_by_text("From 1 Mar 2026 to 30 Jun 2026.")).to_be_visible()
    stats = page.locator("dl.stats")
    await expect(stats.locator("div", has_text="Goals set")).to_contain_text("3")
    await expect(stats.locator("div", has_text="Goals dropped")).to_contain_text("1")
    weekly = page.get_by_role("img", name=re.compile("Actions per week"))
    await expect(weekly).to_be_visible()
    assert await weekly.locator(".bar rect").count() >= 17  # March to June, week by week
    await expect(page.get_by_role("img", name=re.compile("Goals set, achieved"))).to_be_visible()
    reasons = page.locator(".hbars li")
    await expect(reasons).to_have_count(4)
    await expect(page.locator(".hbars")).to_contain_text("priorities changed")
    await expect(page.locator(".hbars")).to_contain_text("no longer relevant")
    await expect(page.locator(".hbars")).to_contain_text("life event")
    streaks = page.locator("dl.streaks")
    # Two activities and three check-ins, whatever the period.
    await expect(streaks.locator("div", has_text="Actions in all").locator("dd")).to_have_text("5")


async def test_a_coach_sees_only_the_granted_scopes(page: Page, career: Career) -> None:
    from playwright.async_api import expect

    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    await sign_in(page, career, await career.server.device(career.coach, "web-coach"))
    await page.get_by_role("link", name="Coaching").click()
    person = page.locator("li.person")
    await expect(person).to_have_count(1)
    await expect(person.get_by_role("heading")).to_have_text("ada")
    await expect(person.locator("[data-scope]")).to_have_text(
        ["goals and progress", "course-corrections"]
    )
    await person.get_by_role("link", name="ada").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("ada")
    await expect(page.get_by_role("heading", name="Goals")).to_be_visible()
    await expect(page.get_by_role("heading", name="Become a principal engineer")).to_have_count(
        2  # the goal's card and its history
    )
    await expect(page.locator("li.correction.revised").first).to_contain_text(
        "Reason: priorities changed"
    )
    # Not shared: the timeline, and without "journal", the person's own words.
    await expect(page.get_by_role("heading", name="Timeline")).to_have_count(0)
    await expect(page.locator("main")).not_to_contain_text("the platform rewrite")
    await expect(page.locator("main")).not_to_contain_text("brown-bag")
    # One goal as the coach sees it: the chart, the correction without its reason text.
    await page.get_by_role("link", name="Become a principal engineer").click()
    await expect(page.get_by_role("img", name=re.compile("expected path"))).to_be_visible()
    await expect(page.locator("li.correction.rescheduled")).to_contain_text(
        "Reason: external blocker"
    )
    await expect(page.locator("main")).not_to_contain_text("the reorg froze promotions")
    # The page never even asked for what was not shared.
    for url in (u for u in asked if "/v1/coach/" in u):
        assert not re.search(r"/(timeline|replay|journal|insights|skills)\b", url), url
    assert any("/v1/coach/people/ada/history" in url for url in asked)


async def test_someone_without_a_grant_sees_nobody(page: Page, career: Career) -> None:
    from playwright.async_api import expect

    await sign_in(page, career, await career.server.device(career.outsider, "web-outsider"))
    await page.get_by_role("link", name="Coaching").click()
    await expect(page.get_by_text("Nobody shares with you yet.")).to_be_visible()
    await page.goto(f"{career.url}#/coach/ada")
    await expect(page.get_by_role("alert")).to_contain_text("nobody named 'ada'")
    await expect(page.locator("main")).not_to_contain_text("principal")
    # Not a member of "acme": told no more than of an organisation that does not exist.
    await page.goto(f"{career.url}#/orgs/acme")
    await expect(page.get_by_role("alert")).to_contain_text("no organisation 'acme'")


async def test_a_token_revoked_mid_session_returns_to_sign_in(page: Page, career: Career) -> None:
    from playwright.async_api import expect

    await sign_in(page, career, await career.server.device(career.person, "web-revoked"))
    await expect(page.locator("[data-goal]").first).to_be_visible()
    assert await career.server.store.revoke_device(career.person, "web-revoked", 1)
    await page.get_by_role("link", name="Analytics").click()
    await expect(page.get_by_role("heading", name="Sign in to Careerlog")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text("This token is not valid")
    assert await page.evaluate("sessionStorage.length") == 0


async def test_a_stale_request_that_meets_the_revocation_still_says_why(
    page: Page, career: Career
) -> None:
    """A request of a page already left can be the one to get the 401; the next page says why."""
    from playwright.async_api import expect

    await sign_in(page, career, await career.server.device(career.person, "web-stale"))
    await expect(page.locator("[data-goal]").first).to_be_visible()
    assert await career.server.store.revoke_device(career.person, "web-stale", 1)
    # The same module instance the app uses, so this is the app's own request.
    outcome = await page.evaluate(
        "import('/dashboard/assets/api.js').then((api) => api.get('/v1/me'))"
        ".then(() => 'answered', (error) => error.status)"
    )
    assert outcome == 401
    await page.get_by_role("link", name="Analytics").click()
    await expect(page.get_by_role("heading", name="Sign in to Careerlog")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text("This token is not valid")
    # Said once: signing out from a fresh session later gives its own notice only.
    await page.reload()
    await expect(page.get_by_role("heading", name="Sign in to Careerlog")).to_be_visible()
    await expect(page.get_by_role("status")).to_have_count(0)


async def test_an_organisation_admin_sees_aggregates_of_five_or_more(
    page: Page, career: Career
) -> None:
    from playwright.async_api import expect

    await sign_in(page, career, await career.server.device(career.coach, "web-org"))
    await page.get_by_role("link", name="Analytics").click()
    await page.get_by_role("link", name="acme: aggregates").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Organisation acme")
    stats = page.locator("dl.org-stats")

    def figure(term: str) -> Locator:
        return stats.locator("div", has=page.locator("dt", has_text=re.compile(f"^{term}$")))

    await expect(figure("People").locator("dd")).to_have_text("5")
    await expect(figure("With a current plan").locator("dd")).to_have_text("100%")
    # Nobody set a review cadence: a group of none, hidden like any under five.
    await expect(figure("Reviewing on cadence").locator("dd")).to_have_text("hidden")
    # Five people gave "priorities changed"; every other reason had fewer and is hidden.
    await expect(page.locator(".hbars li")).to_have_text([re.compile("priorities changed.*5")])
    await expect(page.locator("main")).to_contain_text("hidden: given by fewer than 5 people")
    await expect(page.locator("main")).not_to_contain_text("external blocker")


async def test_the_layout_fits_a_phone(page: Page, career: Career) -> None:
    from playwright.async_api import expect

    await page.set_viewport_size({"width": 360, "height": 740})
    await sign_in(page, career, await career.server.device(career.person, "web-phone"))
    for view in ("#/goals", f"#/goals/{career.goals['principal']}", "#/timeline", "#/analytics"):
        await page.goto(f"{career.url}{view}")
        await expect(page.locator(".view[aria-busy]")).to_have_count(0)
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{view} is {overflow}px wider than a phone"
