"""The command layer: pure validation of intent against the current state."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from careerlog.client import commands
from careerlog.client.commands import CommandError, parse_date, parse_when, resolve
from careerlog.shared.events import Envelope, Event, GoalRevised, GoalSet
from careerlog.shared.projections import CareerState, apply, new_state

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TODAY = NOW.date()


class Book:
    """A state plus an envelope mint, so commands run exactly as the store runs them."""

    def __init__(self) -> None:
        self.state: CareerState = new_state()
        self.dseq = 0

    def env(self) -> Envelope:
        self.dseq += 1
        return Envelope(
            id=UUID(int=self.dseq),
            device="dev1",
            dseq=self.dseq,
            hlc=self.dseq << 16,
            occurred_at=NOW + timedelta(minutes=self.dseq),
            record_id=f"rec{self.dseq:09d}",
        )

    def do(self, command: Any, **kwargs: Any) -> Event:
        event: Event = command(self.state, self.env(), **kwargs)
        apply(self.state, event)
        return event

    def goal(self, title: str = "Ship it") -> str:
        event = self.do(commands.set_goal, title=title, due_on=date(2026, 6, 1), target=5)
        assert isinstance(event, GoalSet)
        return event.goal_id


@pytest.fixture
def book() -> Book:
    return Book()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-04-01", date(2026, 4, 1)),
        ("today", TODAY),
        ("Tomorrow", TODAY + timedelta(days=1)),
        ("yesterday", TODAY - timedelta(days=1)),
        ("+14d", TODAY + timedelta(days=14)),
        ("-2w", TODAY - timedelta(weeks=2)),
        ("+3m", date(2026, 6, 2)),
        ("+1y", date(2027, 3, 2)),
    ],
)
def test_parse_date_accepts_absolute_and_relative_dates(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


def test_a_month_later_than_the_31st_is_the_last_day_of_that_month() -> None:
    assert parse_date("+1m", date(2026, 1, 31)) == date(2026, 2, 28)
    assert parse_date("+1m", date(2026, 3, 30)) == date(2026, 4, 30)


@pytest.mark.parametrize("text", ["2026-02-30", "next week", "+3x", ""])
def test_parse_date_rejects_anything_else_with_one_line(text: str) -> None:
    with pytest.raises(CommandError, match="is not a date") as caught:
        parse_date(text, TODAY)
    assert "\n" not in str(caught.value)


def test_parse_when_reads_dates_as_utc_midnight_and_keeps_offsets() -> None:
    assert parse_when("2026-03-01", NOW) == datetime(2026, 3, 1, tzinfo=UTC)
    stamped = parse_when("2026-03-01T10:00:00+02:00", NOW)
    assert stamped == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert parse_when("2026-03-01T10:00", NOW).tzinfo is UTC


def test_resolve_takes_a_unique_prefix_and_explains_ambiguity() -> None:
    records = {"abc123": 1, "abd456": 2}
    assert resolve(records, "goal", "abc") == "abc123"
    assert resolve(records, "goal", "ABD") == "abd456"
    with pytest.raises(CommandError, match="matches 2 goals"):
        resolve(records, "goal", "ab")
    with pytest.raises(CommandError, match="no goal matches 'x'"):
        resolve(records, "goal", "x")
    with pytest.raises(CommandError, match="required"):
        resolve(records, "goal", " ")


def test_set_goal_builds_a_smart_goal(book: Book) -> None:
    event = book.do(
        commands.set_goal,
        title="  Run a half marathon ",
        due_on=date(2026, 9, 1),
        metric="km",
        baseline=5,
        target=21.1,
        relevance="health",
        horizon="long",
    )
    assert isinstance(event, GoalSet)
    assert event.title == "Run a half marathon"
    assert event.start_on == TODAY
    assert (event.measure.metric, event.measure.baseline, event.measure.target) == ("km", 5, 21.1)
    assert event.goal_id == "rec000000001"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"title": ""}, "must not be empty"),
        ({"due_on": date(2026, 3, 1)}, "must be after the start date"),
        ({"target": 0}, "target must differ from baseline"),
        ({"horizon": "medium"}, "horizon"),
        ({"parent": "nope"}, "no goal matches"),
        ({"title": "x" * 301}, "longer than 300"),
        ({"occurred_at": NOW + timedelta(days=3)}, "in the future"),
    ],
)
def test_set_goal_refuses_bad_intent(book: Book, kwargs: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {"title": "Goal", "due_on": date(2026, 6, 1), **kwargs}
    with pytest.raises(CommandError, match=message):
        commands.set_goal(book.state, book.env(), **fields)


def test_commands_refuse_unknown_and_closed_records(book: Book) -> None:
    goal = book.goal()
    book.do(commands.achieve_goal, goal=goal)
    with pytest.raises(CommandError, match="already achieved"):
        commands.record_progress(book.state, book.env(), goal=goal, value=1)
    with pytest.raises(CommandError, match="no goal matches"):
        commands.pause_goal(book.state, book.env(), goal="zz", reason_code="other")
    with pytest.raises(CommandError, match="no task matches"):
        commands.complete_task(book.state, book.env(), task="zz")


def test_revise_records_before_and_after_and_refuses_no_change(book: Book) -> None:
    goal = book.goal()
    event = book.do(
        commands.revise_goal,
        goal=goal,
        changes={"target": 8, "title": "Ship it well"},
        reason_code="scope_changed",
        reason="more users",
    )
    assert isinstance(event, GoalRevised)
    assert [(c.field, c.before, c.after) for c in event.changes] == [
        ("target", 5.0, 8.0),
        ("title", "Ship it", "Ship it well"),
    ]
    with pytest.raises(CommandError, match="nothing to revise"):
        commands.revise_goal(
            book.state, book.env(), goal=goal, changes={"target": 8}, reason_code="other"
        )
    with pytest.raises(CommandError, match="unknown reason code"):
        commands.revise_goal(
            book.state, book.env(), goal=goal, changes={"target": 9}, reason_code="whim"
        )
    with pytest.raises(CommandError, match="cannot revise 'due_on'"):
        commands.revise_goal(
            book.state, book.env(), goal=goal, changes={"due_on": "x"}, reason_code="other"
        )


def test_pause_resume_and_supersede_follow_the_goal_lifecycle(book: Book) -> None:
    goal = book.goal()
    other = book.goal("Ship something better")
    with pytest.raises(CommandError):
        commands.resume_goal(book.state, book.env(), goal=goal)
    book.do(commands.pause_goal, goal=goal, reason_code="life_event")
    assert book.state.goals[goal].status == "paused"
    book.do(commands.resume_goal, goal=goal)
    assert book.state.goals[goal].status == "active"
    with pytest.raises(CommandError):
        commands.supersede_goal(book.state, book.env(), goal=goal, by_goal=goal)
    book.do(commands.supersede_goal, goal=goal, by_goal=other)
    assert book.state.goals[goal].status == "superseded"
    assert book.state.goals[goal].superseded_by == other


def test_retract_refuses_an_unknown_or_already_retracted_event(book: Book) -> None:
    goal = book.goal()
    progress = book.do(commands.record_progress, goal=goal, value=2)
    with pytest.raises(CommandError, match="no event"):
        commands.retract(book.state, book.env(), target=UUID(int=999), known=False)
    book.do(commands.retract, target=progress.id, known=True)
    with pytest.raises(CommandError, match="already retracted"):
        commands.retract(book.state, book.env(), target=progress.id, known=True)
