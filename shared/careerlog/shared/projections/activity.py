"""Activity streaks, a forgiving consistency score, and stagnation warnings.

Rules:
- A *career action* is anything that moves the loop: an activity logged,
  progress recorded, a task done, a milestone reached, a review, an
  interaction, research or an assessment. The fold counts them per ISO week.
- The *streak* is the number of consecutive ISO weeks with at least one
  action, counting back from this week; a week in progress that has no action
  yet does not break it (it can still be saved).
- The *consistency* score forgives: starting at the first active week, each
  week moves the score 20 % of the way toward 1 (active) or 0 (missed), like
  Loop Habit Tracker's habit strength. One missed week after a good run costs
  a fifth of the score, not the whole streak. The week in progress counts
  only once it is active.
- Stagnation warnings have thresholds in :class:`Thresholds`; defaults: no
  action for 14 days, an active goal without progress for longer than the
  review cadence (or 14 days), a review overdue, a contact not spoken to in
  90 days.
"""

import itertools
from datetime import date, timedelta

import msgspec

from careerlog.shared.projections.fold import iso_week
from careerlog.shared.projections.state import CareerState

__all__ = ["Insights", "Thresholds", "Warning", "consistency", "insights", "streak"]

WEIGHT = 0.2


class Thresholds(msgspec.Struct, kw_only=True, frozen=True):
    idle_days: int = 14
    goal_idle_days: int = 14
    contact_idle_days: int = 90


class Warning(msgspec.Struct, kw_only=True):
    code: str  # no_activity | goal_stalled | review_overdue | contact_cold | flagged
    message: str
    record_id: str | None = None
    days: int | None = None


class Insights(msgspec.Struct, kw_only=True):
    streak_weeks: int
    best_streak_weeks: int
    consistency: float
    this_week: int
    actions_total: int
    activities: int
    minutes: int
    last_action_on: date | None
    days_since_action: int | None
    by_kind: dict[str, int]
    weeks: dict[str, int]
    warnings: list[Warning]


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def streak(state: CareerState, today: date) -> int:
    weeks = state.weeks
    cursor = _monday(today)
    if not weeks.get(iso_week(cursor)):
        cursor -= timedelta(weeks=1)  # this week can still be saved
    count = 0
    while weeks.get(iso_week(cursor)):
        count += 1
        cursor -= timedelta(weeks=1)
    return count


def _best_streak(state: CareerState) -> int:
    if not state.weeks:
        return 0
    mondays = sorted(date.fromisocalendar(int(w[:4]), int(w[6:]), 1) for w in state.weeks)
    best = run = 1
    for previous, current in itertools.pairwise(mondays):
        run = run + 1 if current - previous == timedelta(weeks=1) else 1
        best = max(best, run)
    return best


def consistency(state: CareerState, today: date) -> float:
    if not state.weeks:
        return 0.0
    first = min(date.fromisocalendar(int(w[:4]), int(w[6:]), 1) for w in state.weeks)
    this_monday = _monday(today)
    score = 0.0
    cursor = first
    while cursor <= this_monday:
        active = bool(state.weeks.get(iso_week(cursor)))
        if cursor == this_monday and not active:
            break
        score += WEIGHT * ((1.0 if active else 0.0) - score)
        cursor += timedelta(weeks=1)
    return round(score, 3)


def insights(state: CareerState, today: date, thresholds: Thresholds | None = None) -> Insights:
    limits = thresholds or Thresholds()
    warnings: list[Warning] = []
    last = state.last_activity_on
    idle = (today - last).days if last is not None else None
    if idle is not None and idle > limits.idle_days:
        warnings.append(
            Warning(
                code="no_activity",
                message=f"no career action for {idle} days",
                days=idle,
            )
        )
    goal_limit = state.review_every_days or limits.goal_idle_days
    for goal in state.goals.values():
        if goal.status != "active":
            continue
        since = goal.last_progress_on or goal.set_on
        days = (today - since).days
        if days > goal_limit:
            warnings.append(
                Warning(
                    code="goal_stalled",
                    message=f"no progress on '{goal.title}' for {days} days",
                    record_id=goal.goal_id,
                    days=days,
                )
            )
    if state.review_every_days is not None:
        last_review = state.reviews[-1].on if state.reviews else None
        if last_review is None:
            anchor = min((g.set_on for g in state.goals.values()), default=None)
        else:
            anchor = max(r.on for r in state.reviews)
        if anchor is not None:
            overdue = (today - anchor).days - state.review_every_days
            if overdue > 0:
                warnings.append(
                    Warning(
                        code="review_overdue",
                        message=f"review overdue by {overdue} days",
                        days=overdue,
                    )
                )
    for contact in state.contacts.values():
        since = contact.last_interaction_on or contact.added_on
        days = (today - since).days
        if days > limits.contact_idle_days:
            warnings.append(
                Warning(
                    code="contact_cold",
                    message=(
                        f"not in touch with {contact.name} ({contact.relation}) for {days} days"
                    ),
                    record_id=contact.contact_id,
                    days=days,
                )
            )
    return Insights(
        streak_weeks=streak(state, today),
        best_streak_weeks=_best_streak(state),
        consistency=consistency(state, today),
        this_week=state.weeks.get(iso_week(today), 0),
        actions_total=sum(state.weeks.values()),
        activities=state.activities,
        minutes=state.activity_minutes,
        last_action_on=last,
        days_since_action=idle,
        by_kind=dict(sorted(state.activity_kinds.items())),
        weeks=dict(sorted(state.weeks.items())),
        warnings=warnings,
    )
