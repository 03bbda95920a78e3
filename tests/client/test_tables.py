"""The small table renderer: markup, colour rules, wrapping to the width."""

from __future__ import annotations

import io

import pytest

from careerlog.client.tables import Console, Table, plain


def _console(monkeypatch: pytest.MonkeyPatch, *, color: bool, width: int = 40) -> Console:
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.delenv("NO_COLOR", raising=False)
    if color:
        monkeypatch.setenv("FORCE_COLOR", "1")
    else:
        monkeypatch.delenv("FORCE_COLOR", raising=False)
    return Console(io.StringIO())


def test_known_styles_are_markup_and_other_brackets_are_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    console = _console(monkeypatch, color=True)
    assert console.render("[red]late[/] [draft] talk") == "\x1b[31mlate\x1b[0m [draft] talk"
    assert plain("[bold red]x[/][dim]y[/]") == "xy"


def test_no_color_wins_over_force_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    assert Console(io.StringIO()).render("[green]ok[/]") == "ok"


def test_tables_fit_the_width_by_wrapping_only_the_flexible_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    console = _console(monkeypatch, color=False, width=40)
    table = Table("Goals", ["id", "goal"], no_wrap=["id"])
    table.add_row("abcdefghijkl", "a rather long goal title that must wrap somewhere")
    lines = table.render(console).splitlines()
    assert lines[0] == "Goals"
    assert all(len(line) <= 40 for line in lines)
    assert "abcdefghijkl" in lines[4]
    body = " ".join(line.split("│")[2].strip() for line in lines[4:-1])
    assert body == "a rather long goal title that must wrap somewhere"


def test_a_row_must_have_one_cell_per_column() -> None:
    with pytest.raises(ValueError, match="1 cells for 2 columns"):
        Table(None, ["a", "b"]).add_row("x")
