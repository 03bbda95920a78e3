"""Streaks, the forgiving consistency score and stagnation warnings.

Calendar: 2026-01-05, -12, -19, -26 and 2026-02-02, -09 are Mondays (ISO weeks
W02 … W07 of 2026).
"""

from __future__ import annotations

from datetime import date

import pytest

from careerlog.shared.projections.activity import Thresholds, consistency, insights, streak
from tests.shared.builders import History

W02, W03, W04, W05, W06, W07 = (
    date(2026, 1, 5),
    date(2026, 1, 12),
    date(2026, 1, 19),
    date(2026, 1, 26),
    date(2026, 2, 2),
    date(2026, 2, 9),
)


def active_in(*days: date) -> History:
    h = History()
    for d in days:
        h.activity(d)
    return h


def codes(h: History, today: date, **limits: int) -> list[str]:
    result = insights(h.state(), today, Thresholds(**limits) if limits else None)
    return [w.code for w in result.warnings]


# --- streak -----------------------------------------------------------------------


def test_streak_counts_consecutive_active_weeks_back_from_this_week() -> None:
    h = active_in(W02, W03, date(2026, 1, 21))
    assert streak(h.state(), date(2026, 1, 22)) == 3


def test_streak_survives_a_week_in_progress_without_action_yet() -> None:
    h = active_in(W02, W03, W04)
    assert streak(h.state(), date(2026, 1, 30)) == 3  # W05, nothing yet


def test_streak_is_broken_by_a_whole_missed_week() -> None:
    h = active_in(W02, W03, W04)
    assert streak(h.state(), W06) == 0  # W05 missed, W06 empty so far
    h.activity(W06)
    assert streak(h.state(), W06) == 1


def test_streak_counts_across_the_iso_year_boundary() -> None:
    h = active_in(date(2025, 12, 24), date(2025, 12, 31), date(2026, 1, 6))
    assert streak(h.state(), date(2026, 1, 6)) == 3


def test_any_career_action_counts_for_the_streak() -> None:
    h = History()
    gid = h.goal("G")
    h.progress(gid, 1, W02)
    h.review(W03)
    cid = h.contact("Ada")
    h.interaction(cid, W04)
    assert streak(h.state(), W04) == 3


def test_streak_of_an_empty_log_is_zero() -> None:
    assert streak(History().state(), W04) == 0


# --- consistency -------------------------------------------------------------------


def test_consistency_moves_a_fifth_of_the_way_each_week() -> None:
    assert consistency(active_in(W02).state(), W02) == pytest.approx(0.2)
    assert consistency(active_in(W02, W03).state(), W03) == pytest.approx(0.36)
    # 1 - 0.8**4
    assert consistency(active_in(W02, W03, W04, W05).state(), W05) == pytest.approx(0.590)


def test_consistency_does_not_count_the_week_in_progress_until_it_is_active() -> None:
    h = active_in(W02)
    assert consistency(h.state(), date(2026, 1, 14)) == pytest.approx(0.2)  # W03 in progress


def test_consistency_decays_for_each_missed_week() -> None:
    h = active_in(W02)
    # W03 missed: 0.2 * 0.8; W04 still in progress.
    assert consistency(h.state(), W04) == pytest.approx(0.16)


def test_one_missed_week_costs_a_fifth_not_the_whole_score() -> None:
    h = active_in(W02, W03, W04, W05, W07)  # W06 missed
    # 0.5904 -> missed: 0.47232 -> active: 0.47232 + 0.2 * 0.52768 = 0.577856
    assert consistency(h.state(), W07) == pytest.approx(0.578)
    assert streak(h.state(), W07) == 1
    assert insights(h.state(), W07).best_streak_weeks == 4


def test_consistency_starts_at_the_first_active_week() -> None:
    h = History()
    h.goal("G", on=date(2026, 1, 1))  # not an action: does not start the score
    h.activity(W04)
    assert consistency(h.state(), W04) == pytest.approx(0.2)


def test_consistency_of_an_empty_log_is_zero() -> None:
    assert consistency(History().state(), W04) == 0.0


# --- insights ------------------------------------------------------------------------


def test_insights_aggregates() -> None:
    h = History()
    gid = h.goal("G")
    h.activity(W02, "learning", minutes=30)
    h.activity(W03, "networking", minutes=45)
    h.activity(date(2026, 1, 13), "learning")
    h.progress(gid, 2, date(2026, 1, 14))
    result = insights(h.state(), date(2026, 1, 16))
    assert (result.activities, result.minutes, result.actions_total) == (3, 75, 4)
    assert result.by_kind == {"learning": 2, "networking": 1}
    assert result.weeks == {"2026-W02": 1, "2026-W03": 3}
    assert result.this_week == 3
    assert (result.last_action_on, result.days_since_action) == (date(2026, 1, 14), 2)
    assert (result.streak_weeks, result.best_streak_weeks) == (2, 2)


def test_no_activity_warning_only_after_more_than_14_idle_days() -> None:
    h = active_in(date(2026, 1, 1))
    assert "no_activity" not in codes(h, date(2026, 1, 15))  # 14 days
    result = insights(h.state(), date(2026, 1, 16))
    (warning,) = [w for w in result.warnings if w.code == "no_activity"]
    assert warning.days == 15
    assert "15 days" in warning.message


def test_no_activity_threshold_is_configurable() -> None:
    h = active_in(date(2026, 1, 1))
    assert "no_activity" in codes(h, date(2026, 1, 5), idle_days=3)


def test_empty_log_has_no_idle_warning() -> None:
    result = insights(History().state(), W04)
    assert result.warnings == []
    assert result.days_since_action is None


def test_goal_stalled_after_more_than_14_days_without_progress() -> None:
    h = History()
    gid = h.goal("Ship", on=date(2026, 1, 1))
    h.activity(date(2026, 1, 15))  # activity not tied to progress keeps idle quiet
    assert codes(h, date(2026, 1, 15)) == []
    result = insights(h.state(), date(2026, 1, 16))
    (warning,) = result.warnings
    assert (warning.code, warning.record_id, warning.days) == ("goal_stalled", gid, 15)
    assert "'Ship'" in warning.message


def test_progress_resets_the_stalled_clock() -> None:
    h = History()
    gid = h.goal("G", on=date(2026, 1, 1))
    h.progress(gid, 1, date(2026, 1, 10))
    assert codes(h, date(2026, 1, 20)) == []


def test_goal_stall_limit_follows_the_review_cadence() -> None:
    h = History()
    gid = h.goal("G", on=date(2026, 1, 1))
    h.cadence(7)
    h.review(date(2026, 1, 8))
    assert codes(h, date(2026, 1, 8)) == []  # 7 days: not longer than the cadence
    result = insights(h.state(), date(2026, 1, 9))
    assert [(w.code, w.record_id, w.days) for w in result.warnings] == [("goal_stalled", gid, 8)]


@pytest.mark.parametrize("close", ["pause", "achieve", "drop"])
def test_paused_and_closed_goals_never_stall(close: str) -> None:
    h = History()
    gid = h.goal("G", on=date(2026, 1, 1))
    getattr(h, close)(gid, on=date(2026, 1, 2))
    assert "goal_stalled" not in codes(h, date(2026, 3, 1))


def test_review_overdue_counts_from_the_last_review() -> None:
    h = History()
    h.cadence(14)
    h.review(date(2026, 1, 5))
    assert "review_overdue" not in codes(h, date(2026, 1, 19))
    result = insights(h.state(), date(2026, 1, 20))
    (warning,) = [w for w in result.warnings if w.code == "review_overdue"]
    assert warning.days == 1


def test_review_overdue_without_reviews_counts_from_the_first_goal() -> None:
    h = History()
    h.goal("G", on=date(2026, 1, 3))
    h.goal("H", on=date(2026, 1, 10))
    h.cadence(7)
    result = insights(h.state(), date(2026, 1, 13))
    (warning,) = [w for w in result.warnings if w.code == "review_overdue"]
    assert warning.days == 3  # 10 days since 3 Jan, cadence 7


def test_no_review_warning_without_cadence_or_anything_to_review() -> None:
    h = History()
    h.cadence(7)
    assert codes(h, date(2026, 6, 1)) == []
    h2 = History()
    h2.review(date(2026, 1, 1))
    assert "review_overdue" not in codes(h2, date(2026, 6, 1))


def test_contact_goes_cold_after_more_than_90_days() -> None:
    h = History()
    cid = h.contact("Ada", "mentor", on=date(2026, 1, 1))
    assert codes(h, date(2026, 4, 1)) == []  # exactly 90 days
    result = insights(h.state(), date(2026, 4, 2))
    (warning,) = result.warnings
    assert (warning.code, warning.record_id, warning.days) == ("contact_cold", cid, 91)
    assert "Ada (mentor)" in warning.message


def test_an_interaction_warms_a_contact_up() -> None:
    h = History()
    cid = h.contact("Ada", on=date(2026, 1, 1))
    h.interaction(cid, date(2026, 3, 1))
    assert "contact_cold" not in codes(h, date(2026, 4, 2))
    assert "contact_cold" not in codes(h, date(2026, 5, 30))
    assert "contact_cold" in codes(h, date(2026, 5, 31))  # 91 days after 1 March


def test_contact_threshold_is_configurable() -> None:
    h = History()
    h.contact("Ada", on=date(2026, 1, 1))
    assert codes(h, date(2026, 1, 12), contact_idle_days=10) == ["contact_cold"]
