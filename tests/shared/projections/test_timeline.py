"""The timeline with both times: as recorded (plan_as_of) and as occurred (happened_by)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from careerlog.shared.projections.timeline import (
    happened_by,
    plan_as_of,
    plan_view,
    recorded_at,
    timeline_entry,
)
from tests.shared.builders import History, at, full_history


def day(n: int, month: int = 1) -> date:
    return date(2026, month, n)


def test_backdated_checkin_is_in_happened_by_but_not_in_the_plan_as_recorded_then() -> None:
    h = History()
    gid = h.goal("Ship", due=day(31), start=day(1))
    h.progress(gid, 5, day(10), recorded=day(20))  # entered ten days late
    when = at(day(15))
    assert plan_as_of(h.events, when).goals[gid].last_value is None
    assert happened_by(h.events, when).goals[gid].last_value == 5.0
    # Once it has been recorded, both views agree.
    later = at(day(21))
    assert plan_as_of(h.events, later).goals[gid].last_value == 5.0
    assert happened_by(h.events, later).goals[gid].last_value == 5.0


def test_backdated_revision_changes_what_happened_but_not_what_was_believed() -> None:
    h = History()
    gid = h.goal("Ship", due=day(31), start=day(1), target=10)
    h.revise(gid, ("target", 10, 20), on=day(5), recorded=day(20))
    when = at(day(10))
    assert plan_as_of(h.events, when).goals[gid].measure.target == 10.0
    assert happened_by(h.events, when).goals[gid].measure.target == 20.0


def test_both_views_exclude_what_neither_happened_nor_was_recorded_yet() -> None:
    h = History()
    gid = h.goal("Ship", due=day(31), start=day(1))
    h.progress(gid, 3, day(12))
    for view in (plan_as_of, happened_by):
        state = view(h.events, at(day(11)))
        assert state.goals[gid].last_value is None
        assert state.event_count == 1


def test_bounds_are_inclusive() -> None:
    h = History()
    gid = h.goal("Ship", due=day(31), start=day(1))
    event = h.progress(gid, 3, day(12))
    assert plan_as_of(h.events, recorded_at(event)).goals[gid].last_value == 3.0
    assert happened_by(h.events, event.occurred_at).goals[gid].last_value == 3.0


def test_plan_as_of_honours_only_retractions_recorded_by_then() -> None:
    h = History()
    gid = h.goal("Ship", due=day(31), start=day(1))
    wrong = h.progress(gid, 9, day(5))
    h.retract(wrong, on=day(20))
    assert plan_as_of(h.events, at(day(10))).goals[gid].last_value == 9.0
    assert plan_as_of(h.events, at(day(25))).goals[gid].last_value is None


def test_happened_by_leaves_out_events_retracted_later() -> None:
    h = History()
    gid = h.goal("Ship", due=day(31), start=day(1))
    wrong = h.progress(gid, 9, day(5))
    h.retract(wrong, on=day(20))
    assert happened_by(h.events, at(day(10))).goals[gid].last_value is None


def test_recorded_at_is_the_wall_clock_part_of_the_hlc() -> None:
    h = History()
    gid = h.goal("Ship")
    event = h.progress(gid, 1, day(3), recorded=datetime(2026, 1, 9, 8, 30, 15, tzinfo=UTC))
    assert recorded_at(event) == datetime(2026, 1, 9, 8, 30, 15, tzinfo=UTC)
    assert event.occurred_at == at(day(3))


# --- plan view ------------------------------------------------------------------------


def test_plan_view_lists_goals_by_due_date_with_their_milestones() -> None:
    h = History()
    late = h.goal("Late", due=day(28, 2), start=day(1), metric="talks", unit="x", target=4)
    early = h.goal("Early", due=day(31), start=day(1))
    m = h.milestone(late, "First", day(15))
    h.progress(late, 1, day(10))
    h.reach(m, day(11))
    view = plan_view(h.state())
    assert [g.goal_id for g in view.goals] == [early, late]
    g = view.goals[1]
    assert (g.title, g.status, g.metric, g.unit, g.baseline, g.target, g.current) == (
        "Late",
        "active",
        "talks",
        "x",
        0.0,
        4.0,
        1.0,
    )
    assert [(pm.milestone_id, pm.due_on, pm.reached_on) for pm in g.milestones] == [
        (m, day(15), day(11))
    ]


def test_plan_view_context_fields() -> None:
    h = History()
    h.target_role("Staff", on=day(1))
    h.season("Growth", on=day(1))
    h.season("Focus", on=day(2))
    first = h.start_role("Engineer", on=day(1))
    h.start_role("Senior engineer", on=day(3))
    h.end_role(first, on=day(3))
    h.cadence(14)
    h.task("Open")
    done = h.task("Done")
    h.complete(done, day(4))
    view = plan_view(h.state())
    assert (view.target_role, view.season, view.role) == ("Staff", "Focus", "Senior engineer")
    assert (view.open_tasks, view.review_every_days, view.events) == (1, 14, len(h.events))


def test_plan_view_of_an_empty_log() -> None:
    view = plan_view(History().state())
    assert (view.events, view.goals, view.open_tasks) == (0, [], 0)
    assert (view.target_role, view.season, view.role, view.review_every_days) == (
        None,
        None,
        None,
        None,
    )


# --- entries ------------------------------------------------------------------------------


def test_timeline_entry_has_both_times_and_the_record() -> None:
    h = History()
    gid = h.goal("Ship", due=day(31), on=day(2), recorded=day(4))
    entry = timeline_entry(h.last)
    assert entry.type == "GoalSet"
    assert entry.event_id == str(h.last.id)
    assert entry.occurred_at == at(day(2))
    assert entry.recorded_at == at(day(4))
    assert entry.summary == "set goal 'Ship' due 2026-01-31"
    assert entry.record_id == gid
    assert entry.retracted is False


def test_timeline_entry_names_records_from_the_state_when_given() -> None:
    h = History()
    gid = h.goal("Ship")
    event = h.progress(gid, 2.5, day(3))
    assert timeline_entry(event, h.state()).summary == "progress 2.5 on 'Ship'"
    assert timeline_entry(event).summary == f"progress 2.5 on goal {gid}"


def test_timeline_entry_marks_retracted_events() -> None:
    h = History()
    gid = h.goal("Ship")
    wrong = h.progress(gid, 9, day(3))
    retraction = h.retract(wrong, on=day(4))
    state = h.state()
    assert timeline_entry(wrong, state).retracted is True
    assert timeline_entry(h.events[0], state).retracted is False
    assert timeline_entry(retraction, state).summary == f"retracted event {wrong.id}"


def test_course_correction_summaries_carry_the_reason_code() -> None:
    h = History()
    gid = h.goal("Ship", due=day(31), target=10)
    revised = h.revise(gid, ("target", 10, 20), reason_code="scope_changed", on=day(2))
    moved = h.reschedule(gid, day(14, 2), reason_code="infeasible", on=day(3))
    paused = h.pause(gid, reason_code="life_event", on=day(4))
    state = h.state()
    assert timeline_entry(revised, state).summary == (
        "revised 'Ship': target 10.0 -> 20.0 (scope_changed)"
    )
    assert timeline_entry(moved, state).summary == (
        "rescheduled 'Ship' 2026-01-31 -> 2026-02-14 (infeasible)"
    )
    assert timeline_entry(paused, state).summary == "paused 'Ship' (life_event)"


def test_every_event_type_has_a_summary_other_than_its_type_name() -> None:
    h = full_history()
    state = h.state()
    for event in h.events:
        entry = timeline_entry(event, state)
        assert entry.summary
        assert entry.summary != type(event).__name__
