"""Prometheus metrics of the API: requests and latency per route, table versions, freshness.

prometheus_client renders the exposition format; each app has its own registry (tests build many
apps in one process). Freshness comes from the run ledger: for each gold table, the age of the
newest succeeded run that wrote it — what an alert on a stale table watches.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.fastpath import PREFIX, SUFFIX
from api.hygiene import HEAD_KEY
from api.tables import DataUnavailableError, TableCache
from common import tables
from common.utc import now as utc_now

# API answers take well under a millisecond from the views; the top buckets catch a cold lake.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Gold tables: what the API serves (the runs ledger is not one).
GOLD_TABLES = tuple(
    t for t in vars(tables).values() if isinstance(t, tables.Table) and t.owner != tables.OPS_RUNS.owner
)


class Metrics:
    """The registry of one app: request metrics fed by the middleware, lake metrics collected at scrape."""

    def __init__(self, cache: TableCache) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "dataplatform_http_requests",
            "HTTP requests answered, by route template, method and status",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "dataplatform_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(LakeCollector(cache))


class LakeCollector(Collector):
    """Table versions the API serves and the age of each gold table's last successful run."""

    def __init__(self, cache: TableCache) -> None:
        self.cache = cache

    def collect(self) -> Iterator[Metric]:
        view = self._runs()  # first: without a refresher task, this loads the ledger's version too
        versions = GaugeMetricFamily(
            "dataplatform_table_version", "Delta version of the table the API serves", labels=("table",)
        )
        for path, version in sorted(self.cache.table_versions().items()):
            versions.add_metric((path,), version)
        yield versions
        age = GaugeMetricFamily(
            "dataplatform_table_last_success_age_seconds",
            "Seconds since the newest succeeded run that wrote the table ended (from ops/runs)",
            labels=("table", "job"),
        )
        finished = GaugeMetricFamily(
            "dataplatform_job_last_success_timestamp_seconds",
            "When the job's newest succeeded run ended, Unix time (from ops/runs)",
            labels=("job",),
        )
        if view is not None:
            now = utc_now()
            for table in GOLD_TABLES:
                ended = view.last_success.get(table.path)
                if ended is not None:
                    age.add_metric((table.path, table.owner), (now - ended).total_seconds())
            for job, ended in sorted(view.last_success_by_job.items()):
                finished.add_metric((job,), ended.timestamp())
        yield age
        yield finished

    def _runs(self) -> Any:
        try:
            return self.cache.get("runs")
        except (DataUnavailableError, KeyError):
            return None  # ledger unreadable: no freshness samples, which `absent()` alerts on


def route_of(scope: Scope) -> str:
    """The route template (bounded label values), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    raw = str(scope.get("path", ""))
    # Answers of the fast path (api.fastpath) never reach the router.
    if raw == "/health":
        return raw
    if raw.startswith(PREFIX) and raw.endswith(SUFFIX):
        return f"{PREFIX}{{repo}}{SUFFIX}"
    return "unmatched"


class MetricsMiddleware:
    """Pure ASGI middleware, outermost but CORS: counts and times every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = route_of(scope)
            method = "HEAD" if scope.get(HEAD_KEY) else scope["method"]
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
