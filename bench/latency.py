"""Job latency as the client sees it, at a fixed offered load (open loop).

Jobs are sent on a fixed schedule (job i at t0 + i / rate) whatever happened to earlier
ones, so a slow pipeline cannot slow the load down and hide its own queueing
(coordinated omission). Each job's latency is measured from its scheduled send time to the
moment `Reactor.wait_for_job` returns WRITE_READY, then READ_READY. How late the sender
was (the client's own lag) is recorded too.

Each latency is also cut in four with the timestamps the events carry (wall clock, ms): the
executor's WRITE_READY event is stamped after the job ran and before its transaction
commits; the projector's READ_READY after the SQLite commit. So: scheduled → executor ran
(client send, `actions`, executor poll and queue), executor ran → client sees WRITE_READY
(transaction commit, markers, client fetch and wake-up), executor ran → projector stored
(commit, projector fetch, SQLite), projector stored → client sees READ_READY.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reactor_es.client import Reactor
from reactor_es.document.types import Action
from reactor_es.errors import JobTimeoutError
from reactor_es.kafka.records import JobStatus

__all__ = ["PARTS", "LatencyRun", "open_loop", "percentile", "summary"]

PARTS = (
    "scheduled → executor ran",
    "executor ran → client sees WRITE_READY",
    "executor ran → projector stored",
    "projector stored → client sees READ_READY",
)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds."""
    return {
        "p50": round(percentile(seconds, 0.50) * 1000, 1),
        "p95": round(percentile(seconds, 0.95) * 1000, 1),
        "p99": round(percentile(seconds, 0.99) * 1000, 1),
        "max": round(max(seconds, default=math.nan) * 1000, 1),
    }


@dataclass
class LatencyRun:
    offered: float
    fraction: float
    duration: float
    write_ready: list[float] = field(default_factory=list)
    read_ready: list[float] = field(default_factory=list)
    send_lag: list[float] = field(default_factory=list)
    #: The four parts of the latency (see the module docstring), seconds.
    parts: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in PARTS})
    failed: int = 0
    timed_out: int = 0
    sent: int = 0
    send_seconds: float = 0.0
    client_cpu_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "fraction": self.fraction,
            "offeredPerSecond": round(self.offered, 1),
            "achievedSendPerSecond": round(self.sent / self.send_seconds, 1)
            if self.send_seconds
            else None,
            "jobs": self.sent,
            "completed": len(self.read_ready),
            "failed": self.failed,
            "timedOut": self.timed_out,
            "writeReadyMs": summary(self.write_ready),
            "readReadyMs": summary(self.read_ready),
            "sendLagMs": summary(self.send_lag),
            "partsMs": {name: summary(values) for name, values in self.parts.items()},
            "clientCpuShare": round(self.client_cpu_seconds / self.duration, 3),
        }


async def open_loop(
    reactor: Reactor,
    *,
    rate: float,
    fraction: float,
    duration: float,
    job: Callable[[int], tuple[str, list[Action]]],
    document_type: str,
    timeout: float = 120.0,
) -> LatencyRun:
    """Send `rate` jobs per second for `duration` seconds; `job(i)` gives document and actions."""
    run = LatencyRun(rate, fraction, duration)
    count = max(1, int(rate * duration))
    tasks: list[asyncio.Task[None]] = []

    wall_offset = time.time() - time.perf_counter()

    async def one(i: int, due: float) -> None:
        document_id, actions = job(i)
        run.send_lag.append(max(0.0, time.perf_counter() - due))
        info = await reactor.mutate(document_id, actions, document_type=document_type)
        try:
            done = await reactor.wait_for_job(info.id, timeout, until=JobStatus.WRITE_READY)
            seen_write = time.perf_counter()
            run.write_ready.append(seen_write - due)
            if done.status is JobStatus.FAILED:
                run.failed += 1
                return
            read = await reactor.wait_for_job(info.id, timeout, until=JobStatus.READ_READY)
            seen_read = time.perf_counter()
            run.read_ready.append(seen_read - due)
        except JobTimeoutError:
            run.timed_out += 1
            return
        if done.status is JobStatus.WRITE_READY and read.status is JobStatus.READ_READY:
            ran = _epoch(done.updated_at_utc_iso) - wall_offset
            stored = _epoch(read.updated_at_utc_iso) - wall_offset
            for name, value in zip(
                PARTS, (ran - due, seen_write - ran, stored - ran, seen_read - stored), strict=True
            ):
                run.parts[name].append(value)

    cpu = time.process_time()
    start = time.perf_counter() + 0.05
    for i in range(count):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    run.sent = count
    run.send_seconds = time.perf_counter() - start
    await asyncio.gather(*tasks)
    run.client_cpu_seconds = time.process_time() - cpu
    run.duration = time.perf_counter() - start
    return run
