"""Sharing: what a coach may see of a person, under the scopes the person granted.

Rules (the privacy promise, so they are stated here once):
- A person grants a coach scopes by recording ``SharingGranted`` and takes
  them back with ``SharingRevoked``. A grant is live from the day it was
  granted through its ``expires_on`` day (included); the day after, it has
  expired. Only the latest grant to a grantee counts.
- Each scope opens some views, and nothing else:

  ========  ==========================================================
  progress  goals with progress, one goal, the agenda, review dates
  history   course-correction histories (reason codes, slips, changes)
  timeline  the timeline entries and the replay of the plan at a date
  activity  streaks, consistency and stagnation warnings
  skills    skill gaps
  journal   the journal (reviews' notes, reflections, lessons,
            achievements' impact, activity notes), and the free text
            inside every other granted view
  ========  ==========================================================

- Without ``journal``, every free text a person wrote is withheld from the
  views above: reasons of course-corrections, the ``specific`` and
  ``relevance`` text of goal revisions, review notes and decisions, the text
  of activities and feedback in the timeline. Withheld text is the empty
  string (lists are empty), never a placeholder that could be mistaken for
  what the person wrote. Contacts are third parties: their names are
  withheld too.
- A coach never learns whom else the person shares with: sharing entries
  are left out of a coach's timeline.
"""

from collections.abc import Collection, Iterable
from datetime import date

import msgspec

from careerlog.shared.events import ALL_EVENT_TYPES, FieldChange, ShareScope
from careerlog.shared.projections.activity import Insights
from careerlog.shared.projections.agenda import AgendaItem
from careerlog.shared.projections.corrections import CorrectionHistory
from careerlog.shared.projections.state import CareerState, Review, Share
from careerlog.shared.projections.timeline import TimelineEntry

__all__ = [
    "JOURNAL",
    "SCOPES",
    "is_live",
    "live_shares",
    "shared_agenda",
    "shared_history",
    "shared_insights",
    "shared_reviews",
    "shared_timeline",
    "shared_types",
]

SCOPES: tuple[str, ...] = ShareScope.__args__  # type: ignore[attr-defined]
JOURNAL = "journal"

#: Goal fields whose values are the person's own prose.
_PROSE_FIELDS = frozenset({"specific", "relevance"})

#: Timeline entry types a coach never sees (they name other grantees).
_HIDDEN_TYPES = frozenset({"SharingGranted", "SharingRevoked"})


def is_live(expires_on: date | None, today: date) -> bool:
    """True while a grant with this expiry date is in force on ``today``."""
    return expires_on is None or today <= expires_on


def live_shares(state: CareerState, today: date) -> list[Share]:
    """The person's grants in force on ``today``, by grantee."""
    return sorted(
        (s for s in state.shares.values() if is_live(s.expires_on, today)),
        key=lambda s: s.grantee,
    )


def _change(change: FieldChange) -> FieldChange:
    if change.field in _PROSE_FIELDS:
        return FieldChange(field=change.field, before="", after="")
    return change


def shared_history(history: CorrectionHistory, scopes: Collection[str]) -> CorrectionHistory:
    """A course-correction history; free-text reasons only under ``journal``."""
    if JOURNAL in scopes:
        return history
    entries = [
        msgspec.structs.replace(
            entry, reason="", changes=[_change(change) for change in entry.changes]
        )
        for entry in history.entries
    ]
    return msgspec.structs.replace(history, entries=entries)


def _neutral_summary(entry: TimelineEntry) -> str:
    """A timeline summary without the person's prose or a contact's name.

    Every summary below starts with a literal (an activity kind, a feedback
    source, a contact relation or interaction kind) before the free text, so
    the cut is exact; see ``timeline._summary``.
    """
    summary = entry.summary
    match entry.type:
        case "ActivityLogged":
            return summary.partition(": ")[0]
        case "FeedbackReceived":
            return summary.partition(": ")[0]
        case "ContactAdded":
            return f"added a {summary.partition(' ')[0]} contact"
        case "InteractionLogged":
            return f"{summary.partition(' with ')[0]} with a contact"
        case "GoalRevised":
            code = summary.rpartition(" (")[2].rstrip(")")
            return f"revised goal {entry.record_id} ({code})"
    return summary


def shared_types(types: frozenset[str] | None) -> frozenset[str]:
    """The entry types a coach's timeline reads, of ``types`` (None: every type).

    The hidden ones are left out of the *query*, not only of the page: a page
    cursor names the last entry read, so one read and then hidden would let
    a coach page through, and count, the person's grants to others.
    """
    wanted = ALL_EVENT_TYPES.keys() if types is None else types
    return frozenset(wanted - _HIDDEN_TYPES)


def shared_timeline(
    entries: Iterable[TimelineEntry], scopes: Collection[str]
) -> list[TimelineEntry]:
    """Timeline entries for a coach: no sharing entries; prose only under ``journal``."""
    journal = JOURNAL in scopes
    shown: list[TimelineEntry] = []
    for entry in entries:
        if entry.type in _HIDDEN_TYPES:
            continue
        if not journal:
            entry = msgspec.structs.replace(entry, summary=_neutral_summary(entry))
        shown.append(entry)
    return shown


def shared_insights(insights: Insights, state: CareerState, scopes: Collection[str]) -> Insights:
    """Streaks and warnings; a cold contact is named by relation only, without ``journal``."""
    if JOURNAL in scopes:
        return insights
    warnings = []
    for warning in insights.warnings:
        if warning.code == "contact_cold":
            contact = state.contacts.get(warning.record_id or "")
            relation = contact.relation if contact is not None else "contact"
            warning = msgspec.structs.replace(
                warning, message=f"not in touch with a {relation} for {warning.days} days"
            )
        warnings.append(warning)
    return msgspec.structs.replace(insights, warnings=warnings)


def shared_agenda(items: Iterable[AgendaItem], scopes: Collection[str]) -> list[AgendaItem]:
    """The agenda; follow-ups name no contact without ``journal``."""
    if JOURNAL in scopes:
        return list(items)
    return [
        msgspec.structs.replace(item, title="follow up with a contact")
        if item.kind == "follow_up"
        else item
        for item in items
    ]


def shared_reviews(reviews: Iterable[Review], scopes: Collection[str]) -> list[Review]:
    """Reviews, newest first; notes and decisions only under ``journal``."""
    ordered = sorted(reviews, key=lambda r: (r.on, r.review_id), reverse=True)
    if JOURNAL in scopes:
        return ordered
    return [
        Review(
            review_id=r.review_id,
            on=r.on,
            goal_statuses=[msgspec.structs.replace(s, note="") for s in r.goal_statuses],
            decisions=[],
            notes="",
        )
        for r in ordered
    ]
