"""Query parameters: dates, instants, periods, paging cursors and filters, checked at the edge.

Rules (each broken rule is a 400 with its own code, never a 5xx deeper in):
- A *day* is ``YYYY-MM-DD``; an *instant* is an RFC 3339 date-time (no zone
  means UTC) or a day, which then means the end of that day in UTC. Both must
  fall in 1970-01-01 … 5999-12-31: outside that the arithmetic of the views
  (a week after, a horizon ahead, a time as an HLC) would leave its range.
- A period is ``from`` … ``to``, both days included, at most
  :data:`MAX_PERIOD_DAYS` long.
- A page holds at most :data:`MAX_LIMIT` items; the cursor is opaque (it
  names the last entry of the previous page), and one that does not name an
  entry is refused, never guessed at.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from uuid import UUID

from litestar.di import NamedDependency
from litestar.params import QueryParameter

from careerlog.server.api.errors import BadRequest
from careerlog.server.orgs import OrgStore
from careerlog.server.readmodels.writer import ReadModelStore
from careerlog.server.runtime import Runtime
from careerlog.server.store.base import DeviceRecord
from careerlog.shared.events import ALL_EVENT_TYPES

__all__ = [
    "DEFAULT_LIMIT",
    "GOAL_STATUSES",
    "MAX_LIMIT",
    "MAX_PERIOD_DAYS",
    "Caller",
    "Cursor",
    "Day",
    "Horizon",
    "IdleDays",
    "Instant",
    "Limit",
    "Models",
    "Orgs",
    "Server",
    "Status",
    "Types",
    "decode_cursor",
    "encode_cursor",
    "optional_instant",
    "parse_day",
    "parse_instant",
    "parse_period",
    "parse_today",
    "parse_types",
    "replay_moment",
    "server_today",
]

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_PERIOD_DAYS = 3660
DEFAULT_PERIOD_DAYS = 30

#: Goal statuses a listing filters on ("open" is active or paused).
GOAL_STATUSES = ("active", "paused", "achieved", "dropped", "superseded", "open")

FIRST_DAY = date(1970, 1, 1)
#: Far enough for any plan, near enough that a time as an HLC (ms << 16) fits 63 bits.
LAST_DAY = date(5999, 12, 31)


# --- what the routes are given -------------------------------------------------------

#: The authenticated device (its ``user_id`` is the caller).
Caller = NamedDependency[DeviceRecord]
Models = NamedDependency[ReadModelStore]
Orgs = NamedDependency[OrgStore]
Server = NamedDependency[Runtime]

# --- parameter types of the routes ---------------------------------------------------
Day = Annotated[
    str | None,
    QueryParameter(
        description="A day, YYYY-MM-DD (default: the server's UTC date).",
        format="date",
        max_length=10,
        required=False,
    ),
]
Instant = Annotated[
    str | None,
    QueryParameter(
        description="An RFC 3339 date-time (UTC if no zone) or a day (its end, UTC).",
        format="date-time",
        max_length=40,
        required=False,
    ),
]
Limit = Annotated[
    int,
    QueryParameter(ge=1, le=MAX_LIMIT, description=f"Page size, 1 to {MAX_LIMIT}."),
]
Cursor = Annotated[
    str | None,
    QueryParameter(description="next_cursor of the previous page.", max_length=200, required=False),
]
Types = Annotated[
    str | None,
    QueryParameter(
        description="Comma-separated event types to keep, e.g. GoalSet,GoalRevised.",
        max_length=2000,
        required=False,
    ),
]
Status = Annotated[
    str | None,
    QueryParameter(
        description="Keep goals of this status ('open' = active or paused).",
        pattern="^(" + "|".join(GOAL_STATUSES) + ")$",
        required=False,
    ),
]
Horizon = Annotated[
    int, QueryParameter(ge=0, le=366, description="Days ahead of today the agenda looks, 0 to 366.")
]
IdleDays = Annotated[int, QueryParameter(ge=1, le=3660)]


def server_today() -> date:
    """Today on the server's clock (UTC): the default ``today`` of the views."""
    return datetime.now(UTC).date()


def _in_range(name: str, day: date) -> None:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadRequest("date_out_of_range", f"{name}: {day} is outside {FIRST_DAY} … {LAST_DAY}")


def parse_day(name: str, text: str | None, default: date) -> date:
    """A ``YYYY-MM-DD`` parameter, or ``default`` when it is absent."""
    if text is None or text == "":
        return default
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadRequest("invalid_date", f"{name}: {text!r} is not a date (YYYY-MM-DD)") from None
    _in_range(name, day)
    return day


def parse_today(text: str | None) -> date:
    """The ``today`` parameter of a person's view: the day asked for, else the server's."""
    return parse_day("today", text, server_today())


def parse_instant(name: str, text: str) -> datetime:
    """An RFC 3339 date-time (UTC when it names no zone) or a day (its end, in UTC)."""
    try:
        if len(text) == 10:
            return datetime.combine(parse_day(name, text, FIRST_DAY), time.max, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadRequest(
            "invalid_date", f"{name}: {text!r} is not an RFC 3339 date-time or a date"
        ) from None
    _in_range(name, moment.date())
    return moment


def optional_instant(name: str, text: str | None) -> datetime | None:
    return None if text is None or text == "" else parse_instant(name, text)


def replay_moment(
    as_recorded: str | None, occurred_by: str | None
) -> tuple[datetime | None, datetime | None]:
    """Exactly one of the two replay parameters, parsed."""
    recorded = optional_instant("as_recorded", as_recorded)
    occurred = optional_instant("occurred_by", occurred_by)
    if (recorded is None) == (occurred is None):
        raise BadRequest(
            "replay_needs_one_time",
            "give exactly one of as_recorded (the plan as recorded by then) and occurred_by"
            " (what had happened by then)",
        )
    return recorded, occurred


def parse_period(start: str | None, end: str | None, today: date) -> tuple[date, date]:
    """``from`` … ``to`` (default: the 30 days up to ``today``)."""
    last = parse_day("to", end, today)
    first = parse_day("from", start, last - timedelta(days=DEFAULT_PERIOD_DAYS - 1))
    if last < first:
        raise BadRequest("invalid_period", f"the period ends ({last}) before it starts ({first})")
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise BadRequest(
            "period_too_long", f"a period is at most {MAX_PERIOD_DAYS} days; ask for less"
        )
    return first, last


def parse_types(text: str | None) -> frozenset[str] | None:
    """``GoalSet,GoalRevised``: event type names, each one of the catalog."""
    if not text:
        return None
    names = frozenset(t.strip() for t in text.split(",") if t.strip())
    unknown = sorted(names - ALL_EVENT_TYPES.keys())
    if unknown:
        raise BadRequest(
            "unknown_type",
            f"unknown event type {unknown[0][:60]!r}: see docs/events.md for the catalog",
        )
    return names or None


def encode_cursor(event_id: str) -> str:
    return base64.urlsafe_b64encode(event_id.encode()).decode().rstrip("=")


def decode_cursor(text: str) -> str:
    """The event id a cursor names (a 400 ``invalid_cursor`` if it names none)."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        event_id = UUID(raw.decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        event_id = None
    # Event ids are UUIDv7 whose millisecond fits an HLC; any other names no entry.
    if event_id is None or event_id.version != 7 or event_id.int >> 80 >= 1 << 46:
        raise BadRequest("invalid_cursor", "the cursor is not one this API handed out")
    return str(event_id)
