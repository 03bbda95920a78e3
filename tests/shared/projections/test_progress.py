"""Goal progress: percent done, the expected path, verdicts and milestones.

The reference goal runs from 2026-01-01 to 2026-01-31 (a 30-day span), from
baseline 0 to target 10; on 2026-01-16 it is 15/30 = 50 % of the way along.
"""

from __future__ import annotations

from datetime import date

import pytest

from careerlog.shared.projections.progress import goal_progress, progress_list
from tests.shared.builders import History

START = date(2026, 1, 1)
DUE = date(2026, 1, 31)
MID = date(2026, 1, 16)  # expected 50 %


def reference_goal(h: History, title: str = "Ship", **kwargs: object) -> str:
    return h.goal(title, due=DUE, start=START, **kwargs)  # type: ignore[arg-type]


def progress_on(value: float, today: date = MID) -> tuple[float, float, str | None]:
    h = History()
    gid = reference_goal(h)
    h.progress(gid, value, date(2026, 1, 15))
    p = goal_progress(h.state(), gid, today)
    return p.percent_done, p.expected_percent, p.verdict


# --- percent done ------------------------------------------------------------


def test_measured_percent_is_where_the_latest_value_sits_between_baseline_and_target() -> None:
    assert progress_on(5)[0] == pytest.approx(50.0)
    assert progress_on(2.5)[0] == pytest.approx(25.0)


def test_measured_percent_is_clamped_to_0_and_100() -> None:
    assert progress_on(15)[0] == pytest.approx(100.0)
    assert progress_on(-3)[0] == pytest.approx(0.0)


def test_measured_percent_works_for_a_decreasing_metric() -> None:
    h = History()
    gid = reference_goal(h, baseline=100, target=80)
    h.progress(gid, 90, date(2026, 1, 10))
    assert goal_progress(h.state(), gid, MID).percent_done == pytest.approx(50.0)


def test_goal_without_checkins_or_milestones_is_at_zero_percent() -> None:
    h = History()
    gid = reference_goal(h)
    p = goal_progress(h.state(), gid, MID)
    assert p.percent_done == 0.0
    assert p.current is None


def test_milestone_percent_is_the_share_of_milestones_reached() -> None:
    h = History()
    gid = reference_goal(h)
    ms = [h.milestone(gid, f"M{i}") for i in range(4)]
    h.reach(ms[0], date(2026, 1, 5))
    h.reach(ms[2], date(2026, 1, 6))
    p = goal_progress(h.state(), gid, MID)
    assert p.percent_done == pytest.approx(50.0)
    assert (p.milestones_reached, p.milestones_total) == (2, 4)


def test_percent_is_the_mean_of_measured_and_milestone_progress_when_both_exist() -> None:
    h = History()
    gid = reference_goal(h)
    m1 = h.milestone(gid, "M1")
    h.milestone(gid, "M2")
    h.reach(m1, date(2026, 1, 5))
    h.progress(gid, 8, date(2026, 1, 6))
    # measured 0.8, milestones 1/2 = 0.5 -> (0.8 + 0.5) / 2
    assert goal_progress(h.state(), gid, MID).percent_done == pytest.approx(65.0)


def test_achieved_goal_is_at_100_percent_whatever_its_last_value() -> None:
    h = History()
    gid = reference_goal(h)
    h.milestone(gid, "never reached")
    h.progress(gid, 3, date(2026, 1, 5))
    h.achieve(gid, on=date(2026, 1, 10))
    p = goal_progress(h.state(), gid, MID)
    assert p.percent_done == 100.0
    assert p.current == 3.0


def test_revised_target_changes_the_measured_percent() -> None:
    h = History()
    gid = reference_goal(h)
    h.progress(gid, 5, date(2026, 1, 5))
    h.revise(gid, ("target", 10, 20), on=date(2026, 1, 6))
    assert goal_progress(h.state(), gid, MID).percent_done == pytest.approx(25.0)


# --- expected path and verdict ---------------------------------------------------


def test_expected_percent_is_the_straight_path_from_start_to_due() -> None:
    assert progress_on(5, date(2026, 1, 16))[1] == pytest.approx(50.0)
    assert progress_on(5, date(2026, 1, 7))[1] == pytest.approx(20.0)  # 6/30
    assert progress_on(5, DUE)[1] == pytest.approx(100.0)


def test_expected_percent_is_clamped_before_start_and_after_due() -> None:
    h = History()
    gid = h.goal("Later", due=date(2026, 3, 3), start=date(2026, 2, 1))
    assert goal_progress(h.state(), gid, date(2026, 1, 16)).expected_percent == 0.0
    assert goal_progress(h.state(), gid, date(2026, 4, 1)).expected_percent == 100.0


@pytest.mark.parametrize(
    ("value", "verdict"),
    [
        (9, "on_track"),  # ahead of the path
        (5, "on_track"),  # exactly on the path
        (4, "on_track"),  # 10 points behind: still on track
        (3, "at_risk"),  # 20 points behind
        (2.5, "at_risk"),  # 25 points behind: still at risk
        (2, "behind"),  # 30 points behind
        (1, "behind"),
    ],
)
def test_verdict_thresholds_are_10_and_25_points_behind_the_path(
    value: float, verdict: str
) -> None:
    assert progress_on(value)[2] == verdict


def test_active_goal_past_its_due_date_is_overdue_even_when_complete() -> None:
    assert progress_on(10, date(2026, 2, 1))[2] == "overdue"


def test_goal_on_its_due_date_is_not_overdue() -> None:
    h = History()
    gid = reference_goal(h)
    h.progress(gid, 10, date(2026, 1, 30))
    p = goal_progress(h.state(), gid, DUE)
    assert p.verdict == "on_track"
    assert p.days_left == 0


def test_rescheduled_goal_is_judged_against_its_new_due_date() -> None:
    h = History()
    gid = reference_goal(h)
    h.reschedule(gid, date(2026, 3, 2), on=date(2026, 1, 20))  # span 60 days
    p = goal_progress(h.state(), gid, date(2026, 2, 1))
    assert p.verdict != "overdue"
    assert p.due_on == date(2026, 3, 2)
    assert p.original_due_on == DUE
    assert p.expected_percent == pytest.approx(51.7)  # 31/60
    assert p.days_left == 29


@pytest.mark.parametrize("close", ["pause", "achieve", "drop"])
def test_paused_and_closed_goals_get_no_verdict(close: str) -> None:
    h = History()
    gid = reference_goal(h)
    h.progress(gid, 1, date(2026, 1, 5))
    getattr(h, close)(gid, on=date(2026, 1, 10))
    p = goal_progress(h.state(), gid, date(2026, 2, 15))  # overdue if it were active
    assert p.verdict is None
    assert p.days_since_progress is None


def test_superseded_goal_gets_no_verdict_and_names_its_replacement() -> None:
    h = History()
    gid = reference_goal(h)
    new = h.goal("Better", due=date(2026, 3, 1))
    h.supersede(gid, new, on=date(2026, 1, 10))
    p = goal_progress(h.state(), gid, MID)
    assert (p.status, p.verdict, p.superseded_by) == ("superseded", None, new)


def test_resumed_goal_gets_a_verdict_again() -> None:
    h = History()
    gid = reference_goal(h)
    h.pause(gid, on=date(2026, 1, 3))
    h.resume(gid, on=date(2026, 1, 10))
    assert goal_progress(h.state(), gid, MID).verdict == "behind"


# --- days since progress ------------------------------------------------------------


def test_days_since_progress_counts_from_when_the_goal_was_set_without_checkins() -> None:
    h = History()
    gid = reference_goal(h, on=date(2026, 1, 2))
    assert goal_progress(h.state(), gid, MID).days_since_progress == 14


def test_days_since_progress_counts_from_the_latest_checkin() -> None:
    h = History()
    gid = reference_goal(h)
    h.progress(gid, 2, date(2026, 1, 10))
    assert goal_progress(h.state(), gid, MID).days_since_progress == 6


def test_completed_tasks_and_reached_milestones_count_as_progress() -> None:
    h = History()
    gid = reference_goal(h)
    tid = h.task("T", gid)
    mid = h.milestone(gid, "M")
    h.progress(gid, 2, date(2026, 1, 5))
    h.complete(tid, date(2026, 1, 12))
    assert goal_progress(h.state(), gid, MID).days_since_progress == 4
    h.reach(mid, date(2026, 1, 14))
    assert goal_progress(h.state(), gid, MID).days_since_progress == 2


def test_days_since_progress_is_never_negative() -> None:
    h = History()
    gid = reference_goal(h)
    h.progress(gid, 2, date(2026, 1, 20))
    assert goal_progress(h.state(), gid, MID).days_since_progress == 0


# --- milestones, tasks, confidence -----------------------------------------------------


def test_next_milestone_is_the_earliest_due_open_one_and_undated_ones_come_last() -> None:
    h = History()
    gid = reference_goal(h)
    undated = h.milestone(gid, "Someday")
    late = h.milestone(gid, "Late", date(2026, 1, 20))
    early = h.milestone(gid, "Early", date(2026, 1, 10))

    def next_id() -> str | None:
        nxt = goal_progress(h.state(), gid, MID).next_milestone
        return nxt.milestone_id if nxt else None

    assert next_id() == early
    h.reach(early, date(2026, 1, 9))
    assert next_id() == late
    h.reach(late, date(2026, 1, 19))
    nxt = goal_progress(h.state(), gid, MID).next_milestone
    assert nxt is not None
    assert (nxt.milestone_id, nxt.title, nxt.due_on) == (undated, "Someday", None)
    h.reach(undated, date(2026, 1, 20))
    assert goal_progress(h.state(), gid, MID).next_milestone is None


def test_milestone_lines_keep_definition_order_with_reached_dates() -> None:
    h = History()
    gid = reference_goal(h)
    a = h.milestone(gid, "A", date(2026, 1, 20))
    b = h.milestone(gid, "B", date(2026, 1, 10))
    h.reach(b, date(2026, 1, 8))
    lines = goal_progress(h.state(), gid, MID).milestones
    assert [(m.milestone_id, m.reached_on) for m in lines] == [(a, None), (b, date(2026, 1, 8))]


def test_task_counts_and_latest_confidence() -> None:
    h = History()
    gid = reference_goal(h)
    done, _open, dropped = h.task("a", gid), h.task("b", gid), h.task("c", gid)
    h.complete(done, date(2026, 1, 3))
    h.drop_task(dropped, on=date(2026, 1, 3))
    h.progress(gid, 2, date(2026, 1, 4), confidence=0.6)
    h.progress(gid, 3, date(2026, 1, 5))  # no confidence: the last one stands
    p = goal_progress(h.state(), gid, MID)
    assert (p.tasks_open, p.tasks_done) == (1, 1)
    assert p.confidence == 0.6
    assert p.current == 3.0
    assert [(pt.on, pt.value) for pt in p.points] == [
        (date(2026, 1, 4), 2.0),
        (date(2026, 1, 5), 3.0),
    ]


# --- the list -----------------------------------------------------------------------------


def test_progress_list_puts_active_goals_closest_to_failing_first() -> None:
    h = History()
    on_track = reference_goal(h, "On track")
    behind = reference_goal(h, "Behind")
    overdue = h.goal("Overdue", due=date(2026, 1, 10), start=START)
    at_risk = reference_goal(h, "At risk")
    paused = reference_goal(h, "Paused")
    achieved = reference_goal(h, "Achieved")
    dropped = reference_goal(h, "Dropped")
    h.progress(on_track, 5, date(2026, 1, 15))
    h.progress(behind, 1, date(2026, 1, 15))
    h.progress(at_risk, 3, date(2026, 1, 15))
    h.pause(paused, on=date(2026, 1, 15))
    h.achieve(achieved, on=date(2026, 1, 15))
    h.drop(dropped, on=date(2026, 1, 15))
    rows = progress_list(h.state(), MID)
    assert [r.goal_id for r in rows] == [
        overdue,
        behind,
        at_risk,
        on_track,
        paused,
        achieved,
        dropped,
    ]
    open_rows = progress_list(h.state(), MID, include_closed=False)
    assert [r.goal_id for r in open_rows] == [overdue, behind, at_risk, on_track, paused]


def test_progress_list_breaks_ties_by_due_date_then_title() -> None:
    h = History()
    b = h.goal("B", due=date(2026, 2, 28), start=START)
    a_late = h.goal("A", due=date(2026, 2, 28), start=START)
    early = h.goal("Z", due=date(2026, 2, 1), start=START)
    rows = progress_list(h.state(), START)
    assert [r.goal_id for r in rows] == [early, a_late, b]
