"""Course-correction history: every way a plan changed, and why.

This is the read model Careerlog exists for. Nothing is overwritten: each
revision keeps its before/after values, each reschedule its slip in days,
each pause, drop and supersession its reason code and text, with both the
time it happened and the time it was recorded.
"""

from collections import Counter
from datetime import date

import msgspec

from careerlog.shared.projections.state import CareerState, Correction

__all__ = ["CorrectionHistory", "ReasonCount", "correction_history", "reason_counts"]


class CorrectionHistory(msgspec.Struct, kw_only=True):
    goal_id: str
    title: str
    status: str
    original_due_on: date
    due_on: date
    entries: list[Correction]
    revisions: int
    reschedules: int
    pauses: int
    slip_days: int


class ReasonCount(msgspec.Struct, kw_only=True):
    reason_code: str
    count: int


def correction_history(state: CareerState, goal_id: str) -> CorrectionHistory:
    goal = state.goals[goal_id]
    entries = list(state.corrections.get(goal_id, []))
    return CorrectionHistory(
        goal_id=goal_id,
        title=goal.title,
        status=goal.status,
        original_due_on=goal.original_due_on,
        due_on=goal.due_on,
        entries=entries,
        revisions=sum(1 for e in entries if e.kind == "revised"),
        reschedules=sum(1 for e in entries if e.kind == "rescheduled"),
        pauses=sum(1 for e in entries if e.kind == "paused"),
        slip_days=sum(e.slip_days for e in entries if e.kind == "rescheduled"),
    )


def reason_counts(state: CareerState) -> list[ReasonCount]:
    """How often each reason code drove a change, most frequent first."""
    counts = Counter(
        entry.reason_code
        for entries in state.corrections.values()
        for entry in entries
        if entry.reason_code is not None
    )
    return [ReasonCount(reason_code=c, count=n) for c, n in counts.most_common()]
