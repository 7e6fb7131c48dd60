"""Prometheus metrics of the services, served on `/metrics` when `REACTOR_ES_METRICS_PORT` is set.

How to record: import the module and call one function where the thing happens, e.g.

    from reactor_es import metrics

    metrics.job_done("write_ready", latency_s)      # executor, per finished job
    metrics.operations_written(len(operations))      # executor, after the commit
    metrics.batch_done(duration_s)                   # executor, per committed batch
    metrics.projector_records("legacy", partition, count)  # runner, after its commit
    metrics.projector_lag("legacy", partition, end_offset - position)

Every function is a no-op until `start_metrics(settings)` has started the endpoint, so call
sites need no `if` and cost one attribute check when metrics are off. Record after the
Kafka/SQLite commit, so an aborted batch is not counted twice when it is retried. Labels
are low-cardinality on purpose (outcome, projector name, partition), never document or
job ids.

The metrics live on a registry of their own (not prometheus-client's global one) with the
process/GC collectors added, so a library embedding reactor-es keeps its own registry clean.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from reactor_es.config import Settings
from reactor_es.errors import SettingsError

__all__ = [
    "MetricsEndpoint",
    "batch_done",
    "batch_failed",
    "dead_lettered",
    "executor_lag",
    "job_done",
    "metrics_enabled",
    "operations_written",
    "projector_lag",
    "projector_records",
    "restore_done",
    "start_metrics",
    "stop_metrics",
]

_PREFIX = "reactor_es"
# Seconds: a job or batch takes milliseconds; a restore of a large partition takes minutes.
_FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_SLOW_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)


class _Metrics:
    """The metric objects, created on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.jobs = Counter(
            f"{_PREFIX}_jobs",
            "Jobs the executor finished, by outcome (write_ready, failed, ...).",
            ["outcome"],
            registry=registry,
        )
        self.job_latency = Histogram(
            f"{_PREFIX}_job_latency_seconds",
            "Seconds from a job's PENDING event to its WRITE_READY (or FAILED) event.",
            buckets=_FAST_BUCKETS,
            registry=registry,
        )
        self.operations = Counter(
            f"{_PREFIX}_operations_written",
            "Operations the executor committed to the operations topic.",
            registry=registry,
        )
        self.dead_lettered = Counter(
            f"{_PREFIX}_dead_lettered_records",
            "Records of the actions topic parked on actions-dlq.",
            registry=registry,
        )
        self.batch_duration = Histogram(
            f"{_PREFIX}_batch_duration_seconds",
            "Seconds the executor took per poll batch, from fetch to transaction commit.",
            buckets=_FAST_BUCKETS,
            registry=registry,
        )
        self.batch_failures = Counter(
            f"{_PREFIX}_batch_failures",
            "Executor batches whose transaction was aborted (they are retried).",
            registry=registry,
        )
        self.lag = Gauge(
            f"{_PREFIX}_lag_records",
            "Records between a consumer's position and the partition end (last reading).",
            ["consumer", "partition"],
            registry=registry,
        )
        self.projector_records = Counter(
            f"{_PREFIX}_projector_records",
            "Operations records a projector applied and committed.",
            ["projector", "partition"],
            registry=registry,
        )
        self.restore_duration = Histogram(
            f"{_PREFIX}_restore_duration_seconds",
            "Seconds the executor took to rebuild a partition's documents before serving it.",
            buckets=_SLOW_BUCKETS,
            registry=registry,
        )
        self.restored_operations = Counter(
            f"{_PREFIX}_restored_operations",
            "Operations replayed by executor restores.",
            registry=registry,
        )


@dataclass(frozen=True)
class MetricsEndpoint:
    """The running `/metrics` HTTP server."""

    addr: str
    port: int
    server: Any
    thread: threading.Thread

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.addr in {"", "0.0.0.0", "::"} else self.addr  # noqa: S104
        return f"http://{host}:{self.port}/metrics"


_lock = threading.Lock()
_active: _Metrics | None = None
_endpoint: MetricsEndpoint | None = None


def start_metrics(settings: Settings) -> MetricsEndpoint | None:
    """Serve `/metrics` when `settings.metrics_port` is set; None (metrics off) otherwise.

    Services call it once at start; a second call returns the running endpoint. Port 0
    picks a free port (see `MetricsEndpoint.port`).
    """
    global _active, _endpoint
    if settings.metrics_port is None:
        return None
    with _lock:
        if _endpoint is not None:
            return _endpoint
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        metrics = _Metrics(registry)
        try:
            server, thread = start_http_server(
                settings.metrics_port, addr=settings.metrics_addr, registry=registry
            )
        except OSError as exc:
            raise SettingsError(
                f"REACTOR_ES_METRICS_PORT: cannot serve metrics on "
                f"{settings.metrics_addr}:{settings.metrics_port}: {exc.strerror or exc}"
            ) from None
        _endpoint = MetricsEndpoint(settings.metrics_addr, int(server.server_port), server, thread)
        _active = metrics
        return _endpoint


def stop_metrics() -> None:
    """Stop serving and turn recording off again (for tests and embedded use)."""
    global _active, _endpoint
    with _lock:
        endpoint, _endpoint, _active = _endpoint, None, None
    if endpoint is not None:
        endpoint.server.shutdown()
        endpoint.server.server_close()
        endpoint.thread.join(timeout=5)


def metrics_enabled() -> bool:
    return _active is not None


# -- recording (one line at each call site; no-ops while metrics are off) ---------------------


def job_done(outcome: str, latency_s: float | None = None) -> None:
    """A job finished with `outcome`; `latency_s` from its PENDING event, when known."""
    m = _active
    if m is None:
        return
    m.jobs.labels(outcome).inc()
    if latency_s is not None:
        m.job_latency.observe(max(0.0, latency_s))


def operations_written(count: int) -> None:
    m = _active
    if m is not None and count:
        m.operations.inc(count)


def dead_lettered(count: int = 1) -> None:
    m = _active
    if m is not None and count:
        m.dead_lettered.inc(count)


def batch_done(duration_s: float) -> None:
    m = _active
    if m is not None:
        m.batch_duration.observe(duration_s)


def batch_failed() -> None:
    m = _active
    if m is not None:
        m.batch_failures.inc()


def executor_lag(partition: int, records: int) -> None:
    """Records of `actions` partition `partition` not yet processed."""
    m = _active
    if m is not None:
        m.lag.labels("executor", str(partition)).set(records)


def projector_records(projector: str, partition: int, count: int) -> None:
    m = _active
    if m is not None and count:
        m.projector_records.labels(projector, str(partition)).inc(count)


def projector_lag(projector: str, partition: int, records: int) -> None:
    """Records of `operations` partition `partition` the projector has not applied yet."""
    m = _active
    if m is not None:
        m.lag.labels(f"projector-{projector}", str(partition)).set(records)


def restore_done(duration_s: float, operations: int) -> None:
    m = _active
    if m is None:
        return
    m.restore_duration.observe(duration_s)
    if operations:
        m.restored_operations.inc(operations)
