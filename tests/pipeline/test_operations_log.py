"""Reading operations back from the topic: waiting for records a job reported as written.

Kafka writes a transaction's commit markers partition by partition, so a WRITE_READY event
can be readable before the operations it reports. `read_operations(expect=...)` reads on
until the expected records are there (or its wait is over).
"""

from __future__ import annotations

import asyncio
import time

from reactor_es.config import Settings
from reactor_es.document.types import Action, Operation
from reactor_es.kafka.clients import make_producer
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.operations_log import read_operations
from reactor_es.kafka.records import OperationRecord
from reactor_es.kafka.topics import TopicNames, partition_for

TODO = "reactor-es/todo-list"


def _record(document_id: str, index: int) -> OperationRecord:
    action = Action(
        id=f"{document_id}-a{index}",
        type="ADD_TODO",
        timestamp_utc_ms="2025-01-01T00:00:00.000Z",
        input={"id": f"t{index}", "text": f"item {index}"},
    )
    operation = Operation(
        id=f"{document_id}-o{index}",
        index=index,
        timestamp_utc_ms="2025-01-01T00:00:00.000Z",
        hash="x" * 28,
        action=action,
    )
    return OperationRecord(document_id, TODO, f"job-{document_id}-{index}", operation)


async def _write(settings: Settings, bootstrap: str, records: list[OperationRecord]) -> None:
    topic = TopicNames.from_settings(settings).operations
    codec = RecordCodec()
    producer = make_producer(settings, bootstrap, transactional_id=f"{topic}-writer")
    await producer.start()
    try:
        async with producer.transaction():
            for record in records:
                await producer.send(
                    topic,
                    codec.encode_record(record),
                    key=record.document_id.encode(),
                    partition=partition_for(record.document_id, settings.partitions),
                )
    finally:
        await producer.stop()


async def test_read_back_waits_for_records_reported_but_not_yet_readable(
    pipeline_settings: Settings, kafka_bootstrap: str
) -> None:
    await _write(pipeline_settings, kafka_bootstrap, [_record("doc-a", 0), _record("doc-b", 0)])

    async def late_writer() -> None:
        await asyncio.sleep(1.0)
        await _write(pipeline_settings, kafka_bootstrap, [_record("doc-a", 1)])

    writer = asyncio.create_task(late_writer())
    read = await read_operations(
        pipeline_settings, kafka_bootstrap, ["doc-a", "doc-b"], expect={"doc-a": 2}, wait=30
    )
    await writer

    assert {doc: [r.operation.index for r in records] for doc, records in read.items()} == {
        "doc-a": [0, 1],
        "doc-b": [0],
    }


async def test_read_back_returns_what_is_there_when_the_wait_is_over(
    pipeline_settings: Settings, kafka_bootstrap: str
) -> None:
    await _write(pipeline_settings, kafka_bootstrap, [_record("doc-c", 0), _record("doc-c", 1)])

    started = time.monotonic()
    read = await read_operations(
        pipeline_settings, kafka_bootstrap, ["doc-c"], expect={"doc-c": 3}, wait=1.0
    )
    took = time.monotonic() - started

    assert [r.operation.index for r in read["doc-c"]] == [0, 1]
    assert 1.0 <= took < 10.0
