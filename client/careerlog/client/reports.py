"""Reports people take elsewhere: a Markdown career report, an iCalendar of
deadlines, a CSV of goals. Pure: state (and events) in, text out.

The iCalendar output follows RFC 5545: CRLF line ends, lines folded at 75
octets, text escaped, and a UID per deadline that stays the same across
exports and on every device (it is made from the record id), so a calendar that
imports the file twice updates entries instead of duplicating them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date, datetime

from careerlog.shared.events import Event
from careerlog.shared.projections.activity import insights
from careerlog.shared.projections.agenda import agenda
from careerlog.shared.projections.corrections import correction_history, reason_counts
from careerlog.shared.projections.progress import progress_list
from careerlog.shared.projections.skills import skill_gaps
from careerlog.shared.projections.state import CareerState
from careerlog.shared.projections.timeline import timeline_entry

__all__ = ["CSV_COLUMNS", "goals_csv", "icalendar", "markdown"]

CSV_COLUMNS = (
    "goal_id",
    "title",
    "status",
    "horizon",
    "metric",
    "unit",
    "baseline",
    "target",
    "current",
    "percent_done",
    "expected_percent",
    "verdict",
    "start_on",
    "due_on",
    "original_due_on",
    "milestones_reached",
    "milestones_total",
    "revisions",
    "slip_days",
)


def _pct(percent: float) -> str:
    return f"{percent:.0f}%"


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell or line."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown(state: CareerState, events: Iterable[Event], today: date) -> str:
    """A readable report of the whole career loop as it stands ``today``."""
    out: list[str] = [f"# Career report — {today.isoformat()}", ""]
    if state.target_role is not None:
        out.append(f"**Target role:** {_md(state.target_role.title)}")
    if state.seasons:
        out.append(f"**Season:** {_md(state.seasons[-1].label)}")
    current_roles = [r for r in state.roles.values() if r.ended_on is None]
    if current_roles:
        role = current_roles[-1]
        out.append(f"**Role:** {_md(role.title)}" + (f" at {_md(role.org)}" if role.org else ""))
    out.append("")

    goals = progress_list(state, today)
    out += ["## Goals", ""]
    if not goals:
        out += ["No goals yet.", ""]
    else:
        out += [
            "| Goal | Status | Done | Expected | Verdict | Due |",
            "|---|---|---|---|---|---|",
        ]
        for g in goals:
            out.append(
                f"| {_md(g.title)} | {g.status} | {_pct(g.percent_done)} | "
                f"{_pct(g.expected_percent)} | {g.verdict or '—'} | {g.due_on.isoformat()} |"
            )
        out.append("")
        for g in goals:
            out += [f"### {_md(g.title)}", ""]
            for m in g.milestones:
                mark = "x" if m.reached_on else " "
                due = f" (due {m.due_on.isoformat()})" if m.due_on else ""
                reached = f" — reached {m.reached_on.isoformat()}" if m.reached_on else ""
                out.append(f"- [{mark}] {_md(m.title)}{due}{reached}")
            history = correction_history(state, g.goal_id)
            if history.entries:
                out += ["", "Course corrections:", ""]
                for c in history.entries:
                    why = f" ({c.reason_code})" if c.reason_code else ""
                    text = f": {_md(c.reason)}" if c.reason else ""
                    out.append(f"- {c.occurred_on.isoformat()} {c.kind}{why}{text}")
                out.append(
                    f"- total: {history.revisions} revisions, {history.reschedules} "
                    f"reschedules, {history.slip_days} days of slip"
                )
            out.append("")

    reasons = reason_counts(state)
    if reasons:
        out += ["## Why plans changed", ""]
        out += [f"- {r.reason_code}: {r.count}" for r in reasons]
        out.append("")

    view = insights(state, today)
    out += [
        "## Activity",
        "",
        f"- weekly streak: {view.streak_weeks} (best {view.best_streak_weeks})",
        f"- consistency: {view.consistency:.0%}",
        f"- career actions: {view.actions_total}, this week {view.this_week}",
    ]
    out += [f"- warning: {_md(w.message)}" for w in view.warnings]
    out.append("")

    items = agenda(state, today)
    if items:
        out += ["## Agenda", ""]
        for item in items:
            when = "overdue" if item.overdue else f"in {item.days} days"
            out.append(f"- {item.due_on.isoformat()} {item.kind}: {_md(item.title)} ({when})")
        out.append("")

    gaps = skill_gaps(state)
    if gaps:
        out += ["## Skill gaps", "", "| Skill | Current | Target | Gap |", "|---|---|---|---|"]
        out += [
            f"| {_md(s.skill)} | {s.current_level} | {s.target_level} | {s.gap} |" for s in gaps
        ]
        out.append("")

    if state.achievements:
        out += ["## Achievements", ""]
        for a in state.achievements:
            out.append(f"- {a.on.isoformat()} {_md(a.title)}")
        out.append("")

    recent = [e for e in events if str(e.id) not in state.retracted]
    recent.sort(key=lambda e: e.occurred_at, reverse=True)
    if recent:
        out += ["## Recent history", ""]
        for event in recent[:20]:
            entry = timeline_entry(event, state)
            out.append(f"- {entry.occurred_at.date().isoformat()} {_md(entry.summary)}")
        out.append("")
    return "\n".join(out)


# --- iCalendar ---------------------------------------------------------------------


def _ics_text(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _fold(line: str) -> list[str]:
    """Split a content line into pieces of at most 75 octets (RFC 5545 §3.1)."""
    pieces: list[str] = []
    current = ""
    size = 0
    limit = 75
    for ch in line:
        width = len(ch.encode())
        if size + width > limit:
            pieces.append(current)
            current, size, limit = " ", 1, 75
        current += ch
        size += width
    pieces.append(current)
    return pieces


def icalendar(state: CareerState, now: datetime | None = None) -> str:
    """Every open deadline (goals, milestones, tasks, follow-ups) as all-day events."""
    stamp = (now or datetime.now().astimezone()).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Careerlog//Careerlog//EN",
        "CALSCALE:GREGORIAN",
        "X-WR-CALNAME:Careerlog deadlines",
    ]

    def add(uid: str, due: date, summary: str, description: str) -> None:
        lines.extend(
            [
                "BEGIN:VEVENT",
                f"UID:{uid}@careerlog",
                f"DTSTAMP:{stamp}",
                f"DTSTART;VALUE=DATE:{due.strftime('%Y%m%d')}",
                f"SUMMARY:{_ics_text(summary)}",
                f"DESCRIPTION:{_ics_text(description)}",
                "END:VEVENT",
            ]
        )

    for goal in state.goals.values():
        if goal.status in ("active", "paused"):
            add(f"goal-{goal.goal_id}", goal.due_on, f"Goal due: {goal.title}", goal.specific)
    for m in state.milestones.values():
        owner = state.goals.get(m.goal_id)
        if m.due_on is not None and m.reached_on is None and owner and owner.status == "active":
            add(f"milestone-{m.milestone_id}", m.due_on, f"Milestone: {m.title}", owner.title)
    for t in state.tasks.values():
        if t.due_on is not None and t.status == "planned":
            add(f"task-{t.task_id}", t.due_on, f"Task: {t.title}", "")
    for f in state.follow_ups.values():
        contact = state.contacts.get(f.contact_id)
        if f.done_on is None and contact is not None:
            add(f"follow-up-{f.interaction_id}", f.due_on, f"Follow up: {contact.name}", "")
    lines.append("END:VCALENDAR")
    return "".join(piece + "\r\n" for line in lines for piece in _fold(line))


# --- CSV ---------------------------------------------------------------------------


def goals_csv(state: CareerState, today: date) -> str:
    """One row per goal with its progress and course-correction totals."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for g in progress_list(state, today):
        history = correction_history(state, g.goal_id)
        writer.writerow(
            [
                g.goal_id,
                g.title,
                g.status,
                g.horizon,
                g.metric,
                g.unit,
                g.baseline,
                g.target,
                "" if g.current is None else g.current,
                g.percent_done,
                g.expected_percent,
                g.verdict or "",
                g.start_on.isoformat(),
                g.due_on.isoformat(),
                g.original_due_on.isoformat(),
                g.milestones_reached,
                g.milestones_total,
                history.revisions,
                history.slip_days,
            ]
        )
    return buffer.getvalue()
