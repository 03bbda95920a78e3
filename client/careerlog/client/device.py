"""The device's clock and randomness: the one place the client reads them.

Everything below the shell is pure and takes ``now`` and random bytes as
arguments; this module supplies them, so tests can substitute a fixed clock.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Protocol

from careerlog.shared.ids import record_id

__all__ = ["Clock", "SystemClock", "local_zone_name", "new_device_id"]


class Clock(Protocol):
    def now_ms(self) -> int: ...

    def random(self, size: int) -> bytes: ...


class SystemClock:
    """The wall clock, corrected by an offset learned from the sync server."""

    def __init__(self, offset_ms: int = 0) -> None:
        self.offset_ms = offset_ms

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms

    def random(self, size: int) -> bytes:
        return os.urandom(size)


def new_device_id() -> str:
    return record_id(os.urandom(8))


def local_zone_name() -> str:
    """The IANA name of the local time zone when known, else its UTC offset."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and "/" in tz:
        return tz
    try:
        link = os.readlink("/etc/localtime")
    except OSError:
        link = ""
    if "zoneinfo/" in link:
        return link.split("zoneinfo/", 1)[1]
    offset = datetime.now(UTC).astimezone().strftime("%z")
    return f"{offset[:3]}:{offset[3:]}" if offset else "UTC"
