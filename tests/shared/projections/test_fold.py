"""Folding events into a CareerState: transitions, flags and retractions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import msgspec
import pytest

from careerlog.shared.codec import canonical_key, decode_event, encode_event
from careerlog.shared.events import ALL_EVENT_TYPES
from careerlog.shared.projections import (
    apply,
    encode_state,
    fold,
    iso_week,
    needs_refold,
    new_state,
)
from tests.shared.builders import History, full_history


def day(n: int) -> date:
    """Day ``n`` of January 2026."""
    return date(2026, 1, n)


def flag_reasons(h: History) -> list[str]:
    return [f.reason for f in h.state().flags]


# --- fold and apply ---------------------------------------------------------------


def test_full_history_covers_every_event_type_and_folds_without_flags() -> None:
    h = full_history()
    assert {type(e).__name__ for e in h.events} == set(ALL_EVENT_TYPES)
    state = h.state()
    assert state.flags == []
    assert state.event_count == len(h.events)


def test_built_events_are_in_canonical_order_and_survive_the_codec() -> None:
    h = full_history()
    keys = [canonical_key(e) for e in h.events]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    decoded = [decode_event(encode_event(e)) for e in h.events]
    assert decoded == h.events
    assert encode_state(fold(decoded)) == encode_state(fold(h.events))


def test_fold_equals_applying_events_one_by_one() -> None:
    h = full_history()
    events = [e for e in h.events if not needs_refold(e)]
    state = new_state()
    for event in events:
        state = apply(state, event)
    assert encode_state(state) == encode_state(fold(events))


def test_fold_continues_from_a_given_state() -> None:
    h = full_history()
    head, tail = h.events[:20], h.events[20:]
    assert encode_state(fold(tail, fold(head))) == encode_state(fold(h.events))


def test_fold_accepts_any_iterable() -> None:
    h = full_history()
    assert encode_state(fold(iter(h.events))) == encode_state(fold(h.events))


def test_fold_is_total_even_for_events_in_the_wrong_order() -> None:
    h = full_history()
    state = fold(list(reversed(h.events)))  # must not raise
    assert state.event_count == len(h.events)
    assert state.flags  # the out-of-order references are flagged, not applied


def test_event_count_and_last_key_follow_the_last_event() -> None:
    h = History()
    gid = h.goal("G")
    last = h.progress(gid, 1)
    state = h.state()
    assert state.event_count == 2
    assert state.last_key == (last.hlc, last.device, last.dseq)


def test_only_retractions_need_a_refold() -> None:
    h = History()
    gid = h.goal("G")
    progress = h.progress(gid, 1)
    retraction = h.retract(progress)
    assert needs_refold(retraction)
    assert not needs_refold(progress)
    assert not needs_refold(h.events[0])


@pytest.mark.parametrize(
    ("day_", "week"),
    [
        (date(2026, 1, 1), "2026-W01"),
        (date(2025, 12, 29), "2026-W01"),  # ISO year starts on the Monday
        (date(2025, 12, 28), "2025-W52"),
        (date(2026, 1, 5), "2026-W02"),
        (date(2026, 12, 31), "2026-W53"),
    ],
)
def test_iso_week_labels(day_: date, week: str) -> None:
    assert iso_week(day_) == week


# --- goals --------------------------------------------------------------------------


def test_goal_set_records_the_plan_and_when_it_was_set() -> None:
    h = History()
    gid = h.goal("Ship", due=day(31), start=day(5), target=4, metric="talks", on=day(2))
    goal = h.state().goals[gid]
    assert (goal.title, goal.status, goal.horizon) == ("Ship", "active", "short")
    assert (goal.start_on, goal.due_on, goal.original_due_on, goal.set_on) == (
        day(5),
        day(31),
        day(31),
        day(2),
    )
    assert (goal.measure.metric, goal.measure.target) == ("talks", 4.0)


def test_setting_the_same_goal_twice_is_flagged_and_the_first_wins() -> None:
    h = History()
    gid = h.goal("First")
    h.add(type(h.last), **{**_body(h.last), "title": "Second"})
    state = h.state()
    assert state.goals[gid].title == "First"
    assert [f.reason for f in state.flags] == [f"goal {gid} already set"]
    assert state.flags[0].type == "GoalSet"
    assert state.flags[0].event_id == str(h.last.id)


def _body(event: object) -> dict[str, Any]:
    envelope = {"id", "v", "device", "dseq", "hlc", "occurred_at", "tz"}
    return {
        k: getattr(event, k)
        for k in event.__struct_fields__  # type: ignore[attr-defined]
        if k not in envelope
    }


def test_goal_with_unknown_parent_is_kept_and_flagged() -> None:
    h = History()
    gid = h.goal("Child", parent="zzzzzzzzzzzz")
    state = h.state()
    assert gid in state.goals
    assert flag_reasons(h) == ["unknown parent goal zzzzzzzzzzzz"]


def test_pause_then_resume() -> None:
    h = History()
    gid = h.goal("G")
    h.pause(gid, until=day(20), on=day(5))
    goal = h.state().goals[gid]
    assert (goal.status, goal.paused_until) == ("paused", day(20))
    h.resume(gid, on=day(10))
    goal = h.state().goals[gid]
    assert (goal.status, goal.paused_until) == ("active", None)
    assert flag_reasons(h) == []


def test_pausing_a_paused_goal_and_resuming_an_active_one_are_flagged() -> None:
    h = History()
    gid = h.goal("G")
    h.resume(gid, on=day(2))
    h.pause(gid, on=day(3))
    h.pause(gid, on=day(4))
    assert flag_reasons(h) == [f"goal {gid} is not paused", f"goal {gid} is already paused"]
    assert h.state().goals[gid].status == "paused"


def test_achieving_records_final_value_reflection_and_a_last_point() -> None:
    h = History()
    gid = h.goal("G")
    h.progress(gid, 7, day(5))
    h.achieve(gid, final_value=10, reflection="worth it", on=day(20))
    goal = h.state().goals[gid]
    assert (goal.status, goal.closed_on) == ("achieved", day(20))
    assert (goal.final_value, goal.last_value, goal.reflection) == (10.0, 10.0, "worth it")
    assert [(p.on, p.value) for p in goal.points] == [(day(5), 7.0), (day(20), 10.0)]
    assert goal.last_progress_on == day(20)


def test_achieving_a_paused_goal_is_allowed() -> None:
    h = History()
    gid = h.goal("G")
    h.pause(gid, on=day(3))
    h.achieve(gid, on=day(4))
    assert h.state().goals[gid].status == "achieved"
    assert flag_reasons(h) == []


def test_dropping_records_lessons_and_close_date() -> None:
    h = History()
    gid = h.goal("G")
    h.drop(gid, lessons="smaller steps", on=day(9))
    goal = h.state().goals[gid]
    assert (goal.status, goal.closed_on, goal.lessons) == ("dropped", day(9), "smaller steps")


def test_superseding_links_the_replacement() -> None:
    h = History()
    old = h.goal("Old")
    new = h.goal("New")
    h.supersede(old, new, on=day(9))
    goal = h.state().goals[old]
    assert (goal.status, goal.superseded_by, goal.closed_on) == ("superseded", new, day(9))
    assert h.state().goals[new].status == "active"


@pytest.mark.parametrize("by", ["zzzzzzzzzzzz", "self"])
def test_superseding_by_an_unknown_goal_or_itself_is_flagged(by: str) -> None:
    h = History()
    gid = h.goal("G")
    target = gid if by == "self" else by
    h.supersede(gid, target, on=day(9))
    assert h.state().goals[gid].status == "active"
    assert flag_reasons(h) == [f"unknown replacement goal {target}"]


@pytest.mark.parametrize("close", ["achieve", "drop", "supersede"])
@pytest.mark.parametrize(
    "then", ["progress", "achieve", "drop", "pause", "resume", "reschedule", "revise", "milestone"]
)
def test_events_about_a_closed_goal_are_kept_and_flagged_not_applied(close: str, then: str) -> None:
    h = History()
    gid = h.goal("G", due=day(31))
    other = h.goal("Other")
    if close == "supersede":
        h.supersede(gid, other, on=day(5))
    else:
        getattr(h, close)(gid, on=day(5))
    before = h.state()
    status = before.goals[gid].status
    actions: dict[str, Callable[[], object]] = {
        "progress": lambda: h.progress(gid, 3, day(6)),
        "achieve": lambda: h.achieve(gid, on=day(6)),
        "drop": lambda: h.drop(gid, on=day(6)),
        "pause": lambda: h.pause(gid, on=day(6)),
        "resume": lambda: h.resume(gid, on=day(6)),
        "reschedule": lambda: h.reschedule(gid, date(2026, 3, 1), on=day(6)),
        "revise": lambda: h.revise(gid, ("title", "G", "H"), on=day(6)),
        "milestone": lambda: h.milestone(gid, "M", on=day(6)),
    }
    actions[then]()
    state = h.state()
    goal = state.goals[gid]
    assert (goal.status, goal.due_on, goal.title) == (status, day(31), "G")
    assert goal.milestone_ids == []
    assert state.milestones == {}
    assert len(state.corrections[gid]) == len(before.corrections[gid])
    assert [f.reason for f in state.flags] == [f"goal {gid} is {status}"]
    assert state.event_count == len(h.events)


@pytest.mark.parametrize(
    "then",
    ["progress", "achieve", "drop", "pause", "resume", "reschedule", "revise", "supersede"],
)
def test_events_about_an_unknown_goal_are_flagged_and_never_raise(then: str) -> None:
    h = History()
    real = h.goal("Real")
    ghost = "zzzzzzzzzzzz"
    actions: dict[str, Callable[[], object]] = {
        "progress": lambda: h.progress(ghost, 3, day(6)),
        "achieve": lambda: h.achieve(ghost, on=day(6)),
        "drop": lambda: h.drop(ghost, on=day(6)),
        "pause": lambda: h.pause(ghost, on=day(6)),
        "resume": lambda: h.resume(ghost, on=day(6)),
        "reschedule": lambda: h.reschedule(ghost, date(2026, 3, 1), on=day(6)),
        "revise": lambda: h.revise(ghost, ("title", "a", "b"), on=day(6)),
        "supersede": lambda: h.supersede(ghost, real, on=day(6)),
    }
    actions[then]()
    state = h.state()
    assert list(state.goals) == [real]
    assert ghost not in state.corrections
    assert [f.reason for f in state.flags] == [f"unknown goal {ghost}"]
    assert state.weeks == {}  # a flagged progress is not a career action


# --- progress and revisions ---------------------------------------------------------------


def test_latest_checkin_by_occurred_date_sets_the_current_value() -> None:
    h = History()
    gid = h.goal("G")
    h.progress(gid, 5, day(10), confidence=0.9)
    h.progress(gid, 2, day(4), confidence=0.1)  # backdated: older than the latest
    goal = h.state().goals[gid]
    assert (goal.last_value, goal.last_progress_on, goal.last_confidence) == (5.0, day(10), 0.9)
    assert [p.value for p in goal.points] == [5.0, 2.0]  # history keeps both


def test_a_later_checkin_on_the_same_day_replaces_the_value() -> None:
    h = History()
    gid = h.goal("G")
    h.progress(gid, 5, day(10))
    h.progress(gid, 6, day(10))
    assert h.state().goals[gid].last_value == 6.0


def test_progress_on_a_paused_goal_is_recorded() -> None:
    h = History()
    gid = h.goal("G")
    h.pause(gid, on=day(2))
    h.progress(gid, 4, day(3))
    assert h.state().goals[gid].last_value == 4.0
    assert flag_reasons(h) == []


def test_latest_checkin_sets_the_value_even_if_a_task_was_completed_later() -> None:
    h = History()
    gid = h.goal("G")
    tid = h.task("T", gid)
    h.progress(gid, 3, day(5))
    h.complete(tid, day(20))
    h.progress(gid, 5, day(15))  # backdated, but still the latest check-in
    goal = h.state().goals[gid]
    assert goal.last_value == 5.0
    assert goal.last_progress_on == day(20)  # the task still counts as the latest progress


def test_revision_applies_text_measure_horizon_and_parent_changes() -> None:
    h = History()
    parent = h.goal("Parent")
    gid = h.goal("G", target=10, metric="posts")
    h.revise(
        gid,
        ("title", "G", "G2"),
        ("specific", "", "precise"),
        ("relevance", "", "matters"),
        ("metric", "posts", "articles"),
        ("unit", "", "pcs"),
        ("baseline", 0, 2),
        ("target", 10, 12),
        ("horizon", "short", "long"),
        ("parent", None, parent),
        on=day(3),
    )
    goal = h.state().goals[gid]
    assert (goal.title, goal.specific, goal.relevance, goal.horizon, goal.parent_id) == (
        "G2",
        "precise",
        "matters",
        "long",
        parent,
    )
    m = goal.measure
    assert (m.metric, m.unit, m.baseline, m.target) == ("articles", "pcs", 2.0, 12.0)
    assert flag_reasons(h) == []


def test_invalid_revision_changes_are_flagged_and_the_valid_ones_still_apply() -> None:
    h = History()
    gid = h.goal("G", target=10)
    h.revise(gid, ("target", 10, "lots"), ("title", "G", "Better"), on=day(3))
    goal = h.state().goals[gid]
    assert (goal.title, goal.measure.target) == ("Better", 10.0)
    assert flag_reasons(h) == ["cannot set target to 'lots'"]


def test_reschedule_moves_the_due_date_and_keeps_the_original() -> None:
    h = History()
    gid = h.goal("G", due=day(31))
    h.reschedule(gid, date(2026, 2, 14), on=day(10))
    goal = h.state().goals[gid]
    assert (goal.due_on, goal.original_due_on) == (date(2026, 2, 14), day(31))


# --- milestones and tasks -------------------------------------------------------------------


def test_milestone_for_an_unknown_goal_is_flagged_and_not_created() -> None:
    h = History()
    mid = h.milestone("zzzzzzzzzzzz", "M")
    state = h.state()
    assert mid not in state.milestones
    assert [f.reason for f in state.flags] == ["unknown goal zzzzzzzzzzzz"]


def test_reaching_a_milestone_twice_is_flagged_and_the_first_date_wins() -> None:
    h = History()
    gid = h.goal("G")
    mid = h.milestone(gid, "M", day(20))
    h.reach(mid, day(10), evidence=["pr#1"])
    h.reach(mid, day(12), evidence=["pr#2"])
    m = h.state().milestones[mid]
    assert (m.reached_on, m.evidence) == (day(10), ["pr#1"])
    assert flag_reasons(h) == [f"milestone {mid} already reached"]


def test_reaching_or_rescheduling_an_unknown_milestone_is_flagged() -> None:
    h = History()
    h.reach("zzzzzzzzzzzz", day(3))
    h.reschedule_milestone("zzzzzzzzzzzz", day(20), on=day(4))
    assert flag_reasons(h) == ["unknown milestone zzzzzzzzzzzz"] * 2


def test_milestone_reschedule_moves_its_due_date() -> None:
    h = History()
    gid = h.goal("G")
    mid = h.milestone(gid, "M", day(10))
    h.reschedule_milestone(mid, day(17), on=day(9))
    m = h.state().milestones[mid]
    assert (m.due_on, m.original_due_on) == (day(17), day(10))


def test_task_under_a_milestone_belongs_to_the_milestones_goal() -> None:
    h = History()
    gid = h.goal("G")
    mid = h.milestone(gid, "M")
    tid = h.task("T", milestone_id=mid)
    state = h.state()
    assert state.tasks[tid].goal_id == gid
    assert state.goals[gid].task_ids == [tid]


def test_task_with_unknown_milestone_or_goal_is_kept_and_flagged() -> None:
    h = History()
    t1 = h.task("T1", milestone_id="zzzzzzzzzzzz")
    t2 = h.task("T2", goal_id="yyyyyyyyyyyy")
    state = h.state()
    assert {t1, t2} <= set(state.tasks)
    assert [f.reason for f in state.flags] == [
        "unknown milestone zzzzzzzzzzzz",
        "unknown goal yyyyyyyyyyyy",
    ]


def test_task_transitions_and_impossible_ones() -> None:
    h = History()
    done, dropped = h.task("done"), h.task("dropped")
    h.complete(done, day(3))
    h.drop_task(dropped, on=day(3))
    h.complete(done, day(4))
    h.drop_task(done, on=day(4))
    h.complete(dropped, day(4))
    h.complete("zzzzzzzzzzzz", day(4))
    state = h.state()
    assert (state.tasks[done].status, state.tasks[done].closed_on) == ("done", day(3))
    assert (state.tasks[dropped].status, state.tasks[dropped].closed_on) == ("dropped", day(3))
    assert [f.reason for f in state.flags] == [
        f"task {done} is already done",
        f"task {done} is already done",
        f"task {dropped} is already dropped",
        "unknown task zzzzzzzzzzzz",
    ]


# --- activity, network, self-knowledge ----------------------------------------------------------


def test_activity_is_aggregated_not_listed() -> None:
    h = History()
    gid = h.goal("G")
    h.activity(day(5), "learning", minutes=30, goal_id=gid)
    h.activity(day(6), "learning", minutes=15)
    h.activity(day(12), "networking")
    state = h.state()
    assert state.activities == 3
    assert state.activity_minutes == 45
    assert state.activity_kinds == {"learning": 2, "networking": 1}
    assert state.weeks == {"2026-W02": 2, "2026-W03": 1}
    assert state.last_activity_on == day(12)
    assert state.goals[gid].last_activity_on == day(5)


def test_backdated_activity_does_not_move_the_last_activity_date_back() -> None:
    h = History()
    h.activity(day(12))
    h.activity(day(3))
    assert h.state().last_activity_on == day(12)


def test_activity_for_an_unknown_goal_still_counts_but_is_flagged() -> None:
    h = History()
    h.activity(day(5), goal_id="zzzzzzzzzzzz")
    state = h.state()
    assert state.activities == 1
    assert [f.reason for f in state.flags] == ["unknown goal zzzzzzzzzzzz"]


def test_goal_set_is_not_a_career_action_but_checkins_and_reviews_are() -> None:
    h = History()
    gid = h.goal("G", on=day(1))
    assert h.state().weeks == {}
    h.progress(gid, 1, day(5))
    h.review(day(6))
    h.research("Rust", on=day(7))
    h.assessment(("strength", "writing"), on=day(8))
    assert h.state().weeks == {"2026-W02": 4}


def test_interaction_updates_the_contact_and_settles_earlier_follow_ups() -> None:
    h = History()
    cid = h.contact("Ada", on=day(1))
    first = h.interaction(cid, day(5), follow_up_on=day(15))
    state = h.state()
    assert state.follow_ups[first].done_on is None
    assert (state.contacts[cid].interactions, state.contacts[cid].last_interaction_on) == (
        1,
        day(5),
    )
    second = h.interaction(cid, day(12), follow_up_on=day(26))
    state = h.state()
    assert state.follow_ups[first].done_on == day(12)
    assert state.follow_ups[second].done_on is None
    assert state.contacts[cid].interactions == 2


def test_backdated_interaction_does_not_settle_a_later_follow_up() -> None:
    h = History()
    cid = h.contact("Ada", on=day(1))
    fu = h.interaction(cid, day(10), follow_up_on=day(20))
    h.interaction(cid, day(4))
    state = h.state()
    assert state.follow_ups[fu].done_on is None
    assert state.contacts[cid].last_interaction_on == day(10)


def test_interaction_with_an_unknown_contact_is_flagged() -> None:
    h = History()
    h.interaction("zzzzzzzzzzzz", day(3), follow_up_on=day(9))
    state = h.state()
    assert state.follow_ups == {}
    assert [f.reason for f in state.flags] == ["unknown contact zzzzzzzzzzzz"]


def test_assessments_deduplicate_items_by_kind() -> None:
    h = History()
    h.assessment(("strength", "writing"), ("value", "autonomy"))
    h.assessment(("strength", "writing"), ("strength", "teaching"), ("interest", "ML"))
    state = h.state()
    assert state.assessments == 2
    assert state.strengths == ["writing", "teaching"]
    assert (state.values, state.interests, state.weaknesses) == (["autonomy"], ["ML"], [])


def test_feedback_and_research_are_counted_case_insensitively() -> None:
    h = History()
    h.feedback(skills=["Python", "SQL"])
    h.feedback(skills=["python"], contact_id="zzzzzzzzzzzz")
    h.research("Python")
    h.research("PYTHON")
    h.research("Staff engineer", kind="role")
    state = h.state()
    assert state.feedback == 2
    assert state.feedback_skills == {"python": 2, "sql": 1}
    assert state.research == {"skill:python": 2, "role:staff engineer": 1}
    assert [f.reason for f in state.flags] == ["unknown contact zzzzzzzzzzzz"]


def test_target_role_changes_are_counted() -> None:
    h = History()
    h.change_target_role("Lead", on=day(2))  # nothing to change yet
    h.target_role("Staff", on=day(3))
    h.change_target_role("Principal", on=day(4))
    state = h.state()
    assert state.target_role is not None
    assert (state.target_role.title, state.target_role.chosen_on) == ("Principal", day(4))
    assert state.target_role.changes == 3
    assert [f.reason for f in state.flags] == ["no target role to change"]


def test_roles_seasons_and_shares() -> None:
    h = History()
    role = h.start_role("Engineer", "Acme", on=day(1))
    h.end_role(role, on=day(10))
    h.end_role(role, on=day(11))
    h.end_role("zzzzzzzzzzzz", on=day(11))
    h.season("Growth", on=day(2))
    h.season("Harvest", on=day(9))
    h.share("coach", ["progress"], on=day(3))
    h.share("coach", ["history"], on=day(4))  # a new grant replaces the old one
    h.revoke("nobody", on=day(5))
    state = h.state()
    assert (state.roles[role].started_on, state.roles[role].ended_on) == (day(1), day(10))
    assert [s.label for s in state.seasons] == ["Growth", "Harvest"]
    assert state.shares["coach"].scopes == ["history"]
    assert [f.reason for f in state.flags] == [
        f"role {role} already ended",
        "unknown role zzzzzzzzzzzz",
        "nothing shared with nobody",
    ]
    h.revoke("coach", on=day(6))
    assert h.state().shares == {}


def test_skill_plans_are_keyed_case_insensitively_and_replaced() -> None:
    h = History()
    h.skill("Python", 3, 6)
    h.skill("python", 4, 8, on=day(5))
    plan = h.state().skills["python"]
    assert (plan.skill, plan.current_level, plan.target_level, plan.planned_on) == (
        "python",
        4,
        8,
        day(5),
    )


def test_review_is_kept_and_flags_unknown_goals_it_mentions() -> None:
    h = History()
    gid = h.goal("G")
    h.review(day(7), statuses=[(gid, "on_track"), ("zzzzzzzzzzzz", "blocked")], decisions=["x"])
    state = h.state()
    assert len(state.reviews) == 1
    assert state.reviews[0].on == day(7)
    assert state.reviews[0].decisions == ["x"]
    assert [f.reason for f in state.flags] == ["review mentions unknown goal zzzzzzzzzzzz"]


def test_cadence_is_the_latest_setting() -> None:
    h = History()
    h.cadence(7)
    h.cadence(14)
    assert h.state().review_every_days == 14


# --- dates ------------------------------------------------------------------------------------


def test_dates_are_the_calendar_day_in_the_events_own_zone() -> None:
    h = History()
    # 16:00 on 1 January UTC is 01:00 on 2 January in Tokyo, where it happened.
    gid = h.goal("G", on=datetime(2026, 1, 1, 16, 0, tzinfo=UTC))
    h.events[-1] = msgspec.structs.replace(h.events[-1], tz="Asia/Tokyo")
    assert h.state().goals[gid].set_on == date(2026, 1, 2)
    h.events[-1] = msgspec.structs.replace(h.events[-1], tz="-05:00")
    assert h.state().goals[gid].set_on == date(2026, 1, 1)
    h.events[-1] = msgspec.structs.replace(h.events[-1], tz="Nowhere/Unknown")
    assert h.state().goals[gid].set_on == date(2026, 1, 1)  # unknown zone: UTC


def test_utc_timestamps_near_midnight_use_their_own_date() -> None:
    h = History()
    gid = h.goal("G", on=datetime(2026, 1, 1, 23, 59, tzinfo=UTC))
    assert h.state().goals[gid].set_on == date(2026, 1, 1)


# --- retractions ---------------------------------------------------------------------------


def test_retracted_progress_has_no_effect_and_is_remembered() -> None:
    h = History()
    gid = h.goal("G")
    h.progress(gid, 3, day(5))
    wrong = h.progress(gid, 30, day(6))
    h.retract(wrong, reason="typo", on=day(7))
    state = h.state()
    goal = state.goals[gid]
    assert (goal.last_value, goal.last_progress_on) == (3.0, day(5))
    assert [p.value for p in goal.points] == [3.0]
    assert state.retracted == {str(wrong.id): "typo"}
    assert state.weeks == {"2026-W02": 1}
    assert state.event_count == len(h.events)  # retracted events stay in the log


def test_retracting_a_goal_flags_what_refers_to_it() -> None:
    h = History()
    gid = h.goal("G")
    set_event = h.last
    h.progress(gid, 3, day(5))
    h.retract(set_event, on=day(6))
    state = h.state()
    assert state.goals == {}
    assert [f.reason for f in state.flags] == [f"unknown goal {gid}"]


def test_retracting_a_drop_reopens_the_goal() -> None:
    h = History()
    gid = h.goal("G")
    dropped = h.drop(gid, on=day(5))
    h.retract(dropped, on=day(6))
    h.progress(gid, 4, day(7))
    state = h.state()
    assert state.goals[gid].status == "active"
    assert state.goals[gid].last_value == 4.0
    assert state.corrections.get(gid, []) == []
    assert state.flags == []


def test_apply_records_a_retraction_but_only_a_refold_removes_the_effect() -> None:
    h = History()
    gid = h.goal("G")
    wrong = h.progress(gid, 30, day(6))
    retraction = h.retract(wrong, on=day(7))
    state = fold(h.events[:-1])
    apply(state, retraction)
    assert state.retracted == {str(wrong.id): "mistake"}
    assert state.goals[gid].last_value == 30.0  # still there until a refold
    assert fold(h.events).goals[gid].last_value is None


def test_retracting_a_retraction_restores_the_original_event() -> None:
    h = History()
    gid = h.goal("G")
    progress = h.progress(gid, 5, day(5))
    first = h.retract(progress, on=day(6))
    h.retract(first, reason="it was right after all", on=day(7))
    assert h.state().goals[gid].last_value == 5.0
