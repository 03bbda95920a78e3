"""Upcasters: pure functions that lift an old event shape to the current one.

Events are never rewritten. When a type's shape changes incompatibly, its
``v`` goes up and an upcaster here turns the raw (decoded-to-builtins) old
shape into the next version. Upcasters chain, so a v1 event read today goes
v1 -> v2 -> … -> current. Every upcaster keeps a fixture of real old events in
``tests/shared/fixtures`` forever.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

__all__ = ["UPCASTERS", "upcast"]

Raw = dict[str, Any]
Upcaster = Callable[[Raw], Raw]


def _goal_set_v1_to_v2(old: Raw) -> Raw:
    """GoalSet v1 had a free-text ``measure`` and a ``deadline``; no start date.

    v2 made the measure structured (metric, unit, baseline, target) so that
    progress can be computed, renamed ``deadline`` to ``due_on`` to match
    milestones and tasks, and added ``start_on`` for the expected path. A v1
    goal measured in free text becomes a 0 -> 1 "done or not" measure, and it
    started on the day it was set.
    """
    new = {k: v for k, v in old.items() if k not in ("measure", "deadline")}
    new["v"] = 2
    new["measure"] = {"metric": old.get("measure") or old["title"], "baseline": 0.0, "target": 1.0}
    new["due_on"] = old["deadline"]
    occurred = old["occurred_at"]
    if isinstance(occurred, datetime):
        new["start_on"] = occurred.date().isoformat()
    else:
        new["start_on"] = str(occurred)[:10]
    return new


#: (type, from_version) -> upcaster producing from_version + 1.
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("GoalSet", 1): _goal_set_v1_to_v2,
}


def upcast(raw: Raw, current: int) -> Raw:
    """Lift ``raw`` to version ``current``; KeyError if a step is missing."""
    version = int(raw.get("v", 1))
    while version < current:
        raw = UPCASTERS[(str(raw["type"]), version)](raw)
        version = int(raw["v"])
    return raw
