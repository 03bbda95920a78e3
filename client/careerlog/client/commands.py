"""The command layer: validate a person's intent against the current state.

Rules of this module:
- Every command is a pure function ``(state, env, ...) -> Event``. It reads the
  state, never writes it, and either returns the event to record or raises
  :class:`CommandError` with one line a person can act on. Because nothing is
  written before a command returns, a refused command records nothing.
- ``env`` is the envelope the store minted under its write lock (next
  ``dseq``, HLC tick, event id, a fresh record id). ``occurred_at`` backdates
  the event when the person says when it happened.
- Records are named by unique prefixes of their ids (``resolve``).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import msgspec

from careerlog.shared.events import (
    ACTIVITY_KINDS,
    CONTACT_RELATIONS,
    REASON_CODES,
    AchievementLogged,
    ActivityLogged,
    AssessmentItem,
    ContactAdded,
    EntryRetracted,
    Envelope,
    Event,
    FeedbackReceived,
    FieldChange,
    GoalAchieved,
    GoalDropped,
    GoalPaused,
    GoalRescheduled,
    GoalResumed,
    GoalRevised,
    GoalSet,
    GoalStatusNote,
    GoalSuperseded,
    InteractionLogged,
    Measure,
    MilestoneDefined,
    MilestoneReached,
    MilestoneRescheduled,
    ProgressRecorded,
    ResearchNoted,
    ReviewCadenceSet,
    ReviewCompleted,
    RoleEnded,
    RoleStarted,
    SeasonStarted,
    SelfAssessmentRecorded,
    SharingGranted,
    SharingRevoked,
    SkillPlanAdded,
    TargetRoleChanged,
    TargetRoleChosen,
    TaskCompleted,
    TaskDropped,
    TaskPlanned,
)
from careerlog.shared.projections import CareerState

__all__ = [
    "CommandError",
    "achieve_goal",
    "add_contact",
    "add_milestone",
    "add_skill_plan",
    "choose_target_role",
    "complete_review",
    "complete_task",
    "drop_goal",
    "drop_task",
    "end_role",
    "grant_share",
    "log_achievement",
    "log_activity",
    "log_interaction",
    "note_research",
    "parse_date",
    "parse_when",
    "pause_goal",
    "plan_task",
    "reach_milestone",
    "receive_feedback",
    "record_assessment",
    "record_progress",
    "reschedule_goal",
    "reschedule_milestone",
    "resolve",
    "resume_goal",
    "retract",
    "revise_goal",
    "revoke_share",
    "set_cadence",
    "set_goal",
    "start_role",
    "start_season",
    "supersede_goal",
]


class CommandError(ValueError):
    """A command refused: the message is one line, fit to show a person."""


E = TypeVar("E", bound=Event)

_RELATIVE = re.compile(r"^([+-]?\d+)([dwmy])$")


def parse_date(text: str, today: date) -> date:
    """``2026-03-01``, ``today``, ``tomorrow``, ``yesterday``, or ``+14d``, ``-2w``, ``+3m``."""
    value = text.strip().lower()
    if value == "today":
        return today
    if value == "tomorrow":
        return today + timedelta(days=1)
    if value == "yesterday":
        return today - timedelta(days=1)
    if match := _RELATIVE.match(value):
        amount, unit = int(match.group(1)), match.group(2)
        if unit == "d":
            return today + timedelta(days=amount)
        if unit == "w":
            return today + timedelta(weeks=amount)
        months = amount * (12 if unit == "y" else 1)
        year, month = divmod(today.month - 1 + months, 12)
        year, month = today.year + year, month + 1
        # 31 January + 1 month is the last day of February, not an error.
        return date(year, month, min(today.day, calendar.monthrange(year, month)[1]))
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"'{text}' is not a date (use YYYY-MM-DD, today, yesterday or +14d)"
        ) from None


def parse_when(text: str, now: datetime) -> datetime:
    """A point in time: a date (its start, in UTC) or an ISO 8601 timestamp."""
    value = text.strip()
    if "T" in value or " " in value:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise CommandError(f"'{text}' is not a date or time") from None
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    day = parse_date(value, now.date())
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def resolve(records: Mapping[str, Any], kind: str, prefix: str) -> str:
    """The one record id starting with ``prefix``; a clear error otherwise."""
    key = prefix.strip().lower()
    if not key:
        raise CommandError(f"a {kind} id is required")
    if key in records:
        return key
    matches = [record_id for record_id in records if record_id.startswith(key)]
    if not matches:
        raise CommandError(f"no {kind} matches '{prefix}'")
    if len(matches) > 1:
        shown = ", ".join(sorted(matches)[:5])
        raise CommandError(f"'{prefix}' matches {len(matches)} {kind}s ({shown}); type more of it")
    return matches[0]


def _stamp(env: Envelope, occurred_at: datetime | None) -> dict[str, Any]:
    fields = env.stamp()
    if occurred_at is not None:
        if occurred_at.tzinfo is None:
            raise CommandError("a backdated time needs a time zone")
        if occurred_at > env.occurred_at + timedelta(days=1):
            raise CommandError("cannot record something that happens in the future")
        fields["occurred_at"] = occurred_at
    return fields


def _text(value: str, what: str, *, required: bool = True, limit: int = 300) -> str:
    value = value.strip()
    if required and not value:
        raise CommandError(f"{what} must not be empty")
    if len(value) > limit:
        raise CommandError(f"{what} is longer than {limit} characters")
    return value


def _reason(code: str) -> Any:
    if code not in REASON_CODES:
        raise CommandError(f"unknown reason code '{code}' (choose from {', '.join(REASON_CODES)})")
    return code


def _build(cls: type[E], **fields: Any) -> E:
    """Construct and validate an event (constraints live on the event types)."""
    try:
        return msgspec.convert(fields, cls, from_attributes=True)
    except msgspec.ValidationError as exc:
        raise CommandError(f"invalid {cls.__name__}: {exc}") from None


def _goal(state: CareerState, prefix: str, *, open_only: bool = True) -> str:
    goal_id = resolve(state.goals, "goal", prefix)
    status = state.goals[goal_id].status
    if open_only and status in ("achieved", "dropped", "superseded"):
        raise CommandError(f"goal '{state.goals[goal_id].title}' is already {status}")
    return goal_id


# --- planning ------------------------------------------------------------------


def set_goal(
    state: CareerState,
    env: Envelope,
    *,
    title: str,
    due_on: date,
    metric: str = "",
    unit: str = "",
    baseline: float = 0.0,
    target: float = 1.0,
    specific: str = "",
    relevance: str = "",
    horizon: str = "short",
    start_on: date | None = None,
    parent: str | None = None,
    occurred_at: datetime | None = None,
) -> GoalSet:
    title = _text(title, "goal title")
    start = start_on or (occurred_at or env.occurred_at).date()
    if due_on <= start:
        raise CommandError(f"due date {due_on} must be after the start date {start}")
    if target == baseline:
        raise CommandError("target must differ from baseline")
    if horizon not in ("short", "long"):
        raise CommandError("horizon must be 'short' or 'long'")
    parent_id = _goal(state, parent) if parent else None
    return _build(
        GoalSet,
        **_stamp(env, occurred_at),
        goal_id=env.record_id,
        title=title,
        specific=_text(specific, "specific", required=False, limit=10_000),
        measure=Measure(
            metric=_text(metric or title, "metric"), unit=unit, baseline=baseline, target=target
        ),
        relevance=_text(relevance, "relevance", required=False, limit=10_000),
        start_on=start,
        due_on=due_on,
        horizon=horizon,
        parent_id=parent_id,
    )


def add_milestone(
    state: CareerState,
    env: Envelope,
    *,
    goal: str,
    title: str,
    criteria: str = "",
    due_on: date | None = None,
    occurred_at: datetime | None = None,
) -> MilestoneDefined:
    goal_id = _goal(state, goal)
    return _build(
        MilestoneDefined,
        **_stamp(env, occurred_at),
        milestone_id=env.record_id,
        goal_id=goal_id,
        title=_text(title, "milestone title"),
        criteria=criteria,
        due_on=due_on,
    )


def plan_task(
    state: CareerState,
    env: Envelope,
    *,
    title: str,
    goal: str | None = None,
    milestone: str | None = None,
    due_on: date | None = None,
    resources: Sequence[str] = (),
    occurred_at: datetime | None = None,
) -> TaskPlanned:
    goal_id = _goal(state, goal) if goal else None
    milestone_id = resolve(state.milestones, "milestone", milestone) if milestone else None
    if milestone_id and goal_id and state.milestones[milestone_id].goal_id != goal_id:
        raise CommandError("that milestone belongs to another goal")
    return _build(
        TaskPlanned,
        **_stamp(env, occurred_at),
        task_id=env.record_id,
        title=_text(title, "task title"),
        goal_id=goal_id,
        milestone_id=milestone_id,
        due_on=due_on,
        resources=[r.strip() for r in resources if r.strip()],
    )


def add_skill_plan(
    state: CareerState,
    env: Envelope,
    *,
    skill: str,
    current_level: int,
    target_level: int,
    by_date: date | None = None,
    goal: str | None = None,
    occurred_at: datetime | None = None,
) -> SkillPlanAdded:
    if not 0 <= current_level <= 10 or not 0 <= target_level <= 10:
        raise CommandError("skill levels go from 0 to 10")
    return _build(
        SkillPlanAdded,
        **_stamp(env, occurred_at),
        skill=_text(skill, "skill", limit=60),
        current_level=current_level,
        target_level=target_level,
        by_date=by_date,
        goal_id=_goal(state, goal) if goal else None,
    )


def set_cadence(state: CareerState, env: Envelope, *, every_days: int) -> ReviewCadenceSet:
    if not 1 <= every_days <= 3660:
        raise CommandError("review cadence must be between 1 and 3660 days")
    return _build(ReviewCadenceSet, **env.stamp(), every_days=every_days)


# --- daily action ----------------------------------------------------------------


def log_activity(
    state: CareerState,
    env: Envelope,
    *,
    text: str,
    kind: str = "other",
    tags: Sequence[str] = (),
    goal: str | None = None,
    skill: str | None = None,
    minutes: int | None = None,
    occurred_at: datetime | None = None,
) -> ActivityLogged:
    if kind not in ACTIVITY_KINDS:
        raise CommandError(
            f"unknown activity kind '{kind}' (choose from {', '.join(ACTIVITY_KINDS)})"
        )
    if minutes is not None and not 0 <= minutes <= 1440:
        raise CommandError("minutes must be between 0 and 1440")
    return _build(
        ActivityLogged,
        **_stamp(env, occurred_at),
        activity_id=env.record_id,
        text=_text(text, "what you did"),
        kind=kind,
        tags=[t.strip().lstrip("@#") for t in tags if t.strip().lstrip("@#")],
        goal_id=_goal(state, goal) if goal else None,
        skill=skill.strip() if skill else None,
        minutes=minutes,
    )


def record_progress(
    state: CareerState,
    env: Envelope,
    *,
    goal: str,
    value: float,
    confidence: float | None = None,
    note: str = "",
    occurred_at: datetime | None = None,
) -> ProgressRecorded:
    goal_id = _goal(state, goal)
    if state.goals[goal_id].status == "paused":
        raise CommandError(f"goal '{state.goals[goal_id].title}' is paused; resume it first")
    if confidence is not None and not 0.0 <= confidence <= 1.0:
        raise CommandError("confidence must be between 0 and 1")
    return _build(
        ProgressRecorded,
        **_stamp(env, occurred_at),
        goal_id=goal_id,
        value=value,
        confidence=confidence,
        note=note,
    )


def complete_task(
    state: CareerState,
    env: Envelope,
    *,
    task: str,
    evidence: Sequence[str] = (),
    occurred_at: datetime | None = None,
) -> TaskCompleted:
    task_id = resolve(state.tasks, "task", task)
    status = state.tasks[task_id].status
    if status != "planned":
        raise CommandError(f"task '{state.tasks[task_id].title}' is already {status}")
    return _build(
        TaskCompleted, **_stamp(env, occurred_at), task_id=task_id, evidence=list(evidence)
    )


def reach_milestone(
    state: CareerState,
    env: Envelope,
    *,
    milestone: str,
    evidence: Sequence[str] = (),
    occurred_at: datetime | None = None,
) -> MilestoneReached:
    milestone_id = resolve(state.milestones, "milestone", milestone)
    found = state.milestones[milestone_id]
    if found.reached_on is not None:
        raise CommandError(f"milestone '{found.title}' was already reached on {found.reached_on}")
    _goal(state, found.goal_id)
    return _build(
        MilestoneReached,
        **_stamp(env, occurred_at),
        milestone_id=milestone_id,
        evidence=list(evidence),
    )


def log_achievement(
    state: CareerState,
    env: Envelope,
    *,
    title: str,
    impact: str = "",
    goal: str | None = None,
    skills: Sequence[str] = (),
    occurred_at: datetime | None = None,
) -> AchievementLogged:
    return _build(
        AchievementLogged,
        **_stamp(env, occurred_at),
        achievement_id=env.record_id,
        title=_text(title, "achievement"),
        impact=impact,
        goal_id=_goal(state, goal, open_only=False) if goal else None,
        skills=list(skills),
    )


# --- course-corrections ----------------------------------------------------------

_REVISABLE = ("title", "specific", "metric", "unit", "baseline", "target", "relevance", "horizon")


def revise_goal(
    state: CareerState,
    env: Envelope,
    *,
    goal: str,
    changes: Mapping[str, str | float],
    reason_code: str,
    reason: str = "",
) -> GoalRevised:
    goal_id = _goal(state, goal)
    current = state.goals[goal_id]
    before: dict[str, str | float] = {
        "title": current.title,
        "specific": current.specific,
        "metric": current.measure.metric,
        "unit": current.measure.unit,
        "baseline": current.measure.baseline,
        "target": current.measure.target,
        "relevance": current.relevance,
        "horizon": current.horizon,
    }
    field_changes: list[FieldChange] = []
    for field, after in changes.items():
        if field not in _REVISABLE:
            raise CommandError(f"cannot revise '{field}' (revisable: {', '.join(_REVISABLE)})")
        if field in ("baseline", "target"):
            after = float(after)
        elif isinstance(after, str):
            after = _text(after, field, required=field in ("title", "metric"), limit=10_000)
        if field == "horizon" and after not in ("short", "long"):
            raise CommandError("horizon must be 'short' or 'long'")
        if before[field] == after:
            continue
        field_changes.append(FieldChange(field=field, before=before[field], after=after))  # type: ignore[arg-type]
    if not field_changes:
        raise CommandError("nothing to revise: the new values equal the current ones")
    target = next((c.after for c in field_changes if c.field == "target"), current.measure.target)
    baseline = next(
        (c.after for c in field_changes if c.field == "baseline"), current.measure.baseline
    )
    if target == baseline:
        raise CommandError("target must differ from baseline")
    return _build(
        GoalRevised,
        **env.stamp(),
        goal_id=goal_id,
        changes=field_changes,
        reason_code=_reason(reason_code),
        reason=reason,
    )


def reschedule_goal(
    state: CareerState,
    env: Envelope,
    *,
    goal: str,
    to_due: date,
    reason_code: str,
    reason: str = "",
) -> GoalRescheduled:
    goal_id = _goal(state, goal)
    current = state.goals[goal_id]
    if to_due == current.due_on:
        raise CommandError(f"goal '{current.title}' is already due on {to_due}")
    if to_due <= current.start_on:
        raise CommandError(f"new due date {to_due} is before the goal starts ({current.start_on})")
    return _build(
        GoalRescheduled,
        **env.stamp(),
        goal_id=goal_id,
        from_due=current.due_on,
        to_due=to_due,
        reason_code=_reason(reason_code),
        reason=reason,
    )


def reschedule_milestone(
    state: CareerState,
    env: Envelope,
    *,
    milestone: str,
    to_due: date,
    reason_code: str,
    reason: str = "",
) -> MilestoneRescheduled:
    milestone_id = resolve(state.milestones, "milestone", milestone)
    current = state.milestones[milestone_id]
    if current.reached_on is not None:
        raise CommandError(f"milestone '{current.title}' is already reached")
    if current.due_on == to_due:
        raise CommandError(f"milestone '{current.title}' is already due on {to_due}")
    return _build(
        MilestoneRescheduled,
        **env.stamp(),
        milestone_id=milestone_id,
        from_due=current.due_on,
        to_due=to_due,
        reason_code=_reason(reason_code),
        reason=reason,
    )


def drop_task(
    state: CareerState, env: Envelope, *, task: str, reason_code: str, reason: str = ""
) -> TaskDropped:
    task_id = resolve(state.tasks, "task", task)
    status = state.tasks[task_id].status
    if status != "planned":
        raise CommandError(f"task '{state.tasks[task_id].title}' is already {status}")
    return _build(
        TaskDropped, **env.stamp(), task_id=task_id, reason_code=_reason(reason_code), reason=reason
    )


def pause_goal(
    state: CareerState,
    env: Envelope,
    *,
    goal: str,
    reason_code: str,
    reason: str = "",
    until: date | None = None,
) -> GoalPaused:
    goal_id = _goal(state, goal)
    if state.goals[goal_id].status == "paused":
        raise CommandError(f"goal '{state.goals[goal_id].title}' is already paused")
    return _build(
        GoalPaused,
        **env.stamp(),
        goal_id=goal_id,
        reason_code=_reason(reason_code),
        reason=reason,
        until=until,
    )


def resume_goal(state: CareerState, env: Envelope, *, goal: str, reason: str = "") -> GoalResumed:
    goal_id = _goal(state, goal)
    if state.goals[goal_id].status != "paused":
        raise CommandError(f"goal '{state.goals[goal_id].title}' is not paused")
    return _build(GoalResumed, **env.stamp(), goal_id=goal_id, reason=reason)


def achieve_goal(
    state: CareerState,
    env: Envelope,
    *,
    goal: str,
    final_value: float | None = None,
    reflection: str = "",
    occurred_at: datetime | None = None,
) -> GoalAchieved:
    goal_id = _goal(state, goal)
    return _build(
        GoalAchieved,
        **_stamp(env, occurred_at),
        goal_id=goal_id,
        final_value=final_value,
        reflection=reflection,
    )


def drop_goal(
    state: CareerState,
    env: Envelope,
    *,
    goal: str,
    reason_code: str,
    reason: str = "",
    lessons: str = "",
) -> GoalDropped:
    goal_id = _goal(state, goal)
    return _build(
        GoalDropped,
        **env.stamp(),
        goal_id=goal_id,
        reason_code=_reason(reason_code),
        reason=reason,
        lessons=lessons,
    )


def supersede_goal(
    state: CareerState,
    env: Envelope,
    *,
    goal: str,
    by_goal: str,
    reason_code: str = "superseded",
    reason: str = "",
) -> GoalSuperseded:
    goal_id = _goal(state, goal)
    by_goal_id = _goal(state, by_goal)
    if goal_id == by_goal_id:
        raise CommandError("a goal cannot supersede itself")
    return _build(
        GoalSuperseded,
        **env.stamp(),
        goal_id=goal_id,
        by_goal_id=by_goal_id,
        reason_code=_reason(reason_code),
        reason=reason,
    )


def complete_review(
    state: CareerState,
    env: Envelope,
    *,
    statuses: Mapping[str, str] | None = None,
    decisions: Sequence[str] = (),
    notes: str = "",
    occurred_at: datetime | None = None,
) -> ReviewCompleted:
    allowed = ("on_track", "at_risk", "behind", "blocked", "done")
    notes_list: list[GoalStatusNote] = []
    for prefix, status in (statuses or {}).items():
        if status not in allowed:
            raise CommandError(
                f"unknown review status '{status}' (choose from {', '.join(allowed)})"
            )
        notes_list.append(
            GoalStatusNote(goal_id=_goal(state, prefix, open_only=False), status=status)  # type: ignore[arg-type]
        )
    return _build(
        ReviewCompleted,
        **_stamp(env, occurred_at),
        review_id=env.record_id,
        goal_statuses=notes_list,
        decisions=[d for d in decisions if d.strip()],
        notes=notes,
    )


# --- self-assessment, research, network, the long arc -------------------------------


def record_assessment(
    state: CareerState,
    env: Envelope,
    *,
    strengths: Sequence[str] = (),
    weaknesses: Sequence[str] = (),
    values: Sequence[str] = (),
    interests: Sequence[str] = (),
    source: str = "self",
) -> SelfAssessmentRecorded:
    items = [
        AssessmentItem(kind=kind, text=text.strip())  # type: ignore[arg-type]
        for kind, texts in (
            ("strength", strengths),
            ("weakness", weaknesses),
            ("value", values),
            ("interest", interests),
        )
        for text in texts
        if text.strip()
    ]
    if not items:
        raise CommandError(
            "a self-assessment needs at least one strength, weakness, value or interest"
        )
    return _build(
        SelfAssessmentRecorded,
        **env.stamp(),
        assessment_id=env.record_id,
        items=items,
        source=source,
    )


def receive_feedback(
    state: CareerState,
    env: Envelope,
    *,
    summary: str,
    source_kind: str = "other",
    contact: str | None = None,
    skills: Sequence[str] = (),
    occurred_at: datetime | None = None,
) -> FeedbackReceived:
    return _build(
        FeedbackReceived,
        **_stamp(env, occurred_at),
        feedback_id=env.record_id,
        summary=_text(summary, "feedback summary"),
        source_kind=source_kind,
        contact_id=resolve(state.contacts, "contact", contact) if contact else None,
        skills=list(skills),
    )


def note_research(
    state: CareerState,
    env: Envelope,
    *,
    subject: str,
    subject_kind: str = "skill",
    signal: str = "",
    source: str = "",
    url: str = "",
) -> ResearchNoted:
    if subject_kind not in ("role", "skill"):
        raise CommandError("research is about a 'role' or a 'skill'")
    return _build(
        ResearchNoted,
        **env.stamp(),
        research_id=env.record_id,
        subject_kind=subject_kind,
        subject=_text(subject, "research subject"),
        signal=signal,
        source=source,
        url=url,
    )


def choose_target_role(
    state: CareerState,
    env: Envelope,
    *,
    title: str,
    level: str = "",
    rationale: str = "",
    reason_code: str | None = None,
) -> TargetRoleChosen | TargetRoleChanged:
    title = _text(title, "target role")
    if state.target_role is None:
        return _build(
            TargetRoleChosen,
            **env.stamp(),
            target_id=env.record_id,
            title=title,
            level=level,
            rationale=rationale,
        )
    if reason_code is None:
        raise CommandError(
            f"changing the target role from '{state.target_role.title}' needs --reason-code"
        )
    return _build(
        TargetRoleChanged,
        **env.stamp(),
        target_id=env.record_id,
        title=title,
        level=level,
        reason_code=_reason(reason_code),
        reason=rationale,
    )


def add_contact(
    state: CareerState, env: Envelope, *, name: str, relation: str, notes: str = ""
) -> ContactAdded:
    if relation not in CONTACT_RELATIONS:
        raise CommandError(
            f"unknown relation '{relation}' (choose from {', '.join(CONTACT_RELATIONS)})"
        )
    return _build(
        ContactAdded,
        **env.stamp(),
        contact_id=env.record_id,
        name=_text(name, "contact name"),
        relation=relation,
        notes=notes,
    )


def log_interaction(
    state: CareerState,
    env: Envelope,
    *,
    contact: str,
    kind: str = "meeting",
    notes: str = "",
    follow_up_on: date | None = None,
    occurred_at: datetime | None = None,
) -> InteractionLogged:
    contact_id = resolve(state.contacts, "contact", contact)
    return _build(
        InteractionLogged,
        **_stamp(env, occurred_at),
        interaction_id=env.record_id,
        contact_id=contact_id,
        kind=kind,
        notes=notes,
        follow_up_on=follow_up_on,
    )


def start_season(
    state: CareerState, env: Envelope, *, label: str, intent: str = ""
) -> SeasonStarted:
    return _build(
        SeasonStarted,
        **env.stamp(),
        season_id=env.record_id,
        label=_text(label, "season label"),
        intent=intent,
    )


def start_role(
    state: CareerState,
    env: Envelope,
    *,
    title: str,
    org: str = "",
    level: str = "",
    occurred_at: datetime | None = None,
) -> RoleStarted:
    return _build(
        RoleStarted,
        **_stamp(env, occurred_at),
        role_id=env.record_id,
        title=_text(title, "role title"),
        org=org,
        level=level,
    )


def end_role(
    state: CareerState,
    env: Envelope,
    *,
    role: str,
    reason: str = "",
    occurred_at: datetime | None = None,
) -> RoleEnded:
    role_id = resolve(state.roles, "role", role)
    if state.roles[role_id].ended_on is not None:
        raise CommandError(f"role '{state.roles[role_id].title}' has already ended")
    return _build(RoleEnded, **_stamp(env, occurred_at), role_id=role_id, reason=reason)


def grant_share(
    state: CareerState,
    env: Envelope,
    *,
    grantee: str,
    scopes: Sequence[str],
    expires_on: date | None = None,
) -> SharingGranted:
    if not scopes:
        raise CommandError("say what to share with --scopes")
    return _build(
        SharingGranted,
        **env.stamp(),
        grantee=_text(grantee, "coach"),
        scopes=list(dict.fromkeys(scopes)),
        expires_on=expires_on,
    )


def revoke_share(state: CareerState, env: Envelope, *, grantee: str) -> SharingRevoked:
    if grantee not in state.shares:
        raise CommandError(f"nothing is shared with '{grantee}'")
    return _build(SharingRevoked, **env.stamp(), grantee=grantee)


def retract(
    state: CareerState,
    env: Envelope,
    *,
    target: UUID,
    known: bool,
    reason: str = "",
) -> EntryRetracted:
    """Retract an event by id; ``known`` says whether the store holds it.

    Retracting a retraction restores what it had retracted."""
    if not known:
        raise CommandError(f"no event {target}")
    if str(target) in state.retracted:
        raise CommandError(f"event {target} is already retracted")
    return _build(EntryRetracted, **env.stamp(), target=target, reason=reason)
