"""A readable builder of event histories for projection tests.

``History`` mints real, validated events from one device with deterministic
ids, an auto-incrementing ``dseq`` and an HLC that follows the occurred time
(or an explicit ``recorded`` time for backdated entries), never going
backwards, so ``history.events`` is always in canonical order::

    h = History()
    gid = h.goal("Ship the thing", due=date(2026, 1, 31), start=date(2026, 1, 1))
    h.progress(gid, 5, on=date(2026, 1, 16))
    state = h.state()

Methods that create a record return its record id; the others return the
event. ``h.last`` is the most recently appended event.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from typing import Any, TypeVar

import msgspec

from careerlog.shared import hlc
from careerlog.shared.events import (
    AchievementLogged,
    ActivityLogged,
    ContactAdded,
    EntryRetracted,
    Event,
    EventBase,
    FeedbackReceived,
    FieldChange,
    GoalAchieved,
    GoalDropped,
    GoalPaused,
    GoalRescheduled,
    GoalResumed,
    GoalRevised,
    GoalSet,
    GoalSuperseded,
    InteractionLogged,
    MilestoneDefined,
    MilestoneReached,
    MilestoneRescheduled,
    ProgressRecorded,
    ResearchNoted,
    ReviewCadenceSet,
    ReviewCompleted,
    RoleEnded,
    RoleStarted,
    SeasonStarted,
    SelfAssessmentRecorded,
    SharingGranted,
    SharingRevoked,
    SkillPlanAdded,
    TargetRoleChanged,
    TargetRoleChosen,
    TaskCompleted,
    TaskDropped,
    TaskPlanned,
)
from careerlog.shared.ids import record_id, uuid7
from careerlog.shared.projections import CareerState, fold

__all__ = ["DEVICE", "History", "at"]

DEVICE = "test-device"
E = TypeVar("E", bound=EventBase)
When = date | datetime


def at(day: When, hour: int = 12) -> datetime:
    """An aware UTC datetime: a date at ``hour`` o'clock, or a datetime as given."""
    if isinstance(day, datetime):
        if day.tzinfo is None:
            raise ValueError("use aware datetimes in tests")
        return day
    return datetime.combine(day, time(hour), tzinfo=UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class History:
    """An append-only list of events from one device, built step by step."""

    def __init__(self, *, device: str = DEVICE, today: date = date(2026, 1, 1)) -> None:
        self.device = device
        #: The day used when a method is not told ``on``.
        self.today = today
        self.events: list[Event] = []
        self._n = 0
        self._hlc = 0
        self._goal_due: dict[str, date] = {}
        self._milestone_due: dict[str, date | None] = {}

    # --- plumbing -------------------------------------------------------------

    @property
    def last(self) -> Event:
        return self.events[-1]

    def state(self) -> CareerState:
        return fold(list(self.events))

    def _next(self) -> int:
        self._n += 1
        return self._n

    def new_record_id(self) -> str:
        # ``record_id`` keeps the top 60 bits of 8 bytes: shift the counter
        # past the 4 dropped bits so ids read 000000000001, 000000000002, …
        return record_id((self._next() << 4).to_bytes(8, "big"))

    def add(
        self, cls: type[E], *, on: When | None = None, recorded: When | None = None, **body: Any
    ) -> E:
        """Validate and append one event of ``cls`` with a fresh envelope."""
        occurred = at(on if on is not None else self.today)
        stamp = at(recorded) if recorded is not None else occurred
        self._hlc = hlc.tick(self._hlc, _ms(stamp))
        n = self._next()
        fields = {
            "id": uuid7(hlc.wall_ms(self._hlc), n.to_bytes(10, "big")),
            "device": self.device,
            "dseq": len(self.events) + 1,
            "hlc": self._hlc,
            "occurred_at": occurred,
            "tz": "UTC",
            **body,
        }
        event = msgspec.convert(fields, cls, from_attributes=True)
        self.events.append(event)  # type: ignore[arg-type]
        return event

    # --- planning ---------------------------------------------------------------

    def goal(
        self,
        title: str = "Goal",
        due: date = date(2026, 1, 31),
        start: date | None = None,
        *,
        target: float = 10.0,
        baseline: float = 0.0,
        metric: str = "units",
        unit: str = "",
        horizon: str = "short",
        parent: str | None = None,
        on: When | None = None,
        recorded: When | None = None,
    ) -> str:
        goal_id = self.new_record_id()
        occurred = at(on if on is not None else self.today)
        self.add(
            GoalSet,
            on=occurred,
            recorded=recorded,
            goal_id=goal_id,
            title=title,
            measure={"metric": metric, "unit": unit, "baseline": baseline, "target": target},
            start_on=start or occurred.date(),
            due_on=due,
            horizon=horizon,
            parent_id=parent,
        )
        self._goal_due[goal_id] = due
        return goal_id

    def milestone(
        self,
        goal_id: str,
        title: str = "Milestone",
        due: date | None = None,
        *,
        on: When | None = None,
    ) -> str:
        milestone_id = self.new_record_id()
        self.add(
            MilestoneDefined,
            on=on,
            milestone_id=milestone_id,
            goal_id=goal_id,
            title=title,
            due_on=due,
        )
        self._milestone_due[milestone_id] = due
        return milestone_id

    def task(
        self,
        title: str = "Task",
        goal_id: str | None = None,
        milestone_id: str | None = None,
        due: date | None = None,
        *,
        on: When | None = None,
    ) -> str:
        task_id = self.new_record_id()
        self.add(
            TaskPlanned,
            on=on,
            task_id=task_id,
            title=title,
            goal_id=goal_id,
            milestone_id=milestone_id,
            due_on=due,
        )
        return task_id

    def skill(
        self,
        name: str,
        current: int,
        target: int,
        by: date | None = None,
        goal_id: str | None = None,
        *,
        on: When | None = None,
    ) -> SkillPlanAdded:
        return self.add(
            SkillPlanAdded,
            on=on,
            skill=name,
            current_level=current,
            target_level=target,
            by_date=by,
            goal_id=goal_id,
        )

    def cadence(self, days: int, *, on: When | None = None) -> ReviewCadenceSet:
        return self.add(ReviewCadenceSet, on=on, every_days=days)

    # --- daily action and progress ------------------------------------------------

    def activity(
        self,
        on: When | None = None,
        kind: str = "learning",
        text: str = "did something",
        *,
        goal_id: str | None = None,
        minutes: int | None = None,
        skill: str | None = None,
        recorded: When | None = None,
    ) -> str:
        activity_id = self.new_record_id()
        self.add(
            ActivityLogged,
            on=on,
            recorded=recorded,
            activity_id=activity_id,
            text=text,
            kind=kind,
            goal_id=goal_id,
            minutes=minutes,
            skill=skill,
        )
        return activity_id

    def progress(
        self,
        goal_id: str,
        value: float,
        on: When | None = None,
        *,
        confidence: float | None = None,
        recorded: When | None = None,
    ) -> ProgressRecorded:
        return self.add(
            ProgressRecorded,
            on=on,
            recorded=recorded,
            goal_id=goal_id,
            value=value,
            confidence=confidence,
        )

    def complete(self, task_id: str, on: When | None = None) -> TaskCompleted:
        return self.add(TaskCompleted, on=on, task_id=task_id)

    def reach(
        self, milestone_id: str, on: When | None = None, *, evidence: Sequence[str] = ()
    ) -> MilestoneReached:
        return self.add(MilestoneReached, on=on, milestone_id=milestone_id, evidence=list(evidence))

    def achievement(
        self, title: str = "Achievement", goal_id: str | None = None, *, on: When | None = None
    ) -> str:
        achievement_id = self.new_record_id()
        self.add(
            AchievementLogged,
            on=on,
            achievement_id=achievement_id,
            title=title,
            goal_id=goal_id,
        )
        return achievement_id

    # --- course-corrections ---------------------------------------------------------

    def revise(
        self,
        goal_id: str,
        *changes: FieldChange | tuple[str, Any, Any],
        reason_code: str = "learned_new_info",
        reason: str = "",
        on: When | None = None,
        recorded: When | None = None,
    ) -> GoalRevised:
        """``revise(gid, ("target", 10, 20))``: each change is (field, before, after)."""
        # Dicts, not structs, so msgspec validates and coerces them like a
        # decoded event (ints become floats for numeric fields).
        items = [
            msgspec.structs.asdict(c)
            if isinstance(c, FieldChange)
            else {"field": c[0], "before": c[1], "after": c[2]}
            for c in changes
        ]
        return self.add(
            GoalRevised,
            on=on,
            recorded=recorded,
            goal_id=goal_id,
            changes=items,
            reason_code=reason_code,
            reason=reason,
        )

    def reschedule(
        self,
        goal_id: str,
        to_due: date,
        *,
        from_due: date | None = None,
        reason_code: str = "infeasible",
        reason: str = "",
        on: When | None = None,
        recorded: When | None = None,
    ) -> GoalRescheduled:
        before = from_due or self._goal_due.get(goal_id, to_due)
        event = self.add(
            GoalRescheduled,
            on=on,
            recorded=recorded,
            goal_id=goal_id,
            from_due=before,
            to_due=to_due,
            reason_code=reason_code,
            reason=reason,
        )
        self._goal_due[goal_id] = to_due
        return event

    def reschedule_milestone(
        self,
        milestone_id: str,
        to_due: date,
        *,
        reason_code: str = "external_blocker",
        reason: str = "",
        on: When | None = None,
    ) -> MilestoneRescheduled:
        event = self.add(
            MilestoneRescheduled,
            on=on,
            milestone_id=milestone_id,
            from_due=self._milestone_due.get(milestone_id),
            to_due=to_due,
            reason_code=reason_code,
            reason=reason,
        )
        self._milestone_due[milestone_id] = to_due
        return event

    def drop_task(
        self, task_id: str, *, reason_code: str = "no_longer_relevant", on: When | None = None
    ) -> TaskDropped:
        return self.add(TaskDropped, on=on, task_id=task_id, reason_code=reason_code)

    def pause(
        self,
        goal_id: str,
        *,
        reason_code: str = "life_event",
        reason: str = "",
        until: date | None = None,
        on: When | None = None,
    ) -> GoalPaused:
        return self.add(
            GoalPaused,
            on=on,
            goal_id=goal_id,
            reason_code=reason_code,
            reason=reason,
            until=until,
        )

    def resume(self, goal_id: str, *, reason: str = "", on: When | None = None) -> GoalResumed:
        return self.add(GoalResumed, on=on, goal_id=goal_id, reason=reason)

    def achieve(
        self,
        goal_id: str,
        *,
        final_value: float | None = None,
        reflection: str = "",
        on: When | None = None,
    ) -> GoalAchieved:
        return self.add(
            GoalAchieved,
            on=on,
            goal_id=goal_id,
            final_value=final_value,
            reflection=reflection,
        )

    def drop(
        self,
        goal_id: str,
        *,
        reason_code: str = "no_longer_relevant",
        reason: str = "",
        lessons: str = "",
        on: When | None = None,
    ) -> GoalDropped:
        return self.add(
            GoalDropped,
            on=on,
            goal_id=goal_id,
            reason_code=reason_code,
            reason=reason,
            lessons=lessons,
        )

    def supersede(
        self,
        goal_id: str,
        by: str,
        *,
        reason_code: str = "superseded",
        reason: str = "",
        on: When | None = None,
    ) -> GoalSuperseded:
        return self.add(
            GoalSuperseded,
            on=on,
            goal_id=goal_id,
            by_goal_id=by,
            reason_code=reason_code,
            reason=reason,
        )

    def review(
        self,
        on: When | None = None,
        *,
        statuses: Iterable[tuple[str, str]] = (),
        decisions: Sequence[str] = (),
        notes: str = "",
    ) -> str:
        review_id = self.new_record_id()
        self.add(
            ReviewCompleted,
            on=on,
            review_id=review_id,
            goal_statuses=[{"goal_id": g, "status": s} for g, s in statuses],
            decisions=list(decisions),
            notes=notes,
        )
        return review_id

    # --- self-knowledge, network, the long arc -----------------------------------------

    def assessment(self, *items: tuple[str, str], on: When | None = None) -> SelfAssessmentRecorded:
        """``assessment(("strength", "writing"), ("value", "autonomy"))``."""
        return self.add(
            SelfAssessmentRecorded,
            on=on,
            assessment_id=self.new_record_id(),
            items=[{"kind": k, "text": t} for k, t in items],
        )

    def feedback(
        self,
        summary: str = "Feedback",
        *,
        skills: Sequence[str] = (),
        source_kind: str = "manager",
        contact_id: str | None = None,
        on: When | None = None,
    ) -> FeedbackReceived:
        return self.add(
            FeedbackReceived,
            on=on,
            feedback_id=self.new_record_id(),
            summary=summary,
            source_kind=source_kind,
            contact_id=contact_id,
            skills=list(skills),
        )

    def research(
        self, subject: str, *, kind: str = "skill", on: When | None = None
    ) -> ResearchNoted:
        return self.add(
            ResearchNoted,
            on=on,
            research_id=self.new_record_id(),
            subject_kind=kind,
            subject=subject,
        )

    def target_role(self, title: str, *, on: When | None = None) -> str:
        target_id = self.new_record_id()
        self.add(TargetRoleChosen, on=on, target_id=target_id, title=title)
        return target_id

    def change_target_role(
        self, title: str, *, reason_code: str = "priorities_changed", on: When | None = None
    ) -> str:
        target_id = self.new_record_id()
        self.add(
            TargetRoleChanged, on=on, target_id=target_id, title=title, reason_code=reason_code
        )
        return target_id

    def contact(
        self, name: str = "Ada", relation: str = "mentor", *, on: When | None = None
    ) -> str:
        contact_id = self.new_record_id()
        self.add(ContactAdded, on=on, contact_id=contact_id, name=name, relation=relation)
        return contact_id

    def interaction(
        self,
        contact_id: str,
        on: When | None = None,
        *,
        follow_up_on: date | None = None,
        kind: str = "meeting",
    ) -> str:
        interaction_id = self.new_record_id()
        self.add(
            InteractionLogged,
            on=on,
            interaction_id=interaction_id,
            contact_id=contact_id,
            kind=kind,
            follow_up_on=follow_up_on,
        )
        return interaction_id

    def season(self, label: str, *, on: When | None = None) -> str:
        season_id = self.new_record_id()
        self.add(SeasonStarted, on=on, season_id=season_id, label=label)
        return season_id

    def start_role(self, title: str, org: str = "", *, on: When | None = None) -> str:
        role_id = self.new_record_id()
        self.add(RoleStarted, on=on, role_id=role_id, title=title, org=org)
        return role_id

    def end_role(self, role_id: str, *, on: When | None = None) -> RoleEnded:
        return self.add(RoleEnded, on=on, role_id=role_id)

    def share(
        self,
        grantee: str,
        scopes: Sequence[str] = ("progress",),
        *,
        expires_on: date | None = None,
        on: When | None = None,
    ) -> SharingGranted:
        return self.add(
            SharingGranted, on=on, grantee=grantee, scopes=list(scopes), expires_on=expires_on
        )

    def revoke(self, grantee: str, *, on: When | None = None) -> SharingRevoked:
        return self.add(SharingRevoked, on=on, grantee=grantee)

    def retract(
        self, event: EventBase, *, reason: str = "mistake", on: When | None = None
    ) -> EntryRetracted:
        return self.add(EntryRetracted, on=on, target=event.id, reason=reason)

    def event_for(self, record: str) -> Event:
        """The first event whose body names ``record`` as the record it creates."""
        for event in self.events:
            for name in msgspec.structs.fields(event):
                if name.name.endswith("_id") and getattr(event, name.name) == record:
                    return event
        raise KeyError(record)


def full_history() -> History:
    """A small but complete history: at least one event of every type, no flags."""
    h = History(today=date(2026, 1, 5))
    h.assessment(("strength", "writing"), ("weakness", "delegation"), ("value", "autonomy"))
    h.research("Staff engineer", kind="role")
    h.target_role("Staff engineer")
    h.change_target_role("Engineering manager", on=date(2026, 1, 6))
    h.season("Growth", on=date(2026, 1, 6))
    role = h.start_role("Senior engineer", "Acme", on=date(2026, 1, 6))
    gid = h.goal("Give talks", due=date(2026, 3, 31), start=date(2026, 1, 5), target=4)
    other = h.goal("Write posts", due=date(2026, 2, 28), start=date(2026, 1, 5), target=6)
    spare = h.goal("Learn Rust", due=date(2026, 4, 30), start=date(2026, 1, 5))
    mid = h.milestone(gid, "First talk", date(2026, 2, 1))
    tid = h.task("Draft abstract", gid, mid, date(2026, 1, 20))
    dropped_task = h.task("Buy a mic", due=date(2026, 1, 25))
    h.skill("Public speaking", 3, 7, date(2026, 6, 1), gid)
    h.cadence(14)
    cid = h.contact("Ada", "mentor")
    h.feedback("Great demo", skills=["public speaking"], contact_id=cid, on=date(2026, 1, 7))
    h.interaction(cid, date(2026, 1, 8), follow_up_on=date(2026, 1, 22))
    h.activity(date(2026, 1, 9), "speaking", goal_id=gid, minutes=30, skill="Public speaking")
    h.progress(gid, 1, date(2026, 1, 12), confidence=0.7)
    h.complete(tid, date(2026, 1, 13))
    h.drop_task(dropped_task, on=date(2026, 1, 13))
    h.reach(mid, date(2026, 1, 14), evidence=["slides"])
    h.achievement("Meetup talk", gid, on=date(2026, 1, 14))
    h.revise(gid, ("target", 4, 5), reason_code="scope_changed", on=date(2026, 1, 15))
    h.reschedule(gid, date(2026, 4, 15), on=date(2026, 1, 15))
    h.reschedule_milestone(mid, date(2026, 2, 8), on=date(2026, 1, 15))
    h.pause(spare, until=date(2026, 2, 1), on=date(2026, 1, 16))
    h.resume(spare, on=date(2026, 1, 19))
    h.review(date(2026, 1, 19), statuses=[(gid, "on_track")], decisions=["keep going"])
    h.achieve(other, final_value=6, reflection="done early", on=date(2026, 1, 20))
    h.drop(spare, lessons="not now", on=date(2026, 1, 21))
    replacement = h.goal("Give more talks", due=date(2026, 6, 30), on=date(2026, 1, 22))
    h.supersede(gid, replacement, on=date(2026, 1, 22))
    h.end_role(role, on=date(2026, 1, 23))
    h.share("coach@example.com", ["progress", "history"], on=date(2026, 1, 23))
    h.share("old-coach@example.com", on=date(2026, 1, 23))
    h.revoke("old-coach@example.com", on=date(2026, 1, 24))
    mistake = h.activity(date(2026, 1, 24), "other", text="typo")
    h.retract(h.event_for(mistake), on=date(2026, 1, 24))
    return h
