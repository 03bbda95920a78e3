"""The one-screen summary behind ``careerlog status``."""

from datetime import date

import msgspec

from careerlog.shared.projections.activity import consistency, streak
from careerlog.shared.projections.state import CareerState

__all__ = ["Summary", "summary"]


class Summary(msgspec.Struct, kw_only=True):
    events: int
    goals: dict[str, int]
    milestones_reached: int
    milestones_total: int
    tasks_open: int
    tasks_done: int
    contacts: int
    streak_weeks: int
    consistency: float
    last_action_on: date | None
    target_role: str | None
    season: str | None
    flagged: int


def summary(state: CareerState, today: date) -> Summary:
    by_status: dict[str, int] = {}
    for goal in state.goals.values():
        by_status[goal.status] = by_status.get(goal.status, 0) + 1
    return Summary(
        events=state.event_count,
        goals=by_status,
        milestones_reached=sum(1 for m in state.milestones.values() if m.reached_on),
        milestones_total=len(state.milestones),
        tasks_open=sum(1 for t in state.tasks.values() if t.status == "planned"),
        tasks_done=sum(1 for t in state.tasks.values() if t.status == "done"),
        contacts=len(state.contacts),
        streak_weeks=streak(state, today),
        consistency=consistency(state, today),
        last_action_on=state.last_activity_on,
        target_role=state.target_role.title if state.target_role else None,
        season=state.seasons[-1].label if state.seasons else None,
        flagged=len(state.flags),
    )
