"""The executor through a real broker: jobs in, operations and job events out."""

from __future__ import annotations

import json

from aiokafka import TopicPartition

from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.hashing import hash_scope_state
from reactor_es.document.ids import derive_operation_id
from reactor_es.executor.service import JobExecutor
from reactor_es.kafka.clients import make_consumer
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.records import JobStatus, OperationRecord
from reactor_es.kafka.topics import TopicNames, partition_for


async def read_operations(
    settings: Settings, bootstrap: str, document_id: str
) -> list[OperationRecord]:
    topics = TopicNames.from_settings(settings)
    tp = TopicPartition(topics.operations, partition_for(document_id, settings.partitions))
    consumer = make_consumer(settings, bootstrap, group_id=None)
    await consumer.start()
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        await consumer.seek_to_beginning(tp)
        codec = RecordCodec()
        records = []
        while await consumer.position(tp) < end:
            for message in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                record = codec.decode_record(message.value, OperationRecord)
                if record.document_id == document_id:
                    records.append(record)
        return records
    finally:
        await consumer.stop()


async def test_create_and_mutate_produce_exact_operations(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor
) -> None:
    async with Reactor(pipeline_settings, kafka_bootstrap) as reactor:
        created = await reactor.create_document("reactor-es/todo-list", "doc-1")
        assert created.status is JobStatus.PENDING
        done = await reactor.wait_for_job(created.id, timeout=30)
        assert done.status is JobStatus.WRITE_READY
        assert [(r.scope, r.index) for r in done.operations] == [("document", 0), ("document", 1)]

        job = await reactor.mutate(
            "doc-1",
            [
                {"type": "ADD_TODO", "input": {"id": "a", "text": "milk"}, "id": "act-1"},
                {"type": "ADD_TODO", "input": {"id": "b", "text": "bread"}, "id": "act-2"},
                {"type": "TOGGLE_TODO", "input": {"id": "a"}, "id": "act-3"},
            ],
        )
        result = await reactor.wait_for_job(job.id, timeout=30)

    assert result.status is JobStatus.WRITE_READY
    final_state = {
        "items": [
            {"id": "a", "text": "milk", "done": True},
            {"id": "b", "text": "bread", "done": False},
        ]
    }
    assert [(r.scope, r.index, r.skip) for r in result.operations] == [
        ("global", 0, 0),
        ("global", 1, 0),
        ("global", 2, 0),
    ]
    assert result.operations[2].hash == hash_scope_state(final_state)
    assert result.operations[0].id == derive_operation_id("doc-1", "global", "main", "act-1")

    records = await read_operations(pipeline_settings, kafka_bootstrap, "doc-1")
    assert [(r.scope, r.operation.index, r.operation.action.type) for r in records] == [
        ("document", 0, "CREATE_DOCUMENT"),
        ("document", 1, "UPGRADE_DOCUMENT"),
        ("global", 0, "ADD_TODO"),
        ("global", 1, "ADD_TODO"),
        ("global", 2, "TOGGLE_TODO"),
    ]
    assert json.loads(records[-1].resulting_state or "null") == final_state
    assert records[-1].operation.hash == hash_scope_state(final_state)
    assert records[-1].header is not None
    assert dict(records[-1].header.revision) == {"document": 2, "global": 3, "local": 0}
