"""Prometheus metrics: requests by route template, the database pool, the webhook backlog.

Each app owns its ``CollectorRegistry`` (not the process-global one), so several apps in one
process — the test suite builds one per test — never clash over metric names.

Route labels are route templates (``/api/v1/contacts/{contact_id}``), never raw paths, and
requests that match no route share ``<unmatched>``: the number of series stays bounded whatever
clients send.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, inspect, text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.kit.middleware import RouteTemplates

log = logging.getLogger("infoview.metrics")

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds: from sub-millisecond reads to the slowest writes worth telling apart.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PoolCollector(Collector):
    """The SQLAlchemy pool of the app's engine, read at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        pool = self.engine.pool
        # QueuePool has these; other pool classes (StaticPool, NullPool) report nothing.
        size, checked_out, overflow = (
            getattr(pool, name, None) for name in ("size", "checkedout", "overflow")
        )
        if not (callable(size) and callable(checked_out) and callable(overflow)):
            return
        # QueuePool's overflow counts up from -size: size + overflow connections are open.
        opened = size() + overflow()
        readings = (
            ("db_pool_size", "Connections the pool keeps once opened.", size()),
            ("db_pool_open_connections", "Connections open now, idle or lent.", opened),
            ("db_pool_checked_out", "Connections lent to requests right now.", checked_out()),
            ("db_pool_overflow", "Connections open beyond the pool size.", max(0, overflow())),
        )
        for name, doc, value in readings:
            yield GaugeMetricFamily(name, doc, value=float(max(0, value)))


@dataclass(frozen=True)
class TableGauge:
    """A gauge read with one SQL query at scrape time, reported only once its table exists.

    The query returns one row ``(count)``, or rows ``(label value, count)`` when ``label`` is set.
    """

    name: str
    doc: str
    table: str
    sql: str
    label: str | None = None
    # Label values reported as 0 when the query returns no row for them.
    label_values: tuple[str, ...] = ()


# Both queries run on indexed columns, so a scrape stays cheap however long the history grows.
TABLE_GAUGES = (
    TableGauge(
        "outbox_pending_events",
        "Outbox events committed but not yet fanned out to their deliveries.",
        "outbox_event",
        "SELECT count(*) FROM outbox_event WHERE dispatched_at IS NULL",
    ),
    TableGauge(
        "webhook_deliveries",
        "Webhook deliveries not (yet) delivered: pending a first attempt, failed and waiting "
        "for a retry, or dead (given up).",
        "webhook_delivery",
        "SELECT status, count(*) FROM webhook_delivery "
        "WHERE status IN ('pending', 'failed', 'dead') GROUP BY status",
        label="status",
        label_values=("pending", "failed", "dead"),
    ),
)


class TableCollector(Collector):
    """Counts from tables, at scrape time; silent for tables that do not exist (yet)."""

    def __init__(self, engine: Engine, gauges: tuple[TableGauge, ...] = TABLE_GAUGES) -> None:
        self.engine = engine
        self.gauges = gauges
        self._broken: set[str] = set()

    def collect(self) -> Iterator[Metric]:
        try:
            with self.engine.connect() as conn:
                tables = set(inspect(conn).get_table_names())
                for gauge in self.gauges:
                    if gauge.table not in tables or gauge.name in self._broken:
                        continue
                    try:
                        rows = conn.execute(text(gauge.sql)).all()
                    except Exception as exc:
                        # A query that does not fit the table is a bug to fix, not a failed scrape.
                        conn.rollback()
                        self._broken.add(gauge.name)
                        log.warning(
                            "metric query failed; metric disabled",
                            extra={"metric": gauge.name, "error": str(exc)},
                        )
                        continue
                    yield _gauge(gauge, rows)
        except Exception as exc:
            log.warning("database unreachable for metrics", extra={"error": str(exc)})


def _gauge(gauge: TableGauge, rows: Sequence[Sequence[Any]]) -> GaugeMetricFamily:
    if gauge.label is None:
        return GaugeMetricFamily(gauge.name, gauge.doc, value=float(rows[0][0]))
    family = GaugeMetricFamily(gauge.name, gauge.doc, labels=[gauge.label])
    counts = dict.fromkeys(gauge.label_values, 0.0)
    counts.update((str(row[0]), float(row[1])) for row in rows)
    for label_value, count in counts.items():
        family.add_metric([label_value], count)
    return family


class Metrics:
    """The registry of one app and the instruments the middleware records into."""

    def __init__(self, engine: Engine | None = None, pool_of: Engine | None = None) -> None:
        """``engine`` answers the table gauges' queries (from a worker thread, at scrape time);
        ``pool_of`` is the engine whose pool the requests use (``engine`` by default)."""
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by method, route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from request to the end of the response, by method and route template.",
            ("method", "route"),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        if engine is not None:
            self.registry.register(PoolCollector(pool_of or engine))
            self.registry.register(TableCollector(engine))
        # labels() takes a lock and builds a tuple each call; the children are reusable.
        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._histograms: dict[tuple[str, str], Histogram] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one answered request."""
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = self.requests.labels(method, route, str(status))
            self._counters[(method, route, status)] = counter
        counter.inc()
        histogram = self._histograms.get((method, route))
        if histogram is None:
            histogram = self.duration.labels(method, route)
            self._histograms[(method, route)] = histogram
        histogram.observe(seconds)


class MetricsMiddleware:
    """Pure ASGI middleware recording every HTTP request into ``Metrics``.

    Put it outermost, so answers given by inner middleware (413 for oversize bodies) count too.
    A request that raises before answering is counted as a 500, which is what the client gets.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.route_template = RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            elapsed = time.perf_counter() - started
            self.metrics.observe(method, self.route_template(scope), status, elapsed)
