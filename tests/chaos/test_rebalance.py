"""Executors joining and leaving mid-stream: partitions move, nothing is lost or doubled.

Three executor processes start at different moments, then one leaves gracefully (SIGTERM:
it finishes its batch and leaves the group) and one dies (SIGKILL: the group notices only
when its session expires). Each change moves partitions between processes; each new
owner fences the previous owner's producer and restores the partition from `operations`
before it processes anything. The stream runs throughout.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.chaos.harness import ChaosRun, chaos_seed
from tests.chaos.stream import plan_stream


async def test_three_executors_join_and_leave_mid_stream(
    open_run: Callable[[str, Any], Any], kafka_bootstrap: str, request: pytest.FixtureRequest
) -> None:
    started = time.monotonic()
    seed = chaos_seed(request.node.name)
    rng = random.Random(seed)
    plan = plan_stream(seed, documents=9, actions=360)
    run: ChaosRun = await open_run(kafka_bootstrap, plan)
    a, b, c = (run.executor(f"executor-{name}") for name in "abc")
    steps: list[tuple[str, Callable[[], Awaitable[Any]], int]] = [
        ("start b", lambda: run.start_executor(b), 2),
        ("start c", lambda: run.start_executor(c), 3),
        ("SIGTERM b", b.terminate, 2),
        ("SIGKILL c", c.kill, 1),
    ]
    segment = len(plan.jobs) // (len(steps) + 1)

    await run.start_executor(a)
    publisher = run.publish(rate=6, allowance=segment, burst=6)
    await run.watch.wait_members(1, 60)
    await run.watch.wait_beyond(0, 60)
    pauses: list[str] = []
    for label, change, members in steps:
        await asyncio.sleep(rng.uniform(0.5, 2.0))  # the current line-up processes a while
        publisher.allow(segment)
        await _change(run, label, change, members, pauses)

    report = await run.finish(timeout=180)
    run.note("; ".join(pauses))
    run.note(f"scenario took {time.monotonic() - started:.1f}s")

    run.assert_exactly_once(report)
    assert (a.starts, a.exits, a.running) == (1, [], True)
    assert b.exits == [0], "SIGTERM must end the executor cleanly"
    assert "reactor-es stopped" in b.log_tail()
    assert c.exits == [-9]
    assert report.jobs_submitted == report.terminal_events == len(plan.jobs)


async def _change(
    run: ChaosRun,
    label: str,
    change: Callable[[], Awaitable[Any]],
    members: int,
    pauses: list[str],
) -> None:
    """Make one membership change; time it until the group is stable and commits again."""
    at = time.monotonic()
    await change()
    stable = await run.watch.wait_members(members, 90)
    mark = await run.watch.polled_after(stable, 30)
    committed = await run.watch.wait_beyond(mark, 90)
    pauses.append(
        f"{label}: stable with {members} after {stable - at:.2f}s, "
        f"committing after {committed - at:.2f}s"
    )
    run.note(pauses[-1])
