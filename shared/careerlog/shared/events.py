"""The event catalog: every fact Careerlog records, as one tagged union.

Rules of this module:
- Events are immutable facts. A field added later gets a default so old
  events still decode; a breaking change bumps the type's ``v`` and adds a
  pure upcaster in :mod:`careerlog.shared.upcasting`. Never edit the meaning of
  a field in place.
- The envelope (``id``, ``v``, ``device``, ``dseq``, ``hlc``, ``occurred_at``,
  ``tz``) is minted by the recording device. The server adds the user, ``pos``
  and ``received_at`` outside the event; an event never names its user.
- Records (goals, milestones, tasks, contacts, …) are named by short record ids
  (:func:`careerlog.shared.ids.record_id`) carried in the body, so later events
  can refer to them; the envelope ``id`` names the event itself.
- ``occurred_at`` is when it happened in the person's life (may be backdated),
  ``hlc`` is when it was recorded. Folding uses ``(hlc, device, dseq)``.
"""

from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeAlias
from uuid import UUID

import msgspec
from msgspec import Meta

__all__ = [
    "ACTIVITY_KINDS",
    "ALL_EVENT_TYPES",
    "CONTACT_RELATIONS",
    "CURRENT_VERSIONS",
    "REASON_CODES",
    "AchievementLogged",
    "ActivityKind",
    "ActivityLogged",
    "AssessmentItem",
    "ContactAdded",
    "ContactRelation",
    "EntryRetracted",
    "Envelope",
    "Event",
    "EventBase",
    "FeedbackReceived",
    "FieldChange",
    "GoalAchieved",
    "GoalDropped",
    "GoalField",
    "GoalPaused",
    "GoalRescheduled",
    "GoalResumed",
    "GoalRevised",
    "GoalSet",
    "GoalStatusNote",
    "GoalSuperseded",
    "Horizon",
    "InteractionLogged",
    "Measure",
    "MilestoneDefined",
    "MilestoneReached",
    "MilestoneRescheduled",
    "ProgressRecorded",
    "ReasonCode",
    "ResearchNoted",
    "ReviewCadenceSet",
    "ReviewCompleted",
    "RoleEnded",
    "RoleStarted",
    "SeasonStarted",
    "SelfAssessmentRecorded",
    "SharingGranted",
    "SharingRevoked",
    "SkillPlanAdded",
    "TargetRoleChanged",
    "TargetRoleChosen",
    "TaskCompleted",
    "TaskDropped",
    "TaskPlanned",
]

# --- constrained scalars -----------------------------------------------------

#: Minted as 12 lowercase Crockford base32 characters (careerlog.shared.ids).
#: Only the length is checked on decode: a regex per id field would cost more
#: than the rest of decoding an event, and an id is an opaque key.
RecordId = Annotated[str, Meta(min_length=1, max_length=32)]
Title = Annotated[str, Meta(min_length=1, max_length=300)]
Text = Annotated[str, Meta(max_length=10_000)]
ShortText = Annotated[str, Meta(max_length=300)]
Tag = Annotated[str, Meta(min_length=1, max_length=60)]
Level = Annotated[int, Meta(ge=0, le=10)]
Confidence = Annotated[float, Meta(ge=0.0, le=1.0)]
Minutes = Annotated[int, Meta(ge=0, le=24 * 60)]
Days = Annotated[int, Meta(ge=1, le=3660)]
DeviceId = Annotated[str, Meta(min_length=1, max_length=64)]

Horizon: TypeAlias = Literal["short", "long"]

#: Why a plan changed. The course-correction history is the point of
#: Careerlog, so every revision, reschedule, pause, drop and supersession
#: carries one of these plus free text.
ReasonCode: TypeAlias = Literal[
    "scope_changed",
    "priorities_changed",
    "infeasible",
    "external_blocker",
    "learned_new_info",
    "achieved_differently",
    "superseded",
    "no_longer_relevant",
    "life_event",
    "other",
]
REASON_CODES: tuple[str, ...] = ReasonCode.__args__  # type: ignore[attr-defined]

ActivityKind: TypeAlias = Literal[
    "learning",
    "networking",
    "shipping",
    "applying",
    "mentoring",
    "reflecting",
    "interviewing",
    "writing",
    "speaking",
    "other",
]
ACTIVITY_KINDS: tuple[str, ...] = ActivityKind.__args__  # type: ignore[attr-defined]

ContactRelation: TypeAlias = Literal["mentor", "coach", "manager", "sponsor", "peer", "other"]
CONTACT_RELATIONS: tuple[str, ...] = ContactRelation.__args__  # type: ignore[attr-defined]

AssessmentKind: TypeAlias = Literal["strength", "weakness", "value", "interest"]

#: Goal fields a revision may change (due date changes are reschedules).
GoalField: TypeAlias = Literal[
    "title", "specific", "metric", "unit", "baseline", "target", "relevance", "horizon", "parent"
]

ShareScope: TypeAlias = Literal["progress", "history", "timeline", "activity", "journal", "skills"]

# --- value objects -------------------------------------------------------------


class Measure(msgspec.Struct, frozen=True, kw_only=True):
    """How a goal is measured: a metric moving from baseline to target."""

    metric: Title
    unit: ShortText = ""
    baseline: float = 0.0
    target: float = 1.0


class AssessmentItem(msgspec.Struct, frozen=True, kw_only=True):
    kind: AssessmentKind
    text: Title
    rating: Level | None = None


class FieldChange(msgspec.Struct, frozen=True, kw_only=True):
    field: GoalField
    before: str | float | None = None
    after: str | float | None = None


class GoalStatusNote(msgspec.Struct, frozen=True, kw_only=True):
    goal_id: RecordId
    status: Literal["on_track", "at_risk", "behind", "blocked", "done"]
    confidence: Confidence | None = None
    note: Text = ""


# --- the envelope --------------------------------------------------------------


class EventBase(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=True, gc=False):
    """Fields every event carries. The tag ``type`` is the class name.

    ``gc=False``: events never form reference cycles, and keeping a million of
    them out of the cyclic garbage collector's sight makes rebuilds and bulk
    imports twice as fast.
    """

    id: UUID
    v: int = 1
    device: DeviceId
    dseq: Annotated[int, Meta(ge=1)]
    hlc: Annotated[int, Meta(ge=0)]
    occurred_at: datetime
    tz: ShortText = "UTC"


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """What the recording device mints for the next event, before its body exists.

    The local store builds one under its write lock (next ``dseq``, a fresh
    HLC tick, a UUIDv7) and hands it to a command, which validates intent and
    returns the finished event. ``record_id`` is a fresh id for the record the
    event creates, if any; ``occurred_at`` defaults to now and may be replaced
    by a backdated time.
    """

    id: UUID
    device: str
    dseq: int
    hlc: int
    occurred_at: datetime
    tz: str = "UTC"
    record_id: str

    def stamp(self) -> dict[str, Any]:
        """The envelope fields of an event, for ``SomeEvent(**env.stamp(), ...)``."""
        return {
            "id": self.id,
            "device": self.device,
            "dseq": self.dseq,
            "hlc": self.hlc,
            "occurred_at": self.occurred_at,
            "tz": self.tz,
        }


# --- self-assessment and research ----------------------------------------------


class SelfAssessmentRecorded(EventBase, frozen=True, kw_only=True):
    assessment_id: RecordId
    items: Annotated[list[AssessmentItem], Meta(min_length=1, max_length=200)]
    source: ShortText = "self"


class FeedbackReceived(EventBase, frozen=True, kw_only=True):
    feedback_id: RecordId
    summary: Title
    source_kind: Literal["manager", "peer", "mentor", "coach", "report", "customer", "other"]
    contact_id: RecordId | None = None
    skills: list[Tag] = []


class ResearchNoted(EventBase, frozen=True, kw_only=True):
    research_id: RecordId
    subject_kind: Literal["role", "skill"]
    subject: Title
    signal: Text = ""
    source: ShortText = ""
    url: ShortText = ""


class TargetRoleChosen(EventBase, frozen=True, kw_only=True):
    target_id: RecordId
    title: Title
    level: ShortText = ""
    rationale: Text = ""


class TargetRoleChanged(EventBase, frozen=True, kw_only=True):
    target_id: RecordId
    title: Title
    level: ShortText = ""
    reason_code: ReasonCode
    reason: Text = ""


# --- planning ------------------------------------------------------------------


class GoalSet(EventBase, frozen=True, kw_only=True):
    """A SMART goal: specific, measurable, achievable, relevant, time-bound."""

    v: int = 2
    goal_id: RecordId
    title: Title
    specific: Text = ""
    measure: Measure
    relevance: Text = ""
    start_on: date
    due_on: date
    horizon: Horizon = "short"
    parent_id: RecordId | None = None


class MilestoneDefined(EventBase, frozen=True, kw_only=True):
    milestone_id: RecordId
    goal_id: RecordId
    title: Title
    criteria: Text = ""
    due_on: date | None = None


class TaskPlanned(EventBase, frozen=True, kw_only=True):
    task_id: RecordId
    title: Title
    goal_id: RecordId | None = None
    milestone_id: RecordId | None = None
    due_on: date | None = None
    resources: list[ShortText] = []


class SkillPlanAdded(EventBase, frozen=True, kw_only=True):
    skill: Tag
    current_level: Level
    target_level: Level
    by_date: date | None = None
    goal_id: RecordId | None = None


class ReviewCadenceSet(EventBase, frozen=True, kw_only=True):
    every_days: Days


# --- daily action and progress ---------------------------------------------------


class ActivityLogged(EventBase, frozen=True, kw_only=True):
    """ "What did I do today for my career?\""""

    activity_id: RecordId
    text: Title
    kind: ActivityKind = "other"
    tags: list[Tag] = []
    goal_id: RecordId | None = None
    skill: Tag | None = None
    minutes: Minutes | None = None


class ProgressRecorded(EventBase, frozen=True, kw_only=True):
    goal_id: RecordId
    value: float
    confidence: Confidence | None = None
    note: Text = ""


class TaskCompleted(EventBase, frozen=True, kw_only=True):
    task_id: RecordId
    evidence: list[ShortText] = []


class MilestoneReached(EventBase, frozen=True, kw_only=True):
    milestone_id: RecordId
    evidence: list[ShortText] = []


class AchievementLogged(EventBase, frozen=True, kw_only=True):
    achievement_id: RecordId
    title: Title
    impact: Text = ""
    goal_id: RecordId | None = None
    skills: list[Tag] = []


# --- course-corrections ----------------------------------------------------------


class GoalRevised(EventBase, frozen=True, kw_only=True):
    goal_id: RecordId
    changes: Annotated[list[FieldChange], Meta(min_length=1, max_length=20)]
    reason_code: ReasonCode
    reason: Text = ""


class GoalRescheduled(EventBase, frozen=True, kw_only=True):
    goal_id: RecordId
    from_due: date
    to_due: date
    reason_code: ReasonCode
    reason: Text = ""


class MilestoneRescheduled(EventBase, frozen=True, kw_only=True):
    milestone_id: RecordId
    from_due: date | None
    to_due: date
    reason_code: ReasonCode
    reason: Text = ""


class TaskDropped(EventBase, frozen=True, kw_only=True):
    task_id: RecordId
    reason_code: ReasonCode
    reason: Text = ""


class GoalPaused(EventBase, frozen=True, kw_only=True):
    goal_id: RecordId
    reason_code: ReasonCode
    reason: Text = ""
    until: date | None = None


class GoalResumed(EventBase, frozen=True, kw_only=True):
    goal_id: RecordId
    reason: Text = ""


class GoalAchieved(EventBase, frozen=True, kw_only=True):
    goal_id: RecordId
    final_value: float | None = None
    reflection: Text = ""


class GoalDropped(EventBase, frozen=True, kw_only=True):
    goal_id: RecordId
    reason_code: ReasonCode
    reason: Text = ""
    lessons: Text = ""


class GoalSuperseded(EventBase, frozen=True, kw_only=True):
    goal_id: RecordId
    by_goal_id: RecordId
    reason_code: ReasonCode = "superseded"
    reason: Text = ""


class ReviewCompleted(EventBase, frozen=True, kw_only=True):
    review_id: RecordId
    goal_statuses: list[GoalStatusNote] = []
    decisions: list[Text] = []
    notes: Text = ""


# --- support network and the long arc ---------------------------------------------


class ContactAdded(EventBase, frozen=True, kw_only=True):
    contact_id: RecordId
    name: Title
    relation: ContactRelation
    notes: Text = ""


class InteractionLogged(EventBase, frozen=True, kw_only=True):
    interaction_id: RecordId
    contact_id: RecordId
    kind: Literal["meeting", "call", "message", "email", "event", "other"] = "meeting"
    notes: Text = ""
    follow_up_on: date | None = None


class SeasonStarted(EventBase, frozen=True, kw_only=True):
    season_id: RecordId
    label: Title
    intent: Text = ""


class RoleStarted(EventBase, frozen=True, kw_only=True):
    role_id: RecordId
    title: Title
    org: ShortText = ""
    level: ShortText = ""


class RoleEnded(EventBase, frozen=True, kw_only=True):
    role_id: RecordId
    reason: Text = ""


# --- sharing and corrections ---------------------------------------------------------


class SharingGranted(EventBase, frozen=True, kw_only=True):
    """The person lets a coach read some scopes of their data."""

    grantee: Title
    scopes: Annotated[list[ShareScope], Meta(min_length=1)]
    expires_on: date | None = None


class SharingRevoked(EventBase, frozen=True, kw_only=True):
    grantee: Title


class EntryRetracted(EventBase, frozen=True, kw_only=True):
    """Marks an earlier event as a mistake. History keeps both."""

    target: UUID
    reason: Text = ""


Event: TypeAlias = (
    SelfAssessmentRecorded
    | FeedbackReceived
    | ResearchNoted
    | TargetRoleChosen
    | TargetRoleChanged
    | GoalSet
    | MilestoneDefined
    | TaskPlanned
    | SkillPlanAdded
    | ReviewCadenceSet
    | ActivityLogged
    | ProgressRecorded
    | TaskCompleted
    | MilestoneReached
    | AchievementLogged
    | GoalRevised
    | GoalRescheduled
    | MilestoneRescheduled
    | TaskDropped
    | GoalPaused
    | GoalResumed
    | GoalAchieved
    | GoalDropped
    | GoalSuperseded
    | ReviewCompleted
    | ContactAdded
    | InteractionLogged
    | SeasonStarted
    | RoleStarted
    | RoleEnded
    | SharingGranted
    | SharingRevoked
    | EntryRetracted
)

ALL_EVENT_TYPES: dict[str, type[EventBase]] = {cls.__name__: cls for cls in Event.__args__}


def _current_version(cls: type[EventBase]) -> int:
    (field,) = (f for f in msgspec.structs.fields(cls) if f.name == "v")
    assert isinstance(field.default, int)
    return field.default


#: The schema version each event type is written at today.
CURRENT_VERSIONS: dict[str, int] = {
    name: _current_version(cls) for name, cls in ALL_EVENT_TYPES.items()
}
