"""A partition taken over by its next owner: the fenced executor leaves it, and its log holds
no unread failure of the fenced producer (asyncio's "Future exception was never retrieved")."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator

import pytest
from aiokafka import TopicPartition

from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.executor.service import JobExecutor
from reactor_es.kafka.topics import TopicNames, partition_for
from tests.pipeline.conftest import running_executor

TODO = "reactor-es/todo-list"


class TextOnly(logging.Filter):
    """Formats a record's message up front. Its arguments (here the fence, whose traceback
    holds the fenced producer) would otherwise live as long as pytest keeps the record, and
    an unread exception is logged only once its future is collected."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = record.getMessage(), None
        return True


@pytest.fixture
def text_only() -> Iterator[None]:
    service = logging.getLogger("reactor_es.executor.service")
    keep = TextOnly()
    service.addFilter(keep)
    try:
        yield
    finally:
        service.removeFilter(keep)


async def wait_until_left(executor: JobExecutor, tp: TopicPartition) -> None:
    while tp in executor.workers:
        await asyncio.sleep(0.02)


@pytest.mark.usefixtures("text_only")
async def test_a_fenced_executor_leaves_the_partition_and_logs_no_unread_failure(
    pipeline_settings: Settings, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = pipeline_settings
    gc.collect()  # what earlier tests left is not ours
    caplog.clear()
    caplog.set_level(logging.WARNING)
    tp = TopicPartition(
        TopicNames.from_settings(settings).actions, partition_for("doc-1", settings.partitions)
    )
    async with (
        running_executor(settings, kafka_bootstrap) as first,
        Reactor(settings, kafka_bootstrap) as reactor,
    ):
        created = await reactor.create_document(TODO, "doc-1")
        await reactor.wait_for_job(created.id, 30)
        # The partition's next owner starts its producer: the first executor's is fenced,
        # which its next transaction learns when it adds a partition to the transaction.
        next_owner = JobExecutor(settings, kafka_bootstrap)._new_worker(tp)
        await next_owner.start()
        try:
            await reactor.mutate("doc-1", [{"type": "ADD_TODO", "input": {"id": "a", "text": "a"}}])
            await asyncio.wait_for(wait_until_left(first, tp), 30)
        finally:
            await next_owner.close()
    gc.collect()  # an unread exception is logged when its future is collected
    await asyncio.sleep(0)

    assert [r.getMessage() for r in caplog.records if r.name.startswith("reactor_es")] == [
        f"partition {tp.partition}: producer {next_owner.transactional_id} was fenced; "
        "leaving it to its new owner"
    ]
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
