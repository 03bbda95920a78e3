"""The career timeline, with both times.

*As recorded* (``plan_as_of``): the plan as it stood on a date, i.e. the fold of
every event recorded (HLC wall time) by then — "what did I believe on 1
March?". *As occurred* (``happened_by``): the fold of every event that
happened by then, including ones entered later — "what had happened by 1
March?". Both are plain folds of a filtered, canonically ordered event list;
stores answer them quickly from snapshots.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime

import msgspec

from careerlog.shared.events import (
    AchievementLogged,
    ActivityLogged,
    ContactAdded,
    EntryRetracted,
    Event,
    EventBase,
    FeedbackReceived,
    GoalAchieved,
    GoalDropped,
    GoalPaused,
    GoalRescheduled,
    GoalResumed,
    GoalRevised,
    GoalSet,
    GoalSuperseded,
    InteractionLogged,
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
from careerlog.shared.hlc import wall_ms
from careerlog.shared.projections.fold import fold, retracted_ids
from careerlog.shared.projections.state import CareerState

__all__ = [
    "PlanGoal",
    "PlanMilestone",
    "PlanView",
    "TimelineEntry",
    "happened_by",
    "plan_as_of",
    "plan_view",
    "recorded_at",
    "summarize",
    "timeline_entry",
]


class TimelineEntry(msgspec.Struct, kw_only=True):
    event_id: str
    type: str
    occurred_at: datetime
    recorded_at: datetime
    summary: str
    record_id: str | None = None
    retracted: bool = False


class PlanMilestone(msgspec.Struct, kw_only=True):
    milestone_id: str
    title: str
    due_on: date | None
    reached_on: date | None


class PlanGoal(msgspec.Struct, kw_only=True):
    goal_id: str
    title: str
    status: str
    metric: str
    baseline: float
    target: float
    unit: str
    start_on: date
    due_on: date
    current: float | None
    milestones: list[PlanMilestone]


class PlanView(msgspec.Struct, kw_only=True):
    events: int
    goals: list[PlanGoal]
    open_tasks: int
    target_role: str | None
    season: str | None
    role: str | None
    review_every_days: int | None


def recorded_at(event: EventBase) -> datetime:
    """When an event was recorded: the wall-clock part of its HLC."""
    return datetime.fromtimestamp(wall_ms(event.hlc) / 1000, tz=UTC)


def plan_as_of(events: Iterable[Event], when: datetime) -> CareerState:
    """Fold of events recorded by ``when`` (events in canonical order)."""
    limit = int(when.timestamp() * 1000)
    return fold([e for e in events if wall_ms(e.hlc) <= limit])


def happened_by(events: Iterable[Event], when: datetime) -> CareerState:
    """Fold of events that occurred by ``when`` (events in canonical order).

    A mistake retracted later is left out whenever it was retracted: this view
    answers "what really had happened", with what we know now.
    """
    events = list(events)
    retracted = retracted_ids(events)
    return fold(
        [
            e
            for e in events
            if e.occurred_at <= when and e.id not in retracted and type(e) is not EntryRetracted
        ]
    )


def plan_view(state: CareerState) -> PlanView:
    goals = [
        PlanGoal(
            goal_id=g.goal_id,
            title=g.title,
            status=g.status,
            metric=g.measure.metric,
            baseline=g.measure.baseline,
            target=g.measure.target,
            unit=g.measure.unit,
            start_on=g.start_on,
            due_on=g.due_on,
            current=g.last_value,
            milestones=[
                PlanMilestone(
                    milestone_id=m.milestone_id,
                    title=m.title,
                    due_on=m.due_on,
                    reached_on=m.reached_on,
                )
                for m in (state.milestones[i] for i in g.milestone_ids if i in state.milestones)
            ],
        )
        for g in sorted(state.goals.values(), key=lambda g: (g.due_on, g.title))
    ]
    current_roles = [r for r in state.roles.values() if r.ended_on is None]
    return PlanView(
        events=state.event_count,
        goals=goals,
        open_tasks=sum(1 for t in state.tasks.values() if t.status == "planned"),
        target_role=state.target_role.title if state.target_role else None,
        season=state.seasons[-1].label if state.seasons else None,
        role=current_roles[-1].title if current_roles else None,
        review_every_days=state.review_every_days,
    )


def _name(state: CareerState | None, kind: str, record_id: str) -> str:
    if state is not None:
        if kind == "goal" and (goal := state.goals.get(record_id)):
            return f"'{goal.title}'"
        if kind == "milestone" and (milestone := state.milestones.get(record_id)):
            return f"'{milestone.title}'"
        if kind == "task" and (task := state.tasks.get(record_id)):
            return f"'{task.title}'"
        if kind == "contact" and (contact := state.contacts.get(record_id)):
            return contact.name
    return f"{kind} {record_id}"


def _summary(e: EventBase, state: CareerState | None) -> tuple[str, str | None]:
    match e:
        case GoalSet():
            return f"set goal '{e.title}' due {e.due_on}", e.goal_id
        case MilestoneDefined():
            return f"milestone '{e.title}' for {_name(state, 'goal', e.goal_id)}", e.milestone_id
        case TaskPlanned():
            return f"planned task '{e.title}'", e.task_id
        case SkillPlanAdded():
            return f"skill plan {e.skill}: {e.current_level} -> {e.target_level}", None
        case ReviewCadenceSet():
            return f"review every {e.every_days} days", None
        case ActivityLogged():
            return f"{e.kind}: {e.text}", e.activity_id
        case ProgressRecorded():
            return f"progress {e.value:g} on {_name(state, 'goal', e.goal_id)}", e.goal_id
        case TaskCompleted():
            return f"done {_name(state, 'task', e.task_id)}", e.task_id
        case MilestoneReached():
            return f"reached {_name(state, 'milestone', e.milestone_id)}", e.milestone_id
        case AchievementLogged():
            return f"achievement: {e.title}", e.achievement_id
        case GoalRevised():
            fields = ", ".join(f"{c.field} {c.before!r} -> {c.after!r}" for c in e.changes)
            return (
                f"revised {_name(state, 'goal', e.goal_id)}: {fields} ({e.reason_code})",
                e.goal_id,
            )
        case GoalRescheduled():
            return (
                f"rescheduled {_name(state, 'goal', e.goal_id)} {e.from_due} -> {e.to_due} "
                f"({e.reason_code})",
                e.goal_id,
            )
        case MilestoneRescheduled():
            return (
                f"rescheduled {_name(state, 'milestone', e.milestone_id)} to {e.to_due} "
                f"({e.reason_code})",
                e.milestone_id,
            )
        case TaskDropped():
            return f"dropped {_name(state, 'task', e.task_id)} ({e.reason_code})", e.task_id
        case GoalPaused():
            return f"paused {_name(state, 'goal', e.goal_id)} ({e.reason_code})", e.goal_id
        case GoalResumed():
            return f"resumed {_name(state, 'goal', e.goal_id)}", e.goal_id
        case GoalAchieved():
            return f"achieved {_name(state, 'goal', e.goal_id)}", e.goal_id
        case GoalDropped():
            return f"dropped {_name(state, 'goal', e.goal_id)} ({e.reason_code})", e.goal_id
        case GoalSuperseded():
            return (
                f"superseded {_name(state, 'goal', e.goal_id)} by "
                f"{_name(state, 'goal', e.by_goal_id)}",
                e.goal_id,
            )
        case ReviewCompleted():
            return (
                f"review: {len(e.goal_statuses)} goals, {len(e.decisions)} decisions",
                e.review_id,
            )
        case SelfAssessmentRecorded():
            return f"self-assessment ({len(e.items)} items)", e.assessment_id
        case FeedbackReceived():
            return f"feedback from {e.source_kind}: {e.summary}", e.feedback_id
        case ResearchNoted():
            return f"research on {e.subject_kind} {e.subject}", e.research_id
        case TargetRoleChosen():
            return f"target role: {e.title}", e.target_id
        case TargetRoleChanged():
            return f"target role changed to {e.title} ({e.reason_code})", e.target_id
        case ContactAdded():
            return f"{e.relation} {e.name}", e.contact_id
        case InteractionLogged():
            return f"{e.kind} with {_name(state, 'contact', e.contact_id)}", e.interaction_id
        case SeasonStarted():
            return f"season: {e.label}", e.season_id
        case RoleStarted():
            return f"started role {e.title}" + (f" at {e.org}" if e.org else ""), e.role_id
        case RoleEnded():
            return f"ended role {e.role_id}", e.role_id
        case SharingGranted():
            return f"shared {', '.join(e.scopes)} with {e.grantee}", None
        case SharingRevoked():
            return f"stopped sharing with {e.grantee}", None
        case EntryRetracted():
            return f"retracted event {e.target}", None
    return type(e).__name__, None


def summarize(event: EventBase, state: CareerState | None = None) -> tuple[str, str | None]:
    """An entry's summary and record id, without building the entry (the server's
    projector writes them as rows, a hundred thousand at a time)."""
    return _summary(event, state)


def timeline_entry(event: EventBase, state: CareerState | None = None) -> TimelineEntry:
    """One line of the timeline; ``state`` (if given) supplies record names."""
    summary, record_id = _summary(event, state)
    return TimelineEntry(
        event_id=str(event.id),
        type=type(event).__name__,
        occurred_at=event.occurred_at,
        recorded_at=recorded_at(event),
        summary=summary,
        record_id=record_id,
        retracted=state is not None and str(event.id) in state.retracted,
    )
