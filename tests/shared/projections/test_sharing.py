"""Sharing: a coach sees the granted views, and the person's prose only under ``journal``."""

from __future__ import annotations

from datetime import date

from careerlog.shared.events import ALL_EVENT_TYPES
from careerlog.shared.projections.activity import insights
from careerlog.shared.projections.agenda import agenda
from careerlog.shared.projections.corrections import correction_history
from careerlog.shared.projections.journal import journal
from careerlog.shared.projections.sharing import (
    SCOPES,
    is_live,
    live_shares,
    shared_agenda,
    shared_history,
    shared_insights,
    shared_reviews,
    shared_timeline,
    shared_types,
)
from careerlog.shared.projections.timeline import timeline_entry
from tests.shared.builders import History

NO_JOURNAL = ("progress", "history", "timeline", "activity", "skills")
ALL = SCOPES


def day(n: int, month: int = 1) -> date:
    return date(2026, month, n)


def test_scopes_are_the_six_of_the_event_catalog() -> None:
    assert set(SCOPES) == {"progress", "history", "timeline", "activity", "journal", "skills"}


def test_a_grant_is_live_through_its_expiry_day_and_not_after() -> None:
    assert is_live(None, day(1, 12))
    assert is_live(day(10), day(10))
    assert not is_live(day(10), day(11))


def test_live_shares_leave_out_revoked_and_expired_grants() -> None:
    h = History()
    h.share("coach-a", ["progress"])
    h.share("coach-b", ["history"], expires_on=day(5))
    h.share("coach-c", ["skills"])
    h.revoke("coach-c")
    state = h.state()
    assert [s.grantee for s in live_shares(state, day(5))] == ["coach-a", "coach-b"]
    assert [s.grantee for s in live_shares(state, day(6))] == ["coach-a"]


def test_history_withholds_reasons_and_prose_changes_without_journal() -> None:
    h = History()
    gid = h.goal("Ship", due=day(31))
    h.revise(
        gid,
        ("specific", "old words", "new words"),
        ("target", 10, 20),
        reason_code="scope_changed",
        reason="my manager left",
    )
    h.reschedule(gid, day(10, 2), reason_code="infeasible", reason="burnt out")
    history = correction_history(h.state(), gid)
    shared = shared_history(history, NO_JOURNAL)
    assert [e.reason_code for e in shared.entries] == ["scope_changed", "infeasible"]
    assert [e.reason for e in shared.entries] == ["", ""]
    specific, target = shared.entries[0].changes
    assert (specific.before, specific.after) == ("", "")
    assert (target.before, target.after) == (10, 20)
    assert shared.slip_days == history.slip_days == 10
    assert b"burnt out" not in repr(shared).encode()
    assert b"old words" not in repr(shared).encode()
    # With journal, everything.
    assert shared_history(history, ALL) == history


def test_timeline_hides_prose_contacts_and_other_grantees_without_journal() -> None:
    h = History()
    gid = h.goal("Ship", due=day(31))
    h.activity(kind="learning", text="read my secret diary")
    h.feedback("you mumble", source_kind="peer")
    cid = h.contact("Grace Hopper", "mentor")
    h.interaction(cid)
    h.revise(gid, ("relevance", "a", "my private why"), reason_code="learned_new_info")
    h.share("other-coach", ["journal"])
    state = h.state()
    entries = [timeline_entry(e, state) for e in h.events]
    shown = shared_timeline(entries, NO_JOURNAL)
    text = " | ".join(e.summary for e in shown)
    for secret in ("secret diary", "mumble", "Grace", "private why", "other-coach"):
        assert secret not in text
    assert [e.type for e in shown] == [
        "GoalSet",
        "ActivityLogged",
        "FeedbackReceived",
        "ContactAdded",
        "InteractionLogged",
        "GoalRevised",
    ]
    assert [e.summary for e in shown[1:]] == [
        "learning",
        "feedback from peer",
        "added a mentor contact",
        "meeting with a contact",
        f"revised goal {gid} (learned_new_info)",
    ]
    with_journal = shared_timeline(entries, ALL)
    assert "read my secret diary" in with_journal[1].summary
    # Even with journal, a coach never sees whom else the person shares with.
    assert "SharingGranted" not in {e.type for e in with_journal}


def test_insights_and_agenda_name_no_contact_without_journal() -> None:
    h = History(today=day(1))
    cid = h.contact("Grace Hopper", "mentor", on=day(1))
    h.interaction(cid, on=day(1), follow_up_on=day(10))
    state = h.state()
    today = day(15, 6)
    view = shared_insights(insights(state, today), state, NO_JOURNAL)
    (cold,) = [w for w in view.warnings if w.code == "contact_cold"]
    assert "Grace" not in cold.message
    assert cold.message.startswith("not in touch with a mentor for")
    items = shared_agenda(agenda(state, day(9)), NO_JOURNAL)
    (follow_up,) = [i for i in items if i.kind == "follow_up"]
    assert follow_up.title == "follow up with a contact"
    assert "Grace" in shared_agenda(agenda(state, day(9)), ALL)[0].title


def test_reviews_keep_dates_and_statuses_but_not_notes_without_journal() -> None:
    h = History()
    gid = h.goal("Ship", due=day(31))
    h.review(on=day(3), statuses=[(gid, "at_risk")], decisions=["quit"], notes="rough week")
    h.review(on=day(10), notes="better")
    reviews = shared_reviews(h.state().reviews, NO_JOURNAL)
    assert [r.on for r in reviews] == [day(10), day(3)]
    assert [s.status for s in reviews[1].goal_statuses] == ["at_risk"]
    assert all(r.notes == "" and r.decisions == [] for r in reviews)
    full = shared_reviews(h.state().reviews, ALL)
    assert (full[1].notes, full[1].decisions) == ("rough week", ["quit"])


def test_journal_gathers_reviews_reflections_and_achievements_newest_first() -> None:
    h = History()
    done = h.goal("Done", due=day(31))
    gone = h.goal("Gone", due=day(31))
    plain = h.goal("Plain", due=day(31))
    h.achieve(done, reflection="worth it", on=day(5))
    h.drop(gone, lessons="smaller steps", on=day(7))
    h.drop(plain, on=day(8))
    h.achievement("Talk", on=day(2))
    h.review(on=day(9), notes="n")
    view = journal(h.state())
    assert [(r.title, r.reflection, r.lessons) for r in view.reflections] == [
        ("Gone", "", "smaller steps"),
        ("Done", "worth it", ""),
    ]
    assert [a.title for a in view.achievements] == ["Talk"]
    assert [r.notes for r in view.reviews] == ["n"]


def test_a_coachs_timeline_query_never_asks_for_sharing_entries() -> None:
    every = shared_types(None)
    assert every == ALL_EVENT_TYPES.keys() - {"SharingGranted", "SharingRevoked"}
    assert shared_types(frozenset({"GoalSet", "SharingGranted"})) == {"GoalSet"}
    assert shared_types(frozenset({"SharingRevoked"})) == frozenset()
