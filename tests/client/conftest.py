"""Fixtures for the client: a deterministic clock and a real SQLite home."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from careerlog.client.store import LocalStore

#: 2026-03-02 09:00 UTC, a Monday.
START_MS = int(datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp() * 1000)


class StepClock:
    """A clock that moves ``step_ms`` per reading and gives reproducible bytes."""

    def __init__(self, start_ms: int = START_MS, step_ms: int = 1000, seed: str = "") -> None:
        self.ms = start_ms
        self.step_ms = step_ms
        self.seed = seed
        self._counter = 0

    def now_ms(self) -> int:
        self.ms += self.step_ms
        return self.ms

    def random(self, size: int) -> bytes:
        self._counter += 1
        return hashlib.sha256(f"{self.seed}/{self._counter}".encode()).digest()[:size]

    def at(self, when: datetime) -> None:
        """Jump to ``when`` (the next reading is one step after it)."""
        self.ms = int(when.timestamp() * 1000) - self.step_ms


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
async def store(tmp_path: Path, clock: StepClock) -> AsyncIterator[LocalStore]:
    opened = await LocalStore.open(tmp_path / "home", clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path, for homes whose wake-up socket must fit
    a socket address (about 100 bytes; pytest's tmp_path can be longer)."""
    path = Path(tempfile.mkdtemp(prefix="clw", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
