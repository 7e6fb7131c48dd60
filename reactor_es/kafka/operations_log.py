"""Reading the operations topic directly: the committed history of documents.

Used to read back what the pipeline wrote (import verification, tests, `doc --from-log`)
without any projection in between. Reads whole partitions up to their stable end.

Kafka writes a transaction's commit markers partition by partition, so a job's WRITE_READY
on `job-events` can be readable a moment before the operations it reports are: a reader
that knows how many records to expect (`expect`) reads on until they are all there.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from reactor_es.config import Settings
from reactor_es.kafka.clients import make_consumer
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.records import OperationRecord
from reactor_es.kafka.topics import TopicNames, partition_for

__all__ = ["read_operations"]

#: Pause between two looks at the stable ends while expected records are still missing.
_RECHECK_SECONDS = 0.05


async def read_operations(
    settings: Settings,
    bootstrap_servers: str,
    document_ids: Iterable[str],
    *,
    expect: Mapping[str, int] | None = None,
    wait: float = 10.0,
) -> dict[str, list[OperationRecord]]:
    """Every committed operation record of these documents, in log order, by document.

    `expect[id]` is how many records the caller knows were committed for a document (from
    its jobs' WRITE_READY events): the read goes on, for up to `wait` seconds, until that
    many are readable. Whatever is there then is returned; the caller judges it.
    """
    wanted = set(document_ids)
    topics = TopicNames.from_settings(settings)
    result: dict[str, list[OperationRecord]] = defaultdict(list)
    if not wanted:
        return result
    expected = {doc: count for doc, count in (expect or {}).items() if doc in wanted}
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
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            await _read_to(consumer, codec, ends, wanted, result)
            missing = any(len(result.get(doc, ())) < count for doc, count in expected.items())
            if not missing or asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(_RECHECK_SECONDS)
            ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return result


async def _read_to(
    consumer: AIOKafkaConsumer,
    codec: RecordCodec,
    ends: Mapping[TopicPartition, int],
    wanted: set[str],
    result: dict[str, list[OperationRecord]],
) -> None:
    """Consume every partition from where it is up to `ends`, keeping the wanted records."""
    pending = {tp for tp in ends if await consumer.position(tp) < ends[tp]}
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=500)
        for tp, messages in batches.items():
            for message in messages:
                if message.offset >= ends[tp]:
                    consumer.seek(tp, ends[tp])  # the rest is read on the next pass
                    break
                record = codec.decode_record(message.value, OperationRecord)
                if record.document_id in wanted:
                    result[record.document_id].append(record)
        for tp in list(pending):
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
