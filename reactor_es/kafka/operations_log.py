"""Reading the operations topic directly: the committed history of documents.

Used to read back what the pipeline wrote (import verification, tests, `doc --from-log`)
without any projection in between. Reads whole partitions up to their stable end.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from aiokafka import TopicPartition

from reactor_es.config import Settings
from reactor_es.kafka.clients import make_consumer
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.records import OperationRecord
from reactor_es.kafka.topics import TopicNames, partition_for

__all__ = ["read_operations"]


async def read_operations(
    settings: Settings,
    bootstrap_servers: str,
    document_ids: Iterable[str],
) -> dict[str, list[OperationRecord]]:
    """Every committed operation record of these documents, in log order, by document."""
    wanted = set(document_ids)
    topics = TopicNames.from_settings(settings)
    result: dict[str, list[OperationRecord]] = defaultdict(list)
    if not wanted:
        return result
    codec = RecordCodec()
    consumer = make_consumer(settings, bootstrap_servers, group_id=None, max_poll_records=5000)
    await consumer.start()
    try:
        partitions = sorted(
            {partition_for(document_id, settings.partitions) for document_id in wanted}
        )
        tps = [TopicPartition(topics.operations, p) for p in partitions]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=500)
            for tp, messages in batches.items():
                for message in messages:
                    if message.offset >= ends[tp]:
                        break
                    record = codec.decode_record(message.value, OperationRecord)
                    if record.document_id in wanted:
                        result[record.document_id].append(record)
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    return result
