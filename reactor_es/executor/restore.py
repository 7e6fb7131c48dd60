"""Rebuilding a partition's documents from the operations topic.

The executor owning partition p of `actions` reads partition p of `operations` (committed
records only) from the start up to its last stable offset before it processes any action:
the topic, not memory, is the truth.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from aiokafka import TopicPartition

from reactor_es.config import Settings
from reactor_es.errors import ReactorError
from reactor_es.executor.book import DocumentBook
from reactor_es.kafka.clients import make_consumer
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.records import OperationRecord

__all__ = ["RestoreReport", "restore_partition"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestoreReport:
    partition: int
    documents: int
    operations: int
    end_offset: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.operations / self.seconds if self.seconds > 0 else float("inf")


async def restore_partition(
    book: DocumentBook,
    *,
    settings: Settings,
    bootstrap_servers: str,
    operations_topic: str,
    partition: int,
    codec: RecordCodec,
) -> RestoreReport:
    """Read `operations_topic` partition `partition` into `book`, up to its stable end."""
    started = time.perf_counter()
    tp = TopicPartition(operations_topic, partition)
    consumer = make_consumer(settings, bootstrap_servers, group_id=None, max_poll_records=5000)
    await consumer.start()
    count = 0
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        await consumer.seek_to_beginning(tp)
        while await consumer.position(tp) < end:
            batches = await consumer.getmany(tp, timeout_ms=500, max_records=5000)
            for message in batches.get(tp, ()):
                if message.offset >= end:
                    break
                try:
                    book.restore(codec.decode_record(message.value, OperationRecord))
                except ReactorError as exc:
                    # Only our executors write here, transactionally; a foreign record is
                    # not an operation of ours and must not stop the partition.
                    log.error(
                        "skipping %s partition %d offset %d: %s",
                        operations_topic,
                        partition,
                        message.offset,
                        exc,
                    )
                    continue
                count += 1
    finally:
        await consumer.stop()
    book.finish_restore()
    report = RestoreReport(partition, len(book), count, end, time.perf_counter() - started)
    log.info(
        "restored partition %d: %d documents, %d operations up to offset %d in %.3fs",
        partition,
        report.documents,
        report.operations,
        end,
        report.seconds,
    )
    return report
