"""The projector runner through a real broker: bad records, failures, offsets, rebalances."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import TopicPartition as KafkaPartition

from projections.exceptions import CatchUpTimeoutError
from projections.job_status import JobStatusProjector
from projections.legacy_projector import LegacyProjector
from projections.runner import ProjectorRunner
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from projections.stores.tracking import TopicPartition
from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.kafka.clients import make_consumer
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.records import JobEvent, JobStatus
from reactor_es.kafka.topic_errors import TopicLayoutError
from reactor_es.kafka.topics import TopicNames, document_key, partition_for
from reactor_es.registry import default_registry
from tests.pipeline.conftest import running_executor
from tests.projections.pipeline import (
    TODO,
    assert_same_document,
    count_rows,
    executor_documents,
    legacy_runner,
    raw_producer,
    write_todo_lists,
)


async def test_undecodable_records_are_logged_and_skipped(
    settings: Settings, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    topics = TopicNames.from_settings(settings)
    partition = partition_for("doc-g", settings.partitions)
    not_an_operation = RecordCodec().encode_record(
        JobEvent("job-x", "doc-g", JobStatus.PENDING, "2025-01-01T00:00:00.000Z", "test")
    )
    async with (
        running_executor(settings, kafka_bootstrap),
        Reactor(settings, kafka_bootstrap) as reactor,
        raw_producer(settings, kafka_bootstrap) as foreign,
    ):
        created = await reactor.create_document(TODO, "doc-g")
        await reactor.wait_for_job(created.id)
        garbage = await foreign.send_and_wait(
            topics.operations, b"garbage", key=document_key("doc-g"), partition=partition
        )
        job = await reactor.mutate(
            "doc-g",
            [
                {"type": "ADD_TODO", "input": {"id": "a", "text": "milk"}},
                {"type": "ADD_TODO", "input": {"id": "b", "text": "bread"}},
            ],
        )
        await reactor.wait_for_job(job.id)
        wrong_type = await foreign.send_and_wait(
            topics.operations, not_an_operation, key=document_key("doc-g"), partition=partition
        )
        with caplog.at_level(logging.WARNING, logger="projections.runner"):
            async with legacy_runner(settings, kafka_bootstrap) as runner:
                positions = await runner.wait_caught_up(timeout=30)
                readable = await reactor.wait_for_job(job.id, until=JobStatus.READ_READY)

    prefix = f"projector legacy: skipped undecodable record at {topics.operations} partition"
    assert [r.getMessage() for r in caplog.records if r.name == "projections.runner"] == [
        f"{prefix} {partition} offset {garbage.offset}: value starts with byte 0x67, not the "
        "magic byte 0x00 of the schema-id framing",
        f"{prefix} {partition} offset {wrong_type.offset}: value is a "
        "reactor_es.JobEvent v2 (schema id 9), expected a reactor_es.OperationRecord",
    ]
    assert runner.stats.skipped == 2
    assert runner.stats.records == 4
    # The tail record was skipped, not left behind: the position is past it.
    assert positions[TopicPartition(topics.operations, partition)] == wrong_type.offset + 1
    assert [(r.scope, r.index) for r in readable.operations] == [("global", 0), ("global", 1)]
    async with await SqliteLegacyStorage.open(settings.home / "legacy.db") as store:
        document = await store.get_document("doc-g")
    assert [item["id"] for item in document.state["global"]["items"]] == ["a", "b"]


class FailingOnce(LegacyProjector):
    """Fails inside its first SQLite transaction, after writing (so it must roll back)."""

    failed = False

    async def _write(self, writer, pending, rejected_jobs, deletions):  # type: ignore[no-untyped-def]
        stored = await super()._write(writer, pending, rejected_jobs, deletions)
        if not self.failed:
            self.failed = True
            raise RuntimeError("disk on fire")
        return stored


async def test_failed_batch_is_read_again_from_stored_positions(
    settings: Settings, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        running_executor(settings, kafka_bootstrap) as executor,
        Reactor(settings, kafka_bootstrap) as reactor,
    ):
        await write_todo_lists(reactor, 4, 2, 3)
        projector = FailingOnce(settings, kafka_bootstrap, default_registry())
        with caplog.at_level(logging.ERROR, logger="projections.runner"):
            async with legacy_runner(
                settings, kafka_bootstrap, projector, retry_delay=0.05
            ) as runner:
                await runner.wait_caught_up(timeout=30)
        books = executor_documents(executor)

    total = 4 * (2 + 2 * 3)
    assert runner.stats.failures == 1
    failures = [r.getMessage() for r in caplog.records if r.name == "projections.runner"]
    assert len(failures) == 1
    assert re.fullmatch(
        r"projector legacy: batch of \d+ records failed; reading it again from the stored "
        r"positions in 0.05 s",
        failures[0],
    )
    assert projector.stats.duplicates == 0
    assert projector.stats.operations == total
    assert await count_rows(settings.home / "legacy.db") == (total, total)
    async with await SqliteLegacyStorage.open(settings.home / "legacy.db") as store:
        for d in range(4):
            stored = await store.get_document(f"list-{d}")
            await assert_same_document(settings, kafka_bootstrap, stored, books[f"list-{d}"])


async def test_kafka_offsets_follow_sqlite_positions(
    settings: Settings, kafka_bootstrap: str
) -> None:
    async with (
        running_executor(settings, kafka_bootstrap),
        Reactor(settings, kafka_bootstrap) as reactor,
    ):
        await write_todo_lists(reactor, 3, 1, 2)
    async with ProjectorRunner(settings, kafka_bootstrap, JobStatusProjector(settings)) as runner:
        stored = await runner.wait_caught_up(timeout=30)
        assert runner.stats.positions == {tp.partition: offset for tp, offset in stored.items()}

    consumer = make_consumer(settings, kafka_bootstrap, group_id=runner.group_id)
    await consumer.start()
    try:
        committed = {
            tp: await consumer.committed(KafkaPartition(tp.topic, tp.partition)) for tp in stored
        }
    finally:
        await consumer.stop()
    assert committed == stored
    # 3 creates + 3 mutations: a PENDING and a WRITE_READY each, over 3 partitions.
    assert runner.stats.records == 12
    assert runner.group_id == f"{settings.topic_prefix}projector-jobs"


async def test_two_members_share_the_partitions_and_the_store(
    settings: Settings, kafka_bootstrap: str
) -> None:
    async with (
        running_executor(settings, kafka_bootstrap) as executor,
        Reactor(settings, kafka_bootstrap) as reactor,
        legacy_runner(settings, kafka_bootstrap) as first,
    ):
        await write_todo_lists(reactor, 6, 1, 4)
        await first.wait_caught_up(timeout=30)
        async with legacy_runner(settings, kafka_bootstrap) as second:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while not (first.assigned and second.assigned):
                assert loop.time() < deadline, "the group never rebalanced"
                await asyncio.sleep(0.1)
            shares = (first.assigned, second.assigned)
            for d in range(6):
                items = [
                    {"type": "ADD_TODO", "input": {"id": f"late-{n}", "text": "x"}}
                    for n in range(4)
                ]
                done = await reactor.mutate(f"list-{d}", items)
                await reactor.wait_for_job(done.id, until=JobStatus.READ_READY)
            await second.wait_caught_up(timeout=30)
            books = executor_documents(executor)
            stats = [first.projector.stats, second.projector.stats]  # type: ignore[attr-defined]

    assert shares[0].isdisjoint(shares[1])
    assert len(shares[0] | shares[1]) == settings.partitions
    total = 6 * (2 + 4 + 4)
    assert sum(s.operations for s in stats) == total
    assert sum(s.duplicates for s in stats) == 0
    assert sum(s.rejected for s in stats) == 0
    assert await count_rows(settings.home / "legacy.db") == (total, total)
    async with await SqliteLegacyStorage.open(settings.home / "legacy.db") as store:
        for d in range(6):
            stored = await store.get_document(f"list-{d}")
            await assert_same_document(settings, kafka_bootstrap, stored, books[f"list-{d}"])


async def test_wait_caught_up_names_the_partitions_behind(
    settings: Settings, kafka_bootstrap: str
) -> None:
    topics = TopicNames.from_settings(settings)
    async with (
        running_executor(settings, kafka_bootstrap),
        Reactor(settings, kafka_bootstrap) as reactor,
    ):
        created = await reactor.create_document(TODO, "doc-w")
        await reactor.wait_for_job(created.id)
    runner = legacy_runner(settings, kafka_bootstrap)
    await runner.start()  # joined, but not running: nothing is projected
    try:
        with pytest.raises(CatchUpTimeoutError) as caught:
            await runner.wait_caught_up(timeout=0.3)
    finally:
        runner.stop()
        await runner.run()
    partition = partition_for("doc-w", settings.partitions)
    # Two operations and the transaction's commit marker.
    assert str(caught.value) == (
        f"projector legacy did not catch up with {topics.operations} within 0.3 s: "
        f"[{partition}] at nothing of 3"
    )


async def test_missing_topic_is_refused(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, topic_prefix=unique_name("none") + ".")
    runner = ProjectorRunner(settings, kafka_bootstrap, JobStatusProjector(settings))
    with pytest.raises(TopicLayoutError) as caught:
        await runner.start()
    prefix = settings.topic_prefix
    assert str(caught.value) == (
        f"topics '{prefix}actions' and '{prefix}operations' must exist with equal partition "
        f"counts (they are co-partitioned by document id): '{prefix}actions' does not exist, "
        f"'{prefix}operations' does not exist"
    )
    assert not (tmp_path / "jobs.db").exists()
