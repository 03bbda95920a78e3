"""Goal progress: how far each goal is, how far it should be, and a verdict.

Rules (the numbers people see, so they are stated here once):
- *Measured* progress is where the latest check-in sits between the measure's
  baseline and target, clamped to [0, 1]. *Milestone* progress is the share of
  the goal's milestones reached. ``percent_done`` is the measured progress when
  the goal has check-ins, the milestone progress when it has milestones only,
  the mean of both when it has both, and 100 for an achieved goal.
- ``expected_percent`` is the straight path from ``start_on`` (0 %) to
  ``due_on`` (100 %), read at ``today``.
- Verdict for an active goal: ``overdue`` past its due date; otherwise
  ``on_track`` when at most 10 points behind the path, ``at_risk`` up to 25
  points behind, ``behind`` beyond. Paused and closed goals get no verdict.
"""

from datetime import date

import msgspec

from careerlog.shared.projections.state import CareerState, Goal, ProgressPoint

__all__ = [
    "AT_RISK_GAP",
    "ON_TRACK_GAP",
    "GoalProgress",
    "MilestoneLine",
    "goal_progress",
    "progress_list",
]

ON_TRACK_GAP = 0.10
AT_RISK_GAP = 0.25

_URGENCY = {"overdue": 0, "behind": 1, "at_risk": 2, "on_track": 3, None: 4}
_STATUS_ORDER = {"active": 0, "paused": 1, "achieved": 2, "superseded": 3, "dropped": 4}


class MilestoneLine(msgspec.Struct, kw_only=True):
    milestone_id: str
    title: str
    due_on: date | None
    reached_on: date | None


class GoalProgress(msgspec.Struct, kw_only=True):
    goal_id: str
    title: str
    status: str
    horizon: str
    metric: str
    unit: str
    baseline: float
    target: float
    current: float | None
    start_on: date
    due_on: date
    original_due_on: date
    percent_done: float
    expected_percent: float
    verdict: str | None
    days_left: int
    days_since_progress: int | None
    milestones_total: int
    milestones_reached: int
    next_milestone: MilestoneLine | None
    milestones: list[MilestoneLine]
    tasks_open: int
    tasks_done: int
    confidence: float | None
    parent_id: str | None
    superseded_by: str | None
    points: list[ProgressPoint]


def _clamp(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def _expected(goal: Goal, today: date) -> float:
    span = (goal.due_on - goal.start_on).days
    if span <= 0:
        return 1.0 if today >= goal.due_on else 0.0
    return _clamp((today - goal.start_on).days / span)


def goal_progress(state: CareerState, goal_id: str, today: date) -> GoalProgress:
    goal = state.goals[goal_id]
    milestones = [state.milestones[m] for m in goal.milestone_ids if m in state.milestones]
    reached = sum(1 for m in milestones if m.reached_on is not None)
    measure = goal.measure
    measured: float | None = None
    if goal.last_value is not None and measure.target != measure.baseline:
        measured = _clamp(
            (goal.last_value - measure.baseline) / (measure.target - measure.baseline)
        )
    by_milestones = reached / len(milestones) if milestones else None
    if goal.status == "achieved":
        done = 1.0
    elif measured is not None and by_milestones is not None:
        done = (measured + by_milestones) / 2
    else:
        done = measured if measured is not None else (by_milestones or 0.0)
    expected = _expected(goal, today)
    verdict: str | None = None
    if goal.status == "active":
        if today > goal.due_on:
            verdict = "overdue"
        elif expected - done <= ON_TRACK_GAP:
            verdict = "on_track"
        elif expected - done <= AT_RISK_GAP:
            verdict = "at_risk"
        else:
            verdict = "behind"
    last = goal.last_progress_on or goal.set_on
    open_milestones = sorted(
        (m for m in milestones if m.reached_on is None),
        key=lambda m: (m.due_on or date.max, m.defined_on),
    )
    lines = [
        MilestoneLine(
            milestone_id=m.milestone_id, title=m.title, due_on=m.due_on, reached_on=m.reached_on
        )
        for m in milestones
    ]
    tasks = [state.tasks[t] for t in goal.task_ids if t in state.tasks]
    nxt = open_milestones[0] if open_milestones else None
    return GoalProgress(
        goal_id=goal.goal_id,
        title=goal.title,
        status=goal.status,
        horizon=goal.horizon,
        metric=measure.metric,
        unit=measure.unit,
        baseline=measure.baseline,
        target=measure.target,
        current=goal.last_value,
        start_on=goal.start_on,
        due_on=goal.due_on,
        original_due_on=goal.original_due_on,
        percent_done=round(done * 100, 1),
        expected_percent=round(expected * 100, 1),
        verdict=verdict,
        days_left=(goal.due_on - today).days,
        days_since_progress=max(0, (today - last).days) if goal.status == "active" else None,
        milestones_total=len(milestones),
        milestones_reached=reached,
        next_milestone=(
            MilestoneLine(
                milestone_id=nxt.milestone_id,
                title=nxt.title,
                due_on=nxt.due_on,
                reached_on=None,
            )
            if nxt
            else None
        ),
        milestones=lines,
        tasks_open=sum(1 for t in tasks if t.status == "planned"),
        tasks_done=sum(1 for t in tasks if t.status == "done"),
        confidence=goal.last_confidence,
        parent_id=goal.parent_id,
        superseded_by=goal.superseded_by,
        points=list(goal.points),
    )


def progress_list(
    state: CareerState, today: date, *, include_closed: bool = True
) -> list[GoalProgress]:
    """Every goal, the ones closest to failing first (Beeminder's order)."""
    rows = [
        goal_progress(state, goal_id, today)
        for goal_id, goal in state.goals.items()
        if include_closed or goal.status in ("active", "paused")
    ]
    rows.sort(key=lambda p: (_STATUS_ORDER[p.status], _URGENCY[p.verdict], p.due_on, p.title))
    return rows
