"""Rebuilding a partition's state from the topics that are its truth.

The executor owning partition p of `actions` reads partition p of `operations` (committed
records only) from the start up to its last stable offset before it processes any action,
and partition p of `actions-dlq` to learn which documents are parked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from reactor_es.config import Settings
from reactor_es.errors import ReactorError
from reactor_es.executor.book import DocumentBook
from reactor_es.executor.parking import ParkingLot
from reactor_es.kafka.clients import make_consumer
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.records import OperationRecord

__all__ = [
    "RestoreReport",
    "read_parking_lot",
    "read_partition",
    "restore_parking",
    "restore_partition",
]

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


async def read_partition(
    settings: Settings,
    bootstrap_servers: str,
    topic: str,
    partition: int,
    handle: Callable[[Any], None],
    *,
    start: int | None = None,
) -> tuple[int, int]:
    """Feed every committed record of one partition (from `start`) to `handle`.

    Returns (records read, end offset). Reads up to the last stable offset as of the call.
    """
    tp = TopicPartition(topic, partition)
    consumer = make_consumer(settings, bootstrap_servers, group_id=None, max_poll_records=10_000)
    await consumer.start()
    count = 0
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        if start is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, start)
        while await consumer.position(tp) < end:
            batches = await consumer.getmany(tp, timeout_ms=500, max_records=10_000)
            for message in batches.get(tp, ()):
                if message.offset >= end:
                    break
                handle(message)
                count += 1
    finally:
        await consumer.stop()
    return count, end


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

    def take(message: Any) -> None:
        try:
            book.restore(codec.decode_record(message.value, OperationRecord))
        except ReactorError as exc:
            # Only our executors write here, transactionally; a foreign record is not an
            # operation of ours and must not stop the partition.
            log.error(
                "skipping %s partition %d offset %d: %s",
                operations_topic,
                partition,
                message.offset,
                exc,
            )

    count, end = await read_partition(
        settings, bootstrap_servers, operations_topic, partition, take
    )
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


async def restore_parking(
    lot: ParkingLot,
    *,
    settings: Settings,
    bootstrap_servers: str,
    dead_letter_topic: str,
    partition: int,
) -> None:
    """Fold the dead-letter partition: which documents are parked, and what waits."""
    await read_partition(
        settings, bootstrap_servers, dead_letter_topic, partition, lot.fold_message
    )
    if lot.documents:
        log.warning(
            "partition %d: %d parked document(s): %s",
            partition,
            len(lot.documents),
            ", ".join(sorted(lot.documents)),
        )


async def read_parking_lot(settings: Settings, bootstrap_servers: str, topic: str) -> ParkingLot:
    """Who is parked across every partition of the dead-letter topic (read-only view)."""
    lot = ParkingLot()
    consumer = make_consumer(settings, bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        partitions = sorted(consumer.partitions_for_topic(topic) or ())
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = sorted(consumer.partitions_for_topic(topic) or ())
    finally:
        await consumer.stop()
    for partition in partitions:
        await read_partition(settings, bootstrap_servers, topic, partition, lot.fold_message)
    return lot
