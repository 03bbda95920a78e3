"""The server's settings: one frozen value, built by the CLI (or a test) and given to the app.

Nothing here reads the environment: ``careerlog-server`` turns flags and
``CAREERLOG_SERVER_*`` variables into a :class:`Settings`, so the app itself
is a pure function of its settings and is easy to start twice in one test.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from platformdirs import user_data_dir

from careerlog.shared.protocol import DEFAULT_LIMITS, Limits

__all__ = ["DEFAULT_PORT", "Settings", "default_db_url", "is_postgres_url", "sqlite_path"]

DEFAULT_PORT = 8765


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def sqlite_path(url: str) -> Path:
    """The file an embedded store's URL names: ``sqlite:///path`` or a plain path.

    Raises:
        ValueError: another scheme (PostgreSQL URLs are the caller's other branch).
    """
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    if "://" in url:
        raise ValueError(f"unsupported store URL {url!r}: use sqlite:/// or postgresql://")
    return Path(url)


def default_db_url() -> str:
    """The embedded store: an SQLite file in the operator's data directory."""
    return f"sqlite:///{Path(user_data_dir('careerlog-server')) / 'careerlog-server.db'}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    #: ``sqlite:///path`` (embedded, one node) or ``postgresql://…`` (many nodes).
    db_url: str = field(default_factory=default_db_url)
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    #: Per-connection sync limits; the client-relevant ones go out in ``Welcome``.
    limits: Limits = DEFAULT_LIMITS
    #: How far an event's HLC may run ahead of this server's clock (overrides ``limits``).
    clock_skew_ms: int = DEFAULT_LIMITS.max_clock_skew_ms
    #: This node's name in logs and ``/health`` (several nodes share one PostgreSQL).
    node: str = field(default_factory=socket.gethostname)
    #: Largest HTTP request body; the JSON bodies of this API are tiny.
    max_body_bytes: int = 16 << 10
    #: Enrollment attempts per client IP: sustained per minute, and burst.
    enrollments_per_minute: float = 10.0
    enrollment_burst: int = 5
    #: How long a device token enrolled (or renewed) now stays valid; None: forever.
    #: A device whose token expired is refused (``token_expired``) until it
    #: renews with a fresh enrollment token.
    device_token_ttl_ms: int | None = None
    #: A live connection re-checks its token this often, so a revocation made
    #: where no wake-up reaches this node (another process on the same SQLite
    #: file, a NOTIFY lost while the listener reconnected) still closes it.
    revocation_check_ms: int = 30_000
    #: ``/ready`` fails when the store takes longer than this to answer a query.
    ready_timeout_s: float = 2.0
    #: ``/ready`` fails while an in-process projection lags more than this.
    ready_max_projector_lag_s: float = 30.0

    #: Run the projector inside this server process. None: yes on the embedded
    #: SQLite store, no on PostgreSQL (where ``careerlog-server project``
    #: processes lead partitions of users instead).
    project_in_process: bool | None = None
    #: PostgreSQL: how many partitions users are split into for projecting
    #: (every projector of a database, in-process or not, must agree).
    projector_partitions: int = 16

    @property
    def projects_in_process(self) -> bool:
        if self.project_in_process is not None:
            return self.project_in_process
        return self.store_kind == "sqlite"

    @property
    def store_kind(self) -> str:
        """``postgresql`` or ``sqlite``, for metrics (never the URL: it may hold a password)."""
        return "postgresql" if is_postgres_url(self.db_url) else "sqlite"

    @property
    def session_limits(self) -> Limits:
        """The limits a sync session enforces, with this server's clock-skew allowance."""
        return msgspec.structs.replace(self.limits, max_clock_skew_ms=self.clock_skew_ms)
