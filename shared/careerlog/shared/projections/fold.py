"""Folding events into a :class:`CareerState`, in canonical order.

Rules of this module:
- ``apply`` folds one event that sorts after everything already folded; it
  owns the state and mutates it in place (then returns it), because a rebuild
  of a million events cannot afford a copy per event. Callers that need the
  old state keep a :func:`copy_state`.
- The fold is total: any sequence of valid events folds without raising. An
  event about an unknown record, or one that would make an impossible
  transition (reaching a milestone twice, achieving a dropped goal), is kept in
  the log and recorded in ``state.flags``; the first event in canonical order
  wins.
- A retraction removes its target's effects. The target was folded earlier,
  so ``apply`` cannot undo it: ``needs_refold`` tells a replica to refold, and
  ``fold`` skips retracted events up front (see :func:`retracted_ids`).
- Days (due dates aside, which people type) are the calendar day of
  ``occurred_at`` in the event's own zone ``tz``: a check-in at 08:00 in Tokyo
  counts for that Tokyo day, whoever folds it and wherever.
- Dispatch is a dict lookup on the event's class: a 33-arm ``match`` per event
  costs more than the work most handlers do.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
from careerlog.shared.hlc import wall_ms
from careerlog.shared.projections.state import (
    Achievement,
    CareerState,
    Contact,
    Correction,
    Flag,
    FollowUp,
    Goal,
    Milestone,
    ProgressPoint,
    Review,
    Role,
    Season,
    Share,
    SkillPlan,
    TargetRole,
    Task,
    new_state,
)

__all__ = ["apply", "fold", "iso_week", "needs_refold"]

CLOSED = frozenset({"achieved", "dropped", "superseded"})

_week_cache: dict[date, str] = {}


def iso_week(day: date) -> str:
    """``YYYY-Www`` for a date (cached: activity is folded per event)."""
    week = _week_cache.get(day)
    if week is None:
        year, number, _ = day.isocalendar()
        week = f"{year}-W{number:02d}"
        if len(_week_cache) < 100_000:
            _week_cache[day] = week
    return week


def needs_refold(event: EventBase) -> bool:
    """True when folding ``event`` on top of the state is not enough."""
    return type(event) is EntryRetracted


def retracted_ids(events: Sequence[Event]) -> set[UUID]:
    """Events (of ``events``, in canonical order) retracted by a later event among them.

    A retraction only reaches back: it can name only what its device had seen,
    so an honest one always sorts after its target. One that sorts before its
    target (a forged or broken stream) retracts nothing, on every replica
    alike, so folding a prefix and then appending stays exact.

    A retraction can itself be retracted ("that was right after all"): walking
    from the newest event back, a retraction counts only if no counted
    retraction names it.
    """
    # ``in`` on a map runs in C: this is a scan of every event of every fold.
    if EntryRetracted not in map(type, events):
        return set()
    position = {e.id: i for i, e in enumerate(events)}
    retracted: set[UUID] = set()
    for i in range(len(events) - 1, -1, -1):
        event = events[i]
        if (
            type(event) is EntryRetracted
            and event.id not in retracted
            and position.get(event.target, i) < i
        ):
            retracted.add(event.target)
    return retracted


def fold(events: Iterable[Event], state: CareerState | None = None) -> CareerState:
    """Fold events given in canonical order, honouring retractions among them."""
    events = events if isinstance(events, list) else list(events)
    retracted = retracted_ids(events)
    if state is None:
        state = new_state()
    handlers = _HANDLERS
    # The count and last key are set once at the end, not per event as
    # ``apply`` does: the same result for less work per event.
    remaining = iter(events)
    try:
        # Two loops so that the common case, no retraction, pays no set lookup
        # per event (a retracted event is counted but not folded).
        if retracted:
            for event in remaining:
                if event.id not in retracted:
                    handlers[type(event)](state, event)
        else:
            for event in remaining:
                handlers[type(event)](state, event)
    except BaseException:
        # A bug (the fold is total): count exactly the events folded before
        # the one that raised, as ``apply`` one at a time would have.
        _count(state, events, len(events) - operator.length_hint(remaining) - 1)
        raise
    _count(state, events, len(events))
    return state


def _count(state: CareerState, events: list[Event], folded: int) -> None:
    """Count the first ``folded`` of ``events`` as folded into ``state``."""
    if folded > 0:
        last = events[folded - 1]
        state.event_count += folded
        state.last_key = (last.hlc, last.device, last.dseq)


def apply(state: CareerState, event: Event) -> CareerState:
    """Fold one event that sorts after everything in ``state``."""
    _HANDLERS[type(event)](state, event)
    state.event_count += 1
    state.last_key = (event.hlc, event.device, event.dseq)
    return state


def _flag(state: CareerState, event: EventBase, reason: str) -> None:
    state.flags.append(Flag(event_id=str(event.id), type=type(event).__name__, reason=reason))


@functools.lru_cache(maxsize=512)
def _zone(name: str) -> tzinfo:
    """The zone an event names: an IANA name or a ``+09:00`` offset; UTC if unknown."""
    if name == "UTC":
        return UTC
    if match := _OFFSET.fullmatch(name):
        sign = -1 if match.group(1) == "-" else 1
        minutes = int(match.group(2)) * 60 + int(match.group(3))
        return timezone(sign * timedelta(minutes=minutes))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


_OFFSET = re.compile(r"([+-])(\d\d):?(\d\d)")


#: (zone, UTC day ordinal) -> the zone's offset all that day, or None on a day
#: with a transition (then the exact conversion runs). Converting every event
#: through ZoneInfo would halve the speed of a rebuild.
_OFFSETS: dict[tuple[str, int], timedelta | None] = {}
_ONE_DAY = timedelta(days=1) - timedelta(microseconds=1)
_ZERO = timedelta(0)


def _day_offset(name: str, ordinal: int) -> timedelta | None:
    zone = _zone(name)
    start = datetime.combine(date.fromordinal(ordinal), time(), tzinfo=UTC)
    first = start.astimezone(zone).utcoffset()
    last = (start + _ONE_DAY).astimezone(zone).utcoffset()
    if len(_OFFSETS) > 200_000:
        _OFFSETS.clear()
    offset = _OFFSETS[name, ordinal] = first if first == last else None
    return offset


_DAY = timedelta(days=1)
_MIDNIGHT = time()

#: The last day worked out, as ``(tz, lo, hi, day, week)``: every UTC instant
#: in ``[lo, hi)`` is on ``day`` (of ISO week ``week``) in zone ``tz``. Events
#: come in recording order and a heavy user logs many a day, so most events are
#: on the day of the one before, and two comparisons replace the conversion
#: and the week lookup. One tuple, replaced whole: a reader never sees half of
#: one entry and half of another.
_last_day: tuple[str, datetime, datetime, date, str] = (
    "",
    datetime.min.replace(tzinfo=UTC),
    datetime.min.replace(tzinfo=UTC),
    date.min,
    "",
)


def _day(event: EventBase) -> date:
    """The calendar day it happened where the person was (the event's own zone)."""
    at = event.occurred_at
    tz, lo, hi, day, _ = _last_day
    # ``at.tzinfo is UTC`` first: a naive ``at`` cannot be compared with lo and
    # hi (and another zone's is converted in ``_new_day``, as it always was).
    if at.tzinfo is UTC and lo <= at < hi and event.tz == tz:
        return day
    return _new_day(event)[3]


def _new_day(event: EventBase) -> tuple[str, datetime, datetime, date, str]:
    """The ``_last_day`` entry for ``event``, worked out and remembered.

    On a transition day, or at the ends of the calendar, it is not remembered
    (and its span is empty).
    """
    global _last_day
    at = event.occurred_at
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    name = event.tz
    if name == "UTC":
        offset: timedelta | None = _ZERO
    else:
        ordinal = at.toordinal()
        try:
            offset = _OFFSETS[name, ordinal]
        except KeyError:
            offset = _day_offset(name, ordinal)
    if offset is None:
        # A day with a transition: converted exactly, and not remembered.
        day = at.astimezone(_zone(name)).date()
        return (name, at, at, day, iso_week(day))
    day = (at + offset).date()
    entry = (name, at, at, day, iso_week(day))
    try:
        # The instants of this UTC day that are on ``day`` in the zone: the
        # offset holds all UTC day long, so all of them convert to ``day``.
        midnight = datetime.combine(at.date(), _MIDNIGHT, tzinfo=UTC)
        local_midnight = datetime.combine(day, _MIDNIGHT, tzinfo=UTC) - offset
        lo = max(midnight, local_midnight)
        hi = min(midnight + _DAY, local_midnight + _DAY)
        entry = _last_day = (name, lo, hi, day, entry[4])
    except OverflowError:
        pass  # next to date.min or date.max
    return entry


def _touch(state: CareerState, day: date) -> None:
    """Count a career action in its ISO week (streaks and consistency)."""
    week = iso_week(day)
    weeks = state.weeks
    weeks[week] = weeks.get(week, 0) + 1
    last = state.last_activity_on
    if last is None or day > last:
        state.last_activity_on = day


def _open_goal(state: CareerState, event: EventBase, goal_id: str) -> Goal | None:
    goal = state.goals.get(goal_id)
    if goal is None:
        _flag(state, event, f"unknown goal {goal_id}")
        return None
    if goal.status in CLOSED:
        _flag(state, event, f"goal {goal_id} is {goal.status}")
        return None
    return goal


def _correction(state: CareerState, event: EventBase, goal_id: str, kind: str) -> Correction:
    entry = Correction(
        event_id=str(event.id),
        goal_id=goal_id,
        kind=kind,
        occurred_on=_day(event),
        recorded_ms=wall_ms(event.hlc),
    )
    state.corrections.setdefault(goal_id, []).append(entry)
    return entry


# --- planning ------------------------------------------------------------------


def _goal_set(state: CareerState, e: GoalSet) -> None:
    if e.goal_id in state.goals:
        _flag(state, e, f"goal {e.goal_id} already set")
        return
    if e.parent_id is not None and e.parent_id not in state.goals:
        _flag(state, e, f"unknown parent goal {e.parent_id}")
    day = _day(e)
    state.goals[e.goal_id] = Goal(
        goal_id=e.goal_id,
        title=e.title,
        specific=e.specific,
        measure=e.measure,
        relevance=e.relevance,
        horizon=e.horizon,
        parent_id=e.parent_id,
        start_on=e.start_on,
        due_on=e.due_on,
        original_due_on=e.due_on,
        set_on=day,
    )


def _milestone_defined(state: CareerState, e: MilestoneDefined) -> None:
    if e.milestone_id in state.milestones:
        _flag(state, e, f"milestone {e.milestone_id} already defined")
        return
    goal = _open_goal(state, e, e.goal_id)
    if goal is None:
        return
    goal.milestone_ids.append(e.milestone_id)
    state.milestones[e.milestone_id] = Milestone(
        milestone_id=e.milestone_id,
        goal_id=e.goal_id,
        title=e.title,
        criteria=e.criteria,
        due_on=e.due_on,
        original_due_on=e.due_on,
        defined_on=_day(e),
    )


def _task_planned(state: CareerState, e: TaskPlanned) -> None:
    if e.task_id in state.tasks:
        _flag(state, e, f"task {e.task_id} already planned")
        return
    goal_id = e.goal_id
    if e.milestone_id is not None:
        milestone = state.milestones.get(e.milestone_id)
        if milestone is None:
            _flag(state, e, f"unknown milestone {e.milestone_id}")
        elif goal_id is None:
            goal_id = milestone.goal_id
    if goal_id is not None:
        goal = state.goals.get(goal_id)
        if goal is None:
            _flag(state, e, f"unknown goal {goal_id}")
        else:
            goal.task_ids.append(e.task_id)
    state.tasks[e.task_id] = Task(
        task_id=e.task_id,
        title=e.title,
        goal_id=goal_id,
        milestone_id=e.milestone_id,
        due_on=e.due_on,
        resources=list(e.resources),
        planned_on=_day(e),
    )


def _skill_plan(state: CareerState, e: SkillPlanAdded) -> None:
    key = e.skill.lower()
    state.skills[key] = SkillPlan(
        skill=e.skill,
        current_level=e.current_level,
        target_level=e.target_level,
        by_date=e.by_date,
        goal_id=e.goal_id,
        planned_on=_day(e),
    )


def _cadence(state: CareerState, e: ReviewCadenceSet) -> None:
    state.review_every_days = e.every_days


# --- daily action and progress ---------------------------------------------------


# The two handlers below fold most events of a heavy user's log, so they inline
# ``_day`` and ``_touch``: the calls cost as much as the work they do.


def _activity(state: CareerState, e: ActivityLogged) -> None:
    at = e.occurred_at
    tz, lo, hi, day, week = _last_day
    if not (at.tzinfo is UTC and lo <= at < hi and e.tz == tz):
        _, _, _, day, week = _new_day(e)
    weeks = state.weeks
    weeks[week] = weeks.get(week, 0) + 1
    last = state.last_activity_on
    if last is None or day > last:
        state.last_activity_on = day
    state.activities += 1
    kinds = state.activity_kinds
    kind = e.kind
    kinds[kind] = kinds.get(kind, 0) + 1
    minutes = e.minutes
    if minutes:
        state.activity_minutes += minutes
    goal_id = e.goal_id
    if goal_id is not None:
        goal = state.goals.get(goal_id)
        if goal is None:
            _flag(state, e, f"unknown goal {goal_id}")
        else:
            last = goal.last_activity_on
            if last is None or day > last:
                goal.last_activity_on = day


def _progress(state: CareerState, e: ProgressRecorded) -> None:
    goal = state.goals.get(e.goal_id)
    if goal is None or goal.status in CLOSED:
        _open_goal(state, e, e.goal_id)  # flags it
        return
    at = e.occurred_at
    tz, lo, hi, day, week = _last_day
    if not (at.tzinfo is UTC and lo <= at < hi and e.tz == tz):
        _, _, _, day, week = _new_day(e)
    weeks = state.weeks
    weeks[week] = weeks.get(week, 0) + 1
    last = state.last_activity_on
    if last is None or day > last:
        state.last_activity_on = day
    value = e.value
    goal.points.append(ProgressPoint(day, value))
    last = goal.last_progress_on
    if last is None or day > last:
        goal.last_progress_on = day
    last = goal.last_value_on
    if last is None or day >= last:
        goal.last_value_on = day
        goal.last_value = value
        if e.confidence is not None:
            goal.last_confidence = e.confidence


def _task_completed(state: CareerState, e: TaskCompleted) -> None:
    task = state.tasks.get(e.task_id)
    if task is None:
        _flag(state, e, f"unknown task {e.task_id}")
        return
    if task.status != "planned":
        _flag(state, e, f"task {e.task_id} is already {task.status}")
        return
    day = _day(e)
    task.status = "done"
    task.closed_on = day
    _touch(state, day)
    goal = state.goals.get(task.goal_id) if task.goal_id is not None else None
    if goal is not None and (goal.last_progress_on is None or day > goal.last_progress_on):
        goal.last_progress_on = day


def _milestone_reached(state: CareerState, e: MilestoneReached) -> None:
    milestone = state.milestones.get(e.milestone_id)
    if milestone is None:
        _flag(state, e, f"unknown milestone {e.milestone_id}")
        return
    if milestone.reached_on is not None:
        _flag(state, e, f"milestone {e.milestone_id} already reached")
        return
    day = _day(e)
    milestone.reached_on = day
    milestone.evidence = list(e.evidence)
    _touch(state, day)
    goal = state.goals.get(milestone.goal_id)
    if goal is not None and (goal.last_progress_on is None or day > goal.last_progress_on):
        goal.last_progress_on = day


def _achievement(state: CareerState, e: AchievementLogged) -> None:
    day = _day(e)
    _touch(state, day)
    state.achievements.append(
        Achievement(
            achievement_id=e.achievement_id,
            title=e.title,
            impact=e.impact,
            goal_id=e.goal_id,
            on=day,
        )
    )


# --- course-corrections ----------------------------------------------------------

_TEXT_FIELDS = {"title", "specific", "relevance"}


def _goal_revised(state: CareerState, e: GoalRevised) -> None:
    goal = _open_goal(state, e, e.goal_id)
    if goal is None:
        return
    measure = goal.measure
    for change in e.changes:
        field, after = change.field, change.after
        if field in _TEXT_FIELDS and isinstance(after, str):
            setattr(goal, field, after)
        elif field == "horizon" and after in ("short", "long"):
            goal.horizon = after
        elif field == "parent":
            goal.parent_id = after if isinstance(after, str) and after else None
        elif field in ("metric", "unit") and isinstance(after, str):
            measure = Measure(
                metric=after if field == "metric" else measure.metric,
                unit=after if field == "unit" else measure.unit,
                baseline=measure.baseline,
                target=measure.target,
            )
        elif field in ("baseline", "target") and isinstance(after, int | float):
            measure = Measure(
                metric=measure.metric,
                unit=measure.unit,
                baseline=float(after) if field == "baseline" else measure.baseline,
                target=float(after) if field == "target" else measure.target,
            )
        else:
            _flag(state, e, f"cannot set {field} to {after!r}")
    goal.measure = measure
    entry = _correction(state, e, e.goal_id, "revised")
    entry.reason_code = e.reason_code
    entry.reason = e.reason
    entry.changes = list(e.changes)


def _goal_rescheduled(state: CareerState, e: GoalRescheduled) -> None:
    goal = _open_goal(state, e, e.goal_id)
    if goal is None:
        return
    entry = _correction(state, e, e.goal_id, "rescheduled")
    entry.from_due = goal.due_on
    entry.to_due = e.to_due
    entry.slip_days = (e.to_due - goal.due_on).days
    entry.reason_code = e.reason_code
    entry.reason = e.reason
    goal.due_on = e.to_due


def _milestone_rescheduled(state: CareerState, e: MilestoneRescheduled) -> None:
    milestone = state.milestones.get(e.milestone_id)
    if milestone is None:
        _flag(state, e, f"unknown milestone {e.milestone_id}")
        return
    entry = _correction(state, e, milestone.goal_id, "milestone_rescheduled")
    entry.milestone_id = e.milestone_id
    entry.from_due = milestone.due_on
    entry.to_due = e.to_due
    entry.slip_days = (e.to_due - milestone.due_on).days if milestone.due_on else 0
    entry.reason_code = e.reason_code
    entry.reason = e.reason
    milestone.due_on = e.to_due


def _task_dropped(state: CareerState, e: TaskDropped) -> None:
    task = state.tasks.get(e.task_id)
    if task is None:
        _flag(state, e, f"unknown task {e.task_id}")
        return
    if task.status != "planned":
        _flag(state, e, f"task {e.task_id} is already {task.status}")
        return
    task.status = "dropped"
    task.closed_on = _day(e)


def _goal_paused(state: CareerState, e: GoalPaused) -> None:
    goal = _open_goal(state, e, e.goal_id)
    if goal is None:
        return
    if goal.status == "paused":
        _flag(state, e, f"goal {e.goal_id} is already paused")
        return
    goal.status = "paused"
    goal.paused_until = e.until
    entry = _correction(state, e, e.goal_id, "paused")
    entry.reason_code = e.reason_code
    entry.reason = e.reason


def _goal_resumed(state: CareerState, e: GoalResumed) -> None:
    goal = _open_goal(state, e, e.goal_id)
    if goal is None:
        return
    if goal.status != "paused":
        _flag(state, e, f"goal {e.goal_id} is not paused")
        return
    goal.status = "active"
    goal.paused_until = None
    _correction(state, e, e.goal_id, "resumed").reason = e.reason


def _goal_achieved(state: CareerState, e: GoalAchieved) -> None:
    goal = _open_goal(state, e, e.goal_id)
    if goal is None:
        return
    day = _day(e)
    goal.status = "achieved"
    goal.closed_on = day
    goal.final_value = e.final_value
    goal.reflection = e.reflection
    if e.final_value is not None:
        goal.last_value = e.final_value
        goal.last_value_on = day
        goal.points.append(ProgressPoint(day, e.final_value))
    goal.last_progress_on = day
    _touch(state, day)
    _correction(state, e, e.goal_id, "achieved").reason = e.reflection


def _goal_dropped(state: CareerState, e: GoalDropped) -> None:
    goal = _open_goal(state, e, e.goal_id)
    if goal is None:
        return
    goal.status = "dropped"
    goal.closed_on = _day(e)
    goal.lessons = e.lessons
    entry = _correction(state, e, e.goal_id, "dropped")
    entry.reason_code = e.reason_code
    entry.reason = e.reason


def _goal_superseded(state: CareerState, e: GoalSuperseded) -> None:
    goal = _open_goal(state, e, e.goal_id)
    if goal is None:
        return
    if e.by_goal_id not in state.goals or e.by_goal_id == e.goal_id:
        _flag(state, e, f"unknown replacement goal {e.by_goal_id}")
        return
    goal.status = "superseded"
    goal.closed_on = _day(e)
    goal.superseded_by = e.by_goal_id
    entry = _correction(state, e, e.goal_id, "superseded")
    entry.reason_code = e.reason_code
    entry.reason = e.reason
    entry.by_goal_id = e.by_goal_id


def _review(state: CareerState, e: ReviewCompleted) -> None:
    day = _day(e)
    for note in e.goal_statuses:
        if note.goal_id not in state.goals:
            _flag(state, e, f"review mentions unknown goal {note.goal_id}")
    state.reviews.append(
        Review(
            review_id=e.review_id,
            on=day,
            goal_statuses=list(e.goal_statuses),
            decisions=list(e.decisions),
            notes=e.notes,
        )
    )
    _touch(state, day)


# --- self-assessment, research, network, the long arc -------------------------------


def _assessment(state: CareerState, e: SelfAssessmentRecorded) -> None:
    state.assessments += 1
    lists = {
        "strength": state.strengths,
        "weakness": state.weaknesses,
        "value": state.values,
        "interest": state.interests,
    }
    for item in e.items:
        target = lists[item.kind]
        if item.text not in target:
            target.append(item.text)
    _touch(state, _day(e))


def _feedback(state: CareerState, e: FeedbackReceived) -> None:
    state.feedback += 1
    for skill in e.skills:
        key = skill.lower()
        state.feedback_skills[key] = state.feedback_skills.get(key, 0) + 1
    if e.contact_id is not None and e.contact_id not in state.contacts:
        _flag(state, e, f"unknown contact {e.contact_id}")


def _research(state: CareerState, e: ResearchNoted) -> None:
    key = f"{e.subject_kind}:{e.subject.lower()}"
    state.research[key] = state.research.get(key, 0) + 1
    _touch(state, _day(e))


def _target_chosen(state: CareerState, e: TargetRoleChosen) -> None:
    previous = state.target_role
    state.target_role = TargetRole(
        target_id=e.target_id,
        title=e.title,
        level=e.level,
        chosen_on=_day(e),
        changes=previous.changes + 1 if previous else 0,
    )


def _target_changed(state: CareerState, e: TargetRoleChanged) -> None:
    previous = state.target_role
    if previous is None:
        _flag(state, e, "no target role to change")
    state.target_role = TargetRole(
        target_id=e.target_id,
        title=e.title,
        level=e.level,
        chosen_on=_day(e),
        changes=previous.changes + 1 if previous else 1,
    )


def _contact_added(state: CareerState, e: ContactAdded) -> None:
    if e.contact_id in state.contacts:
        _flag(state, e, f"contact {e.contact_id} already added")
        return
    state.contacts[e.contact_id] = Contact(
        contact_id=e.contact_id,
        name=e.name,
        relation=e.relation,
        notes=e.notes,
        added_on=_day(e),
    )


def _interaction(state: CareerState, e: InteractionLogged) -> None:
    contact = state.contacts.get(e.contact_id)
    if contact is None:
        _flag(state, e, f"unknown contact {e.contact_id}")
        return
    day = _day(e)
    contact.interactions += 1
    if contact.last_interaction_on is None or day > contact.last_interaction_on:
        contact.last_interaction_on = day
    # Talking to someone again settles the follow-ups promised to them before.
    for follow_up in state.follow_ups.values():
        if (
            follow_up.contact_id == e.contact_id
            and follow_up.done_on is None
            and follow_up.asked_on <= day
        ):
            follow_up.done_on = day
    if e.follow_up_on is not None:
        state.follow_ups[e.interaction_id] = FollowUp(
            interaction_id=e.interaction_id,
            contact_id=e.contact_id,
            due_on=e.follow_up_on,
            asked_on=day,
        )
    _touch(state, day)


def _season(state: CareerState, e: SeasonStarted) -> None:
    state.seasons.append(
        Season(season_id=e.season_id, label=e.label, intent=e.intent, started_on=_day(e))
    )


def _role_started(state: CareerState, e: RoleStarted) -> None:
    if e.role_id in state.roles:
        _flag(state, e, f"role {e.role_id} already started")
        return
    state.roles[e.role_id] = Role(
        role_id=e.role_id, title=e.title, org=e.org, level=e.level, started_on=_day(e)
    )


def _role_ended(state: CareerState, e: RoleEnded) -> None:
    role = state.roles.get(e.role_id)
    if role is None:
        _flag(state, e, f"unknown role {e.role_id}")
        return
    if role.ended_on is not None:
        _flag(state, e, f"role {e.role_id} already ended")
        return
    role.ended_on = _day(e)


def _share_granted(state: CareerState, e: SharingGranted) -> None:
    state.shares[e.grantee] = Share(
        grantee=e.grantee, scopes=list(e.scopes), granted_on=_day(e), expires_on=e.expires_on
    )


def _share_revoked(state: CareerState, e: SharingRevoked) -> None:
    if state.shares.pop(e.grantee, None) is None:
        _flag(state, e, f"nothing shared with {e.grantee}")


def _retracted(state: CareerState, e: EntryRetracted) -> None:
    # Effects are removed by refolding without the target (see ``fold``);
    # here the retraction itself is remembered for history and views.
    state.retracted[str(e.target)] = e.reason


# Handlers take their own event class; the dict is keyed by that class.
_HANDLERS: dict[type, Callable[[CareerState, Any], None]] = {
    GoalSet: _goal_set,
    MilestoneDefined: _milestone_defined,
    TaskPlanned: _task_planned,
    SkillPlanAdded: _skill_plan,
    ReviewCadenceSet: _cadence,
    ActivityLogged: _activity,
    ProgressRecorded: _progress,
    TaskCompleted: _task_completed,
    MilestoneReached: _milestone_reached,
    AchievementLogged: _achievement,
    GoalRevised: _goal_revised,
    GoalRescheduled: _goal_rescheduled,
    MilestoneRescheduled: _milestone_rescheduled,
    TaskDropped: _task_dropped,
    GoalPaused: _goal_paused,
    GoalResumed: _goal_resumed,
    GoalAchieved: _goal_achieved,
    GoalDropped: _goal_dropped,
    GoalSuperseded: _goal_superseded,
    ReviewCompleted: _review,
    SelfAssessmentRecorded: _assessment,
    FeedbackReceived: _feedback,
    ResearchNoted: _research,
    TargetRoleChosen: _target_chosen,
    TargetRoleChanged: _target_changed,
    ContactAdded: _contact_added,
    InteractionLogged: _interaction,
    SeasonStarted: _season,
    RoleStarted: _role_started,
    RoleEnded: _role_ended,
    SharingGranted: _share_granted,
    SharingRevoked: _share_revoked,
    EntryRetracted: _retracted,
}
