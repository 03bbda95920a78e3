"""The folded facts of one person's log: what every read model is computed from.

Rules of this module:
- The state holds *facts* (what was set, reached, revised, when), never
  verdicts that depend on today's date: views compute those from the state and
  a ``today`` the caller passes in.
- It stays small. A lifetime of daily activity is kept as aggregates (counts
  per ISO week and per kind), not as a list, so a 100,000-event history
  snapshots in kilobytes. Records people name (goals, milestones, tasks,
  contacts, …) are kept whole.
- Dates are the calendar date of ``occurred_at`` in the event's own zone
  (``tz``): the day where the person was.
"""

from datetime import date

import msgspec

from careerlog.shared.events import FieldChange, GoalStatusNote, Measure

__all__ = [
    "Achievement",
    "CareerState",
    "Contact",
    "Correction",
    "Flag",
    "FollowUp",
    "Goal",
    "Milestone",
    "ProgressPoint",
    "Review",
    "Role",
    "Season",
    "Share",
    "SkillPlan",
    "TargetRole",
    "Task",
    "copy_state",
    "decode_state",
    "encode_state",
    "new_state",
]

GoalStatus = str  # "active" | "paused" | "achieved" | "dropped" | "superseded"


class ProgressPoint(msgspec.Struct, array_like=True, gc=False):
    on: date
    value: float


class Goal(msgspec.Struct, kw_only=True):
    goal_id: str
    title: str
    specific: str
    measure: Measure
    relevance: str
    horizon: str
    parent_id: str | None
    start_on: date
    due_on: date
    original_due_on: date
    set_on: date
    status: GoalStatus = "active"
    closed_on: date | None = None
    paused_until: date | None = None
    superseded_by: str | None = None
    last_value: float | None = None
    #: The day of ``last_value``: a backdated check-in replaces the value only
    #: if it is not older than the one shown (task and milestone completions
    #: move ``last_progress_on`` but carry no value).
    last_value_on: date | None = None
    last_confidence: float | None = None
    last_progress_on: date | None = None
    last_activity_on: date | None = None
    points: list[ProgressPoint] = msgspec.field(default_factory=list)
    milestone_ids: list[str] = msgspec.field(default_factory=list)
    task_ids: list[str] = msgspec.field(default_factory=list)
    final_value: float | None = None
    reflection: str = ""
    lessons: str = ""


class Milestone(msgspec.Struct, kw_only=True):
    milestone_id: str
    goal_id: str
    title: str
    criteria: str
    due_on: date | None
    original_due_on: date | None
    defined_on: date
    reached_on: date | None = None
    evidence: list[str] = msgspec.field(default_factory=list)


class Task(msgspec.Struct, kw_only=True):
    task_id: str
    title: str
    goal_id: str | None
    milestone_id: str | None
    due_on: date | None
    resources: list[str]
    planned_on: date
    status: str = "planned"  # "planned" | "done" | "dropped"
    closed_on: date | None = None


class Correction(msgspec.Struct, kw_only=True):
    """One course-correction of a goal (or of one of its milestones)."""

    event_id: str
    goal_id: str
    #: revised, rescheduled, milestone_rescheduled, paused, resumed, dropped,
    #: superseded or achieved.
    kind: str
    occurred_on: date
    recorded_ms: int
    reason_code: str | None = None
    reason: str = ""
    changes: list[FieldChange] = msgspec.field(default_factory=list)
    from_due: date | None = None
    to_due: date | None = None
    slip_days: int = 0
    milestone_id: str | None = None
    by_goal_id: str | None = None


class Contact(msgspec.Struct, kw_only=True):
    contact_id: str
    name: str
    relation: str
    notes: str
    added_on: date
    last_interaction_on: date | None = None
    interactions: int = 0


class FollowUp(msgspec.Struct, kw_only=True):
    interaction_id: str
    contact_id: str
    due_on: date
    asked_on: date
    done_on: date | None = None


class SkillPlan(msgspec.Struct, kw_only=True):
    skill: str
    current_level: int
    target_level: int
    by_date: date | None
    goal_id: str | None
    planned_on: date


class Review(msgspec.Struct, kw_only=True):
    review_id: str
    on: date
    goal_statuses: list[GoalStatusNote]
    decisions: list[str]
    notes: str


class Season(msgspec.Struct, kw_only=True):
    season_id: str
    label: str
    intent: str
    started_on: date


class Role(msgspec.Struct, kw_only=True):
    role_id: str
    title: str
    org: str
    level: str
    started_on: date
    ended_on: date | None = None


class TargetRole(msgspec.Struct, kw_only=True):
    target_id: str
    title: str
    level: str
    chosen_on: date
    changes: int = 0


class Achievement(msgspec.Struct, kw_only=True):
    achievement_id: str
    title: str
    impact: str
    goal_id: str | None
    on: date


class Share(msgspec.Struct, kw_only=True):
    grantee: str
    scopes: list[str]
    granted_on: date
    expires_on: date | None = None


class Flag(msgspec.Struct, kw_only=True):
    """An event kept in the log but not applied: it names an unknown or closed record."""

    event_id: str
    type: str
    reason: str


class CareerState(msgspec.Struct, kw_only=True):
    goals: dict[str, Goal] = msgspec.field(default_factory=dict)
    milestones: dict[str, Milestone] = msgspec.field(default_factory=dict)
    tasks: dict[str, Task] = msgspec.field(default_factory=dict)
    corrections: dict[str, list[Correction]] = msgspec.field(default_factory=dict)
    contacts: dict[str, Contact] = msgspec.field(default_factory=dict)
    follow_ups: dict[str, FollowUp] = msgspec.field(default_factory=dict)
    skills: dict[str, SkillPlan] = msgspec.field(default_factory=dict)
    reviews: list[Review] = msgspec.field(default_factory=list)
    review_every_days: int | None = None
    seasons: list[Season] = msgspec.field(default_factory=list)
    roles: dict[str, Role] = msgspec.field(default_factory=dict)
    target_role: TargetRole | None = None
    achievements: list[Achievement] = msgspec.field(default_factory=list)
    strengths: list[str] = msgspec.field(default_factory=list)
    weaknesses: list[str] = msgspec.field(default_factory=list)
    values: list[str] = msgspec.field(default_factory=list)
    interests: list[str] = msgspec.field(default_factory=list)
    assessments: int = 0
    feedback: int = 0
    feedback_skills: dict[str, int] = msgspec.field(default_factory=dict)
    research: dict[str, int] = msgspec.field(default_factory=dict)
    shares: dict[str, Share] = msgspec.field(default_factory=dict)
    #: "YYYY-Www" -> number of career actions that ISO week.
    weeks: dict[str, int] = msgspec.field(default_factory=dict)
    activity_kinds: dict[str, int] = msgspec.field(default_factory=dict)
    activity_minutes: int = 0
    activities: int = 0
    last_activity_on: date | None = None
    retracted: dict[str, str] = msgspec.field(default_factory=dict)
    flags: list[Flag] = msgspec.field(default_factory=list)
    event_count: int = 0
    last_key: tuple[int, str, int] | None = None


def new_state() -> CareerState:
    return CareerState()


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(CareerState)


def encode_state(state: CareerState) -> bytes:
    return _encoder.encode(state)


def decode_state(data: bytes) -> CareerState:
    return _decoder.decode(data)


def copy_state(state: CareerState) -> CareerState:
    """A deep copy (folds mutate the state they own)."""
    return _decoder.decode(_encoder.encode(state))
