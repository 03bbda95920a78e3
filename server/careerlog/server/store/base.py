"""The server's event store: the one interface both backends implement.

Rules every implementation keeps (the contract suite in ``tests/contract``
checks each of them against both backends):

- Every query is scoped by a user id, and the user id leads every primary key
  and index of a per-user table, so the schema can be distributed by user
  (Citus) and no transaction ever spans two users. The only tables keyed
  otherwise are the small *directory* tables that map something a caller holds
  before it knows the user (a name, a token hash) to a user id; under Citus
  they would be reference tables.
- ``append`` is one transaction. It assigns ``pos`` (per user, 1, 2, 3 …
  without gaps) under a per-user lock, so ``pos`` order is commit order and a
  reader paging ``pos > cursor`` never skips an event that commits late. It
  stores, in the same transaction, the highest ``dseq`` held per device, which
  is what makes pushes idempotent and gap-free. It returns only after COMMIT.
- A batch that would leave a gap in a device's ``dseq`` stores nothing.
- Tokens are stored only as hashes: the caller hashes, the store keeps bytes.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Self

import msgspec

__all__ = [
    "AppendResult",
    "DeviceExists",
    "DeviceRecord",
    "EventStore",
    "Incoming",
    "SequenceGap",
    "StoreError",
    "Stored",
    "UnknownUser",
    "UserExists",
]


class StoreError(Exception):
    """Base class of the errors the store raises on purpose."""


class SequenceGap(StoreError):
    """A batch would leave a gap in a device's ``dseq``; none of it was stored.

    ``expected`` is the next ``dseq`` the server needs from ``device``: the
    client resends from there.
    """

    def __init__(self, device: str, expected: int) -> None:
        super().__init__(f"device {device!r}: expected dseq {expected}")
        self.device = device
        self.expected = expected


class UserExists(StoreError):
    """``create_user`` was given a name that is already taken."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a user named {name!r} already exists")
        self.name = name


class UnknownUser(StoreError):
    """The user id names no user (never created, or deleted)."""

    def __init__(self, user_id: int) -> None:
        super().__init__(f"no user with id {user_id}")
        self.user_id = user_id


class DeviceExists(StoreError):
    """``add_device`` was given a device id the user already has."""

    def __init__(self, user_id: int, device: str) -> None:
        super().__init__(f"user {user_id} already has a device {device!r}")
        self.user_id = user_id
        self.device = device


class Incoming(msgspec.Struct, frozen=True):
    """One event as pushed by a device, already validated by the caller.

    ``body`` is the event's MessagePack bytes, stored as received. ``rejected``
    is ``(code, reason)`` when the caller refused the event's content: the
    store then keeps no event and assigns no ``pos``, but still advances the
    device's high-water mark (so the next ``dseq`` is not a gap) and remembers
    the rejection (so a re-push gets the same answer). ``id`` is the event's
    id (16 bytes), kept with the event or the rejection: a later push of the
    same ``dseq`` with another id is not a re-push but a reused ``dseq``
    (``dseq_reused``). None when unknown: that push is then taken as a re-push.

    (A msgspec struct, like ``AppendResult``: one is made per pushed event,
    and a struct is built several times faster than a frozen dataclass.)
    """

    device: str
    dseq: int
    hlc: int
    body: bytes
    rejected: tuple[str, str] | None = None
    id: bytes | None = None


class AppendResult(msgspec.Struct, frozen=True):
    """What happened to one pushed event.

    ``accepted`` and ``duplicate`` carry the event's ``pos``; ``rejected``
    carries the code and reason instead (also for a re-push of a rejected
    event).
    """

    status: Literal["accepted", "duplicate", "rejected"]
    pos: int | None
    code: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Stored:
    """One stored event, as read back in ``pos`` order."""

    pos: int
    device: str
    dseq: int
    body: bytes
    received_ms: int


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A device registered to a user. ``revoked_ms`` is None while it is active.

    ``token_expires_ms`` is when the device's current token stops working
    (None: never); renewing the device with an enrollment token sets it anew.
    """

    user_id: int
    device: str
    name: str
    created_ms: int
    revoked_ms: int | None
    token_expires_ms: int | None = None

    def refusal(self, now_ms: int) -> str | None:
        """Why this device's token is refused at ``now_ms`` ("revoked", "expired"), or None."""
        if self.revoked_ms is not None:
            return "revoked"
        if self.token_expires_ms is not None and now_ms >= self.token_expires_ms:
            return "expired"
        return None


class EventStore(abc.ABC):
    """The server's durable log of every user's events, and its accounts.

    Open one with :func:`careerlog.server.store.open_store`; use it as an async
    context manager or call :meth:`close`.
    """

    # -- lifecycle --------------------------------------------------------

    @property
    @abc.abstractmethod
    def epoch(self) -> str:
        """The id of this store's lifetime.

        Minted once, by the first migration. A wiped server has a new one, so a
        client that sees a different epoch resets instead of guessing.
        """

    @abc.abstractmethod
    async def migrate(self) -> list[int]:
        """Apply the migrations not yet applied; return their version numbers.

        Safe to run again and safe to run from several nodes at once.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections. The store is unusable afterwards."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the log ----------------------------------------------------------

    @abc.abstractmethod
    async def append(
        self, user_id: int, device: str, events: Sequence[Incoming], received_ms: int
    ) -> tuple[list[AppendResult], int]:
        """Store a batch pushed by one device, in ``dseq`` order, in one transaction.

        Returns one result per event, in order, and the user's head ``pos``
        after the commit. ``dseq`` at or below the device's high-water mark is a
        duplicate (answered from what was stored), the next one is accepted (or
        remembered as rejected), anything further raises :class:`SequenceGap`
        and stores nothing. Raises :class:`UnknownUser` for a user that does
        not exist and ``ValueError`` for an event of another device.
        """

    @abc.abstractmethod
    async def read(self, user_id: int, after: int, limit: int) -> list[Stored]:
        """Up to ``limit`` of the user's events with ``pos > after``, by ``pos``."""

    async def read_page(
        self, user_id: int, after: int, limit: int
    ) -> tuple[list[tuple[int, bytes]], int]:
        """``(pos, body)`` of up to ``limit`` events with ``pos > after``, and the
        user's head (at least the last ``pos`` returned): one sync page.

        Backends answer it in one query where they can: a sync connection
        reads a page every time it is woken, so a second round trip for the
        head is on the latency path of every live event.
        """
        stored = await self.read(user_id, after, limit)
        return [(s.pos, s.body) for s in stored], await self.head(user_id)

    @abc.abstractmethod
    async def read_in_order(
        self, user_id: int, after: tuple[int, str, int], max_pos: int, limit: int
    ) -> list[Stored]:
        """Up to ``limit`` of the user's events sorting after ``after`` in canonical order.

        Canonical order is ``(hlc, device, dseq)``; only events with
        ``pos <= max_pos`` count, so that a projector re-folding the events it
        has checkpointed does not pick up one committed since. For re-folding
        after a late event and for time travel (index ``events_by_key``).
        """

    @abc.abstractmethod
    async def head(self, user_id: int) -> int:
        """The user's highest ``pos`` (0 before the first event)."""

    @abc.abstractmethod
    async def device_head(self, user_id: int, device: str) -> int:
        """The highest ``dseq`` held for the user's device (0 before the first)."""

    # -- accounts ---------------------------------------------------------

    @abc.abstractmethod
    async def create_user(self, name: str) -> int:
        """Create a user and return its id; raise :class:`UserExists` if taken."""

    @abc.abstractmethod
    async def user_by_name(self, name: str) -> int | None:
        """The id of the user with this name, or None."""

    @abc.abstractmethod
    async def list_users(self) -> list[tuple[int, str]]:
        """Every user as ``(id, name)``, by id: for the operator's admin CLI."""

    async def user_name(self, user_id: int) -> str | None:
        """The name of the user with this id, or None (a coach is named by it in grants).

        A scan of :meth:`list_users`; a backend may answer from its index instead.
        """
        return next((name for uid, name in await self.list_users() if uid == user_id), None)

    @abc.abstractmethod
    async def add_enrollment(self, user_id: int, token_hash: bytes, expires_ms: int) -> None:
        """Record a single-use enrollment token (by hash) that adds a device."""

    @abc.abstractmethod
    async def consume_enrollment(self, token_hash: bytes, now_ms: int) -> int | None:
        """Use up an enrollment token; return its user id, or None.

        None when the token is unknown, already used or expired at ``now_ms``.
        A token works at most once even when raced from several nodes.
        """

    @abc.abstractmethod
    async def add_device(
        self,
        user_id: int,
        device: str,
        token_hash: bytes,
        name: str,
        now_ms: int,
        expires_ms: int | None = None,
    ) -> None:
        """Register a device and its token (by hash), valid until ``expires_ms`` (None: ever).

        Raises :class:`DeviceExists` if the user already has this device id and
        :class:`UnknownUser` if the user does not exist.
        """

    @abc.abstractmethod
    async def renew_device(
        self,
        user_id: int,
        device: str,
        token_hash: bytes,
        name: str,
        expires_ms: int | None = None,
    ) -> bool:
        """Give an existing device a new token; False if the user has no such device.

        Every earlier token of the device stops working and a revocation is
        lifted: whoever holds a fresh enrollment token of the user may bring
        the device back (a revoked laptop that was found, a token file lost,
        a token expired) and carry on with its own sequence of events. An empty
        ``name`` keeps the device's name.
        """

    @abc.abstractmethod
    async def device_for_token(self, token_hash: bytes) -> DeviceRecord | None:
        """The device a token belongs to, revoked or not, or None."""

    @abc.abstractmethod
    async def list_devices(self, user_id: int) -> list[DeviceRecord]:
        """The user's devices, oldest first."""

    @abc.abstractmethod
    async def revoke_device(self, user_id: int, device: str, now_ms: int) -> bool:
        """Revoke an active device; False if it is unknown or already revoked."""

    @abc.abstractmethod
    async def delete_user(self, user_id: int) -> bool:
        """Remove every trace of the user; False if there was no such user."""
