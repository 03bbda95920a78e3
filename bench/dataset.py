"""A synthetic but plausible career history, generated fast and reproducibly.

The mix is a heavy user's: mostly "what I did today" entries and goal
check-ins, with goals, milestones, tasks, contacts and course-corrections
in proportion; texts are a realistic length. Every event names a record that
exists, so the fold does real work instead of flagging.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from careerlog.shared import hlc
from careerlog.shared.events import (
    ActivityLogged,
    ContactAdded,
    Event,
    FieldChange,
    GoalAchieved,
    GoalRescheduled,
    GoalRevised,
    GoalSet,
    InteractionLogged,
    Measure,
    MilestoneDefined,
    MilestoneReached,
    ProgressRecorded,
    TaskCompleted,
    TaskPlanned,
)
from careerlog.shared.ids import record_id, uuid7

__all__ = ["DEVICE", "history"]

DEVICE = "benchdevice1"
START = datetime(2000, 1, 3, 9, 0, tzinfo=UTC)
_WORDS = [
    "reviewed",
    "design",
    "doc",
    "for",
    "the",
    "billing",
    "migration;",
    "paired",
    "on",
    "flaky",
    "tests;",
    "read",
    "two",
    "chapters",
    "of",
    "Designing",
    "Data-Intensive",
    "Applications;",
    "mentored",
    "a",
    "new",
    "hire",
    "on",
    "our",
    "deploy",
    "pipeline",
]


def _text(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(_WORDS, k=rng.randint(low, high)))


def history(count: int, seed: int = 1, step_ms: int = 600_000) -> Iterator[Event]:
    """``count`` events in canonical order, one every ``step_ms`` on average."""
    rng = random.Random(seed)
    goals: list[tuple[str, date]] = []
    milestones: list[str] = []
    tasks: list[str] = []
    contacts: list[str] = []
    now = int(START.timestamp() * 1000)
    last = 0
    for n in range(1, count + 1):
        now += rng.randint(1, 2 * step_ms)
        last = hlc.tick(last, now)
        at = datetime.fromtimestamp(now / 1000, tz=UTC)
        day = at.date()
        env = {
            "id": uuid7(now, rng.randbytes(10)),
            "device": DEVICE,
            "dseq": n,
            "hlc": last,
            "occurred_at": at,
            "tz": "Europe/Berlin",
        }
        new = record_id(rng.randbytes(8))
        roll = rng.random()
        event: Event
        if not goals or roll < 0.002:
            if len(goals) > 12:
                done, _ = goals.pop(0)
                event = GoalAchieved(**env, goal_id=done, reflection=_text(rng, 5, 20))
            else:
                due = day + timedelta(days=rng.randint(60, 400))
                goals.append((new, due))
                event = GoalSet(
                    **env,
                    goal_id=new,
                    title=_text(rng, 3, 8),
                    specific=_text(rng, 8, 20),
                    measure=Measure(metric="sessions", unit="", baseline=0, target=50),
                    relevance=_text(rng, 5, 12),
                    start_on=day,
                    due_on=due,
                )
        elif roll < 0.012:
            milestones.append(new)
            event = MilestoneDefined(
                **env, milestone_id=new, goal_id=rng.choice(goals)[0], title=_text(rng, 3, 8),
                due_on=day + timedelta(days=rng.randint(7, 90)),
            )  # fmt: skip
        elif roll < 0.02 and milestones:
            event = MilestoneReached(**env, milestone_id=milestones.pop(0))
        elif roll < 0.05:
            tasks.append(new)
            event = TaskPlanned(
                **env, task_id=new, title=_text(rng, 3, 10), goal_id=rng.choice(goals)[0],
                due_on=day + timedelta(days=rng.randint(1, 30)),
            )  # fmt: skip
        elif roll < 0.075 and tasks:
            event = TaskCompleted(**env, task_id=tasks.pop(0))
        elif roll < 0.078:
            goal, due = rng.choice(goals)
            event = GoalRevised(
                **env, goal_id=goal, reason_code="scope_changed", reason=_text(rng, 5, 15),
                changes=[FieldChange(field="target", before=50.0, after=60.0)],
            )  # fmt: skip
        elif roll < 0.08:
            index = rng.randrange(len(goals))
            goal, due = goals[index]
            later = due + timedelta(days=rng.randint(7, 60))
            goals[index] = (goal, later)
            event = GoalRescheduled(
                **env, goal_id=goal, from_due=due, to_due=later,
                reason_code="priorities_changed", reason=_text(rng, 5, 15),
            )  # fmt: skip
        elif roll < 0.083 or not contacts:
            contacts.append(new)
            event = ContactAdded(**env, contact_id=new, name=_text(rng, 2, 3), relation="peer")
        elif roll < 0.11:
            event = InteractionLogged(
                **env, interaction_id=new, contact_id=rng.choice(contacts),
                notes=_text(rng, 5, 20),
            )  # fmt: skip
        elif roll < 0.25:
            event = ProgressRecorded(
                **env, goal_id=rng.choice(goals)[0], value=float(rng.randint(0, 50)),
                confidence=0.7,
            )  # fmt: skip
        else:
            event = ActivityLogged(
                **env, activity_id=new, text=_text(rng, 6, 18), kind="learning",
                tags=["reading"], goal_id=rng.choice(goals)[0] if rng.random() < 0.5 else None,
                minutes=rng.randint(10, 120),
            )  # fmt: skip
        yield event
