"""Course-correction history: every change to a plan, with before/after and why."""

from __future__ import annotations

from datetime import date

from careerlog.shared.projections.corrections import correction_history, reason_counts
from tests.shared.builders import History, at

DUE = date(2026, 1, 31)


def day(n: int, month: int = 1) -> date:
    return date(2026, month, n)


def test_goal_without_changes_has_an_empty_history() -> None:
    h = History()
    gid = h.goal("G", due=DUE)
    history = correction_history(h.state(), gid)
    assert history.entries == []
    assert (history.revisions, history.reschedules, history.pauses, history.slip_days) == (
        0,
        0,
        0,
        0,
    )
    assert history.original_due_on == history.due_on == DUE


def test_revision_keeps_before_after_and_the_reason() -> None:
    h = History()
    gid = h.goal("G", due=DUE, target=10)
    event = h.revise(
        gid,
        ("target", 10, 20),
        ("title", "G", "Bigger G"),
        reason_code="scope_changed",
        reason="team grew",
        on=day(5),
    )
    history = correction_history(h.state(), gid)
    (entry,) = history.entries
    assert entry.kind == "revised"
    assert entry.event_id == str(event.id)
    assert (entry.reason_code, entry.reason, entry.occurred_on) == (
        "scope_changed",
        "team grew",
        day(5),
    )
    assert [(c.field, c.before, c.after) for c in entry.changes] == [
        ("target", 10, 20),
        ("title", "G", "Bigger G"),
    ]
    assert history.title == "Bigger G"
    assert history.revisions == 1


def test_reschedules_record_their_slip_and_the_total_is_cumulative() -> None:
    h = History()
    gid = h.goal("G", due=DUE)
    h.reschedule(gid, day(10, 2), reason_code="infeasible", reason="too much", on=day(10))
    h.reschedule(gid, day(15, 2), reason_code="external_blocker", on=day(20))
    history = correction_history(h.state(), gid)
    first, second = history.entries
    assert (first.kind, first.from_due, first.to_due, first.slip_days) == (
        "rescheduled",
        DUE,
        day(10, 2),
        10,
    )
    assert (first.reason_code, first.reason) == ("infeasible", "too much")
    assert (second.from_due, second.to_due, second.slip_days) == (day(10, 2), day(15, 2), 5)
    assert (history.reschedules, history.slip_days) == (2, 15)
    assert (history.original_due_on, history.due_on) == (DUE, day(15, 2))


def test_pulling_a_due_date_in_is_a_negative_slip() -> None:
    h = History()
    gid = h.goal("G", due=DUE)
    h.reschedule(gid, day(10, 2), on=day(5))
    h.reschedule(gid, day(26), reason_code="priorities_changed", on=day(6))
    history = correction_history(h.state(), gid)
    assert [e.slip_days for e in history.entries] == [10, -15]
    assert history.slip_days == -5


def test_slip_is_measured_from_the_folded_due_date_not_the_events_from_due() -> None:
    h = History()
    gid = h.goal("G", due=DUE)
    # The event claims the goal was due on 10 Feb; the state knows it was due 31 Jan.
    h.reschedule(gid, day(14, 2), from_due=day(10, 2), on=day(5))
    (entry,) = correction_history(h.state(), gid).entries
    assert (entry.from_due, entry.slip_days) == (DUE, 14)


def test_milestone_reschedule_is_part_of_its_goals_history() -> None:
    h = History()
    gid = h.goal("G", due=DUE)
    mid = h.milestone(gid, "M", day(10))
    undated = h.milestone(gid, "U")
    h.reschedule_milestone(mid, day(17), reason_code="external_blocker", reason="venue", on=day(8))
    h.reschedule_milestone(undated, day(20), on=day(9))
    history = correction_history(h.state(), gid)
    first, second = history.entries
    assert (first.kind, first.milestone_id, first.from_due, first.to_due, first.slip_days) == (
        "milestone_rescheduled",
        mid,
        day(10),
        day(17),
        7,
    )
    assert (first.reason_code, first.reason) == ("external_blocker", "venue")
    assert (second.from_due, second.slip_days) == (None, 0)
    assert history.due_on == DUE  # the goal itself did not move
    assert history.reschedules == 0


def test_status_changes_are_entries_with_their_reasons_in_order() -> None:
    h = History()
    gid = h.goal("G", due=DUE)
    new = h.goal("New", due=day(28, 2))
    h.pause(gid, reason_code="life_event", reason="moving house", on=day(5))
    h.resume(gid, reason="settled", on=day(12))
    h.supersede(gid, new, reason="merged", on=day(20))
    history = correction_history(h.state(), gid)
    assert [(e.kind, e.reason_code, e.reason) for e in history.entries] == [
        ("paused", "life_event", "moving house"),
        ("resumed", None, "settled"),
        ("superseded", "superseded", "merged"),
    ]
    assert history.entries[-1].by_goal_id == new
    assert history.pauses == 1
    assert history.status == "superseded"


def test_drop_and_achieve_entries() -> None:
    h = History()
    dropped = h.goal("Dropped", due=DUE)
    achieved = h.goal("Achieved", due=DUE)
    h.drop(dropped, reason_code="no_longer_relevant", reason="new job", on=day(5))
    h.achieve(achieved, reflection="practice paid off", on=day(6))
    (drop,) = correction_history(h.state(), dropped).entries
    (win,) = correction_history(h.state(), achieved).entries
    assert (drop.kind, drop.reason_code, drop.reason, drop.occurred_on) == (
        "dropped",
        "no_longer_relevant",
        "new job",
        day(5),
    )
    assert (win.kind, win.reason_code, win.reason) == ("achieved", None, "practice paid off")


def test_entries_keep_both_when_it_happened_and_when_it_was_recorded() -> None:
    h = History()
    gid = h.goal("G", due=DUE)
    h.reschedule(gid, day(7, 2), on=day(5), recorded=day(20))
    (entry,) = correction_history(h.state(), gid).entries
    assert entry.occurred_on == day(5)
    assert entry.recorded_ms == int(at(day(20)).timestamp() * 1000)


def test_flagged_changes_leave_no_entry() -> None:
    h = History()
    gid = h.goal("G", due=DUE)
    h.resume(gid, on=day(2))  # not paused
    h.drop(gid, on=day(3))
    h.reschedule(gid, day(28, 2), on=day(4))  # closed
    history = correction_history(h.state(), gid)
    assert [e.kind for e in history.entries] == ["dropped"]
    assert history.due_on == DUE


def test_retracted_reschedule_disappears_from_the_history() -> None:
    h = History()
    gid = h.goal("G", due=DUE)
    wrong = h.reschedule(gid, day(28, 2), on=day(5))
    h.retract(wrong, on=day(6))
    history = correction_history(h.state(), gid)
    assert history.entries == []
    assert history.due_on == DUE


def test_reason_counts_most_frequent_first_across_goals() -> None:
    h = History()
    a = h.goal("A", due=DUE)
    b = h.goal("B", due=DUE)
    h.reschedule(a, day(7, 2), reason_code="infeasible", on=day(2))
    h.reschedule(b, day(7, 2), reason_code="infeasible", on=day(3))
    h.revise(a, ("title", "A", "A2"), reason_code="scope_changed", on=day(4))
    h.pause(b, reason_code="life_event", on=day(5))
    h.resume(b, on=day(6))  # no reason code
    h.pause(b, reason_code="life_event", on=day(7))
    h.drop(a, reason_code="infeasible", on=day(8))
    h.achieve(b, on=day(9))  # no reason code
    counts = reason_counts(h.state())
    assert [(c.reason_code, c.count) for c in counts] == [
        ("infeasible", 3),
        ("life_event", 2),
        ("scope_changed", 1),
    ]


def test_reason_counts_of_an_empty_log_is_empty() -> None:
    assert reason_counts(History().state()) == []
