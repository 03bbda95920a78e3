"""The projector's side of the read-model stores: loading, writing, finding who is behind.

:class:`ReadModelStore` is a :class:`ReadModels` (the query side the HTTP API
reads) plus what the projector needs. Both backends implement it over the
same database as the event store, so a projector step reads the log and
writes the read models of one user without leaving it.

The write is the heart of it: :meth:`ReadModelStore.write` applies an
:class:`Update` in one transaction, and only if the user's checkpoint is
still where the projector read it (compare-and-set on ``pos``) and the user
still exists. Two projectors racing on one user can therefore never both
apply a step: the second finds the checkpoint moved, writes nothing, and
starts again from the new checkpoint.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Self

from careerlog.server.readmodels.base import ReadModels
from careerlog.server.readmodels.rows import (
    Key,
    Loaded,
    RetractionRow,
    SnapshotRow,
    Update,
    usable,
)

__all__ = ["Behind", "ProjectionLag", "ReadModelStore", "WriteOutcome"]

#: ``applied``: committed. ``conflict``: the checkpoint moved (another
#: projector, or a rebuild), nothing written. ``gone``: the user was deleted.
WriteOutcome = Literal["applied", "conflict", "gone"]


@dataclass(frozen=True, slots=True)
class Behind:
    """A user whose log is ahead of their read models."""

    user_id: int
    head: int
    pos: int


@dataclass(frozen=True, slots=True)
class ProjectionLag:
    """How far one projection is behind the log, over all users (for metrics and readiness)."""

    #: The projection's name (one today: every read model moves with one checkpoint).
    projection: str
    #: Users whose head ``pos`` is past their checkpoint.
    users_behind: int
    #: Sum over users of head ``pos`` minus checkpoint ``pos``.
    events_behind: int
    #: Age of the oldest event not yet projected (server receive time), 0 when caught up.
    seconds_behind: float


class ReadModelStore(ReadModels):
    """Read models on one backend: the query side plus the projector's write side."""

    # -- lifecycle --------------------------------------------------------

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the projector's side ---------------------------------------------

    @abc.abstractmethod
    async def load(self, user_id: int) -> Loaded | None:
        """The user's checkpoint, state and snapshot chain; None before the first write."""

    @abc.abstractmethod
    async def write(self, update: Update) -> WriteOutcome:
        """Apply ``update`` in one transaction if the checkpoint is still ``expected_pos``."""

    @abc.abstractmethod
    async def retractions(self, user_id: int) -> list[RetractionRow]:
        """The user's folded retractions and their targets, in canonical order."""

    @abc.abstractmethod
    async def snapshot_keys(self, user_id: int, below: Key) -> list[Key]:
        """Keys of the user's snapshots before ``below``, newest first."""

    @abc.abstractmethod
    async def snapshot(self, user_id: int, key: Key) -> SnapshotRow | None:
        """The user's snapshot at ``key``."""

    @abc.abstractmethod
    async def event_keys(self, user_id: int, event_ids: list[str]) -> dict[str, Key]:
        """Canonical keys of the given events (ids as text) among those already folded.

        Ids that are unknown or not UUIDs are absent from the result.
        """

    @abc.abstractmethod
    async def behind(
        self, modulus: int = 1, residues: frozenset[int] | None = None
    ) -> list[Behind]:
        """Users whose head is past their checkpoint, by user id.

        With ``residues``, only users with ``user_id % modulus`` in them (the
        partitions a projector leads).
        """

    @abc.abstractmethod
    async def lag(self, now_ms: int) -> ProjectionLag:
        """How far the read models are behind the log, over all users."""

    async def best_snapshot(
        self, user_id: int, below: Key, extra: Sequence[RetractionRow] = ()
    ) -> SnapshotRow | None:
        """The newest snapshot before ``below`` that a fold to the end may start from.

        ``extra`` are retractions about to be folded, not stored yet: a
        snapshot one of them reaches behind is not usable either.
        """
        keys = await self.snapshot_keys(user_id, below)
        if not keys:
            return None
        retractions = [*await self.retractions(user_id), *extra]
        top = ((1 << 63) - 1, "", 0)
        for key in keys:
            if usable(key, top, retractions):
                return await self.snapshot(user_id, key)
        return None
