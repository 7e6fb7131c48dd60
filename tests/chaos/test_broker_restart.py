"""The broker stopped and restarted mid-stream: the services recover on their own.

While two executor processes work through the stream, the broker shuts down (its data
and port kept), stays away for a few seconds and comes back. Nothing is restarted by the
test: the executors, the client's producer and its job-event watcher must reconnect by
themselves, transactions cut by the outage must abort, and the stream must complete with
the same exactly-once proof as the kill tests.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from reactor_es.kafka.broker import LocalKafkaBroker
from tests.chaos.harness import ChaosRun, chaos_seed
from tests.chaos.stream import plan_stream


async def _outage_scenario(
    open_run: Callable[[str, Any], Any],
    broker: LocalKafkaBroker,
    request: pytest.FixtureRequest,
    *,
    outages: int,
    actions: int,
) -> list[float]:
    """Run the stream through `outages` broker restarts; the recovery time of each."""
    started = time.monotonic()
    seed = chaos_seed(request.node.name)
    rng = random.Random(seed)
    plan = plan_stream(seed, documents=6, actions=actions)
    run: ChaosRun = await open_run(broker.bootstrap_servers, plan)
    executors = [run.executor(f"executor-{i}") for i in range(2)]
    for executor in executors:
        await run.start_executor(executor)
    segment = len(plan.jobs) // (outages + 1)
    publisher = run.publish(rate=8, allowance=segment, burst=6)
    await run.watch.wait_members(2, 60)
    await run.watch.wait_beyond(0, 60)

    recoveries: list[float] = []
    for outage in range(outages):
        await asyncio.sleep(rng.uniform(0.5, 2.0))
        publisher.allow(segment)  # the stream goes on through the outage
        _, high = await run.transactions.offsets()
        # Aim at a transaction in flight (an orderly shutdown may still let it end).
        in_flight = await run.transactions.wait_open(high, 10)
        stopping = time.monotonic()
        await asyncio.to_thread(broker.stop)
        down = rng.uniform(3.0, 6.0)
        run.note(
            f"outage {outage + 1}/{outages}: broker stopped in "
            f"{time.monotonic() - stopping:.2f}s "
            f"({'a transaction in flight' if in_flight else 'between transactions'}; "
            f"published {publisher.published}, committed {run.watch.latest}); "
            f"down for {down:.1f}s"
        )
        await asyncio.sleep(down)
        starting = time.monotonic()
        await asyncio.to_thread(broker.start, 120)
        ready = time.monotonic()
        mark = await run.watch.polled_after(ready, 60)
        committed = await run.watch.wait_beyond(mark, 120)
        recoveries.append(round(committed - ready, 3))
        run.note(
            f"broker serving again after {ready - starting:.2f}s; first commit "
            f"{committed - ready:.2f}s after that"
        )

    report = await run.finish(timeout=240)
    run.note(f"scenario took {time.monotonic() - started:.1f}s")

    run.assert_exactly_once(report)
    for executor in executors:
        assert (executor.starts, executor.exits, executor.running) == (1, [], True), (
            f"{executor.name} did not survive the outage on its own\n" + executor.log_tail()
        )
    assert report.terminal_events == report.jobs_submitted
    assert sorted(publisher.submitted.values()) == list(range(len(plan.jobs)))
    assert len(recoveries) == outages
    return recoveries


async def test_broker_restart_mid_stream_recovers_without_help(
    open_run: Callable[[str, Any], Any],
    restartable_broker: LocalKafkaBroker,
    request: pytest.FixtureRequest,
) -> None:
    await _outage_scenario(open_run, restartable_broker, request, outages=1, actions=300)


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_stress_three_broker_restarts(
    open_run: Callable[[str, Any], Any],
    restartable_broker: LocalKafkaBroker,
    request: pytest.FixtureRequest,
) -> None:
    await _outage_scenario(open_run, restartable_broker, request, outages=3, actions=1500)
