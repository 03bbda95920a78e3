"""The server's read models: the one interface the projector writes and the HTTP API reads.

Rules every implementation keeps (a contract suite in ``tests/contract``
checks each of them against both backends):

- Read models are *derived*: every row can be rebuilt from the event log by
  the pure folds of :mod:`careerlog.shared.projections`, so server and client
  always agree. ``careerlog-server rebuild`` does exactly that, with identical
  results.
- A user's checkpoint (the ``pos`` and canonical key folded so far) is written
  in the same transaction as the rows it covers, so a crash never leaves rows
  ahead of or behind their checkpoint, and no event is applied twice.
- Like the event store, every table leads its key with ``user_id`` and every
  write stays inside one user. Cross-user reads (a coach's list of people,
  organisation aggregates) read these projections, never the raw log.
- A late event (canonical key before the checkpoint's) makes the projector
  re-fold the user from a snapshot taken before it.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import date, datetime

from careerlog.shared.projections import CareerState
from careerlog.shared.projections.timeline import TimelineEntry

__all__ = ["Checkpoint", "Grant", "ReadModels"]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """How far one user's read models have folded the log."""

    #: Highest ``pos`` folded (the projector reads ``pos > this`` next).
    pos: int
    #: Highest canonical key ``(hlc, device, dseq)`` folded.
    key: tuple[int, str, int]
    #: Events folded (retracted ones included).
    events: int
    #: When the checkpoint was written (server clock, ms).
    updated_ms: int


@dataclass(frozen=True, slots=True)
class Grant:
    """A person's live grant to a grantee (a coach), as folded from their log."""

    owner_id: int
    owner_name: str
    grantee: str
    scopes: tuple[str, ...]
    granted_on: date
    expires_on: date | None


class ReadModels(abc.ABC):
    """Query side of the projections.

    :class:`careerlog.server.readmodels.writer.ReadModelStore` adds the
    projector's side; ``open_read_models(url)`` opens one on the store's
    database, and a running app has it as ``Runtime.read_models``.
    """

    @abc.abstractmethod
    async def checkpoint(self, user_id: int) -> Checkpoint | None:
        """The user's checkpoint, or None before the projector first saw them."""

    @abc.abstractmethod
    async def state(self, user_id: int) -> CareerState:
        """The user's folded state at their checkpoint (an empty state before any)."""

    @abc.abstractmethod
    async def state_as_recorded(self, user_id: int, at: datetime) -> CareerState:
        """The plan as it stood at ``at``: the fold of events *recorded* (HLC wall) by then.

        Answered from the nearest snapshot before ``at`` plus the events after it.
        Raises :class:`~careerlog.server.readmodels.rows.OutOfRange` for an ``at``
        past the last time an HLC can name (about the year 6429).
        """

    @abc.abstractmethod
    async def state_happened_by(self, user_id: int, at: datetime) -> CareerState:
        """What had happened by ``at``: the fold of events that *occurred* by then."""

    @abc.abstractmethod
    async def timeline(
        self,
        user_id: int,
        *,
        recorded_by: datetime | None = None,
        occurred_from: datetime | None = None,
        occurred_to: datetime | None = None,
        types: frozenset[str] | None = None,
        before: tuple[int, str, int] | None = None,
        limit: int = 50,
    ) -> list[TimelineEntry]:
        """Timeline entries, newest first (canonical order, descending).

        ``recorded_by`` keeps only events recorded by then; ``occurred_*``
        filter on when the event happened; ``before`` is the paging cursor
        (the canonical key of the last entry of the previous page). A
        ``recorded_by`` or ``before`` past what an HLC can name raises
        :class:`~careerlog.server.readmodels.rows.OutOfRange`.
        """

    @abc.abstractmethod
    async def grants_to(self, grantee: str, today: date) -> list[Grant]:
        """The live grants naming ``grantee`` (not revoked, not expired at ``today``)."""

    @abc.abstractmethod
    async def member_facts(self, user_ids: list[int]) -> dict[int, bytes]:
        """Each user's encoded :class:`careerlog.shared.projections.analytics.MemberFacts`.

        What organisation aggregates are computed from; users with no read
        models yet are absent from the result.
        """

    @abc.abstractmethod
    async def delete_user(self, user_id: int) -> None:
        """Remove every row of the user's read models (account deletion)."""
