"""SIGKILL at random moments: every action applied exactly once, equal to the reference.

An executor killed with SIGKILL leaves whatever it was doing half done: a transaction open
on the broker, offsets not committed, a batch half produced. Its restart (or the executor
that takes its partitions over) fences the dead producer, which aborts that transaction,
rebuilds the partition's documents from the committed operations, and resumes from the
committed offset: the aborted writes vanish for read_committed readers and the batch is
processed again, once. The figures each test prints are the ones quoted in reports.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.chaos.harness import ChaosRun, KillPoint, chaos_seed, sigkill_loop
from tests.chaos.stream import plan_stream


def _recoveries(points: list[KillPoint]) -> str:
    times = [p.recovery_s for p in points if p.recovery_s is not None]
    if not times:
        return "no recovery measured"
    return (
        f"recovery (restart -> first new commit) median {statistics.median(times):.2f}s, "
        f"max {max(times):.2f}s over {len(times)} restarts"
    )


async def _sigkill_scenario(
    open_run: Callable[[str, Any], Any],
    kafka_bootstrap: str,
    request: pytest.FixtureRequest,
    *,
    executors: int,
    documents: int,
    actions: int,
    kills: int,
    rate: float | None = None,
) -> None:
    started = time.monotonic()
    seed = chaos_seed(request.node.name)
    rng = random.Random(seed)
    plan = plan_stream(seed, documents=documents, actions=actions)
    run: ChaosRun = await open_run(kafka_bootstrap, plan)
    segment = max(1, len(plan.jobs) // (kills + 1))
    # By default a segment lasts about as long as a restart (~10 s, the group's session
    # timeout), so the stream is still flowing when the restarted executor is back.
    rate = rate or max(1.0, segment / 10.0)
    processes = [run.executor(f"executor-{i}") for i in range(executors)]
    for process in processes:
        await run.start_executor(process)
    run.publish(rate=rate, allowance=segment, burst=6)

    points = await sigkill_loop(run, processes, kills, rng, segment=segment)
    report = await run.finish(timeout=180)
    in_transaction = [p for p in points if p.undecided > 0]
    run.note(_recoveries(points))
    run.note(
        f"{len(in_transaction)} of {kills} kills found a transaction open with "
        f"{sum(p.undecided for p in in_transaction)} operation records in it"
        + ("" if executors == 1 else " (a survivor's among them, maybe)")
    )
    run.note(f"scenario took {time.monotonic() - started:.1f}s")

    run.assert_exactly_once(report)
    assert len(points) == kills
    assert sum(p.exits.count(-9) for p in processes) == kills
    assert all(p.running for p in processes), "an executor died on its own"
    assert report.jobs_submitted == len(plan.jobs)
    assert report.terminal_events == len(plan.jobs)
    if executors == 1:
        # Only the killed executor wrote operations: what it left undecided must be aborted.
        assert report.aborted_operation_records >= sum(p.undecided for p in points)


async def test_sigkill_one_executor_eight_times(
    open_run: Callable[[str, Any], Any], kafka_bootstrap: str, request: pytest.FixtureRequest
) -> None:
    """One executor owning every partition, SIGKILLed 8 times mid-stream and restarted."""
    await _sigkill_scenario(
        open_run,
        kafka_bootstrap,
        request,
        executors=1,
        documents=6,
        actions=300,
        kills=8,
    )


async def test_sigkill_two_executors_twelve_times(
    open_run: Callable[[str, Any], Any], kafka_bootstrap: str, request: pytest.FixtureRequest
) -> None:
    """Two executors sharing the partitions; one of them, at random, SIGKILLed 12 times.

    The survivor keeps committing its own partitions while the victim's wait for the
    group to notice; partitions move between processes, so fencing works across them.
    """
    await _sigkill_scenario(
        open_run,
        kafka_bootstrap,
        request,
        executors=2,
        documents=8,
        actions=320,
        kills=12,
    )


# -- stress (make stress): bigger streams, many more kills -------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_stress_sigkill_one_executor_thirty_times(
    open_run: Callable[[str, Any], Any], kafka_bootstrap: str, request: pytest.FixtureRequest
) -> None:
    await _sigkill_scenario(
        open_run,
        kafka_bootstrap,
        request,
        executors=1,
        documents=12,
        actions=3000,
        kills=30,
    )


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_stress_sigkill_three_executors_forty_times(
    open_run: Callable[[str, Any], Any], kafka_bootstrap: str, request: pytest.FixtureRequest
) -> None:
    """Enough operations per partition (> 2,000) that restores start from snapshots too."""
    await _sigkill_scenario(
        open_run,
        kafka_bootstrap,
        request,
        executors=3,
        documents=15,
        actions=7000,
        kills=40,
    )
