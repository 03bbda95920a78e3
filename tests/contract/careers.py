"""Real career histories pushed into a store and projected: what the read-model tests share."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from careerlog.server.store import EventStore, Incoming
from careerlog.server.store.schema import READ_MODEL_TABLES
from careerlog.shared.codec import encode_event
from careerlog.shared.events import Event
from tests.contract.database import raw_fetch
from tests.shared.builders import History

__all__ = ["NOW", "busy_history", "dump", "incoming", "push", "push_in_batches"]

NOW = 1_772_442_000_000


def incoming(events: Sequence[Event]) -> list[Incoming]:
    return [Incoming(e.device, e.dseq, e.hlc, encode_event(e)) for e in events]


async def push(store: EventStore, user: int, events: Sequence[Event]) -> int:
    """Append one device's events (in dseq order) as one batch; return the new head."""
    _, head = await store.append(user, events[0].device, incoming(events), NOW)
    return head


async def push_in_batches(store: EventStore, user: int, events: Sequence[Event], size: int) -> None:
    for start in range(0, len(events), size):
        await push(store, user, events[start : start + size])


def busy_history(
    activities: int, *, device: str = "laptop", start: date = date(2026, 1, 5)
) -> History:
    """Goals, a grant, a retraction and many days of activity: every read model gets rows."""
    h = History(device=device, today=start)
    gid = h.goal("Give talks", due=date(2026, 12, 31), start=start, target=4)
    mid = h.milestone(gid, "First talk", date(2026, 6, 1))
    h.share("coach@example.com", ["progress", "history"], on=start)
    mistake = h.activity(start, "other", text="typo")
    h.retract(h.event_for(mistake), on=start)
    for i in range(activities):
        day = datetime(2026, 1, 6, 9, tzinfo=UTC) + timedelta(hours=6 * i)
        if i % 50 == 7:
            h.progress(gid, 1 + i // 1000, day)
        else:
            h.activity(day, "learning", text=f"read chapter {i}", goal_id=gid, minutes=30)
    h.reach(mid, datetime(2026, 1, 6, 9, tzinfo=UTC) + timedelta(hours=6 * activities))
    return h


async def dump(url: str, user: int) -> dict[str, list[tuple[object, ...]]]:
    """Every read-model row of the user, sorted, without the checkpoint's wall-clock time."""
    rows: dict[str, list[tuple[object, ...]]] = {}
    for table in READ_MODEL_TABLES:
        found = await raw_fetch(url, f"SELECT * FROM {table} WHERE user_id = {int(user)}")
        if table == "rm_checkpoints":
            found = [tuple(v for i, v in enumerate(row) if i != 6) for row in found]
        rows[table] = sorted(found, key=repr)
    return rows
