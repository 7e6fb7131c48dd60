"""A private set of topics per test on the shared broker, plus a running executor."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from reactor_es.config import Settings
from reactor_es.executor.service import JobExecutor
from reactor_es.kafka.topics import ensure_topics


@pytest.fixture
async def pipeline_settings(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> Settings:
    settings = Settings(
        bootstrap_servers=kafka_bootstrap,
        home=tmp_path / "home",
        topic_prefix=unique_name("t") + ".",
        partitions=3,
    )
    await ensure_topics(kafka_bootstrap, settings)
    return settings


@contextlib.asynccontextmanager
async def running_executor(settings: Settings, bootstrap: str) -> AsyncIterator[JobExecutor]:
    executor = JobExecutor(settings, bootstrap)
    await executor.start()
    task = asyncio.create_task(executor.run())
    try:
        await executor.wait_ready(timeout=60)
        yield executor
    finally:
        executor.stop()
        await task


@pytest.fixture
async def executor(pipeline_settings: Settings, kafka_bootstrap: str) -> AsyncIterator[JobExecutor]:
    async with running_executor(pipeline_settings, kafka_bootstrap) as running:
        yield running
