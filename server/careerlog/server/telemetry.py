"""What one sync connection tells the operator: its metrics and its log lines.

:class:`SyncConnection` calls three hooks, each a few attribute loads and
float adds so that the hot path barely notices them: ``received`` for every
frame read, ``sent`` for every frame written, ``closing`` for the close code
the server chose. Counting happens once per *message* (a push batch, an
Events page), never per event except to split a PushResult's results by
status, which the counters need and which costs one comparison an event.

Logs never carry a token or an event body: only ids, codes and counts.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from careerlog.server.metrics import ServerMetrics
from careerlog.server.store.base import DeviceRecord
from careerlog.shared.protocol import Events, Gap, PushResult

__all__ = ["ConnectionTelemetry"]

log = logging.getLogger("careerlog.server.sync")

#: The label of a connection that ended without a close frame (the socket broke).
NO_CLOSE_CODE = "none"


class ConnectionTelemetry:
    """Metrics and logs of one device's sync connection, from accept to close."""

    __slots__ = ("_close_code", "_fields", "_metrics", "_opened_s", "_received_s")

    def __init__(self, metrics: ServerMetrics, device: DeviceRecord) -> None:
        self._metrics = metrics
        self._fields: dict[str, Any] = {"user_id": device.user_id, "device": device.device}
        self._received_s = 0.0
        self._opened_s = time.perf_counter()
        self._close_code: int | None = None

    def opened(self) -> None:
        self._opened_s = time.perf_counter()
        self._metrics.opened.inc()
        log.info("sync connection opened", extra=self._fields)

    def received(self, message: Any) -> None:
        """A websocket message from the client: a frame, or its disconnect."""
        self._received_s = time.perf_counter()
        if message["type"] == "websocket.disconnect" and self._close_code is None:
            self._close_code = message.get("code")

    def sent(self, message: object) -> None:
        """A frame went out; a PushResult or Gap answers the frame last received."""
        if isinstance(message, Events):
            self._metrics.pages.inc()
            self._metrics.page_events.inc(len(message.items))
        elif isinstance(message, PushResult):
            self._pushed(message)
        elif isinstance(message, Gap):
            self._metrics.pushes_gap.inc()
            self._metrics.push_seconds.observe(time.perf_counter() - self._received_s)
            fields = {**self._fields, "batch": message.batch, "expected": message.expected}
            log.debug("push refused: gap", extra=fields)

    def _pushed(self, result: PushResult) -> None:
        metrics = self._metrics
        metrics.pushes_result.inc()
        metrics.push_seconds.observe(time.perf_counter() - self._received_s)
        results = result.results
        # A list of statuses and one count (in C) cover the usual
        # all-accepted batch; only batches with rejections look at codes.
        statuses = [item.status for item in results]
        accepted = statuses.count("accepted")
        duplicates = refused = 0
        rejected: dict[str, int] | None = None
        if accepted != len(statuses):
            duplicates = statuses.count("duplicate")
            refused = len(statuses) - accepted - duplicates
            if refused:
                rejected = {}
                for item in results:
                    if item.status == "rejected":
                        code = item.code or "unknown"
                        rejected[code] = rejected.get(code, 0) + 1
        if accepted:
            metrics.accepted.inc(accepted)
        if duplicates:
            metrics.duplicate.inc(duplicates)
        if rejected:
            metrics.rejected.inc(refused)
            for code, count in rejected.items():
                metrics.rejected_by_code.labels(code).inc(count)
            log.info(
                "pushed events rejected",
                extra={**self._fields, "batch": result.batch, "rejected": rejected},
            )
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "push batch stored",
                extra={
                    **self._fields,
                    "batch": result.batch,
                    "accepted": accepted,
                    "duplicate": duplicates,
                    "rejected": refused,
                },
            )

    def closing(self, code: int) -> None:
        """The server closes the socket with ``code``."""
        if self._close_code is None:
            self._close_code = code

    def closed(self) -> None:
        code = NO_CLOSE_CODE if self._close_code is None else str(self._close_code)
        self._metrics.closed.labels(code).inc()
        log.info(
            "sync connection closed",
            extra={
                **self._fields,
                "close_code": self._close_code,
                "seconds": round(time.perf_counter() - self._opened_s, 3),
            },
        )
