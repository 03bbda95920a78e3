"""The pure query helpers both read-model backends share, and the HLC's 64-bit bound."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from careerlog.server.readmodels.rows import (
    ID_WINDOW_MS,
    MAX_HLC,
    OutOfRange,
    id_windows,
    recorded_limit,
    timeline_query,
)
from careerlog.shared.hlc import pack


def uuid7(ms: int) -> UUID:
    return UUID(int=ms << 80 | 7 << 76 | 2 << 62)


def question(_n: int) -> str:
    return "?"


def dollar(n: int) -> str:
    return f"${n}"


def query(mark: Callable[[int], str] = question, **given: Any) -> tuple[str, list[Any]] | None:
    filters: dict[str, Any] = {
        "recorded_by": None,
        "occurred_from": None,
        "occurred_to": None,
        "types": None,
        "before": None,
        "limit": 50,
    }
    return timeline_query(7, mark=mark, **(filters | given))


def test_both_backends_get_one_query_spelled_with_their_placeholders() -> None:
    given = {
        "recorded_by": datetime(2026, 1, 1, tzinfo=UTC),
        "occurred_from": datetime(2025, 1, 1, tzinfo=UTC),
        "types": frozenset({"GoalSet", "ActivityLogged"}),
        "before": (pack(1_700_000_000_000), "dev", 3),
        "limit": 20,
    }
    sqlite, postgres = query(question, **given), query(dollar, **given)
    assert sqlite is not None
    assert postgres is not None
    assert sqlite[1] == postgres[1]
    params = sqlite[1]
    # user, before's three, recorded limit, occurred_from, two types (sorted), limit.
    assert params[:4] == [7, pack(1_700_000_000_000), "dev", 3]
    assert params[-3:] == ["ActivityLogged", "GoalSet", 20]
    numbered = postgres[0]
    for n in range(len(params), 0, -1):
        numbered = numbered.replace(f"${n}", "?")
    assert numbered == sqlite[0]


def test_a_query_that_can_match_nothing_is_not_run() -> None:
    assert query(limit=0) is None
    assert query(types=frozenset()) is None


def test_a_time_past_the_last_hlc_is_refused() -> None:
    assert recorded_limit(datetime(5999, 12, 31, 23, 59, tzinfo=UTC)) <= MAX_HLC
    with pytest.raises(OutOfRange):
        recorded_limit(datetime(9999, 12, 31, tzinfo=UTC))
    with pytest.raises(OutOfRange):
        query(recorded_by=datetime(9999, 12, 31, tzinfo=UTC))
    with pytest.raises(OutOfRange):
        query(before=(1 << 63, "dev", 1))
    with pytest.raises(OutOfRange):
        query(before=(0, "dev", -(1 << 63) - 1))


def test_an_id_is_looked_for_near_its_time_within_the_hlcs_the_stores_hold() -> None:
    ms = 1_700_000_000_000
    assert id_windows(uuid7(ms)) == [(pack(ms), pack(ms + ID_WINDOW_MS)), None]
    last = MAX_HLC >> 16
    assert id_windows(uuid7(last)) == [(pack(last), MAX_HLC), None]
    assert id_windows(uuid7(last + 1)) == [None]
