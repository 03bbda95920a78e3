"""Tables and styled lines for people, in a few dozen lines instead of Rich.

Why not Rich: importing it costs 30-60 ms, a third of the start-up budget of a
read verb, for the handful of features the CLI uses. This module renders:

- text with whole-span styles written ``[style]text[/]`` (only the style names
  in ``STYLES`` are markup; any other brackets are printed as they are, so a
  goal titled "[draft] talk" is safe);
- tables with a title, a bold header and box borders, cells word-wrapped so the
  table fits the terminal.

Colour follows no-color.org and force-color.org: ``NO_COLOR`` (non-empty)
turns every style off, ``FORCE_COLOR`` turns styles on when not a terminal.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
from collections.abc import Sequence
from typing import TextIO

__all__ = ["STYLES", "Console", "Table"]

STYLES = {
    "bold": "1",
    "dim": "2",
    "italic": "3",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "bold red": "1;31",
}
_MARKUP = re.compile(
    r"\[(" + "|".join(sorted(STYLES, key=len, reverse=True)) + r")\](.*?)\[/\]", re.S
)


def _spans(text: str) -> list[tuple[str | None, str]]:
    """``text`` as (style, plain text) spans."""
    spans: list[tuple[str | None, str]] = []
    at = 0
    for match in _MARKUP.finditer(text):
        if match.start() > at:
            spans.append((None, text[at : match.start()]))
        spans.append((match.group(1), match.group(2)))
        at = match.end()
    if at < len(text):
        spans.append((None, text[at:]))
    return spans


def plain(text: str) -> str:
    return "".join(part for _, part in _spans(text))


class Console:
    """Where styled text and tables are printed."""

    def __init__(self, file: TextIO | None = None) -> None:
        self.file = file or sys.stdout
        tty = self.file.isatty()
        if os.environ.get("NO_COLOR"):
            self.color = False
        elif os.environ.get("FORCE_COLOR"):
            self.color = True
        else:
            self.color = tty and os.environ.get("TERM") != "dumb"
        fallback = int(os.environ.get("COLUMNS", "100") or 100)
        self.width = shutil.get_terminal_size((fallback, 24)).columns if tty else fallback

    def style(self, style: str | None, text: str) -> str:
        if not style or not self.color or not text:
            return text
        return f"\x1b[{STYLES[style]}m{text}\x1b[0m"

    def render(self, text: str) -> str:
        return "".join(self.style(style, part) for style, part in _spans(text))

    def print(self, item: str | Table = "") -> None:
        text = item.render(self) if isinstance(item, Table) else self.render(item)
        self.file.write(text + "\n")


class Table:
    """Rows under a header; ``add_row`` takes one cell per column (markup allowed)."""

    def __init__(
        self, title: str | None, columns: Sequence[str], *, no_wrap: Sequence[str] = ()
    ) -> None:
        self.title = title
        self.columns = list(columns)
        #: Columns kept whole (ids, dates, bars); the others wrap to make room.
        self.no_wrap = {self.columns.index(name) for name in no_wrap}
        self.rows: list[list[str]] = []

    def add_row(self, *cells: str) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append([str(cell) for cell in cells])

    def _widths(self, limit: int) -> list[int]:
        widths = [
            max([len(header), *(len(plain(row[i])) for row in self.rows)])
            for i, header in enumerate(self.columns)
        ]
        # Borders and padding: "│ " before each cell, " │" after the last.
        room = limit - (3 * len(widths) + 1)
        flexible = [i for i in range(len(widths)) if i not in self.no_wrap] or list(
            range(len(widths))
        )
        while sum(widths) > room:
            widest = max(flexible, key=widths.__getitem__)
            if widths[widest] <= 6:
                break
            widths[widest] -= 1
        return widths

    def render(self, console: Console) -> str:
        widths = self._widths(console.width)
        lines: list[str] = []
        if self.title:
            lines.append(console.style("italic", self.title))

        def rule(left: str, middle: str, right: str) -> str:
            return left + middle.join("─" * (w + 2) for w in widths) + right

        def row_lines(cells: Sequence[str], header: bool = False) -> list[str]:
            wrapped: list[tuple[str | None, list[str]]] = []
            for cell, width in zip(cells, widths, strict=True):
                spans = _spans(cell)
                style = "bold" if header else (spans[0][0] if len(spans) == 1 else None)
                text = plain(cell)
                parts = textwrap.wrap(text, width, break_long_words=True) or [""]
                wrapped.append((style, parts))
            height = max(len(parts) for _, parts in wrapped)
            out = []
            for index in range(height):
                cells_out = []
                for (style, parts), width in zip(wrapped, widths, strict=True):
                    text = parts[index] if index < len(parts) else ""
                    cells_out.append(console.style(style, text) + " " * (width - len(text)))
                out.append("│ " + " │ ".join(cells_out) + " │")
            return out

        lines.append(rule("┌", "┬", "┐"))
        lines.extend(row_lines(self.columns, header=True))
        lines.append(rule("├", "┼", "┤"))
        for row in self.rows:
            lines.extend(row_lines(row))
        lines.append(rule("└", "┴", "┘"))
        return "\n".join(lines)
