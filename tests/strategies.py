"""Hypothesis strategies: random but valid event histories from several devices.

Every generated event decodes (its fields satisfy the catalog's constraints),
but the sequence is not curated: events name goals that were never set, reach
milestones twice, revise dropped goals, retract retractions, arrive
backdated, and come from devices whose clocks disagree. That is what real
offline devices produce, and projections must stay total on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from careerlog.shared import hlc
from careerlog.shared.events import (
    ACTIVITY_KINDS,
    CONTACT_RELATIONS,
    REASON_CODES,
    AchievementLogged,
    ActivityLogged,
    AssessmentItem,
    ContactAdded,
    EntryRetracted,
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
from careerlog.shared.ids import record_id, uuid7

__all__ = ["BASE", "histories"]

BASE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
_DEVICES = ("deva00000000", "devb00000000", "devc00000000")


def _rid(seed: str) -> str:
    return record_id(hashlib.sha256(seed.encode()).digest()[:8])


class _Pools:
    def __init__(self) -> None:
        self.goals: list[str] = []
        self.milestones: list[str] = []
        self.tasks: list[str] = []
        self.contacts: list[str] = []
        self.roles: list[str] = []
        self.events: list[Event] = []
        self.grantees: list[str] = []


def _pick(draw: st.DrawFn, pool: list[str], kind: str) -> str:
    """Mostly a known record, sometimes one nobody ever created."""
    if pool and draw(st.integers(0, 9)) > 0:
        return draw(st.sampled_from(pool))
    return _rid(f"unknown-{kind}-{draw(st.integers(0, 3))}")


def _day(draw: st.DrawFn) -> date:
    return (BASE + timedelta(days=draw(st.integers(-30, 200)))).date()


_REASON = st.sampled_from(REASON_CODES)
_WORD = st.sampled_from(["alpha", "beta", "gamma", "delta", "rust", "sql", "talks"])


def _body(draw: st.DrawFn, kind: str, p: _Pools, new_id: str) -> tuple[type[Event], dict[str, Any]]:
    d = draw
    goal = lambda: _pick(d, p.goals, "goal")  # noqa: E731
    reason = {"reason_code": d(_REASON), "reason": d(_WORD)}
    bodies: dict[str, Callable[[], tuple[type[Event], dict[str, Any]]]] = {
        "goal": lambda: (
            GoalSet,
            {
                "goal_id": new_id,
                "title": d(_WORD),
                "measure": Measure(
                    metric=d(_WORD), baseline=0.0, target=float(d(st.integers(1, 20)))
                ),
                "start_on": _day(d),
                "due_on": _day(d) + timedelta(days=d(st.integers(1, 300))),
                "parent_id": goal() if d(st.booleans()) else None,
            },
        ),
        "milestone": lambda: (
            MilestoneDefined,
            {"milestone_id": new_id, "goal_id": goal(), "title": d(_WORD),
             "due_on": _day(d) if d(st.booleans()) else None},
        ),
        "task": lambda: (
            TaskPlanned,
            {"task_id": new_id, "title": d(_WORD), "goal_id": goal(),
             "due_on": _day(d) if d(st.booleans()) else None},
        ),
        "progress": lambda: (
            ProgressRecorded,
            {"goal_id": goal(), "value": float(d(st.integers(-5, 25))),
             "confidence": d(st.none() | st.floats(0, 1))},
        ),
        "activity": lambda: (
            ActivityLogged,
            {"activity_id": new_id, "text": d(_WORD), "kind": d(st.sampled_from(ACTIVITY_KINDS)),
             "goal_id": goal() if d(st.booleans()) else None,
             "minutes": d(st.none() | st.integers(0, 600))},
        ),
        "reach": lambda: (MilestoneReached, {"milestone_id": _pick(d, p.milestones, "m")}),
        "task_done": lambda: (TaskCompleted, {"task_id": _pick(d, p.tasks, "t")}),
        "task_drop": lambda: (TaskDropped, {"task_id": _pick(d, p.tasks, "t"), **reason}),
        "revise": lambda: (
            GoalRevised,
            {"goal_id": goal(), "changes": [
                FieldChange(field="target", before=1.0, after=float(d(st.integers(1, 30))))
            ], **reason},
        ),
        "reschedule": lambda: (
            GoalRescheduled,
            {"goal_id": goal(), "from_due": _day(d), "to_due": _day(d), **reason},
        ),
        "m_reschedule": lambda: (
            MilestoneRescheduled,
            {"milestone_id": _pick(d, p.milestones, "m"), "from_due": None, "to_due": _day(d),
             **reason},
        ),
        "pause": lambda: (GoalPaused, {"goal_id": goal(), **reason}),
        "resume": lambda: (GoalResumed, {"goal_id": goal()}),
        "achieve": lambda: (GoalAchieved, {"goal_id": goal()}),
        "drop": lambda: (GoalDropped, {"goal_id": goal(), **reason}),
        "supersede": lambda: (GoalSuperseded, {"goal_id": goal(), "by_goal_id": goal()}),
        "review": lambda: (
            ReviewCompleted,
            {"review_id": new_id, "goal_statuses": [
                GoalStatusNote(goal_id=goal(), status="at_risk")
            ] if d(st.booleans()) else []},
        ),
        "cadence": lambda: (ReviewCadenceSet, {"every_days": d(st.integers(1, 60))}),
        "contact": lambda: (
            ContactAdded,
            {"contact_id": new_id, "name": d(_WORD),
             "relation": d(st.sampled_from(CONTACT_RELATIONS))},
        ),
        "interaction": lambda: (
            InteractionLogged,
            {"interaction_id": new_id, "contact_id": _pick(d, p.contacts, "c"),
             "follow_up_on": _day(d) if d(st.booleans()) else None},
        ),
        "assess": lambda: (
            SelfAssessmentRecorded,
            {"assessment_id": new_id,
             "items": [AssessmentItem(kind="strength", text=d(_WORD), rating=3)]},
        ),
        "feedback": lambda: (
            FeedbackReceived,
            {"feedback_id": new_id, "summary": d(_WORD), "source_kind": "peer",
             "skills": [d(_WORD)]},
        ),
        "research": lambda: (
            ResearchNoted,
            {"research_id": new_id, "subject_kind": "skill", "subject": d(_WORD)},
        ),
        "target": lambda: (TargetRoleChosen, {"target_id": new_id, "title": d(_WORD)}),
        "target_change": lambda: (
            TargetRoleChanged, {"target_id": new_id, "title": d(_WORD), **reason}
        ),
        "skill": lambda: (
            SkillPlanAdded,
            {"skill": d(_WORD), "current_level": d(st.integers(0, 10)),
             "target_level": d(st.integers(0, 10))},
        ),
        "achievement": lambda: (
            AchievementLogged, {"achievement_id": new_id, "title": d(_WORD), "goal_id": goal()}
        ),
        "season": lambda: (SeasonStarted, {"season_id": new_id, "label": d(_WORD)}),
        "role_start": lambda: (RoleStarted, {"role_id": new_id, "title": d(_WORD)}),
        "role_end": lambda: (RoleEnded, {"role_id": _pick(d, p.roles, "r")}),
        "share": lambda: (
            SharingGranted, {"grantee": d(_WORD), "scopes": ["progress"]}
        ),
        "unshare": lambda: (SharingRevoked, {"grantee": d(_WORD)}),
        "retract": lambda: (
            EntryRetracted,
            {"target": d(st.sampled_from(p.events)).id if p.events else uuid7(0, bytes(10))},
        ),
    }  # fmt: skip
    return bodies[kind]()


KINDS = (
    "goal", "goal", "milestone", "milestone", "task", "progress", "progress", "activity",
    "activity", "reach", "task_done", "task_drop", "revise", "reschedule", "m_reschedule",
    "pause", "resume", "achieve", "drop", "supersede", "review", "cadence", "contact",
    "interaction", "assess", "feedback", "research", "target", "target_change", "skill",
    "achievement", "season", "role_start", "role_end", "share", "unshare", "retract",
)  # fmt: skip


@st.composite
def histories(draw: st.DrawFn, max_events: int = 60, devices: int = 3) -> list[Event]:
    """Events in the order they were recorded across devices (not canonical order)."""
    pools = _Pools()
    skews = [draw(st.integers(-120_000, 120_000)) for _ in range(devices)]
    last_hlc = [0] * devices
    dseq = [0] * devices
    now_ms = int(BASE.timestamp() * 1000)
    count = draw(st.integers(0, max_events))
    for n in range(count):
        device = draw(st.integers(0, devices - 1))
        now_ms += draw(st.integers(0, 3 * 86_400_000))
        stamp = hlc.tick(last_hlc[device], max(0, now_ms + skews[device]))
        last_hlc[device] = stamp
        dseq[device] += 1
        occurred = datetime.fromtimestamp(now_ms / 1000, tz=UTC) - timedelta(
            days=draw(st.sampled_from([0, 0, 0, 1, 10, 60]))
        )
        new_id = _rid(f"record-{n}")
        kind = draw(st.sampled_from(KINDS))
        cls, body = _body(draw, kind, pools, new_id)
        event = cls(
            id=uuid7(now_ms, hashlib.sha256(f"event-{n}".encode()).digest()[:10]),
            device=_DEVICES[device],
            dseq=dseq[device],
            hlc=stamp,
            occurred_at=occurred,
            **body,
        )
        pools.events.append(event)
        for pool, field in (
            (pools.goals, "goal_id"),
            (pools.milestones, "milestone_id"),
            (pools.tasks, "task_id"),
            (pools.contacts, "contact_id"),
            (pools.roles, "role_id"),
        ):
            created = getattr(event, field, None)
            if created == new_id:
                pool.append(new_id)
    return pools.events
