"""The person's own read models: ``/v1/me/…``, authenticated by one of their device tokens.

Every route reads only the caller's user (``caller.user_id``, from the token,
never from the request), so there is no parameter by which anyone could
name somebody else's data. Views take ``today`` (default: the server's UTC
date) so a client in another time zone can ask for its own day.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import get
from litestar.params import FromPath, QueryParameter

from careerlog.server.api import views
from careerlog.server.api.errors import ERROR_RESPONSES
from careerlog.server.api.params import (
    DEFAULT_LIMIT,
    Caller,
    Cursor,
    Day,
    Horizon,
    IdleDays,
    Instant,
    Limit,
    Models,
    Server,
    Status,
    Types,
    parse_period,
    parse_today,
    replay_moment,
    server_today,
)
from careerlog.shared.projections.activity import Insights, Thresholds
from careerlog.shared.projections.agenda import AgendaItem
from careerlog.shared.projections.analytics import PeriodAnalytics, period_analytics
from careerlog.shared.projections.corrections import CorrectionHistory
from careerlog.shared.projections.journal import Journal, journal
from careerlog.shared.projections.progress import GoalProgress
from careerlog.shared.projections.sharing import live_shares
from careerlog.shared.projections.skills import SkillGap, skill_gaps
from careerlog.shared.projections.state import Review, Share
from careerlog.shared.projections.summary import Summary, summary

__all__ = ["ME_ROUTES", "Me"]

TAGS = ["me"]


class Me(msgspec.Struct, kw_only=True):
    user_id: int
    name: str | None
    device: str
    #: The user's newest event position on the server.
    head: int
    #: How far the read models have folded (null before the first event is projected).
    projected_pos: int | None
    projected_events: int


@get(
    "/",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="Who the token belongs to, and how far their read models are",
)
async def me(
    runtime: Server,
    models: Models,
    caller: Caller,
) -> Me:
    checkpoint = await models.checkpoint(caller.user_id)
    return Me(
        user_id=caller.user_id,
        name=await runtime.store.user_name(caller.user_id),
        device=caller.device,
        head=await runtime.store.head(caller.user_id),
        projected_pos=checkpoint.pos if checkpoint else None,
        projected_events=checkpoint.events if checkpoint else 0,
    )


@get(
    "/summary",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="The one-screen summary (careerlog status)",
)
async def my_summary(
    models: Models,
    caller: Caller,
    today: Day = None,
) -> Summary:
    return summary(await models.state(caller.user_id), parse_today(today))


@get(
    "/goals",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="Goals with progress, closest to failing first",
)
async def my_goals(
    models: Models,
    caller: Caller,
    today: Day = None,
    status: Status = None,
) -> list[GoalProgress]:
    state = await models.state(caller.user_id)
    return views.goals_view(state, parse_today(today), status)


@get("/goals/{goal_id:str}", tags=TAGS, responses=ERROR_RESPONSES, summary="One goal with progress")
async def my_goal(
    models: Models,
    caller: Caller,
    goal_id: FromPath[str],
    today: Day = None,
) -> GoalProgress:
    state = await models.state(caller.user_id)
    return views.goal_view(state, goal_id, parse_today(today))


@get(
    "/goals/{goal_id:str}/history",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="One goal's course-correction history",
)
async def my_goal_history(
    models: Models, caller: Caller, goal_id: FromPath[str]
) -> CorrectionHistory:
    return views.goal_history_view(await models.state(caller.user_id), goal_id, None)


@get(
    "/history",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="Every goal's course-correction history, and reason counts",
)
async def my_history(models: Models, caller: Caller) -> views.HistoryOverview:
    return views.history_view(await models.state(caller.user_id), None)


@get(
    "/timeline",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="Timeline entries, newest first, in pages",
)
async def my_timeline(
    models: Models,
    caller: Caller,
    types: Types = None,
    recorded_by: Instant = None,
    occurred_from: Instant = None,
    occurred_to: Instant = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> views.TimelinePage:
    return await views.timeline_view(
        models,
        caller.user_id,
        None,
        types=types,
        recorded_by=recorded_by,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
        cursor=cursor,
        limit=limit,
    )


@get(
    "/replay",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="The plan as recorded at a time, or as it had happened by one",
)
async def my_replay(
    models: Models,
    caller: Caller,
    as_recorded: Instant = None,
    occurred_by: Instant = None,
) -> views.Replay:
    recorded, occurred = replay_moment(as_recorded, occurred_by)
    return await views.replay_view(
        models, caller.user_id, as_recorded=recorded, occurred_by=occurred
    )


@get("/agenda", tags=TAGS, responses=ERROR_RESPONSES, summary="What is due and overdue")
async def my_agenda(
    models: Models,
    caller: Caller,
    today: Day = None,
    horizon_days: Horizon = 14,
) -> list[AgendaItem]:
    state = await models.state(caller.user_id)
    return views.agenda_view(state, parse_today(today), horizon_days, None)


@get(
    "/insights",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="Streaks, consistency and stagnation warnings",
)
async def my_insights(
    models: Models,
    caller: Caller,
    today: Day = None,
    idle_days: IdleDays = 14,
    goal_idle_days: IdleDays = 14,
    contact_idle_days: IdleDays = 90,
) -> Insights:
    thresholds = Thresholds(
        idle_days=idle_days, goal_idle_days=goal_idle_days, contact_idle_days=contact_idle_days
    )
    state = await models.state(caller.user_id)
    return views.insights_view(state, parse_today(today), thresholds, None)


@get("/skills", tags=TAGS, responses=ERROR_RESPONSES, summary="Skill gaps, the widest first")
async def my_skills(models: Models, caller: Caller) -> list[SkillGap]:
    return skill_gaps(await models.state(caller.user_id))


@get("/reviews", tags=TAGS, responses=ERROR_RESPONSES, summary="Reviews, newest first")
async def my_reviews(models: Models, caller: Caller) -> list[Review]:
    return views.reviews_view(await models.state(caller.user_id), None)


@get(
    "/journal",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="Reviews, reflections and achievements in the person's words",
)
async def my_journal(models: Models, caller: Caller) -> Journal:
    return journal(await models.state(caller.user_id))


@get(
    "/journal/notes",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="The notes of daily activity, newest first, in pages",
)
async def my_notes(
    models: Models, caller: Caller, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> views.TimelinePage:
    return await views.notes_view(models, caller.user_id, cursor=cursor, limit=limit)


@get(
    "/analytics",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="Figures for a period (default: the last 30 days)",
)
async def my_analytics(
    models: Models,
    caller: Caller,
    start: Annotated[
        str | None,
        QueryParameter(
            name="from", description="First day, YYYY-MM-DD.", format="date", max_length=10
        ),
    ] = None,
    end: Annotated[
        str | None,
        QueryParameter(
            name="to", description="Last day (included), YYYY-MM-DD.", format="date", max_length=10
        ),
    ] = None,
) -> PeriodAnalytics:
    first, last = parse_period(start, end, server_today())
    return period_analytics(await models.state(caller.user_id), first, last)


@get(
    "/shares",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="The grants the person has made that are in force",
)
async def my_shares(
    models: Models,
    caller: Caller,
    today: Day = None,
) -> list[Share]:
    state = await models.state(caller.user_id)
    return live_shares(state, parse_today(today))


ME_ROUTES = [
    me,
    my_summary,
    my_goals,
    my_goal,
    my_goal_history,
    my_history,
    my_timeline,
    my_replay,
    my_agenda,
    my_insights,
    my_skills,
    my_reviews,
    my_journal,
    my_notes,
    my_analytics,
    my_shares,
]
