"""Prometheus metrics: off by default, and exact values on `/metrics` when on."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator

import pytest

from reactor_es import metrics
from reactor_es.config import Settings
from reactor_es.errors import SettingsError


@pytest.fixture(autouse=True)
def metrics_off() -> Iterator[None]:
    metrics.stop_metrics()
    yield
    metrics.stop_metrics()


def scrape(endpoint: metrics.MetricsEndpoint) -> dict[str, float]:
    """The samples of our own metrics, by their exposition line's name and labels."""
    with urllib.request.urlopen(endpoint.url, timeout=5) as response:
        assert response.status == 200
        text = response.read().decode("utf-8")
    samples = {}
    for line in text.splitlines():
        if line.startswith("reactor_es_"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_disabled_by_default_and_recording_is_a_no_op() -> None:
    assert metrics.start_metrics(Settings()) is None
    assert metrics.metrics_enabled() is False
    metrics.job_done("write_ready", 0.1)
    metrics.operations_written(3)
    metrics.projector_lag("legacy", 0, 5)
    assert metrics.metrics_enabled() is False


def test_enabled_endpoint_serves_exact_values() -> None:
    endpoint = metrics.start_metrics(Settings(metrics_port=0, metrics_addr="127.0.0.1"))
    assert endpoint is not None
    assert endpoint.url == f"http://127.0.0.1:{endpoint.port}/metrics"
    assert metrics.start_metrics(Settings(metrics_port=0)) is endpoint  # once per process

    before = scrape(endpoint)
    assert before["reactor_es_operations_written_total"] == 0.0
    assert 'reactor_es_jobs_total{outcome="write_ready"}' not in before  # no label seen yet

    metrics.job_done("write_ready", 0.004)
    metrics.job_done("write_ready", 0.2)
    metrics.job_done("failed")
    metrics.operations_written(7)
    metrics.operations_written(5)
    metrics.dead_lettered()
    metrics.batch_done(0.03)
    metrics.batch_failed()
    metrics.executor_lag(2, 40)
    metrics.projector_records("legacy", 1, 120)
    metrics.projector_lag("legacy", 1, 9)
    metrics.projector_lag("legacy", 1, 3)  # a gauge: the last reading
    metrics.restore_done(1.5, 2500)

    after = scrape(endpoint)
    assert after['reactor_es_jobs_total{outcome="write_ready"}'] == 2.0
    assert after['reactor_es_jobs_total{outcome="failed"}'] == 1.0
    assert after["reactor_es_job_latency_seconds_count"] == 2.0
    assert after["reactor_es_job_latency_seconds_sum"] == pytest.approx(0.204)
    assert after['reactor_es_job_latency_seconds_bucket{le="0.005"}'] == 1.0
    assert after['reactor_es_job_latency_seconds_bucket{le="0.25"}'] == 2.0
    assert after["reactor_es_operations_written_total"] == 12.0
    assert after["reactor_es_dead_lettered_records_total"] == 1.0
    assert after["reactor_es_batch_duration_seconds_count"] == 1.0
    assert after["reactor_es_batch_failures_total"] == 1.0
    assert after['reactor_es_lag_records{consumer="executor",partition="2"}'] == 40.0
    assert after['reactor_es_lag_records{consumer="projector-legacy",partition="1"}'] == 3.0
    assert after['reactor_es_projector_records_total{partition="1",projector="legacy"}'] == 120.0
    assert after["reactor_es_restore_duration_seconds_count"] == 1.0
    assert after["reactor_es_restored_operations_total"] == 2500.0

    metrics.stop_metrics()
    assert metrics.metrics_enabled() is False
    metrics.job_done("write_ready", 0.1)  # off again: nothing to record into


def test_port_in_use_names_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SettingsError) as caught:
            metrics.start_metrics(Settings(metrics_port=port, metrics_addr="127.0.0.1"))
    assert str(caught.value) == (
        f"REACTOR_ES_METRICS_PORT: cannot serve metrics on 127.0.0.1:{port}: Address already in use"
    )
    assert metrics.metrics_enabled() is False
