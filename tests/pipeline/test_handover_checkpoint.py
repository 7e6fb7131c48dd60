"""The checkpoint a worker writes as it releases its partition may fail (the next owner
can already be taking the transactional id over): that is a warning, not an error."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
from aiokafka.errors import UnknownError

from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.executor.partition import PartitionState, PartitionWorker
from reactor_es.kafka.records import JobStatus
from reactor_es.kafka.topics import partition_for
from tests.pipeline.conftest import running_executor

TODO = "reactor-es/todo-list"
NEXT_OWNER = "the next owner restores from the previous checkpoint and the operations after it"


@contextlib.asynccontextmanager
async def worker_with_a_new_document(
    settings: Settings, bootstrap: str, document_id: str
) -> AsyncIterator[PartitionWorker]:
    """The running worker of the partition where `document_id` was just created (and is
    dirty: a checkpoint is due when the worker closes)."""
    async with (
        Reactor(settings, bootstrap) as reactor,
        running_executor(settings, bootstrap) as executor,
    ):
        job = await reactor.create_document(TODO, document_id)
        await reactor.wait_for_job(job.id, 30, until=JobStatus.WRITE_READY)
        partition = partition_for(document_id, settings.partitions)
        worker = next(w for tp, w in executor.workers.items() if tp.partition == partition)
        assert worker.book.dirty == {document_id}
        yield worker


async def test_a_checkpoint_that_fails_at_handover_is_one_warning(
    pipeline_settings: Settings,
    kafka_bootstrap: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with worker_with_a_new_document(
        pipeline_settings, kafka_bootstrap, "handed-over"
    ) as worker:
        # What a broker answered once while the next owner took the transactional id over.
        async def refused(*args: object) -> None:
            raise UnknownError("injected: the broker refused the snapshot")

        monkeypatch.setattr(worker, "_send", refused)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            await worker.close()
    assert worker.state is PartitionState.CLOSED
    mine = [r for r in caplog.records if r.name.startswith("reactor_es")]
    assert [r.levelname for r in mine if r.levelno >= logging.ERROR] == []
    assert [r.getMessage() for r in mine if "checkpoint" in r.getMessage()] == [
        f"partition {worker.partition}: checkpoint at handover not written (UnknownError: "
        f"[Error -1] UnknownError: injected: the broker refused the snapshot); {NEXT_OWNER}"
    ]
    assert worker.book.dirty == {"handed-over"}  # nothing recorded as written


async def test_a_checkpoint_that_hangs_at_handover_does_not_hold_the_release(
    pipeline_settings: Settings, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with worker_with_a_new_document(
        pipeline_settings, kafka_bootstrap, "stuck-handover"
    ) as worker:
        worker.handover_checkpoint_seconds = 1.0
        # A producer stopped under the worker never answers a transaction request.
        await worker._producer.stop()
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            # Before the bounded wait this never returned (a hang fails here, not forever).
            await asyncio.wait_for(worker.close(), timeout=60)
    assert worker.state is PartitionState.CLOSED
    assert worker._producer is None
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("reactor_es")]
    assert (
        f"partition {worker.partition}: checkpoint at handover not written (no answer in 1 s); "
        f"{NEXT_OWNER}"
    ) in messages
