"""Agenda: what is due and overdue, from milestones, tasks, follow-ups and goals."""

from datetime import date, timedelta

import msgspec

from careerlog.shared.projections.state import CareerState

__all__ = ["AgendaItem", "agenda"]


class AgendaItem(msgspec.Struct, kw_only=True):
    kind: str  # goal | milestone | task | follow_up | review
    record_id: str | None
    title: str
    due_on: date
    days: int  # negative when overdue
    overdue: bool
    goal_id: str | None = None


def agenda(state: CareerState, today: date, horizon_days: int = 14) -> list[AgendaItem]:
    """Open items due by ``today + horizon_days`` (overdue ones included), by date."""
    until = today + timedelta(days=horizon_days)
    items: list[AgendaItem] = []

    def add(kind: str, record_id: str | None, title: str, due: date, goal_id: str | None) -> None:
        if due <= until:
            days = (due - today).days
            items.append(
                AgendaItem(
                    kind=kind,
                    record_id=record_id,
                    title=title,
                    due_on=due,
                    days=days,
                    overdue=days < 0,
                    goal_id=goal_id,
                )
            )

    active = {g.goal_id for g in state.goals.values() if g.status == "active"}
    for goal in state.goals.values():
        if goal.status == "active":
            add("goal", goal.goal_id, goal.title, goal.due_on, goal.goal_id)
    for milestone in state.milestones.values():
        if milestone.reached_on is None and milestone.due_on and milestone.goal_id in active:
            add(
                "milestone",
                milestone.milestone_id,
                milestone.title,
                milestone.due_on,
                milestone.goal_id,
            )
    for task in state.tasks.values():
        if (
            task.status == "planned"
            and task.due_on
            and (task.goal_id is None or task.goal_id in active)
        ):
            add("task", task.task_id, task.title, task.due_on, task.goal_id)
    for follow_up in state.follow_ups.values():
        contact = state.contacts.get(follow_up.contact_id)
        if follow_up.done_on is None and contact is not None:
            add(
                "follow_up",
                follow_up.interaction_id,
                f"follow up with {contact.name}",
                follow_up.due_on,
                None,
            )
    if state.review_every_days is not None and (state.reviews or state.goals):
        anchor = (
            max(r.on for r in state.reviews)
            if state.reviews
            else min(g.set_on for g in state.goals.values())
        )
        add("review", None, "career review", anchor + timedelta(days=state.review_every_days), None)
    items.sort(key=lambda i: (i.due_on, i.kind, i.title))
    return items
