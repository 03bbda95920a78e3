"""The ``careerlog`` command: the career management loop from a terminal.

Rules of this module:
- Parse, call the command layer or a view, print. No business rules here.
- Start-up time is a feature: heavy modules (the store, Rich, reports) are
  imported inside the functions that need them.
- Errors are one line on stderr, ``careerlog: error: …``, with a stable exit
  code (see ``EXIT_*``); never a traceback unless ``CAREERLOG_DEBUG=1``.
- ``--json`` prints machine-readable output (shapes in docs/cli.md); without
  it, people get tables. ``NO_COLOR`` and non-terminals get no colour.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from careerlog.client.store import LocalStore
    from careerlog.shared.events import Event
    from careerlog.shared.projections import CareerState

__all__ = [
    "EXIT_DATA",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_SYNC",
    "EXIT_USAGE",
    "main",
]

EXIT_OK = 0
#: The command was understood but refused: unknown record, bad date, a
#: milestone reached twice… Nothing was recorded.
EXIT_REFUSED = 1
#: The command line itself is wrong (argparse's convention).
EXIT_USAGE = 2
#: The home or a file cannot be used: missing, corrupt, newer schema, bad import.
EXIT_DATA = 3
#: Sync failed: server unreachable, refused credentials.
EXIT_SYNC = 4
EXIT_INTERRUPTED = 130

REASON_HELP = "why (scope_changed, priorities_changed, infeasible, external_blocker, ...)"


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Relative dates like "-30d" or "-2w" are values, not options: widen
        # argparse's notion of a negative number so `--on -30d` just works.
        import re

        self._negative_number_matcher = re.compile(r"^-\d+(\.\d+)?[dwmy]?$")

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# --- shared plumbing -------------------------------------------------------------------


def _home(args: argparse.Namespace) -> Path:
    if getattr(args, "home", None):
        return Path(args.home).expanduser()
    if env := os.environ.get("CAREERLOG_HOME"):
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("careerlog"))


def _today() -> date:
    return datetime.now().astimezone().date()


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    from careerlog.client.commands import parse_date

    return parse_date(text, _today())


def _when(text: str | None) -> datetime | None:
    """A backdating ``--on``: a date means noon local time that day."""
    if text is None:
        return None
    from careerlog.client.commands import parse_date

    if "T" in text:
        from careerlog.client.commands import parse_when

        return parse_when(text, datetime.now(UTC))
    day = parse_date(text, _today())
    local = datetime(day.year, day.month, day.day, 12, 0).astimezone()
    return local.astimezone(UTC)


async def _open(args: argparse.Namespace, *, create: bool = True) -> LocalStore:
    from careerlog.client.store import LocalStore

    return await LocalStore.open(_home(args), create=create)


def _print_json(value: Any) -> None:
    import msgspec

    sys.stdout.write(msgspec.json.encode(value).decode() + "\n")


def _console() -> Any:
    from careerlog.client.tables import Console

    return Console()


def _table(title: str | None, columns: Sequence[str], no_wrap: Sequence[str] = ()) -> Any:
    from careerlog.client.tables import Table

    return Table(title, columns, no_wrap=no_wrap)


def _short(record_id: str | None) -> str:
    return record_id[:8] if record_id else ""


def _prefix_width(hex_ids: Sequence[str], minimum: int = 8) -> int:
    """The shortest prefix length that tells these ids apart.

    UUIDv7 ids start with their millisecond, so events recorded together share
    long prefixes; a fixed width would show them all the same.
    """
    width = minimum
    while width < 32 and len({i[:width] for i in hex_ids}) < len(set(hex_ids)):
        width += 1
    return width


def _bar(percent: float, width: int = 12) -> str:
    filled = round(percent / 100 * width)
    return "█" * filled + "·" * (width - filled)


_VERDICT_STYLE = {
    "on_track": "green",
    "at_risk": "yellow",
    "behind": "red",
    "overdue": "bold red",
}


def _created_id(event: Event) -> str:
    from careerlog.shared.projections.timeline import timeline_entry

    entry = timeline_entry(event)
    return entry.record_id or str(event.id)


# --- writing ---------------------------------------------------------------------------


async def _record(args: argparse.Namespace, build: Callable[..., Event], **kwargs: Any) -> int:
    store = await _open(args)
    try:
        event = await store.record(partial(build, **kwargs))
    finally:
        await store.close()
    created = _created_id(event)
    if args.json:
        import msgspec

        _print_json(
            {
                "id": created,
                "event_id": str(event.id),
                "type": type(event).__name__,
                "event": msgspec.to_builtins(event),
            }
        )
    else:
        print(created)
    return EXIT_OK


def _cmd(name: str) -> Any:
    from careerlog.client import commands

    return getattr(commands, name)


async def goal_set(args: argparse.Namespace) -> int:
    due = _date(args.due)
    assert due is not None
    return await _record(
        args,
        _cmd("set_goal"),
        title=args.title,
        due_on=due,
        metric=args.metric or "",
        unit=args.unit or "",
        baseline=args.baseline,
        target=args.target,
        specific=args.specific or "",
        relevance=args.relevance or "",
        horizon=args.horizon,
        start_on=_date(args.start),
        parent=args.parent,
        occurred_at=_when(args.on),
    )


async def goal_revise(args: argparse.Namespace) -> int:
    changes: dict[str, str | float] = {}
    for field in ("title", "specific", "metric", "unit", "relevance", "horizon"):
        value = getattr(args, field)
        if value is not None:
            changes[field] = value
    for field in ("baseline", "target"):
        value = getattr(args, field)
        if value is not None:
            changes[field] = float(value)
    if not changes:
        raise CliError("say what changes, e.g. --target 12 or --title '…'", EXIT_USAGE)
    return await _record(
        args,
        _cmd("revise_goal"),
        goal=args.goal,
        changes=changes,
        reason_code=args.reason_code,
        reason=args.reason or "",
    )


async def goal_reschedule(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("reschedule_goal"),
        goal=args.goal,
        to_due=_date(args.to),
        reason_code=args.reason_code,
        reason=args.reason or "",
    )


async def goal_pause(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("pause_goal"),
        goal=args.goal,
        reason_code=args.reason_code,
        reason=args.reason or "",
        until=_date(args.until),
    )


async def goal_resume(args: argparse.Namespace) -> int:
    return await _record(args, _cmd("resume_goal"), goal=args.goal, reason=args.reason or "")


async def goal_achieve(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("achieve_goal"),
        goal=args.goal,
        final_value=args.value,
        reflection=args.reflection or "",
        occurred_at=_when(args.on),
    )


async def goal_drop(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("drop_goal"),
        goal=args.goal,
        reason_code=args.reason_code,
        reason=args.reason or "",
        lessons=args.lessons or "",
    )


async def goal_supersede(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("supersede_goal"),
        goal=args.goal,
        by_goal=args.by,
        reason_code=args.reason_code,
        reason=args.reason or "",
    )


async def milestone_add(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("add_milestone"),
        goal=args.goal,
        title=args.title,
        criteria=args.criteria or "",
        due_on=_date(args.due),
        occurred_at=_when(args.on),
    )


async def milestone_reach(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("reach_milestone"),
        milestone=args.milestone,
        evidence=args.evidence or [],
        occurred_at=_when(args.on),
    )


async def milestone_reschedule(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("reschedule_milestone"),
        milestone=args.milestone,
        to_due=_date(args.to),
        reason_code=args.reason_code,
        reason=args.reason or "",
    )


async def task_add(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("plan_task"),
        title=args.title,
        goal=args.goal,
        milestone=args.milestone,
        due_on=_date(args.due),
        resources=args.resource or [],
        occurred_at=_when(args.on),
    )


async def task_done(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("complete_task"),
        task=args.task,
        evidence=args.evidence or [],
        occurred_at=_when(args.on),
    )


async def task_drop(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("drop_task"),
        task=args.task,
        reason_code=args.reason_code,
        reason=args.reason or "",
    )


async def progress(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("record_progress"),
        goal=args.goal,
        value=args.value,
        confidence=args.confidence,
        note=args.note or "",
        occurred_at=_when(args.on),
    )


async def log(args: argparse.Namespace) -> int:
    tags = list(args.tag or [])
    words = []
    for word in args.text.split():
        if word.startswith("@") and len(word) > 1:
            tags.append(word[1:])  # jrnl-style inline tags
        words.append(word)
    return await _record(
        args,
        _cmd("log_activity"),
        text=" ".join(words),
        kind=args.kind,
        tags=tags,
        goal=args.goal,
        skill=args.skill,
        minutes=args.minutes,
        occurred_at=_when(args.on),
    )


async def achievement(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("log_achievement"),
        title=args.title,
        impact=args.impact or "",
        goal=args.goal,
        skills=args.skill or [],
        occurred_at=_when(args.on),
    )


async def assess(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("record_assessment"),
        strengths=args.strength or [],
        weaknesses=args.weakness or [],
        values=args.value or [],
        interests=args.interest or [],
        source=args.source,
    )


async def feedback(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("receive_feedback"),
        summary=args.summary,
        source_kind=args.source,
        contact=args.contact,
        skills=args.skill or [],
        occurred_at=_when(args.on),
    )


async def research(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("note_research"),
        subject=args.subject,
        subject_kind=args.kind,
        signal=args.signal or "",
        source=args.source or "",
        url=args.url or "",
    )


async def target(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("choose_target_role"),
        title=args.title,
        level=args.level or "",
        rationale=args.rationale or "",
        reason_code=args.reason_code,
    )


async def skill(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("add_skill_plan"),
        skill=args.skill,
        current_level=args.current,
        target_level=args.target,
        by_date=_date(args.by),
        goal=args.goal,
    )


async def cadence(args: argparse.Namespace) -> int:
    return await _record(args, _cmd("set_cadence"), every_days=args.days)


async def contact_add(args: argparse.Namespace) -> int:
    return await _record(
        args, _cmd("add_contact"), name=args.name, relation=args.relation, notes=args.notes or ""
    )


async def contact_log(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("log_interaction"),
        contact=args.contact,
        kind=args.kind,
        notes=args.notes or "",
        follow_up_on=_date(args.follow_up),
        occurred_at=_when(args.on),
    )


async def review(args: argparse.Namespace) -> int:
    statuses: dict[str, str] = {}
    for item in args.status or []:
        goal, sep, status = item.partition("=")
        if not sep:
            raise CliError(f"--status takes GOAL=STATUS, not '{item}'", EXIT_USAGE)
        statuses[goal] = status
    return await _record(
        args,
        _cmd("complete_review"),
        statuses=statuses,
        decisions=args.decision or [],
        notes=args.notes or "",
        occurred_at=_when(args.on),
    )


async def season(args: argparse.Namespace) -> int:
    return await _record(args, _cmd("start_season"), label=args.label, intent=args.intent or "")


async def role_start(args: argparse.Namespace) -> int:
    return await _record(
        args,
        _cmd("start_role"),
        title=args.title,
        org=args.org or "",
        level=args.level or "",
        occurred_at=_when(args.on),
    )


async def role_end(args: argparse.Namespace) -> int:
    return await _record(
        args, _cmd("end_role"), role=args.role, reason=args.reason or "", occurred_at=_when(args.on)
    )


async def share_grant(args: argparse.Namespace) -> int:
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    return await _record(
        args,
        _cmd("grant_share"),
        grantee=args.coach,
        scopes=scopes,
        expires_on=_date(args.expires),
    )


async def share_revoke(args: argparse.Namespace) -> int:
    return await _record(args, _cmd("revoke_share"), grantee=args.coach)


async def retract(args: argparse.Namespace) -> int:
    from careerlog.client.commands import retract as retract_event

    store = await _open(args)
    try:
        target = await store.find_event(args.event)
        if target is None:
            raise CliError(f"no single event matches '{args.event}'")
        event = await store.record(
            partial(
                retract_event,
                target=target.id,
                known=True,
                reason=args.reason or "",
            )
        )
    finally:
        await store.close()
    if args.json:
        import msgspec

        _print_json(
            {
                "id": str(event.id),
                "event_id": str(event.id),
                "type": "EntryRetracted",
                "event": msgspec.to_builtins(event),
            }
        )
    else:
        print(event.id)
    return EXIT_OK


# --- reading ---------------------------------------------------------------------------


def _read_state(args: argparse.Namespace) -> CareerState:
    """The current state without asyncio: read verbs start fast."""
    from careerlog.client.home import HomeReader

    with HomeReader.open(_home(args)) as reader:
        return reader.state()


async def init(args: argparse.Namespace) -> int:
    store = await _open(args)
    try:
        info = {"home": str(store.home), "device": store.device, "events": store.count}
    finally:
        await store.close()
    if args.json:
        _print_json(info)
    else:
        print(f"Careerlog home: {info['home']}\ndevice: {info['device']}\nevents: {info['events']}")
    return EXIT_OK


def status(args: argparse.Namespace) -> int:
    from careerlog.client.home import HomeReader
    from careerlog.shared.projections.progress import progress_list
    from careerlog.shared.projections.summary import summary

    with HomeReader.open(_home(args)) as reader:
        state = reader.state()
        pending = reader.pending_count()
        rejected = reader.rejected()
        sync = {
            "server": reader.get_meta("server_url"),
            "last_sync_at": reader.get_meta("last_sync_at"),
            "cursor": int(reader.get_meta("sync_cursor") or 0),
            "pending": pending,
            "rejected": [
                {"event_id": str(r.id), "code": r.code, "reason": r.reason} for r in rejected
            ],
        }
        device = reader.device
    today = _today()
    goals = progress_list(state, today, include_closed=args.all)
    info = summary(state, today)
    if args.json:
        _print_json({"summary": info, "goals": goals, "sync": sync, "device": device})
        return EXIT_OK
    console = _console()
    table = _table(
        "Goals",
        ["id", "goal", "status", "progress", "", "expected", "due", "next"],
        no_wrap=["id", "status", "progress", "", "expected", "due"],
    )
    for g in goals:
        verdict = g.verdict or g.status
        style = _VERDICT_STYLE.get(verdict, "dim")
        table.add_row(
            _short(g.goal_id),
            g.title,
            f"[{style}]{verdict}[/]",
            _bar(g.percent_done),
            f"{g.percent_done:.0f}%",
            f"{g.expected_percent:.0f}%",
            str(g.due_on),
            g.next_milestone.title if g.next_milestone else "",
        )
    if goals:
        console.print(table)
    else:
        closed = sum(1 for g in state.goals.values() if g.status not in ("active", "paused"))
        if closed:
            console.print(f"No open goals ({closed} closed: careerlog status --all shows them).")
        else:
            console.print("No goals yet. Start with: careerlog goal set 'Title' --due +90d")
    counts = ", ".join(f"{n} {s}" for s, n in sorted(info.goals.items())) or "none"
    console.print(
        f"goals: {counts} · milestones {info.milestones_reached}/{info.milestones_total}"
        f" · open tasks {info.tasks_open} · streak {info.streak_weeks} wk"
        f" · consistency {info.consistency:.0%} · events {info.events}"
    )
    line = f"sync: {sync['server'] or 'not set up'}"
    if sync["server"]:
        line += f" · last sync {sync['last_sync_at'] or 'never'}"
    line += f" · pending {pending}"
    if rejected:
        line += f" · [red]rejected {len(rejected)}[/]"
    console.print(line)
    for r in rejected:
        console.print(f"  [red]rejected[/] {r.id}: {r.code} — {r.reason}")
    if info.flagged:
        console.print(f"[yellow]{info.flagged} events are flagged (see: careerlog insights)[/]")
    return EXIT_OK


def history(args: argparse.Namespace) -> int:
    from careerlog.client.commands import resolve
    from careerlog.shared.projections.corrections import correction_history

    state = _read_state(args)
    goal_id = resolve(state.goals, "goal", args.goal)
    view = correction_history(state, goal_id)
    if args.json:
        _print_json(view)
        return EXIT_OK
    console = _console()
    console.print(
        f"[bold]{view.title}[/] ({view.status}) · due {view.due_on}"
        f" (originally {view.original_due_on}) · {view.revisions} revisions,"
        f" {view.reschedules} reschedules, {view.slip_days:+d} days slip"
    )
    table = _table(None, ["occurred", "change", "reason", "why"], no_wrap=["occurred", "reason"])
    for entry in view.entries:
        if entry.kind == "revised":
            change = "; ".join(f"{c.field}: {c.before!r} → {c.after!r}" for c in entry.changes)
        elif entry.kind in ("rescheduled", "milestone_rescheduled"):
            change = f"{entry.kind.replace('_', ' ')} {entry.from_due} → {entry.to_due}"
            change += f" ({entry.slip_days:+d} d)"
        elif entry.kind == "superseded":
            change = f"superseded by {_short(entry.by_goal_id)}"
        else:
            change = entry.kind
        table.add_row(str(entry.occurred_on), change, entry.reason_code or "", entry.reason)
    console.print(table)
    return EXIT_OK


async def timeline(args: argparse.Namespace) -> int:
    from careerlog.client.commands import parse_when
    from careerlog.shared.projections.timeline import plan_view, timeline_entry

    now = datetime.now(UTC)
    as_of = parse_when(args.as_of, now) if args.as_of else None
    occurred_by = parse_when(args.occurred_by, now) if args.occurred_by else None
    if as_of is not None and as_of.hour == 0 and as_of.minute == 0 and "T" not in args.as_of:
        as_of = as_of.replace(hour=23, minute=59, second=59)  # a date means "by its end"
    if occurred_by is not None and "T" not in args.occurred_by:
        occurred_by = occurred_by.replace(hour=23, minute=59, second=59)
    store = await _open(args, create=False)
    try:
        if as_of is not None:
            state = await store.state_as_of(as_of)
            events = await store.events(
                recorded_until_ms=int(as_of.timestamp() * 1000), limit=args.limit, newest_first=True
            )
        elif occurred_by is not None:
            state = await store.state_occurred_by(occurred_by)
            events = await store.events(
                occurred_until=occurred_by, limit=args.limit, newest_first=True
            )
        else:
            state = store.state
            events = await store.events(limit=args.limit, newest_first=True)
    finally:
        await store.close()
    entries = [timeline_entry(e, state) for e in events]
    if occurred_by is not None:
        entries.sort(key=lambda e: e.occurred_at, reverse=True)
    plan = plan_view(state)
    if args.json:
        _print_json(
            {
                "as_of": as_of,
                "occurred_by": occurred_by,
                "plan": plan,
                "entries": entries,
            }
        )
        return EXIT_OK
    console = _console()
    heading = "Plan now"
    if as_of is not None:
        heading = f"Plan as it stood on {as_of.date()} (recorded by then)"
    elif occurred_by is not None:
        heading = f"What had happened by {occurred_by.date()}"
    table = _table(
        heading,
        ["id", "goal", "status", "target", "due", "milestones"],
        no_wrap=["id", "status", "due"],
    )
    for g in plan.goals:
        milestones = ", ".join(m.title + (" ✓" if m.reached_on else "") for m in g.milestones)
        table.add_row(
            _short(g.goal_id),
            g.title,
            g.status,
            f"{g.metric}: {g.target:g}{(' ' + g.unit) if g.unit else ''}",
            str(g.due_on),
            milestones,
        )
    console.print(table)
    log_table = _table(
        "Timeline",
        ["occurred", "recorded", "event", "what"],
        no_wrap=["occurred", "recorded", "event"],
    )
    width = _prefix_width([entry.event_id.replace("-", "") for entry in entries])
    for entry in entries:
        what = entry.summary + (" (retracted)" if entry.retracted else "")
        log_table.add_row(
            entry.occurred_at.astimezone().strftime("%Y-%m-%d"),
            entry.recorded_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            entry.event_id.replace("-", "")[:width],
            what,
        )
    console.print(log_table)
    return EXIT_OK


def agenda(args: argparse.Namespace) -> int:
    from careerlog.shared.projections.agenda import agenda as agenda_view

    state = _read_state(args)
    items = agenda_view(state, _today(), args.days)
    if args.json:
        _print_json(items)
        return EXIT_OK
    console = _console()
    if not items:
        console.print(f"Nothing due in the next {args.days} days.")
        return EXIT_OK
    table = _table(
        f"Agenda (next {args.days} days)",
        ["due", "when", "kind", "what", "id"],
        no_wrap=["due", "when", "kind", "id"],
    )
    for item in items:
        when = (
            f"{-item.days} d overdue"
            if item.overdue
            else ("today" if item.days == 0 else f"in {item.days} d")
        )
        style = "red" if item.overdue else ""
        table.add_row(
            str(item.due_on),
            f"[{style}]{when}[/]" if style else when,
            item.kind,
            item.title,
            _short(item.record_id),
        )
    console.print(table)
    return EXIT_OK


def insights(args: argparse.Namespace) -> int:
    from careerlog.shared.projections.activity import Thresholds
    from careerlog.shared.projections.activity import insights as insights_view

    state = _read_state(args)
    view = insights_view(
        state,
        _today(),
        Thresholds(idle_days=args.idle_days, contact_idle_days=args.contact_days),
    )
    if args.json:
        _print_json({"insights": view, "flags": state.flags})
        return EXIT_OK
    console = _console()
    console.print(
        f"streak: [bold]{view.streak_weeks}[/] weeks (best {view.best_streak_weeks})"
        f" · consistency {view.consistency:.0%} · this week {view.this_week} actions"
        f" · last action {view.last_action_on or 'never'}"
    )
    if view.by_kind:
        console.print("activity: " + ", ".join(f"{k} {n}" for k, n in view.by_kind.items()))
    for warning in view.warnings:
        console.print(f"[yellow]! {warning.message}[/]")
    if not view.warnings:
        console.print("[green]No stagnation warnings.[/]")
    for flag in state.flags:
        console.print(f"[dim]flagged {flag.type} {flag.event_id[:8]}: {flag.reason}[/]")
    return EXIT_OK


def skills(args: argparse.Namespace) -> int:
    from careerlog.shared.projections.skills import skill_gaps

    state = _read_state(args)
    gaps = skill_gaps(state)
    if args.json:
        _print_json(gaps)
        return EXIT_OK
    table = _table("Skill gaps", ["skill", "current", "target", "gap", "by", "feedback"])
    for gap in gaps:
        table.add_row(
            gap.skill,
            str(gap.current_level),
            str(gap.target_level),
            str(gap.gap),
            str(gap.by_date or ""),
            str(gap.feedback_mentions),
        )
    _console().print(table)
    return EXIT_OK


async def export(args: argparse.Namespace) -> int:
    from careerlog.client import reports

    store = await _open(args, create=False)
    try:
        if args.format == "jsonl":
            from careerlog.client.exporting import export_jsonl

            data = b"".join(export_jsonl(await store.events()))
        elif args.format == "md":
            data = reports.markdown(store.state, await store.events(), _today()).encode()
        elif args.format == "ics":
            data = reports.icalendar(store.state).encode()
        else:
            data = reports.goals_csv(store.state, _today()).encode()
    finally:
        await store.close()
    if args.output and args.output != "-":
        Path(args.output).write_bytes(data)
        if not args.json:
            print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return EXIT_OK


async def import_(args: argparse.Namespace) -> int:
    from careerlog.client.exporting import ImportFileError, read_jsonl

    path = Path(args.file)
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror}", EXIT_DATA) from None
    try:
        events = read_jsonl(data)
    except ImportFileError as exc:
        raise CliError(f"{args.file}: {exc}", EXIT_DATA) from None
    store = await _open(args)
    try:
        result = await store.import_events(events)
    finally:
        await store.close()
    if args.json:
        _print_json({"added": result.added, "duplicates": result.duplicates})
    else:
        print(f"imported {result.added} events ({result.duplicates} already present)")
    return EXIT_OK


async def rebuild(args: argparse.Namespace) -> int:
    from careerlog.shared.projections import encode_state

    store = await _open(args, create=False)
    try:
        before = encode_state(store.state)
        after = encode_state(await store.rebuild())
        count = store.count
    finally:
        await store.close()
    same = before == after
    if args.json:
        _print_json({"events": count, "identical": same})
    else:
        print(f"rebuilt read models from {count} events: " + ("identical" if same else "CHANGED"))
    return EXIT_OK if same else EXIT_DATA


async def demo(args: argparse.Namespace) -> int:
    from careerlog.client.demo import run_demo

    return await run_demo(args.home)


# --- sync ------------------------------------------------------------------------------


async def login(args: argparse.Namespace) -> int:
    """Enroll this home's device with a server; keep the URL (meta) and token (file)."""
    import asyncio
    import socket

    from careerlog.client.enrollment import (
        SERVER_META,
        EnrollmentError,
        enroll,
        normalize_server_url,
        write_token,
    )

    try:
        server = normalize_server_url(args.url)
    except EnrollmentError as exc:
        raise CliError(str(exc), EXIT_SYNC) from None
    store = await _open(args)
    try:
        name = args.name or socket.gethostname()
        try:
            enrolled = await asyncio.to_thread(enroll, server, args.token, store.device, name)
        except EnrollmentError as exc:
            raise CliError(str(exc), EXIT_SYNC) from None
        write_token(store.home, enrolled.token)
        previous = await store.get_meta(SERVER_META)
        if previous is not None and previous != server:
            # Another server: its log is another life; push everything to it.
            await store.reset_sync("")
        await store.set_meta({SERVER_META: server})
        device = store.device
    finally:
        await store.close()
    if args.json:
        _print_json(
            {
                "server": server,
                "device": device,
                "user_id": enrolled.user_id,
                "renewed": enrolled.renewed,
                "expires_ms": enrolled.expires_ms,
            }
        )
    else:
        again = (
            "reconnected (a new token; the old one no longer works)"
            if enrolled.renewed
            else "connected"
        )
        until = ""
        if enrolled.expires_ms is not None:
            until = f"; its token expires {_day_ms(enrolled.expires_ms)}"
        print(f"device {device} {again} to {server}{until} (next: careerlog sync)")
    return EXIT_OK


def _connected(args: argparse.Namespace) -> tuple[str, str]:
    """This home's server URL and device token, or a clear error."""
    from careerlog.client.enrollment import SERVER_META, read_token
    from careerlog.client.home import HomeReader

    home = _home(args)
    with HomeReader.open(home) as reader:
        server = reader.get_meta(SERVER_META)
    token = read_token(home)
    if not server or not token:
        raise CliError("this device is not connected: careerlog login URL --token TOKEN", EXIT_SYNC)
    return server, token


def _day_ms(ms: object) -> str:
    """A time in ms since the epoch as its UTC day, for people."""
    return datetime.fromtimestamp(int(str(ms)) / 1000, tz=UTC).strftime("%Y-%m-%d")


def devices_list(args: argparse.Namespace) -> int:
    """The user's devices, from the server."""
    import time

    from careerlog.client.enrollment import EnrollmentError, list_devices

    server, token = _connected(args)
    try:
        found = list_devices(server, token)
    except EnrollmentError as exc:
        raise CliError(str(exc), EXIT_SYNC) from None
    if args.json:
        _print_json(found)
        return EXIT_OK
    table = _table(f"Devices at {server}", ["device", "name", "added", "state"], no_wrap=["device"])
    now = time.time() * 1000
    for item in found:
        state = "this device" if item.get("current") else "active"
        expires = item.get("token_expires_ms")
        if item.get("revoked_ms") is not None:
            state = f"revoked {_day_ms(item['revoked_ms'])}"
        elif expires is not None and int(expires) <= now:
            state = f"expired {_day_ms(expires)}"
        elif expires is not None:
            state += f", until {_day_ms(expires)}"
        table.add_row(str(item["device"]), str(item["name"]), _day_ms(item["created_ms"]), state)
    _console().print(table)
    return EXIT_OK


def devices_revoke(args: argparse.Namespace) -> int:
    """Revoke another device of yours (a lost laptop): it can no longer sync."""
    from careerlog.client.enrollment import EnrollmentError, revoke_device

    server, token = _connected(args)
    try:
        revoke_device(server, token, args.device)
    except EnrollmentError as exc:
        raise CliError(str(exc), EXIT_SYNC) from None
    if args.json:
        _print_json({"revoked": args.device})
    else:
        print(f"revoked {args.device}")
    return EXIT_OK


async def sync(args: argparse.Namespace) -> int:
    """Push the outbox and pull the server's log (``--watch``: stay connected)."""
    from careerlog.client.enrollment import SERVER_META, read_token
    from careerlog.client.sync import ProgressLine, SyncEngine, SyncError, SyncReport

    def report_json(report: SyncReport) -> dict[str, int]:
        return {
            "pushed": report.pushed,
            "pulled": report.pulled,
            "rejected": report.rejected,
            "cursor": report.cursor,
            "head": report.head,
            "restored": report.restored,
            "moved": report.moved,
        }

    told: list[str] = []  # the restore line, once, while watching

    def on_round(report: SyncReport) -> None:
        if args.json:
            _print_json(report_json(report))
            sys.stdout.flush()
        else:
            stamp = datetime.now().astimezone().strftime("%H:%M:%S")
            print(
                f"{stamp} synced: pushed {report.pushed}, pulled {report.pulled}, "
                f"rejected {report.rejected} (cursor {report.cursor})",
                file=sys.stderr,
                flush=True,
            )
            line = report.restore_line()
            if line is not None and line not in told:
                told.append(line)
                print(f"{stamp} {line}", file=sys.stderr, flush=True)

    store = await _open(args, create=False)
    progress: ProgressLine | None = None
    try:
        server = await store.get_meta(SERVER_META)
        token = read_token(store.home)
        if not server or not token:
            raise CliError(
                "this home is not connected to a server "
                "(first run: careerlog login URL --token ENROLLMENT_TOKEN)",
                EXIT_SYNC,
            )
        if sys.stderr.isatty() and not args.watch:
            progress = ProgressLine(sys.stderr.write)
        try:
            engine = SyncEngine(
                store,
                server,
                token,
                on_progress=progress,
                on_round=on_round if args.watch else None,
            )
            if args.watch:
                print(f"watching {server} (Ctrl-C stops)", file=sys.stderr, flush=True)
                report = await engine.watch()
            else:
                report = await engine.run_once()
        except SyncError as exc:
            raise CliError(str(exc), EXIT_SYNC) from None
    finally:
        if progress is not None:
            progress.done()
        await store.close()
    if args.json:
        _print_json(report_json(report))
    else:
        print(
            f"synced with {server}: pushed {report.pushed}, pulled {report.pulled}, "
            f"rejected {report.rejected} (cursor {report.cursor}/{report.head})"
        )
        line = report.restore_line()
        if line is not None:
            print(line)
    for event_id, code, reason in report.rejections:
        print(f"careerlog: rejected {event_id}: {code} — {reason}", file=sys.stderr)
    return EXIT_OK


# --- the parser ------------------------------------------------------------------------


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home",
        default=argparse.SUPPRESS,
        help="Careerlog home directory (env CAREERLOG_HOME; default: per-user data dir)",
    )
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )


def _reason_args(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    from careerlog.shared.events import REASON_CODES

    parser.add_argument(
        "--reason-code",
        required=required,
        choices=REASON_CODES,
        metavar="CODE",
        help=REASON_HELP,
    )
    parser.add_argument("--reason", "-m", help="why, in your own words")


class _Skipped:
    """Stands in for the parser of a command this command line does not name.

    Building all ~50 argparse parsers costs more than everything else a read
    verb does, so only the named command's parser gets its arguments.
    """

    def add_argument(self, *args: Any, **kwargs: Any) -> None:
        pass

    def add_parser(self, *args: Any, **kwargs: Any) -> _Skipped:
        return self


def _named(argv: Sequence[str] | None) -> tuple[str, ...] | None:
    """The command (and action) ``argv`` names, or None to build every parser."""
    words: list[str] = []
    tokens = list(sys.argv[1:] if argv is None else argv)
    skip_value = False
    for token in tokens:
        if skip_value:
            skip_value = False
        elif token in ("-h", "--help"):
            return None
        elif token == "--home":
            skip_value = True
        elif not token.startswith("-"):
            words.append(token)
            if len(words) == 2:
                break
    return tuple(words) if words else None


#: Every top-level command, so a command line naming none of them (a typo)
#: builds the full parser and gets argparse's list of choices.
COMMANDS = frozenset(
    [
        "init",
        "demo",
        "goal",
        "milestone",
        "task",
        "progress",
        "log",
        "achievement",
        "assess",
        "feedback",
        "research",
        "target",
        "skill",
        "cadence",
        "contact",
        "review",
        "season",
        "role",
        "share",
        "retract",
        "status",
        "history",
        "timeline",
        "agenda",
        "insights",
        "skills",
        "export",
        "import",
        "rebuild",
        "login",
        "sync",
        "devices",
    ]
)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given ``argv``, only the command it names is fully built."""
    from careerlog.shared.events import ACTIVITY_KINDS, CONTACT_RELATIONS, REASON_CODES

    named = _named(argv)

    parser = _Parser(
        prog="careerlog",
        description="Careerlog: a local-first log of your career loop. "
        "Every change is an immutable event; nothing you record is lost or rewritten.",
        epilog="Dates: YYYY-MM-DD, today, yesterday, tomorrow, +14d, -2w, +3m. "
        "Ids: any unique prefix. Exit codes: 0 ok, 1 refused, 2 usage, 3 data, 4 sync.",
    )
    parser.add_argument("--home", help="Careerlog home directory (env CAREERLOG_HOME)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def wanted(path: tuple[str, ...]) -> bool:
        if named is None or named[0] not in COMMANDS:
            return True  # help, or a typo that argparse must explain with the full list
        return named[: len(path)] == path[: len(named)]

    def command(parent: Any, name: str, handler: Any, help_text: str) -> Any:
        path = (*getattr(parent, "careerlog_path", ()), name)
        if isinstance(parent, _Skipped) or not wanted(path):
            return _Skipped()
        p: argparse.ArgumentParser = parent.add_parser(name, help=help_text, description=help_text)
        _add_common(p)
        p.set_defaults(handler=handler)
        return p

    def group(name: str, help_text: str) -> Any:
        if not wanted((name,)):
            return _Skipped()
        p = sub.add_parser(name, help=help_text, description=help_text)
        inner = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
        inner.required = True
        inner.careerlog_path = (name,)  # type: ignore[attr-defined]
        return inner

    command(sub, "init", init, "create (or show) the Careerlog home; safe to repeat")
    command(sub, "demo", demo, "a guided tour on a throwaway home")

    goal = group("goal", "set and course-correct SMART goals")
    p = command(goal, "set", goal_set, "set a SMART goal")
    p.add_argument("title")
    p.add_argument("--due", required=True, help="due date")
    p.add_argument("--metric", help="what you measure (default: the title, done or not)")
    p.add_argument("--unit", help="unit of the metric")
    p.add_argument("--baseline", type=float, default=0.0)
    p.add_argument("--target", type=float, default=1.0)
    p.add_argument("--specific", help="the specific outcome")
    p.add_argument("--relevance", help="why it matters to you")
    p.add_argument("--horizon", choices=("short", "long"), default="short")
    p.add_argument("--start", help="start date (default: today)")
    p.add_argument("--parent", help="parent goal id")
    p.add_argument("--on", help="when you set it, if not today")
    p = command(goal, "revise", goal_revise, "change a goal's definition, with a reason")
    p.add_argument("goal")
    for field in ("title", "specific", "metric", "unit", "relevance"):
        p.add_argument(f"--{field}")
    p.add_argument("--horizon", choices=("short", "long"))
    p.add_argument("--baseline", type=float)
    p.add_argument("--target", type=float)
    _reason_args(p)
    p = command(goal, "reschedule", goal_reschedule, "move a goal's due date, with a reason")
    p.add_argument("goal")
    p.add_argument("--to", required=True, help="new due date")
    _reason_args(p)
    p = command(goal, "pause", goal_pause, "pause a goal deliberately")
    p.add_argument("goal")
    p.add_argument("--until", help="planned resume date")
    _reason_args(p)
    p = command(goal, "resume", goal_resume, "resume a paused goal")
    p.add_argument("goal")
    p.add_argument("--reason", "-m")
    p = command(goal, "achieve", goal_achieve, "mark a goal achieved")
    p.add_argument("goal")
    p.add_argument("--value", type=float, help="final value of the metric")
    p.add_argument("--reflection", "-m")
    p.add_argument("--on")
    p = command(goal, "drop", goal_drop, "drop a goal on purpose, with a reason")
    p.add_argument("goal")
    p.add_argument("--lessons")
    _reason_args(p)
    p = command(goal, "supersede", goal_supersede, "replace a goal by another")
    p.add_argument("goal")
    p.add_argument("--by", required=True, help="the replacing goal")
    p.add_argument(
        "--reason-code",
        default="superseded",
        choices=REASON_CODES,
        metavar="CODE",
        help=REASON_HELP,
    )
    p.add_argument("--reason", "-m")

    milestone = group("milestone", "checkpoints on the way to a goal")
    p = command(milestone, "add", milestone_add, "define a milestone")
    p.add_argument("goal")
    p.add_argument("title")
    p.add_argument("--due")
    p.add_argument("--criteria")
    p.add_argument("--on")
    p = command(milestone, "reach", milestone_reach, "mark a milestone reached")
    p.add_argument("milestone")
    p.add_argument("--evidence", action="append")
    p.add_argument("--on")
    p = command(milestone, "reschedule", milestone_reschedule, "move a milestone's due date")
    p.add_argument("milestone")
    p.add_argument("--to", required=True)
    _reason_args(p)

    task = group("task", "concrete actions")
    p = command(task, "add", task_add, "plan a task")
    p.add_argument("title")
    p.add_argument("--goal")
    p.add_argument("--milestone")
    p.add_argument("--due")
    p.add_argument("--resource", action="append", help="a link, book, course (repeatable)")
    p.add_argument("--on")
    p = command(task, "done", task_done, "complete a task")
    p.add_argument("task")
    p.add_argument("--evidence", action="append")
    p.add_argument("--on")
    p = command(task, "drop", task_drop, "drop a task")
    p.add_argument("task")
    _reason_args(p)

    p = command(sub, "progress", progress, "record a check-in on a goal's metric")
    p.add_argument("goal")
    p.add_argument("value", type=float)
    p.add_argument("--confidence", type=float, help="0..1")
    p.add_argument("--note", "-m")
    p.add_argument("--on")
    p = command(sub, "log", log, "what did I do today for my career?")
    p.add_argument("text")
    p.add_argument("--kind", choices=ACTIVITY_KINDS, default="other")
    p.add_argument("--tag", action="append")
    p.add_argument("--goal")
    p.add_argument("--skill")
    p.add_argument("--minutes", type=int)
    p.add_argument("--on", help="when, if not now")
    p = command(sub, "achievement", achievement, "log an achievement (brag entry)")
    p.add_argument("title")
    p.add_argument("--impact")
    p.add_argument("--goal")
    p.add_argument("--skill", action="append")
    p.add_argument("--on")
    p = command(sub, "assess", assess, "record a self-assessment")
    p.add_argument("--strength", action="append")
    p.add_argument("--weakness", action="append")
    p.add_argument("--value", action="append")
    p.add_argument("--interest", action="append")
    p.add_argument("--source", default="self")
    p = command(sub, "feedback", feedback, "capture feedback you received")
    p.add_argument("summary")
    p.add_argument(
        "--source",
        choices=("manager", "peer", "mentor", "coach", "report", "customer", "other"),
        default="other",
    )
    p.add_argument("--contact")
    p.add_argument("--skill", action="append")
    p.add_argument("--on")
    p = command(sub, "research", research, "note research on a role or skill in demand")
    p.add_argument("subject")
    p.add_argument("--kind", choices=("role", "skill"), default="skill")
    p.add_argument("--signal")
    p.add_argument("--source")
    p.add_argument("--url")
    p = command(sub, "target", target, "choose (or change) your target role")
    p.add_argument("title")
    p.add_argument("--level")
    p.add_argument("--rationale", "-m")
    p.add_argument("--reason-code", metavar="CODE", help="needed when changing: " + REASON_HELP)
    p = command(sub, "skill", skill, "plan a skill: current and target level (0-10)")
    p.add_argument("skill")
    p.add_argument("--current", type=int, required=True)
    p.add_argument("--target", type=int, required=True)
    p.add_argument("--by")
    p.add_argument("--goal")
    p = command(sub, "cadence", cadence, "how often you review your career (days)")
    p.add_argument("days", type=int)

    contact = group("contact", "your support network")
    p = command(contact, "add", contact_add, "add a mentor, coach, manager, sponsor or peer")
    p.add_argument("name")
    p.add_argument("--relation", choices=CONTACT_RELATIONS, required=True)
    p.add_argument("--notes")
    p = command(contact, "log", contact_log, "log an interaction")
    p.add_argument("contact")
    p.add_argument(
        "--kind",
        choices=("meeting", "call", "message", "email", "event", "other"),
        default="meeting",
    )
    p.add_argument("--notes", "-m")
    p.add_argument("--follow-up", help="date to follow up")
    p.add_argument("--on")

    p = command(sub, "review", review, "complete a review")
    p.add_argument("--status", action="append", help="GOAL=on_track|at_risk|behind|blocked|done")
    p.add_argument("--decision", action="append")
    p.add_argument("--notes", "-m")
    p.add_argument("--on")
    p = command(sub, "season", season, "start a career season")
    p.add_argument("label")
    p.add_argument("--intent")

    role = group("role", "positions you hold")
    p = command(role, "start", role_start, "start a role")
    p.add_argument("title")
    p.add_argument("--org")
    p.add_argument("--level")
    p.add_argument("--on")
    p = command(role, "end", role_end, "end a role")
    p.add_argument("role")
    p.add_argument("--reason", "-m")
    p.add_argument("--on")

    share = group("share", "let a coach see parts of your log")
    p = command(share, "grant", share_grant, "grant a coach scoped, revocable read access")
    p.add_argument("coach")
    p.add_argument("--scopes", required=True, help="comma list: progress,history,timeline,...")
    p.add_argument("--expires")
    p = command(share, "revoke", share_revoke, "revoke a coach's access")
    p.add_argument("coach")

    p = command(sub, "retract", retract, "retract a mistaken entry (history keeps both)")
    p.add_argument("event", help="event id (prefix)")
    p.add_argument("--reason", "-m")

    p = command(sub, "status", status, "goals, progress and sync state")
    p.add_argument("--all", action="store_true", help="include closed goals")
    p = command(sub, "history", history, "a goal's course-correction history")
    p.add_argument("goal")
    p = command(sub, "timeline", timeline, "the timeline; replay the plan as of a date")
    p.add_argument("--as-of", help="the plan as it stood then (recorded by that date)")
    p.add_argument("--occurred-by", help="what had happened by then (occurred by that date)")
    p.add_argument("--limit", type=int, default=50)
    p = command(sub, "agenda", agenda, "due and overdue milestones, tasks and follow-ups")
    p.add_argument("--days", type=int, default=14)
    p = command(sub, "insights", insights, "streaks, consistency and stagnation warnings")
    p.add_argument("--idle-days", type=int, default=14)
    p.add_argument("--contact-days", type=int, default=90)
    command(sub, "skills", skills, "skill gaps: current against target level")
    p = command(sub, "export", export, "export events (jsonl) or reports (md, ics, csv)")
    p.add_argument("--format", choices=("jsonl", "md", "ics", "csv"), default="jsonl")
    p.add_argument("--output", "-o", help="file (default: stdout)")
    p = command(sub, "import", import_, "import a JSON Lines export (safe to repeat)")
    p.add_argument("file", help="path, or - for stdin")
    command(sub, "rebuild", rebuild, "re-derive every read model from the log")
    p = command(sub, "login", login, "connect this device to a sync server (once per device)")
    p.add_argument("url", help="the server, e.g. https://careerlog.example.org")
    p.add_argument(
        "--token", required=True, help="enrollment token from: careerlog-server user enroll NAME"
    )
    p.add_argument("--name", help="a name for this device (default: the host name)")
    devices = group("devices", "this user's devices on the sync server")
    command(devices, "list", devices_list, "list your devices (revoked ones included)")
    p = command(devices, "revoke", devices_revoke, "revoke a device: it can no longer sync")
    p.add_argument("device", help="the device id (see: careerlog devices list)")
    p = command(sub, "sync", sync, "push new events to the server and pull the others")
    p.add_argument(
        "--watch", action="store_true", help="stay connected and sync continuously (Ctrl-C stops)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int | Coroutine[Any, Any, int]] = args.handler
    debug = os.environ.get("CAREERLOG_DEBUG") == "1"
    try:
        outcome = handler(args)
        if isinstance(outcome, int):
            return outcome  # a read verb on the synchronous fast path
        import asyncio

        return asyncio.run(outcome)
    except KeyboardInterrupt:
        print("careerlog: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        message, code = _explain(exc)
        print(f"careerlog: error: {message}", file=sys.stderr)
        return code


def _explain(exc: Exception) -> tuple[str, int]:
    from careerlog.client.commands import CommandError
    from careerlog.client.home import StoreError

    if isinstance(exc, CliError):
        return str(exc), exc.code
    if isinstance(exc, CommandError):
        return str(exc), EXIT_REFUSED
    if isinstance(exc, StoreError):
        return str(exc), EXIT_DATA
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), EXIT_DATA
    import sqlite3

    if isinstance(exc, sqlite3.Error):
        return f"database error: {exc}", EXIT_DATA
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{type(exc).__name__}: {first_line} (CAREERLOG_DEBUG=1 shows details)", EXIT_DATA


if __name__ == "__main__":
    # Run the canonical module, not this ``__main__`` copy, so exceptions raised
    # by modules importing ``careerlog.client.cli`` are the classes main() knows.
    from careerlog.client.cli import main as canonical_main

    sys.exit(canonical_main())
