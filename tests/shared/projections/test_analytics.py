"""Analytics: one person's figures for a period; organisation aggregates that hide people."""

from __future__ import annotations

from datetime import date

import pytest

from careerlog.shared.events import REASON_CODES
from careerlog.shared.projections.analytics import (
    MIN_GROUP,
    MemberFacts,
    decode_member_facts,
    encode_member_facts,
    member_facts,
    org_aggregates,
    period_analytics,
)
from tests.shared.builders import History


def day(n: int, month: int = 1) -> date:
    return date(2026, month, n)


# --- one person, one period ---------------------------------------------------------


def test_goals_count_in_the_period_they_were_set_achieved_or_dropped() -> None:
    h = History()
    before = h.goal("Before", due=day(28, 2), on=day(5))
    kept = h.goal("Kept", due=day(28, 2), on=day(10))
    dropped = h.goal("Dropped", due=day(28, 2), on=day(12))
    h.achieve(before, on=day(15))
    h.drop(dropped, on=day(20))
    h.goal("Later", due=day(28, 2), on=day(3, 2))
    a = period_analytics(h.state(), day(10), day(31))
    assert (a.goals_set, a.goals_achieved, a.goals_dropped) == (2, 1, 1)
    assert kept in h.state().goals
    everything = period_analytics(h.state(), day(1), day(28, 2))
    assert (everything.goals_set, everything.goals_achieved, everything.goals_dropped) == (4, 1, 1)


def test_median_days_to_milestone_is_over_milestones_reached_in_the_period() -> None:
    h = History()
    gid = h.goal("G", due=day(28, 2), on=day(1))
    fast = h.milestone(gid, "fast", on=day(1))
    slow = h.milestone(gid, "slow", on=day(1))
    late = h.milestone(gid, "late", on=day(1))
    h.reach(fast, on=day(3))  # 2 days
    h.reach(slow, on=day(11))  # 10 days
    h.reach(late, on=day(10, 2))  # outside the period
    a = period_analytics(h.state(), day(1), day(31))
    assert a.milestones_reached == 2
    assert a.median_days_to_milestone == 6.0
    empty = period_analytics(h.state(), day(1, 3), day(31, 3))
    assert empty.milestones_reached == 0
    assert empty.median_days_to_milestone is None


def test_deadline_slip_sums_and_medians_the_reschedules_of_the_period() -> None:
    h = History()
    gid = h.goal("G", due=day(31))
    h.reschedule(gid, day(10, 2), on=day(5))  # +10 days
    h.reschedule(gid, day(14, 2), on=day(6))  # +4 days
    h.reschedule(gid, day(12, 2), on=day(7))  # -2 days: moved earlier
    h.reschedule(gid, day(1, 3), on=day(3, 2))  # next month
    a = period_analytics(h.state(), day(1), day(31))
    assert a.reschedules == 3
    assert a.slip_days_total == 12
    assert a.slip_days_median == 4.0


def test_revision_reasons_of_the_period_most_frequent_first() -> None:
    h = History()
    gid = h.goal("G", due=day(31))
    other = h.goal("H", due=day(31))
    h.revise(gid, ("target", 10, 20), reason_code="scope_changed", on=day(4))
    h.revise(other, ("target", 10, 5), reason_code="infeasible", on=day(5))
    h.pause(other, reason_code="infeasible", on=day(6))
    h.revise(gid, ("target", 20, 30), reason_code="scope_changed", on=day(2, 2))
    a = period_analytics(h.state(), day(1), day(31))
    assert [(r.reason_code, r.count) for r in a.revision_reasons] == [
        ("infeasible", 2),
        ("scope_changed", 1),
    ]


def test_weekly_activity_lists_every_week_touching_the_period_zero_filled() -> None:
    h = History()
    h.activity(on=day(5))  # Monday of 2026-W02
    h.activity(on=day(6))
    h.activity(on=day(20))  # 2026-W04
    a = period_analytics(h.state(), day(7), day(21))
    assert [(w.week, w.actions) for w in a.weekly_activity] == [
        ("2026-W02", 2),
        ("2026-W03", 0),
        ("2026-W04", 1),
    ]
    assert a.actions == 3
    one_day = period_analytics(h.state(), day(20), day(20))
    assert [w.week for w in one_day.weekly_activity] == ["2026-W04"]


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        period_analytics(History().state(), day(2), day(1))


def test_an_empty_log_has_zero_figures() -> None:
    a = period_analytics(History().state(), day(1), day(7))
    assert (a.goals_set, a.reschedules, a.slip_days_total, a.actions) == (0, 0, 0, 0)
    assert a.slip_days_median is None
    assert a.revision_reasons == []


# --- member facts ----------------------------------------------------------------------


def test_member_facts_hold_no_text_and_round_trip() -> None:
    h = History()
    gid = h.goal("Secret title", due=day(31))
    h.revise(gid, ("target", 10, 20), reason_code="scope_changed", reason="my private reason")
    h.cadence(14)
    h.review(on=day(3), notes="private notes")
    facts = member_facts(h.state())
    encoded = encode_member_facts(facts)
    for text in (b"Secret title", b"my private reason", b"private notes"):
        assert text not in encoded
    assert decode_member_facts(encoded) == facts
    assert facts.reason_codes == {"scope_changed": 1}
    assert facts.active_goal_dues == (day(31),)


# --- organisation aggregates -----------------------------------------------------------

TODAY = day(15, 3)


def facts(
    *,
    dues: tuple[date, ...] = (),
    milestone_days: tuple[int, ...] = (),
    reasons: dict[str, int] | None = None,
    every: int | None = None,
    reviews: tuple[date, ...] = (),
) -> MemberFacts:
    return MemberFacts(
        active_goal_dues=dues,
        goals_set=len(dues),
        goals_achieved=0,
        goals_dropped=0,
        milestone_days=milestone_days,
        reason_codes=reasons or {},
        review_every_days=every,
        review_dates=reviews,
        last_activity_on=None,
    )


def test_a_group_of_four_reveals_nothing() -> None:
    members = [
        facts(dues=(day(1, 4),), milestone_days=(3,), reasons={"infeasible": 2}, every=7)
        for _ in range(MIN_GROUP - 1)
    ]
    agg = org_aggregates(members, TODAY)
    cells = [agg.people, agg.current_plan, agg.review_on_cadence, agg.median_days_to_milestone]
    for cell in cells:
        assert cell.suppressed
        assert cell.value is None
        assert cell.people is None
    assert all(r.suppressed and r.people is None and r.times is None for r in agg.revision_reasons)


def test_an_empty_organisation_is_suppressed_not_an_error() -> None:
    agg = org_aggregates([], TODAY)
    assert agg.people.suppressed
    assert agg.current_plan.value is None


def test_a_group_of_five_shows_its_figures() -> None:
    members = [
        facts(dues=(day(1, 4),), milestone_days=(2, 4), every=7, reviews=(day(10, 3),)),
        facts(dues=(day(1, 4),), milestone_days=(10,), every=7, reviews=(day(1, 3),)),
        facts(dues=(day(1, 3),), milestone_days=(5,), every=7, reviews=(day(14, 3),)),
        facts(milestone_days=(1,), every=30, reviews=(day(1, 3),)),
        facts(dues=(day(15, 3),), milestone_days=(7,), every=7),
    ]
    agg = org_aggregates(members, TODAY)
    assert agg.people.value == 5
    assert not agg.people.suppressed
    # Due on or after today: 1 Apr twice and 15 Mar; 1 Mar is past due.
    assert agg.current_plan.value == 0.6
    assert agg.current_plan.people == 5
    # On cadence: 10 Mar (5 <= 7), 14 Mar, 1 Mar at 30 days; not 1 Mar at 7, not "never".
    assert agg.review_on_cadence.value == 0.6
    # Per-person medians 3, 10, 5, 1, 7 -> 5.
    assert agg.median_days_to_milestone.value == 5.0
    assert agg.median_days_to_milestone.people == 5


def test_each_figure_is_suppressed_when_its_own_group_is_small() -> None:
    members = [facts(dues=(day(1, 4),)) for _ in range(6)]
    members[0] = facts(dues=(day(1, 4),), milestone_days=(3,), every=7, reviews=(TODAY,))
    agg = org_aggregates(members, TODAY)
    assert agg.current_plan.value == 1.0
    # One person with a cadence and one with a reached milestone: both suppressed.
    assert agg.review_on_cadence.suppressed
    assert agg.review_on_cadence.value is None
    assert agg.median_days_to_milestone.suppressed


def test_every_reason_bucket_is_listed_and_small_buckets_are_suppressed() -> None:
    members = [facts(reasons={"infeasible": 1, "life_event": 3}) for _ in range(4)]
    members += [facts(reasons={"infeasible": 2}) for _ in range(2)]
    agg = org_aggregates(members, TODAY)
    buckets = {r.reason_code: r for r in agg.revision_reasons}
    assert set(buckets) == set(REASON_CODES)
    assert (buckets["infeasible"].people, buckets["infeasible"].times) == (6, 8)
    assert not buckets["infeasible"].suppressed
    # Four people gave life_event: a group under five.
    assert buckets["life_event"].suppressed
    assert (buckets["life_event"].people, buckets["life_event"].times) == (None, None)
    assert buckets["other"].suppressed
