"""A coach's view of the people who shared with them: ``/v1/coach/…``.

Rules (the privacy promise; ``careerlog.shared.projections.sharing`` has the
per-scope details):
- The coach is the user whose device token authenticates the request; a
  person shares with them by naming that user in ``SharingGranted``.
- A person is visible only while their grant is live on the *server's* date
  (a coach cannot pass a ``today`` that revives an expired grant), and only
  through the scopes it names. One who never granted, revoked or let the
  grant expire is indistinguishable from one who does not exist: 404
  ``not_shared`` either way, so the API does not even confirm that a name is
  a user. A view outside the granted scopes is 403 ``scope_not_granted``.
- Every view is computed from the person's read models, never their raw log.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec
from litestar import get
from litestar.params import FromPath, PathParameter

from careerlog.server.api import views
from careerlog.server.api.errors import ERROR_RESPONSES, Forbidden, NotFound
from careerlog.server.api.params import (
    DEFAULT_LIMIT,
    Caller,
    Cursor,
    Horizon,
    Instant,
    Limit,
    Models,
    Server,
    Status,
    Types,
    replay_moment,
    server_today,
)
from careerlog.server.readmodels.base import Grant
from careerlog.server.readmodels.writer import ReadModelStore
from careerlog.server.runtime import Runtime
from careerlog.server.store.base import DeviceRecord
from careerlog.shared.projections.activity import Insights, Thresholds
from careerlog.shared.projections.agenda import AgendaItem
from careerlog.shared.projections.corrections import CorrectionHistory
from careerlog.shared.projections.journal import Journal, journal
from careerlog.shared.projections.progress import GoalProgress
from careerlog.shared.projections.sharing import is_live
from careerlog.shared.projections.skills import SkillGap, skill_gaps
from careerlog.shared.projections.state import Review

__all__ = ["COACH_ROUTES", "SharedPerson"]

TAGS = ["coach"]

Person = Annotated[str, PathParameter(description="The user name of a person who shared.")]


class SharedPerson(msgspec.Struct, kw_only=True):
    person: str
    scopes: list[str]
    granted_on: date
    expires_on: date | None


def _shared(grant: Grant) -> SharedPerson:
    return SharedPerson(
        person=grant.owner_name,
        scopes=sorted(set(grant.scopes)),
        granted_on=grant.granted_on,
        expires_on=grant.expires_on,
    )


async def _grants(runtime: Runtime, models: ReadModelStore, caller: DeviceRecord) -> list[Grant]:
    name = await runtime.store.user_name(caller.user_id)
    if name is None:
        return []
    today = server_today()
    return [g for g in await models.grants_to(name, today) if is_live(g.expires_on, today)]


async def _grant(
    runtime: Runtime, models: ReadModelStore, caller: DeviceRecord, person: str, scope: str | None
) -> Grant:
    for grant in await _grants(runtime, models, caller):
        if grant.owner_name == person:
            if scope is not None and scope not in grant.scopes:
                raise Forbidden("scope_not_granted", f"{person} has not shared {scope!r} with you")
            return grant
    raise NotFound("not_shared", f"nobody named {person[:80]!r} shares anything with you")


@get(
    "/people",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="The people who share with the caller, and what",
)
async def coach_people(
    runtime: Server,
    models: Models,
    caller: Caller,
) -> list[SharedPerson]:
    grants = await _grants(runtime, models, caller)
    return sorted((_shared(g) for g in grants), key=lambda p: p.person)


@get(
    "/people/{person:str}",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="What one person shares with the caller",
)
async def coach_person(
    runtime: Server,
    models: Models,
    caller: Caller,
    person: Person,
) -> SharedPerson:
    return _shared(await _grant(runtime, models, caller, person, None))


@get(
    "/people/{person:str}/goals",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="Goals with progress (scope: progress)",
)
async def coach_goals(
    runtime: Server,
    models: Models,
    caller: Caller,
    person: Person,
    status: Status = None,
) -> list[GoalProgress]:
    grant = await _grant(runtime, models, caller, person, "progress")
    return views.goals_view(await models.state(grant.owner_id), server_today(), status)


@get(
    "/people/{person:str}/goals/{goal_id:str}",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="One goal (scope: progress)",
)
async def coach_goal(
    runtime: Server,
    models: Models,
    caller: Caller,
    person: Person,
    goal_id: FromPath[str],
) -> GoalProgress:
    grant = await _grant(runtime, models, caller, person, "progress")
    return views.goal_view(await models.state(grant.owner_id), goal_id, server_today())


@get(
    "/people/{person:str}/goals/{goal_id:str}/history",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="One goal's course-correction history (scope: history)",
)
async def coach_goal_history(
    runtime: Server,
    models: Models,
    caller: Caller,
    person: Person,
    goal_id: FromPath[str],
) -> CorrectionHistory:
    grant = await _grant(runtime, models, caller, person, "history")
    state = await models.state(grant.owner_id)
    return views.goal_history_view(state, goal_id, grant.scopes)


@get(
    "/people/{person:str}/history",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="Every goal's history (scope: history)",
)
async def coach_history(
    runtime: Server,
    models: Models,
    caller: Caller,
    person: Person,
) -> views.HistoryOverview:
    grant = await _grant(runtime, models, caller, person, "history")
    return views.history_view(await models.state(grant.owner_id), grant.scopes)


@get(
    "/people/{person:str}/timeline",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="Timeline entries (scope: timeline)",
)
async def coach_timeline(
    runtime: Server,
    models: Models,
    caller: Caller,
    person: Person,
    types: Types = None,
    recorded_by: Instant = None,
    occurred_from: Instant = None,
    occurred_to: Instant = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> views.TimelinePage:
    grant = await _grant(runtime, models, caller, person, "timeline")
    return await views.timeline_view(
        models,
        grant.owner_id,
        grant.scopes,
        types=types,
        recorded_by=recorded_by,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
        cursor=cursor,
        limit=limit,
    )


@get(
    "/people/{person:str}/replay",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="The plan at a time (scope: timeline)",
)
async def coach_replay(
    runtime: Server,
    models: Models,
    caller: Caller,
    person: Person,
    as_recorded: Instant = None,
    occurred_by: Instant = None,
) -> views.Replay:
    grant = await _grant(runtime, models, caller, person, "timeline")
    recorded, occurred = replay_moment(as_recorded, occurred_by)
    return await views.replay_view(
        models, grant.owner_id, as_recorded=recorded, occurred_by=occurred
    )


@get(
    "/people/{person:str}/agenda",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="Due and overdue (scope: progress)",
)
async def coach_agenda(
    runtime: Server,
    models: Models,
    caller: Caller,
    person: Person,
    horizon_days: Horizon = 14,
) -> list[AgendaItem]:
    grant = await _grant(runtime, models, caller, person, "progress")
    state = await models.state(grant.owner_id)
    return views.agenda_view(state, server_today(), horizon_days, grant.scopes)


@get(
    "/people/{person:str}/reviews",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="Review dates (scope: progress)",
)
async def coach_reviews(
    runtime: Server,
    models: Models,
    caller: Caller,
    person: Person,
) -> list[Review]:
    grant = await _grant(runtime, models, caller, person, "progress")
    return views.reviews_view(await models.state(grant.owner_id), grant.scopes)


@get(
    "/people/{person:str}/insights",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="Streaks, warnings (scope: activity)",
)
async def coach_insights(
    runtime: Server,
    models: Models,
    caller: Caller,
    person: Person,
) -> Insights:
    grant = await _grant(runtime, models, caller, person, "activity")
    state = await models.state(grant.owner_id)
    return views.insights_view(state, server_today(), Thresholds(), grant.scopes)


@get(
    "/people/{person:str}/skills",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="Skill gaps (scope: skills)",
)
async def coach_skills(
    runtime: Server,
    models: Models,
    caller: Caller,
    person: Person,
) -> list[SkillGap]:
    grant = await _grant(runtime, models, caller, person, "skills")
    return skill_gaps(await models.state(grant.owner_id))


@get(
    "/people/{person:str}/journal",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="The journal (scope: journal)",
)
async def coach_journal(
    runtime: Server,
    models: Models,
    caller: Caller,
    person: Person,
) -> Journal:
    grant = await _grant(runtime, models, caller, person, "journal")
    return journal(await models.state(grant.owner_id))


@get(
    "/people/{person:str}/journal/notes",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="The notes of daily activity (scope: journal)",
)
async def coach_notes(
    runtime: Server,
    models: Models,
    caller: Caller,
    person: Person,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> views.TimelinePage:
    grant = await _grant(runtime, models, caller, person, "journal")
    return await views.notes_view(models, grant.owner_id, cursor=cursor, limit=limit)


COACH_ROUTES = [
    coach_people,
    coach_person,
    coach_goals,
    coach_goal,
    coach_goal_history,
    coach_history,
    coach_timeline,
    coach_replay,
    coach_agenda,
    coach_reviews,
    coach_insights,
    coach_skills,
    coach_journal,
    coach_notes,
]
