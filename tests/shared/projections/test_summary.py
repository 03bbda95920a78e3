"""The one-screen status summary."""

from __future__ import annotations

from datetime import date

import pytest

from careerlog.shared.projections.summary import summary
from tests.shared.builders import History


def day(n: int) -> date:
    return date(2026, 1, n)


def test_summary_of_an_empty_log() -> None:
    s = summary(History().state(), day(10))
    assert (s.events, s.goals, s.milestones_total, s.tasks_open, s.contacts) == (0, {}, 0, 0, 0)
    assert (s.streak_weeks, s.consistency, s.last_action_on, s.flagged) == (0, 0.0, None, 0)
    assert (s.target_role, s.season) == (None, None)


def test_summary_counts_goals_by_status_milestones_tasks_and_contacts() -> None:
    h = History()
    active = h.goal("Active")
    paused = h.goal("Paused")
    achieved = h.goal("Achieved")
    dropped = h.goal("Dropped")
    h.pause(paused, on=day(2))
    h.achieve(achieved, on=day(2))
    h.drop(dropped, on=day(2))
    m1 = h.milestone(active, "M1")
    h.milestone(active, "M2")
    h.reach(m1, day(5))
    done = h.task("done", active)
    h.task("open", active)
    dropped_task = h.task("dropped")
    h.complete(done, day(6))
    h.drop_task(dropped_task, on=day(6))
    h.contact("Ada")
    h.contact("Grace")
    s = summary(h.state(), day(7))
    assert s.goals == {"active": 1, "paused": 1, "achieved": 1, "dropped": 1}
    assert (s.milestones_reached, s.milestones_total) == (1, 2)
    assert (s.tasks_open, s.tasks_done) == (1, 1)
    assert s.contacts == 2
    assert s.events == len(h.events)


def test_summary_reports_streak_consistency_and_last_action() -> None:
    h = History()
    h.activity(day(5))  # W02
    h.activity(day(13))  # W03
    s = summary(h.state(), day(14))
    assert s.streak_weeks == 2
    assert s.consistency == pytest.approx(0.36)
    assert s.last_action_on == day(13)


def test_summary_shows_target_role_latest_season_and_flag_count() -> None:
    h = History()
    h.target_role("Staff")
    h.season("Growth")
    h.season("Focus", on=day(3))
    h.progress("zzzzzzzzzzzz", 1, day(3))
    h.complete("yyyyyyyyyyyy", day(3))
    s = summary(h.state(), day(4))
    assert (s.target_role, s.season, s.flagged) == ("Staff", "Focus", 2)
