"""What the store and the read-only fast path share, without asyncio or aiosqlite.

A read verb (``careerlog status``) should start in well under 150 ms, and
importing asyncio alone costs ~40 ms; so the pieces both sides need live here:
the file name, errors, the snapshot rules, and :class:`HomeReader`, a
synchronous read-only view of a home through the standard ``sqlite3`` module.
"""

from __future__ import annotations

import sqlite3
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self
from uuid import UUID

from careerlog.client.store_schema import DEVICE_ID
from careerlog.shared.codec import decode_event
from careerlog.shared.projections import CareerState, decode_state, fold, new_state

__all__ = [
    "DB_NAME",
    "MAX_KEY",
    "MIN_KEY",
    "HomeReader",
    "Key",
    "RejectedEvent",
    "Retraction",
    "StoreError",
    "decode_snapshot",
    "retraction_from_row",
    "usable",
]

DB_NAME = "careerlog.db"

Key = tuple[int, str, int]
MIN_KEY: Key = (-1, "", 0)
MAX_KEY: Key = ((1 << 63) - 1, "", 0)


class StoreError(Exception):
    """The store cannot be used (missing home, corrupt or newer database)."""


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    id: UUID
    dseq: int
    code: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Retraction:
    key: Key
    target: UUID
    target_key: Key | None


def usable(snapshot: Key, upto: Key, retractions: list[Retraction]) -> bool:
    """May the fold of the events <= ``upto`` start from a snapshot at ``snapshot``?

    Not if a retraction between them takes back an event the snapshot folded in.
    """
    for r in retractions:
        if snapshot < r.key <= upto and r.target_key is not None and r.target_key <= snapshot:
            return False
    return True


def decode_snapshot(body: bytes) -> CareerState:
    return decode_state(zlib.decompress(body))


_RETRACTIONS = (
    "SELECT hlc, device, dseq, target_id, target_hlc, target_device, target_dseq FROM retractions"
)


def retraction_from_row(
    row: tuple[int, str, int, bytes, int | None, str | None, int | None],
) -> Retraction:
    target_key = (row[4], row[5], row[6]) if row[4] is not None else None
    return Retraction((row[0], row[1], row[2]), UUID(bytes=row[3]), target_key)  # type: ignore[arg-type]


class HomeReader:
    """A read-only view of a home: the current state and the sync bookkeeping."""

    def __init__(self, db: sqlite3.Connection, home: Path) -> None:
        self._db = db
        self.home = home

    @classmethod
    def open(cls, home: Path) -> Self:
        path = home / DB_NAME
        if not path.exists():
            raise StoreError(f"no Careerlog home at {home} (run: careerlog init)")
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            db.execute("PRAGMA busy_timeout=10000")
            db.execute("SELECT count(*) FROM devices").fetchone()
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StoreError(f"{path} is not a current Careerlog database ({exc})") from None
        return cls(db, home)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @property
    def device(self) -> str:
        return self.get_meta("device") or ""

    def state(self) -> CareerState:
        """The fold of the whole log, from the newest usable snapshot."""
        # One read transaction, so the snapshot and the tail agree.
        self._db.execute("BEGIN")
        try:
            retractions = [retraction_from_row(row) for row in self._db.execute(_RETRACTIONS)]
            base, state = MIN_KEY, new_state()
            keys = self._db.execute(
                "SELECT hlc, device, dseq FROM snapshots ORDER BY hlc DESC, device DESC, dseq DESC"
            ).fetchall()
            for key in keys:
                if usable(key, MAX_KEY, retractions):
                    (body,) = self._db.execute(
                        "SELECT body FROM snapshots WHERE hlc = ? AND device = ? AND dseq = ?", key
                    ).fetchone()
                    base, state = key, decode_snapshot(body)
                    break
            tail = self._db.execute(
                "SELECT body FROM events WHERE (hlc, device, dseq) > (?, ?, ?) "
                "ORDER BY hlc, device, dseq",
                base,
            )
            return fold([decode_event(row[0]) for row in tail], state)
        finally:
            self._db.execute("COMMIT")

    def pending_count(self) -> int:
        device = self.device
        if not DEVICE_ID.fullmatch(device):
            return 0
        # The same literal spelling as the partial index ``own_unacked``.
        query = f"SELECT count(*) FROM events WHERE device = '{device}' AND pos IS NULL"
        return int(self._db.execute(query).fetchone()[0])

    def rejected(self) -> list[RejectedEvent]:
        rows = self._db.execute(
            "SELECT id, dseq, code, reason, at_ms FROM rejected ORDER BY dseq"
        ).fetchall()
        return [
            RejectedEvent(
                UUID(bytes=r[0]), r[1], r[2], r[3], datetime.fromtimestamp(r[4] / 1000, tz=UTC)
            )
            for r in rows
        ]
