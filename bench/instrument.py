"""Wall-clock timers around the awaits of a service's loop, in the service's own process.

cProfile cannot say how long a coroutine waited (a suspended coroutine is off the stack),
and the latency of a job is mostly waiting: for a poll, for a transaction's round trips,
for a SQLite commit, for an acknowledgement. So the service processes wrap a few methods
(class attributes, this process only; the code under test is not edited) and keep how long
each call took. The parent asks for the totals per latency level: calls, mean, p50, p99,
and the share of the wall clock spent in each (overlapping calls can add up past 100%).
A wrapper costs two `perf_counter` calls.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from bench.latency import percentile

__all__ = ["Timings", "instrument_executor", "instrument_projectors"]


class Timings:
    """Durations per label since the last `reset`."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}
        self.since = time.perf_counter()

    def add(self, label: str, seconds: float) -> None:
        self.samples.setdefault(label, []).append(seconds)

    def reset(self) -> None:
        self.samples = {}
        self.since = time.perf_counter()

    def to_json(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.since
        return {
            "wallSeconds": round(wall, 3),
            "calls": {
                label: {
                    "count": len(values),
                    "meanMs": round(sum(values) / len(values) * 1000, 2),
                    "p50Ms": round(percentile(values, 0.5) * 1000, 2),
                    "p99Ms": round(percentile(values, 0.99) * 1000, 2),
                    "shareOfWall": round(sum(values) / wall, 3) if wall > 0 else None,
                }
                for label, values in sorted(self.samples.items())
            },
        }


def _wrap(timings: Timings, owner: Any, name: str, label: Callable[[Any], str] | str) -> None:
    original = getattr(owner, name)
    naming = label if callable(label) else (lambda _self: label)

    if _is_async(original):

        @functools.wraps(original)
        async def timed_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(self, *args, **kwargs)
            finally:
                timings.add(naming(self), time.perf_counter() - started)

        setattr(owner, name, timed_async)
    else:

        @functools.wraps(original)
        def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                timings.add(naming(self), time.perf_counter() - started)

        setattr(owner, name, timed)


def _is_async(function: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(function)


def instrument_executor(timings: Timings) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from reactor_es.executor.jobs import JobRunner
    from reactor_es.executor.partition import PartitionWorker
    from reactor_es.executor.service import JobExecutor

    _wrap(timings, AIOKafkaConsumer, "getmany", "consumer.getmany (poll)")
    _wrap(timings, JobExecutor, "_process_partition", "one partition's batch (own task)")
    _wrap(timings, PartitionWorker, "_transaction", "one partition's transaction")
    _wrap(timings, AIOKafkaProducer, "begin_transaction", "  begin_transaction")
    _wrap(timings, AIOKafkaProducer, "send_offsets_to_transaction", "  send_offsets_to_transaction")
    _wrap(timings, AIOKafkaProducer, "commit_transaction", "  commit_transaction")
    _wrap(timings, JobRunner, "run", "  job compute (JobRunner.run)")


def instrument_projectors(timings: Timings) -> None:
    from aiokafka import AIOKafkaConsumer

    from projections.job_status import JobStatusProjector
    from projections.legacy_projector import LegacyProjector
    from projections.read_ready import ReadReadyReporter
    from projections.runner import ProjectorRunner

    _wrap(timings, AIOKafkaConsumer, "getmany", "consumer.getmany (poll, both runners)")
    _wrap(timings, ProjectorRunner, "_handle", lambda self: f"{self.name}: one batch")
    _wrap(timings, LegacyProjector, "project", "legacy: project (SQLite + READ_READY)")
    _wrap(timings, ReadReadyReporter, "report", "legacy:   READ_READY handed to the producer")
    _wrap(timings, JobStatusProjector, "project", "jobs: project (SQLite)")
    _wrap(
        timings,
        ProjectorRunner,
        "_commit_to_kafka",
        lambda self: f"{self.name}: Kafka offset commit (background)",
    )
