"""What the app's handlers share: settings, the open store, the fan-out hub, limits, metrics.

One value per app, made by :func:`careerlog.server.app.create_app`; the store
is set by the lifespan, so handlers find it open or the app is not serving.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from careerlog.server.fanout import Hub, PostgresListener
from careerlog.server.metrics import ServerMetrics
from careerlog.server.projector import Projector
from careerlog.server.ratelimit import RateLimiter
from careerlog.server.readmodels.writer import ReadModelStore
from careerlog.server.settings import Settings
from careerlog.server.store import EventStore

__all__ = ["Runtime"]


@dataclass(slots=True)
class Runtime:
    settings: Settings
    hub: Hub = field(default_factory=Hub)
    enrollments: RateLimiter = field(init=False)
    metrics: ServerMetrics = field(init=False)
    _store: EventStore | None = None
    listener: PostgresListener | None = None
    listener_task: asyncio.Task[None] | None = None
    _read_models: ReadModelStore | None = None
    #: The in-process projector (SQLite by default; PostgreSQL only if asked).
    projector: Projector | None = None
    projector_task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.enrollments = RateLimiter(
            self.settings.enrollments_per_minute, self.settings.enrollment_burst
        )
        self.metrics = ServerMetrics(self.settings.node, self.settings.store_kind)

    @property
    def store(self) -> EventStore:
        if self._store is None:
            raise RuntimeError("the store is not open (the app is not running)")
        return self._store

    @store.setter
    def store(self, store: EventStore | None) -> None:
        self._store = store

    @property
    def read_models(self) -> ReadModelStore:
        """The read models, open on the store's database while the app runs."""
        if self._read_models is None:
            raise RuntimeError("the read models are not open (the app is not running)")
        return self._read_models

    @read_models.setter
    def read_models(self, read_models: ReadModelStore | None) -> None:
        self._read_models = read_models

    async def publish_revocation(self, user_id: int, device: str) -> None:
        """Close the device's live socket here and, through PostgreSQL, on every node."""
        self.hub.revoke(user_id, device)
        await notify_revocation(self.store, user_id, device)


async def notify_revocation(store: EventStore, user_id: int, device: str) -> None:
    """Tell other nodes (PostgreSQL only; with SQLite fan-out is in-process)."""
    notify = getattr(store, "notify", None)
    if notify is not None:
        from careerlog.server.fanout import REVOKE_CHANNEL

        await notify(REVOKE_CHANNEL, f"{user_id}:{device}")
