"""Reports: Markdown, iCalendar (RFC 5545) and CSV, from a real folded state."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

from careerlog.client.reports import CSV_COLUMNS, goals_csv, icalendar, markdown
from careerlog.shared.projections import fold
from tests.shared.builders import History

TODAY = date(2026, 2, 1)


def _history() -> tuple[History, str, str]:
    h = History()
    goal = h.goal(
        "Give a conference talk; on, the | record", due=date(2026, 6, 1), start=date(2026, 1, 1)
    )
    milestone = h.milestone(goal, "Submit the CFP " + "x" * 80, due=date(2026, 3, 1))
    h.progress(goal, 3, on=date(2026, 1, 20))
    h.reschedule(goal, date(2026, 7, 1), on=date(2026, 1, 25))
    return h, goal, milestone


def test_icalendar_lines_are_crlf_folded_at_75_octets_and_escaped() -> None:
    h, goal, milestone = _history()
    text = icalendar(fold(h.events), now=datetime(2026, 2, 1, tzinfo=UTC))
    assert text.startswith("BEGIN:VCALENDAR\r\n")
    assert text.endswith("END:VCALENDAR\r\n")
    lines = text.split("\r\n")[:-1]
    assert all(len(line.encode()) <= 75 for line in lines)
    assert f"UID:goal-{goal}@careerlog" in lines
    assert f"UID:milestone-{milestone}@careerlog" in lines
    unfolded = text.replace("\r\n ", "")
    assert "SUMMARY:Goal due: Give a conference talk\\; on\\, the | record" in unfolded
    assert "DTSTART;VALUE=DATE:20260701" in unfolded  # the rescheduled due date


def test_csv_has_one_row_per_goal_with_its_corrections() -> None:
    h, goal, _ = _history()
    rows = list(csv.DictReader(io.StringIO(goals_csv(fold(h.events), TODAY))))
    assert list(rows[0]) == list(CSV_COLUMNS)
    (row,) = rows
    assert row["goal_id"] == goal
    assert row["due_on"] == "2026-07-01"
    assert row["original_due_on"] == "2026-06-01"
    assert row["slip_days"] == "30"


def test_markdown_escapes_table_cells_and_lists_course_corrections() -> None:
    h, _, _ = _history()
    text = markdown(fold(h.events), h.events, TODAY)
    assert text.startswith("# Career report — 2026-02-01")
    assert "Give a conference talk; on, the \\| record" in text
    assert "rescheduled" in text
    assert "## Activity" in text
