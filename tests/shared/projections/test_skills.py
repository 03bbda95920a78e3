"""Skill gaps: planned skills against their targets, widest gap first."""

from __future__ import annotations

from datetime import date

from careerlog.shared.projections.skills import skill_gaps
from tests.shared.builders import History


def test_no_plans_no_gaps() -> None:
    h = History()
    h.feedback(skills=["python"])
    assert skill_gaps(h.state()) == []


def test_gaps_widest_first_then_earliest_date_then_name() -> None:
    h = History()
    h.skill("Python", 3, 7)  # gap 4, no date
    h.skill("SQL", 5, 6)  # gap 1
    h.skill("Rust", 2, 6, by=date(2026, 6, 1))  # gap 4
    h.skill("Go", 2, 6, by=date(2026, 3, 1))  # gap 4, earliest
    h.skill("Elixir", 1, 5)  # gap 4, no date, sorts before Python
    h.skill("Writing", 7, 5)  # above target
    rows = skill_gaps(h.state())
    assert [(r.skill, r.gap) for r in rows] == [
        ("Go", 4),
        ("Rust", 4),
        ("Elixir", 4),
        ("Python", 4),
        ("SQL", 1),
        ("Writing", 0),
    ]


def test_gap_is_never_negative() -> None:
    h = History()
    h.skill("Writing", 9, 6)
    (row,) = skill_gaps(h.state())
    assert (row.current_level, row.target_level, row.gap) == (9, 6, 0)


def test_gap_carries_plan_details() -> None:
    h = History()
    gid = h.goal("Talks")
    h.skill("Speaking", 2, 5, by=date(2026, 6, 30), goal_id=gid)
    (row,) = skill_gaps(h.state())
    assert (row.by_date, row.goal_id) == (date(2026, 6, 30), gid)


def test_feedback_and_research_mentions_match_case_insensitively() -> None:
    h = History()
    h.skill("Python", 3, 7)
    h.feedback(skills=["Python"])
    h.feedback(skills=["python", "sql"])
    h.research("PYTHON")
    h.research("Python", kind="role")  # a role, not the skill
    (row,) = skill_gaps(h.state())
    assert (row.feedback_mentions, row.research_mentions) == (2, 1)


def test_replanning_a_skill_replaces_the_old_plan() -> None:
    h = History()
    h.skill("Python", 3, 7)
    h.skill("PYTHON", 6, 7, on=date(2026, 2, 1))
    (row,) = skill_gaps(h.state())
    assert (row.skill, row.current_level, row.gap) == ("PYTHON", 6, 1)
