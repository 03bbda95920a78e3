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
        return _entropy.take(size)


class _Entropy:
    """OS randomness drawn a few kilobytes at a time.

    Every recorded event takes 18 random bytes (its id and a record id), and
    a system call per draw cost more than the rest of minting the envelope.
    A forked child starts with an empty pool, so it never repeats its parent's.
    """

    def __init__(self) -> None:
        self._pool = b""
        self._taken = 0  # (an offset: slicing off the rest copied the pool every draw)
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._pool, self._taken = b"", 0

    def take(self, size: int) -> bytes:
        start, end = self._taken, self._taken + size
        if end > len(self._pool):
            self._pool, start, end = os.urandom(max(4096, size)), 0, size
        self._taken = end
        return self._pool[start:end]


_entropy = _Entropy()


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
