"""Analytics: one person's figures for a period, and organisation aggregates.

Rules (the numbers people and organisations see, so they are stated here once):
- A *period* is two calendar dates, both included. A goal counts as set in
  the period by the day it was set, as achieved or dropped by the day it was
  closed; a milestone by the day it was reached; a course-correction by the
  day it happened. Weekly activity lists every ISO week that touches the
  period, zero-filled, with the whole week's count (the fold keeps counts per
  ISO week, not per day).
- *Deadline slip* is the goal reschedules that happened in the period: their
  slip in days (negative when a deadline moved earlier), summed and median.
- :class:`MemberFacts` is what the server keeps per person for organisation
  aggregates: counts and dates only, never a title, a journal text or a
  free-text reason, so a cross-user read of it can reveal nothing a person
  wrote. Like the state, it holds facts, never verdicts that depend on today;
  the aggregate functions take ``today``.
- Organisation aggregates reveal no individual: every figure is an
  :class:`Aggregate` over a group of people, and a group of fewer than
  :data:`MIN_GROUP` people (zero included) is *suppressed*: its ``value`` and
  ``people`` are null and ``suppressed`` is true. Each reason bucket is a
  group of its own (the people who gave that reason), and every reason code is
  always listed, so which buckets appear reveals nothing either. When the
  organisation itself has fewer than five people with read models, everything
  is suppressed. There are no rankings and no per-person figures.
"""

from datetime import date, timedelta
from statistics import median

import msgspec

from careerlog.shared.events import REASON_CODES
from careerlog.shared.projections.corrections import ReasonCount
from careerlog.shared.projections.fold import iso_week
from careerlog.shared.projections.state import CareerState

__all__ = [
    "MIN_GROUP",
    "Aggregate",
    "MemberFacts",
    "OrgAggregates",
    "PeriodAnalytics",
    "ReasonAggregate",
    "WeekCount",
    "decode_member_facts",
    "encode_member_facts",
    "member_facts",
    "org_aggregates",
    "period_analytics",
]

#: The smallest group an aggregate is shown for.
MIN_GROUP = 5


class MemberFacts(msgspec.Struct, kw_only=True, frozen=True):
    #: Due dates of the goals that are active now (a "current plan" is one due ahead).
    active_goal_dues: tuple[date, ...]
    goals_set: int
    goals_achieved: int
    goals_dropped: int
    #: Days from a milestone's definition to its reaching, for every reached milestone.
    milestone_days: tuple[int, ...]
    #: Revision and other course-correction reason codes, with their counts.
    reason_codes: dict[str, int]
    review_every_days: int | None
    review_dates: tuple[date, ...]
    last_activity_on: date | None


def member_facts(state: CareerState) -> MemberFacts:
    goals = state.goals.values()
    reasons: dict[str, int] = {}
    for entries in state.corrections.values():
        for correction in entries:
            if correction.reason_code is not None:
                reasons[correction.reason_code] = reasons.get(correction.reason_code, 0) + 1
    return MemberFacts(
        active_goal_dues=tuple(sorted(g.due_on for g in goals if g.status == "active")),
        goals_set=len(state.goals),
        goals_achieved=sum(1 for g in goals if g.status == "achieved"),
        goals_dropped=sum(1 for g in goals if g.status == "dropped"),
        milestone_days=tuple(
            (m.reached_on - m.defined_on).days
            for m in state.milestones.values()
            if m.reached_on is not None
        ),
        reason_codes=dict(sorted(reasons.items())),
        review_every_days=state.review_every_days,
        review_dates=tuple(sorted(r.on for r in state.reviews)),
        last_activity_on=state.last_activity_on,
    )


# --- one person, one period ---------------------------------------------------------


class WeekCount(msgspec.Struct, kw_only=True, frozen=True):
    #: ``YYYY-Www``.
    week: str
    actions: int


class PeriodAnalytics(msgspec.Struct, kw_only=True, frozen=True):
    start: date
    end: date
    goals_set: int
    goals_achieved: int
    goals_dropped: int
    goals_superseded: int
    milestones_reached: int
    #: Median days from a milestone's definition to its reaching, over those reached.
    median_days_to_milestone: float | None
    reschedules: int
    slip_days_total: int
    slip_days_median: float | None
    #: Reason codes of the course-corrections of the period, most frequent first.
    revision_reasons: list[ReasonCount]
    weekly_activity: list[WeekCount]
    actions: int


def _median(values: list[int] | list[float]) -> float | None:
    return float(median(values)) if values else None


def period_analytics(state: CareerState, start: date, end: date) -> PeriodAnalytics:
    """The person's figures for ``start`` to ``end`` (both included; ``start <= end``)."""
    if end < start:
        raise ValueError(f"the period ends ({end}) before it starts ({start})")

    def within(day: date | None) -> bool:
        return day is not None and start <= day <= end

    goals = state.goals.values()
    closed = [g for g in goals if within(g.closed_on)]
    reached = [m for m in state.milestones.values() if within(m.reached_on)]
    corrections = [
        c for entries in state.corrections.values() for c in entries if within(c.occurred_on)
    ]
    slips = [c.slip_days for c in corrections if c.kind == "rescheduled"]
    reasons: dict[str, int] = {}
    for correction in corrections:
        if correction.reason_code is not None:
            reasons[correction.reason_code] = reasons.get(correction.reason_code, 0) + 1
    weeks: list[WeekCount] = []
    monday = start - timedelta(days=start.weekday())
    while monday <= end:
        week = iso_week(monday)
        weeks.append(WeekCount(week=week, actions=state.weeks.get(week, 0)))
        monday += timedelta(weeks=1)
    return PeriodAnalytics(
        start=start,
        end=end,
        goals_set=sum(1 for g in goals if within(g.set_on)),
        goals_achieved=sum(1 for g in closed if g.status == "achieved"),
        goals_dropped=sum(1 for g in closed if g.status == "dropped"),
        goals_superseded=sum(1 for g in closed if g.status == "superseded"),
        milestones_reached=len(reached),
        median_days_to_milestone=_median(
            [(m.reached_on - m.defined_on).days for m in reached if m.reached_on is not None]
        ),
        reschedules=len(slips),
        slip_days_total=sum(slips),
        slip_days_median=_median(slips),
        revision_reasons=[
            ReasonCount(reason_code=code, count=count)
            for code, count in sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
        ],
        weekly_activity=weeks,
        actions=sum(w.actions for w in weeks),
    )


# --- organisation aggregates -----------------------------------------------------------


class Aggregate(msgspec.Struct, kw_only=True, frozen=True):
    """One figure over a group of people; null and ``suppressed`` when the group is small."""

    value: float | None
    #: How many people the figure is over (null when suppressed).
    people: int | None
    suppressed: bool


class ReasonAggregate(msgspec.Struct, kw_only=True, frozen=True):
    """How many people gave a reason code, and how often (null when suppressed)."""

    reason_code: str
    people: int | None
    times: int | None
    suppressed: bool


class OrgAggregates(msgspec.Struct, kw_only=True, frozen=True):
    today: date
    min_group: int
    #: People with read models (the group every other figure is within).
    people: Aggregate
    #: Share of people with an active goal due today or later.
    current_plan: Aggregate
    #: Share of the people with a review cadence whose last review is at most
    #: one cadence ago (one with a cadence and no review yet is off cadence).
    review_on_cadence: Aggregate
    #: Median over people (with a reached milestone) of their median days to a milestone.
    median_days_to_milestone: Aggregate
    revision_reasons: list[ReasonAggregate]


def _cell(value: float | None, people: int, group: int) -> Aggregate:
    if people < MIN_GROUP or group < MIN_GROUP:
        return Aggregate(value=None, people=None, suppressed=True)
    return Aggregate(
        value=None if value is None else round(value, 4), people=people, suppressed=False
    )


def _on_cadence(facts: MemberFacts, today: date) -> bool:
    every = facts.review_every_days
    assert every is not None
    if not facts.review_dates:
        return False
    return (today - facts.review_dates[-1]).days <= every


def org_aggregates(members: list[MemberFacts], today: date) -> OrgAggregates:
    """Aggregates over ``members`` (one entry per person), suppressing groups under five."""
    group = len(members)
    planning = sum(1 for f in members if any(due >= today for due in f.active_goal_dues))
    with_cadence = [f for f in members if f.review_every_days is not None]
    on_cadence = sum(1 for f in with_cadence if _on_cadence(f, today))
    milestone_medians = [float(median(f.milestone_days)) for f in members if f.milestone_days]
    reasons: list[ReasonAggregate] = []
    for code in sorted(set(REASON_CODES) | {c for f in members for c in f.reason_codes}):
        users = [f.reason_codes[code] for f in members if f.reason_codes.get(code)]
        shown = len(users) >= MIN_GROUP and group >= MIN_GROUP
        reasons.append(
            ReasonAggregate(
                reason_code=code,
                people=len(users) if shown else None,
                times=sum(users) if shown else None,
                suppressed=not shown,
            )
        )
    return OrgAggregates(
        today=today,
        min_group=MIN_GROUP,
        people=_cell(float(group), group, group),
        current_plan=_cell(planning / group if group else None, group, group),
        review_on_cadence=_cell(
            on_cadence / len(with_cadence) if with_cadence else None, len(with_cadence), group
        ),
        median_days_to_milestone=_cell(
            median(milestone_medians) if milestone_medians else None,
            len(milestone_medians),
            group,
        ),
        revision_reasons=reasons,
    )


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(MemberFacts)


def encode_member_facts(facts: MemberFacts) -> bytes:
    return _encoder.encode(facts)


def decode_member_facts(data: bytes) -> MemberFacts:
    return _decoder.decode(data)
