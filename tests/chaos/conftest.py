"""Chaos fixtures: private topics per test, and executor logs attached to every failure."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from reactor_es.config import Settings
from reactor_es.kafka.topics import ensure_topics
from tests.chaos.harness import ChaosRun
from tests.chaos.stream import StreamPlan

#: Partitions of the chaos topics: more than one, so executors can share and move them.
CHAOS_PARTITIONS = 3

_RUNS = pytest.StashKey[list[ChaosRun]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed chaos test shows its seed, timeline and every executor's log tail."""
    report = yield
    if report.failed:
        for run in item.stash.get(_RUNS, []):
            report.sections.append((f"chaos run (seed {run.plan.seed})", run.context()))
    return report


@pytest.fixture
def chaos_settings(unique_name: Callable[[str], str], tmp_path: Path) -> Callable[[str], Settings]:
    """Settings with a private topic prefix for a broker (`await ensure_topics` them)."""

    def make(bootstrap: str) -> Settings:
        return Settings(
            bootstrap_servers=bootstrap,
            home=tmp_path / "home",
            topic_prefix=unique_name("chaos") + ".",
            partitions=CHAOS_PARTITIONS,
        )

    return make


@pytest.fixture
async def open_run(
    request: pytest.FixtureRequest,
    chaos_settings: Callable[[str], Settings],
    tmp_path: Path,
) -> AsyncIterator[Callable[[str, StreamPlan], Any]]:
    """`run = await open_run(bootstrap, plan)`: topics made, client started, torn down after."""
    runs = request.node.stash.setdefault(_RUNS, [])

    async def make(bootstrap: str, plan: StreamPlan) -> ChaosRun:
        settings = chaos_settings(bootstrap)
        await ensure_topics(bootstrap, settings)
        run = ChaosRun(settings, bootstrap, tmp_path / f"run-{len(runs)}", plan)
        runs.append(run)
        await run.__aenter__()
        return run

    yield make
    for run in runs:
        await run.__aexit__(None, None, None)
