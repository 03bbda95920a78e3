"""Agenda: open items due within the horizon (default 14 days), overdue ones included."""

from __future__ import annotations

from datetime import date

from careerlog.shared.projections.agenda import agenda
from tests.shared.builders import History

TODAY = date(2026, 1, 10)  # default horizon ends 2026-01-24


def day(n: int, month: int = 1) -> date:
    return date(2026, month, n)


def rows(h: History, today: date = TODAY, **kwargs: int) -> list[tuple[str, str | None, date]]:
    return [(i.kind, i.record_id, i.due_on) for i in agenda(h.state(), today, **kwargs)]


def test_empty_log_has_an_empty_agenda() -> None:
    assert agenda(History().state(), TODAY) == []


def test_goal_due_within_the_horizon_is_listed_with_days_left() -> None:
    h = History()
    gid = h.goal("Ship", due=day(20), start=day(1))
    (item,) = agenda(h.state(), TODAY)
    assert (item.kind, item.record_id, item.title, item.goal_id) == ("goal", gid, "Ship", gid)
    assert (item.due_on, item.days, item.overdue) == (day(20), 10, False)


def test_horizon_end_is_inclusive() -> None:
    h = History()
    on_edge = h.goal("Edge", due=day(24), start=day(1))
    h.goal("Beyond", due=day(25), start=day(1))
    assert rows(h) == [("goal", on_edge, day(24))]
    assert len(rows(h, horizon_days=15)) == 2


def test_overdue_items_have_negative_days() -> None:
    h = History()
    gid = h.goal("G", due=day(28, 2), start=day(1))
    mid = h.milestone(gid, "Late", day(7))
    (item,) = agenda(h.state(), TODAY)
    assert (item.kind, item.record_id, item.goal_id) == ("milestone", mid, gid)
    assert (item.days, item.overdue) == (-3, True)


def test_item_due_today_is_not_overdue() -> None:
    h = History()
    h.task("Today", due=TODAY)
    (item,) = agenda(h.state(), TODAY)
    assert (item.days, item.overdue) == (0, False)


def test_reached_and_undated_milestones_are_not_listed() -> None:
    h = History()
    gid = h.goal("G", due=day(28, 2), start=day(1))
    reached = h.milestone(gid, "Reached", day(12))
    h.milestone(gid, "Undated")
    h.reach(reached, day(9))
    assert rows(h) == []


def test_rescheduled_milestone_is_listed_at_its_new_date() -> None:
    h = History()
    gid = h.goal("G", due=day(28, 2), start=day(1))
    mid = h.milestone(gid, "M", day(12))
    h.reschedule_milestone(mid, day(30), on=day(9))
    assert rows(h) == []
    assert rows(h, horizon_days=30) == [("milestone", mid, day(30))]


def test_open_tasks_are_listed_but_done_and_dropped_ones_are_not() -> None:
    h = History()
    loose = h.task("Loose", due=day(11))
    done = h.task("Done", due=day(12))
    dropped = h.task("Dropped", due=day(13))
    h.task("No date")
    h.complete(done, day(9))
    h.drop_task(dropped, on=day(9))
    assert rows(h) == [("task", loose, day(11))]


def test_items_of_paused_and_closed_goals_are_left_out() -> None:
    h = History()
    paused = h.goal("Paused", due=day(20), start=day(1))
    dropped = h.goal("Dropped", due=day(20), start=day(1))
    for gid in (paused, dropped):
        h.milestone(gid, "M", day(15))
        h.task("T", gid, due=day(15))
    h.pause(paused, on=day(5))
    h.drop(dropped, on=day(5))
    assert rows(h) == []
    h.resume(paused, on=day(9))
    assert sorted(kind for kind, _, _ in rows(h)) == ["goal", "milestone", "task"]


def test_follow_up_is_listed_until_the_contact_is_spoken_to_again() -> None:
    h = History()
    cid = h.contact("Ada", on=day(1))
    iid = h.interaction(cid, day(5), follow_up_on=day(15))
    (item,) = agenda(h.state(), TODAY)
    assert (item.kind, item.record_id, item.title, item.due_on) == (
        "follow_up",
        iid,
        "follow up with Ada",
        day(15),
    )
    assert item.goal_id is None
    h.interaction(cid, day(9))
    assert rows(h) == []


def test_review_is_due_a_cadence_after_the_last_review() -> None:
    h = History()
    h.cadence(7)
    h.review(day(2))
    h.review(day(6))
    (item,) = agenda(h.state(), TODAY)
    assert (item.kind, item.record_id, item.title, item.due_on) == (
        "review",
        None,
        "career review",
        day(13),
    )


def test_first_review_is_due_a_cadence_after_the_first_goal_was_set() -> None:
    h = History()
    h.goal("G", due=day(30, 6), on=day(1))
    h.cadence(7)
    assert rows(h) == [("review", None, day(8))]
    assert agenda(h.state(), TODAY)[0].overdue


def test_no_review_item_without_a_cadence_or_anything_to_review() -> None:
    h = History()
    h.review(day(1))
    assert rows(h) == []
    h2 = History()
    h2.cadence(7)
    assert rows(h2) == []


def test_agenda_is_sorted_by_date_then_kind_then_title() -> None:
    h = History()
    gid = h.goal("Goal", due=day(12), start=day(1))
    m = h.milestone(gid, "Milestone", day(8))
    t_b = h.task("b task", due=day(12))
    t_a = h.task("a task", due=day(12))
    assert rows(h) == [
        ("milestone", m, day(8)),
        ("goal", gid, day(12)),
        ("task", t_a, day(12)),
        ("task", t_b, day(12)),
    ]
