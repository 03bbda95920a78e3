"""Prometheus metrics: a small typed registry and the server's own metric families.

Rules of this module:
- One :class:`Registry` per app (made with the app's :class:`Runtime`), never a
  process-global one, so two apps in one test process count separately and
  every node exposes only its own numbers at ``GET /metrics`` (Prometheus
  scrapes each node; its ``instance`` label, or ``careerlog_node_info``, tells
  them apart).
- Families are declared once, in :class:`ServerMetrics`, with their label
  names; a label set is bound once (``family.labels(...)``) and the child is
  kept, so the hot path is an attribute load and a float add. Nothing here is
  thread-safe: every update runs on the event loop.
- :meth:`Registry.render` writes the text exposition format 0.0.4
  (https://prometheus.io/docs/instrumenting/exposition_formats/).

We do not depend on ``prometheus-client``: its default registry is global
(two apps in one process would share counters), and the three metric kinds
with labels are a page of code.

**How an in-process projector reports its lag** to ``runtime.metrics.projector``
(a :class:`ProjectorLag`), in either of two ways:

- *pull* (preferred): register a coroutine function that measures the lag
  from the store, e.g. in the lifespan that starts the projector::

      runtime.metrics.projector.watch(projector.lag)

  ``/metrics`` and ``/ready`` then await it (within ``ready_timeout_s``)
  each time they are asked. It returns one reading or a sequence of them,
  each with ``projection``, ``events_behind`` and ``seconds_behind``
  (:class:`LagReading`; ``readmodels.writer.ProjectionLag`` is one). Being
  measured from checkpoints, the number keeps growing if the projector dies.
  Call ``unwatch()`` when the projector stops.
- *push*: ``report("goal_progress", events=120, seconds=0.8)`` after every
  pass (and while behind at least every few seconds, so that a stuck
  projector shows as a growing number, not a frozen one);
  ``stopped(projection, reason)`` if it dies.

Either sets ``careerlog_projector_lag_events{projection=…}`` (events in the
log the projection has not folded yet) and
``careerlog_projector_lag_seconds{projection=…}`` (age of the oldest of those;
0 when caught up). ``/ready`` answers 503 while any projection lags more than
``Settings.ready_max_projector_lag_s``, after ``stopped``, or when the watched
coroutine fails; a projection never reported does not hold readiness back.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

__all__ = [
    "CONTENT_TYPE",
    "Counter",
    "Gauge",
    "Histogram",
    "LagReading",
    "LagSource",
    "ProjectorLag",
    "Registry",
    "ServerMetrics",
]

#: The media type of the text exposition format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Seconds, from half a millisecond (an SQLite commit) to ten seconds (a stall).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


def _number(value: float) -> str:
    value = float(value)  # counters are often given ints, which have no is_integer() before 3.12
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _label_text(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    pairs = [f'{n}="{_escape_label(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


class CounterValue:
    """One labelled series of a counter: only ever goes up."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        self.value += amount


class GaugeValue:
    """One labelled series of a gauge: set to whatever it is now."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def set(self, value: float) -> None:
        self.value = value

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount


class HistogramValue:
    """One labelled series of a histogram: counts per bucket, a sum and a count."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)  # per bucket, not cumulative (cheaper to observe)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self.bounds, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.sum += value
        self.count += 1


V = TypeVar("V", CounterValue, GaugeValue, HistogramValue)


class _Family(Generic[V]):
    kind = ""

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help
        self.label_names = tuple(labels)
        self._series: dict[tuple[str, ...], V] = {}

    def _new(self) -> V:
        raise NotImplementedError

    def labels(self, *values: str) -> V:
        """The series for these label values (made on first use, then kept)."""
        series = self._series.get(values)
        if series is None:
            if len(values) != len(self.label_names):
                raise ValueError(f"{self.name} takes labels {self.label_names}, got {values}")
            series = self._series[values] = self._new()
        return series

    def remove(self, *values: str) -> None:
        """Forget one series (e.g. a projection that no longer exists)."""
        self._series.pop(values, None)

    def series(self) -> Iterator[tuple[tuple[str, ...], V]]:
        return iter(sorted(self._series.items()))

    def _lines(self) -> Iterator[str]:
        raise NotImplementedError

    def render(self) -> Iterator[str]:
        yield f"# HELP {self.name} {_escape_help(self.help)}"
        yield f"# TYPE {self.name} {self.kind}"
        yield from self._lines()


def _scalar_lines(family: Counter | Gauge) -> Iterator[str]:
    for values, series in family.series():
        yield f"{family.name}{_label_text(family.label_names, values)} {_number(series.value)}"


class Counter(_Family[CounterValue]):
    kind = "counter"

    def _new(self) -> CounterValue:
        return CounterValue()

    def _lines(self) -> Iterator[str]:
        return _scalar_lines(self)


class Gauge(_Family[GaugeValue]):
    kind = "gauge"

    def _new(self) -> GaugeValue:
        return GaugeValue()

    def _lines(self) -> Iterator[str]:
        return _scalar_lines(self)


class Histogram(_Family[HistogramValue]):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        super().__init__(name, help, labels)
        self.buckets = tuple(sorted(buckets))

    def _new(self) -> HistogramValue:
        return HistogramValue(self.buckets)

    def _lines(self) -> Iterator[str]:
        for values, series in self.series():
            cumulative = 0
            for bound, count in zip(series.bounds, series.counts, strict=True):
                cumulative += count
                le = f'le="{_number(bound)}"'
                yield f"{self.name}_bucket{_label_text(self.label_names, values, le)} {cumulative}"
            inf = 'le="+Inf"'
            yield f"{self.name}_bucket{_label_text(self.label_names, values, inf)} {series.count}"
            labels = _label_text(self.label_names, values)
            yield f"{self.name}_sum{labels} {_number(series.sum)}"
            yield f"{self.name}_count{labels} {series.count}"


Family = Counter | Gauge | Histogram
F = TypeVar("F", Counter, Gauge, Histogram)


class Registry:
    """The families one app exposes, in the order they were added."""

    def __init__(self) -> None:
        self._families: dict[str, Family] = {}

    def add(self, family: F) -> F:
        if family.name in self._families:
            raise ValueError(f"metric {family.name} is already registered")
        self._families[family.name] = family
        return family

    def get(self, name: str) -> Family:
        return self._families[name]

    def render(self) -> str:
        lines: list[str] = []
        for family in self._families.values():
            lines.extend(family.render())
        return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Lag:
    """One projection's last report."""

    events: int
    seconds: float
    #: Why the projection cannot be trusted to advance (it stopped, its lag is unknown).
    problem: str | None = None


class LagReading(Protocol):
    """One projection's lag as a projector measures it (any object with these fields)."""

    @property
    def projection(self) -> str: ...
    @property
    def events_behind(self) -> int: ...
    @property
    def seconds_behind(self) -> float: ...


LagSource = Callable[[], Awaitable[LagReading | Sequence[LagReading]]]

#: The pseudo-projection a failing lag source is reported under.
WATCH = "watch"


class ProjectorLag:
    """Where an in-process projector reports how far behind each projection is.

    See the module docstring for how to call it. ``lags()`` is what
    ``/ready`` checks, after ``refresh()``.
    """

    def __init__(self, events: Gauge, seconds: Gauge) -> None:
        self._events = events
        self._seconds = seconds
        self._lags: dict[str, Lag] = {}
        #: Projections that will not advance any more, and why. Kept apart from
        #: the readings: the checkpoints still answer after the projector died,
        #: and a fresh reading must not make a dead projector look healthy.
        self._stopped: dict[str, str] = {}
        self._source: LagSource | None = None
        #: False on a node that only reports the lag of projector processes
        #: running elsewhere: their lag is worth a graph, but devices can still
        #: sync through this node, so it must not hold its readiness back.
        self.gates_readiness = True

    def watch(self, source: LagSource, *, gates_readiness: bool = True) -> None:
        """Measure the lag by awaiting ``source()`` whenever metrics or readiness are asked."""
        self._source = source
        self.gates_readiness = gates_readiness

    def unwatch(self) -> None:
        self._source = None
        self._lags.pop(WATCH, None)

    async def refresh(self, timeout_s: float) -> None:
        """Ask the watched source, if any; a failure is itself a readiness problem."""
        if self._source is None:
            return
        try:
            readings = await asyncio.wait_for(self._source(), timeout_s)
        except Exception as error:
            reason = "no answer in time" if isinstance(error, TimeoutError) else repr(error)
            self._lags[WATCH] = Lag(0, 0.0, problem=f"lag query failed: {reason}")
            return
        self._lags.pop(WATCH, None)
        for reading in readings if isinstance(readings, Sequence) else [readings]:
            self.report(
                reading.projection, events=reading.events_behind, seconds=reading.seconds_behind
            )

    def report(self, projection: str, *, events: int, seconds: float) -> None:
        """``projection`` has ``events`` unfolded events, the oldest received ``seconds`` ago."""
        self._lags[projection] = Lag(events, seconds, self._stopped.get(projection))
        self._events.labels(projection).set(events)
        self._seconds.labels(projection).set(seconds)

    def stopped(self, projection: str, reason: str) -> None:
        """The projection will not advance any more (the projector died or was stopped)."""
        self._stopped[projection] = f"stopped: {reason}"
        previous = self._lags.get(projection, Lag(0, 0.0))
        self._lags[projection] = Lag(previous.events, previous.seconds, self._stopped[projection])

    def forget(self, projection: str) -> None:
        """The projection is gone on purpose: drop its series and its say in readiness."""
        self._lags.pop(projection, None)
        self._stopped.pop(projection, None)
        self._events.remove(projection)
        self._seconds.remove(projection)

    def lags(self) -> dict[str, Lag]:
        return dict(self._lags)


class ServerMetrics:
    """Every metric the server exposes, with the series the hot path uses pre-bound."""

    def __init__(self, node: str, store: str) -> None:
        registry = self.registry = Registry()
        info = registry.add(
            Gauge("careerlog_node_info", "This node (always 1).", ["node", "store"])
        )
        info.labels(node, store).set(1)
        self.ready = registry.add(
            Gauge("careerlog_ready", "1 if the last /ready check passed, else 0.")
        ).labels()
        #: The last readiness verdict (None before the first probe), to log changes only.
        self.last_ready: bool | None = None

        ingested = registry.add(
            Counter(
                "careerlog_events_ingested_total",
                "Pushed events by what the store made of them.",
                ["result"],
            )
        )
        self.accepted = ingested.labels("accepted")
        self.duplicate = ingested.labels("duplicate")
        self.rejected = ingested.labels("rejected")
        self.rejected_by_code = registry.add(
            Counter(
                "careerlog_events_rejected_total",
                "Pushed events refused, by rejection code.",
                ["code"],
            )
        )
        pushes = registry.add(
            Counter(
                "careerlog_sync_pushes_total",
                "Push batches answered: with a PushResult, or with a Gap.",
                ["outcome"],
            )
        )
        self.pushes_result = pushes.labels("result")
        self.pushes_gap = pushes.labels("gap")
        self.push_seconds = registry.add(
            Histogram(
                "careerlog_sync_push_duration_seconds",
                "From a Push frame received to its PushResult sent (after COMMIT).",
            )
        ).labels()
        self.pages = registry.add(
            Counter("careerlog_sync_pages_total", "Events pages sent (catch-up and live tail).")
        ).labels()
        self.page_events = registry.add(
            Counter("careerlog_sync_page_events_total", "Events sent in Events pages.")
        ).labels()
        self.connections = registry.add(
            Gauge("careerlog_sync_connections", "Live sync connections on this node.", ["node"])
        ).labels(node)
        self.opened = registry.add(
            Counter("careerlog_sync_connections_opened_total", "Sync websockets accepted.")
        ).labels()
        self.closed = registry.add(
            Counter(
                "careerlog_sync_connections_closed_total",
                "Sync connections ended, by websocket close code (none: the socket just broke).",
                ["code"],
            )
        )
        self.auth_failures = registry.add(
            Counter(
                "careerlog_sync_auth_failures_total",
                "Sync upgrades refused before the websocket opened.",
                ["reason"],
            )
        )
        self.enrollments = registry.add(
            Counter(
                "careerlog_enrollments_total",
                "Device enrollment attempts (POST /v1/devices) that reached the handler.",
                ["outcome"],
            )
        )
        self.http_requests = registry.add(
            Counter(
                "careerlog_http_requests_total",
                "HTTP requests answered, by method, route template and status.",
                ["method", "route", "status"],
            )
        )
        self.http_seconds = registry.add(
            Histogram(
                "careerlog_http_request_duration_seconds",
                "HTTP request duration, by method and route template.",
                ["method", "route"],
            )
        )
        self.projector = ProjectorLag(
            registry.add(
                Gauge(
                    "careerlog_projector_lag_events",
                    "Events a projection has not folded yet (measured from its checkpoints).",
                    ["projection"],
                )
            ),
            registry.add(
                Gauge(
                    "careerlog_projector_lag_seconds",
                    "Age of the oldest event a projection has not folded (0 when caught up).",
                    ["projection"],
                )
            ),
        )

    def render(self) -> str:
        return self.registry.render()
