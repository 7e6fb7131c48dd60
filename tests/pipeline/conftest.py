"""A private set of topics per test on the shared broker, plus a running executor, and what
tests of the CLI and of offsets need around them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from reactor_es.config import Settings
from reactor_es.executor.service import JobExecutor
from reactor_es.kafka.clients import make_consumer
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


def cli_env(settings: Settings, bootstrap: str) -> dict[str, str]:
    """The environment under which the CLI (which reads its settings from it) uses these."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "REACTOR_ES_HOME": str(settings.home),
        "REACTOR_ES_PHASE": str(settings.phase),
        "REACTOR_ES_PARTITIONS": str(settings.partitions),
        "REACTOR_ES_TOPIC_PREFIX": settings.topic_prefix,
    }


def use_settings(monkeypatch: pytest.MonkeyPatch, settings: Settings, bootstrap: str) -> None:
    """Run the CLI in this process under `settings` (see `cli_env`)."""
    for name, value in cli_env(settings, bootstrap).items():
        monkeypatch.setenv(name, value)


async def end_offsets(settings: Settings, bootstrap: str, topic: str) -> dict[int, int]:
    """Last stable offsets, asked of Kafka directly (not through the code under test)."""
    consumer = make_consumer(settings, bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        return {tp.partition: offset for tp, offset in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()


async def settle(settings: Settings, bootstrap: str, topic: str, timeout: float = 10.0) -> None:
    """Wait until every committed transaction of `topic` is readable (its markers written).

    A commit returns before the coordinator writes its markers; a read_committed reader
    started just after one can stop short of it. Waits for the last stable offset of each
    partition to reach its high watermark.
    """
    committed = make_consumer(settings, bootstrap)
    uncommitted = make_consumer(settings, bootstrap, isolation_level="read_uncommitted")
    await committed.start()
    await uncommitted.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            stable = await committed.end_offsets(tps)
            high = await uncommitted.end_offsets(tps)
            if stable == high:
                return
            if loop.time() > deadline:
                raise AssertionError(
                    f"{topic}: still not settled after {timeout}s: {stable} {high}"
                )
            await asyncio.sleep(0.01)
    finally:
        await committed.stop()
        await uncommitted.stop()
