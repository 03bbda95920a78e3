"""Fan-out: waking a user's live connections when their log grows or a device is revoked.

Rules of this module:
- A wake-up never carries events. It says "the user's head is now at least
  N" (or "look again"); each connection then reads the next page from its own
  cursor through its session, so the server never buffers a backlog per
  connection and a slow device costs nothing but its cursor.
- In one process the :class:`Hub` maps ``user_id -> device -> connection``.
  A device has at most one connection: attaching a newer one replaces the
  older.
- Across nodes (PostgreSQL) every append NOTIFYs ``careerlog_events`` with
  ``"<user_id>:<head>"`` right after its commit (from its own small
  transaction: store/postgres.py says why), and a revocation NOTIFYs
  ``careerlog_revocations`` with ``"<user_id>:<device>"``. A
  :class:`PostgresListener` on each node LISTENs on one dedicated connection
  and hands both to the local hub. If that connection drops, NOTIFYs sent
  meanwhile are lost, so after reconnecting it wakes *every* local connection:
  each re-reads from its cursor and re-checks its token, and nothing is missed.
- A wake-up can also be lost between an append's commit and its NOTIFY (the
  node dies, or the NOTIFY fails). So every ``HEAD_CHECK_S`` the listener
  reads the heads of the users with connections on this node (one indexed
  query) and wakes those whose head passed what it last heard: a lost
  wake-up costs at most that long, never an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any, Protocol

__all__ = ["REVOKE_CHANNEL", "Hub", "PostgresListener", "Subscriber"]

#: The listener's application_name, to find it in pg_stat_activity.
LISTENER_NAME = "careerlog-listener"

#: The channel a revocation NOTIFYs with ``"<user_id>:<device>"``.
REVOKE_CHANNEL = "careerlog_revocations"

log = logging.getLogger("careerlog.server.fanout")


class Subscriber(Protocol):
    """What the hub needs of a live connection. Every method only schedules work."""

    def wake(self, head: int | None) -> None:
        """The user's head reached ``head`` (None: unknown, look it up and re-check the token)."""

    def revoke(self) -> None:
        """The device may have been revoked: check, and close if so."""

    def replace(self) -> None:
        """A newer connection of the same device took over: close."""

    def shutdown(self) -> None:
        """The server is stopping: close with 1001."""


class Hub:
    """The live connections of this process, by user and device."""

    def __init__(self) -> None:
        self._users: dict[int, dict[str, Subscriber]] = {}
        #: Called with ``(user_id, head)`` on every wake-up (the in-process projector).
        self._listeners: list[Callable[[int, int | None], None]] = []

    def add_listener(self, listener: Callable[[int, int | None], None]) -> None:
        """Also tell ``listener`` whenever a user's head moves (it must only schedule work)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[int, int | None], None]) -> None:
        self._listeners.remove(listener)

    def attach(self, user_id: int, device: str, subscriber: Subscriber) -> None:
        """Register a connection; an older one of the same device is replaced."""
        devices = self._users.setdefault(user_id, {})
        older = devices.get(device)
        devices[device] = subscriber
        if older is not None and older is not subscriber:
            older.replace()

    def detach(self, user_id: int, device: str, subscriber: Subscriber) -> None:
        """Forget a closed connection (unless a newer one already took its place)."""
        devices = self._users.get(user_id)
        if devices is None or devices.get(device) is not subscriber:
            return
        del devices[device]
        if not devices:
            del self._users[user_id]

    def wake(self, user_id: int, head: int | None, *, skip: Subscriber | None = None) -> int:
        """Wake the user's connections here (but ``skip``) and the listeners;
        returns how many connections were woken."""
        woken = 0
        for subscriber in list(self._users.get(user_id, {}).values()):
            if subscriber is not skip:
                subscriber.wake(head)
                woken += 1
        for listener in self._listeners:
            listener(user_id, head)
        return woken

    def revoke(self, user_id: int, device: str) -> None:
        subscriber = self._users.get(user_id, {}).get(device)
        if subscriber is not None:
            subscriber.revoke()

    def wake_all(self) -> None:
        for subscriber in list(self._subscribers()):
            subscriber.wake(None)

    def shutdown(self) -> None:
        for subscriber in list(self._subscribers()):
            subscriber.shutdown()

    def connections(self, user_id: int | None = None) -> int:
        """How many connections are live (for one user, or in all)."""
        if user_id is not None:
            return len(self._users.get(user_id, {}))
        return sum(len(devices) for devices in self._users.values())

    def users(self) -> list[int]:
        """The users with a live connection here."""
        return list(self._users)

    def _subscribers(self) -> Iterator[Subscriber]:
        for devices in self._users.values():
            yield from devices.values()


def parse_wakeup(payload: str) -> tuple[int, int] | None:
    """``"<user_id>:<head>"`` from ``careerlog_events``, or None if it is not one."""
    user, _, head = payload.partition(":")
    try:
        return int(user), int(head)
    except ValueError:
        return None


def parse_revocation(payload: str) -> tuple[int, str] | None:
    """``"<user_id>:<device>"`` from ``careerlog_revocations``, or None."""
    user, _, device = payload.partition(":")
    try:
        return (int(user), device) if device else None
    except ValueError:
        return None


class PostgresListener:
    """LISTEN for other nodes' wake-ups on one dedicated connection, reconnecting forever.

    ``ready`` is set once the first LISTEN is in place (readiness waits for
    it, so a node never reports ready while it would miss wake-ups).
    """

    #: How often the listener reads its users' heads, to recover a wake-up
    #: lost between an append's commit and its NOTIFY; the same query proves
    #: the connection alive (a silently dead TCP connection would otherwise
    #: never report its termination). The documented bound on such a loss.
    HEAD_CHECK_S = 1.0
    RETRY_DELAYS_S = (0.1, 0.5, 1.0, 2.0, 5.0)

    def __init__(self, dsn: str, hub: Hub) -> None:
        self._dsn = dsn
        self._hub = hub
        self.ready = asyncio.Event()
        self.reconnects = 0
        #: The newest head heard of (NOTIFY or head check), per user.
        self._heard: dict[int, int] = {}
        #: Wake-ups the head check sent: a NOTIFY lost or late, or a user's
        #: first check (its connection read its first page anyway).
        self.recovered = 0

    async def run(self) -> None:
        # Imported here so that the embedded (SQLite) server never loads asyncpg.
        import asyncpg

        from careerlog.server.store.postgres import NOTIFY_CHANNEL

        failures = 0
        while True:
            connection: Any = None
            try:
                connection = await asyncpg.connect(
                    self._dsn, timeout=10, server_settings={"application_name": LISTENER_NAME}
                )
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _c, lost=lost: lost.set())
                await connection.add_listener(NOTIFY_CHANNEL, self._on_append)
                await connection.add_listener(REVOKE_CHANNEL, self._on_revoke)
                if self.ready.is_set():
                    # Wake-ups sent while we were not listening are gone: every
                    # local connection re-reads from its cursor instead.
                    self.reconnects += 1
                    log.warning("fan-out listener reconnected; waking every connection")
                    self._hub.wake_all()
                self.ready.set()
                failures = 0
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), self.HEAD_CHECK_S)
                    if not lost.is_set():
                        await asyncio.wait_for(self._check_heads(connection), 5)
                log.warning("fan-out listener connection lost")
            except asyncio.CancelledError:
                raise
            except Exception as error:  # any failure: log, wait, reconnect
                log.warning("fan-out listener failed: %s", error)
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        connection.terminate()
            delay = self.RETRY_DELAYS_S[min(failures, len(self.RETRY_DELAYS_S) - 1)]
            failures += 1
            await asyncio.sleep(delay)

    async def _check_heads(self, connection: Any) -> None:
        users = self._hub.users()
        rows = await connection.fetch(
            "SELECT user_id, head FROM user_heads WHERE user_id = ANY($1::bigint[])", users
        )
        heard = self._heard
        # (Users gone from this node are forgotten: the dict stays the size
        # of the live connections.)
        self._heard = {user: heard[user] for user in users if user in heard}
        for user, head in rows:
            if head > self._heard.get(user, 0):
                # A head never heard of: its NOTIFY was lost (or is on its
                # way; then the connections find nothing new, which is cheap).
                self._heard[user] = head
                self.recovered += 1
                self._hub.wake(user, head)

    def _on_append(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        wakeup = parse_wakeup(payload)
        if wakeup is not None:
            user, head = wakeup
            if head > self._heard.get(user, 0):
                self._heard[user] = head
            self._hub.wake(user, head)

    def _on_revoke(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        revocation = parse_revocation(payload)
        if revocation is not None:
            self._hub.revoke(*revocation)
