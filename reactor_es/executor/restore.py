"""Rebuilding a partition's state from the topics that are its truth.

The executor owning partition p of `actions` rebuilds its documents before it processes any
action: from the latest snapshot checkpoint of partition p of `snapshots` (compacted: one
snapshot per document, so its size follows the number of documents, not the history), then
partition p of `operations` (committed records only) from the checkpoint's offset up to its
last stable offset. Without a checkpoint it reads `operations` from the start. It reads
partition p of `actions-dlq` to learn which documents are parked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from reactor_es.config import Settings
from reactor_es.document.materialize import DocumentStream
from reactor_es.document.types import Document
from reactor_es.errors import ReactorError
from reactor_es.executor.book import DocumentBook
from reactor_es.executor.parking import ParkingLot
from reactor_es.kafka.clients import make_consumer, start_client
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.records import DocumentSnapshot, OperationRecord, SnapshotCheckpoint
from reactor_es.kafka.topics import document_key
from reactor_es.registry import DocumentModelRegistry

__all__ = [
    "RestoreReport",
    "load_history",
    "read_checkpoint",
    "read_parking_lot",
    "read_partition",
    "restore_parking",
    "restore_partition",
    "stable_end",
]

log = logging.getLogger(__name__)

#: How long a read waits for records committed by the caller to become readable.
SETTLE_SECONDS = 30.0


@dataclass(frozen=True)
class RestoreReport:
    partition: int
    documents: int
    operations: int
    end_offset: int
    seconds: float
    #: Documents loaded from snapshots, and the operations offset the tail was read from.
    snapshots: int = 0
    start_offset: int = 0

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
    min_end: int = 0,
) -> tuple[int, int]:
    """Feed every committed record of one partition (from `start`) to `handle`.

    Returns (records read, end offset). Reads up to the last stable offset as of the call,
    once that has reached `min_end` (see `stable_end`).
    """
    tp = TopicPartition(topic, partition)
    consumer = make_consumer(settings, bootstrap_servers, group_id=None, max_poll_records=10_000)
    await start_client(consumer, bootstrap_servers)
    count = 0
    try:
        consumer.assign([tp])
        end = await stable_end(consumer, tp, min_end)
        if start is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, start)
        while await consumer.position(tp) < end:
            # A short wait: when only a commit marker is left, an empty poll is the way past it.
            batches = await consumer.getmany(tp, timeout_ms=50, max_records=10_000)
            for message in batches.get(tp, ()):
                if message.offset >= end:
                    break
                handle(message)
                count += 1
    finally:
        await consumer.stop()
    return count, end


async def stable_end(consumer: Any, tp: TopicPartition, min_end: int = 0) -> int:
    """The partition's last stable offset, once it has reached `min_end`.

    A commit returns before the coordinator has written its markers, and until then a
    read_committed reader stops short of the transaction (most of the time, measured right
    after a commit on a local broker). A worker rebuilding its documents after its own
    commit passes the end of what it committed, so that it reads it back.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_SECONDS
    end: int = (await consumer.end_offsets([tp]))[tp]
    while end < min_end:
        if loop.time() > deadline:
            raise ReactorError(
                f"{tp.topic} partition {tp.partition}: records committed up to offset "
                f"{min_end} are still not readable after {SETTLE_SECONDS:g}s (last stable "
                f"offset {end})"
            )
        await asyncio.sleep(0.01)
        end = (await consumer.end_offsets([tp]))[tp]
    return end


async def read_checkpoint(
    settings: Settings,
    bootstrap_servers: str,
    snapshots_topic: str,
    partition: int,
    codec: RecordCodec,
) -> tuple[SnapshotCheckpoint | None, dict[str, DocumentSnapshot]]:
    """The latest checkpoint of a partition and the snapshots it covers."""
    checkpoint: SnapshotCheckpoint | None = None
    covered: dict[str, DocumentSnapshot] = {}
    pending: dict[str, DocumentSnapshot] = {}

    def take(message: Any) -> None:
        nonlocal checkpoint
        try:
            if message.key == SnapshotCheckpoint.KEY:
                checkpoint = codec.decode_record(message.value, SnapshotCheckpoint)
                covered.update(pending)
                pending.clear()
            else:
                snapshot = codec.decode_record(message.value, DocumentSnapshot)
                pending[snapshot.document_id] = snapshot
        except ReactorError as exc:
            log.error(
                "skipping %s partition %d offset %d: %s",
                snapshots_topic,
                partition,
                message.offset,
                exc,
            )

    await read_partition(settings, bootstrap_servers, snapshots_topic, partition, take)
    return checkpoint, covered


async def restore_partition(
    book: DocumentBook,
    *,
    settings: Settings,
    bootstrap_servers: str,
    operations_topic: str,
    partition: int,
    codec: RecordCodec,
    snapshots_topic: str | None = None,
    min_end: int = 0,
) -> RestoreReport:
    """Load the latest snapshots of the partition into `book`, then the operations after
    them up to the stable end (at least `min_end`).

    A snapshot holds its document's operations up to its `source_offset`; the checkpoint
    marker may send the read further back than that (to a document whose snapshot was too
    large to store), and those operations are not applied twice.
    """
    started = time.perf_counter()
    start = 0
    loaded = 0
    # Per document key, the last operations offset its snapshot holds.
    held: dict[bytes, int] = {}
    if snapshots_topic is not None:
        checkpoint, snapshots = await read_checkpoint(
            settings, bootstrap_servers, snapshots_topic, partition, codec
        )
        if checkpoint is not None:
            start = checkpoint.operations_offset
            for snapshot in snapshots.values():
                book.load_snapshot(snapshot)
                held[document_key(snapshot.document_id)] = snapshot.source_offset
            loaded = len(snapshots)

    def take(message: Any) -> None:
        if held and message.offset <= held.get(message.key, -1):
            return
        try:
            book.restore(codec.decode_record(message.value, OperationRecord), message.offset)
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
        settings,
        bootstrap_servers,
        operations_topic,
        partition,
        take,
        start=start or None,
        min_end=min_end,
    )
    book.finish_restore()
    report = RestoreReport(
        partition, len(book), count, end, time.perf_counter() - started, loaded, start
    )
    log.info(
        "restored partition %d: %d documents (%d from snapshots), %d operations from offset "
        "%d to %d in %.3fs",
        partition,
        report.documents,
        loaded,
        report.operations,
        start,
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
    await start_client(consumer, bootstrap_servers)
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


async def load_history(
    document_id: str,
    *,
    settings: Settings,
    bootstrap_servers: str,
    operations_topic: str,
    partition: int,
    first_offset: int,
    codec: RecordCodec,
    registry: DocumentModelRegistry,
    min_end: int = 0,
) -> Document | None:
    """A document with its whole history, read back from its operations partition.

    Only the actions that rewrite history need it (UNDO, REDO, NOOP with skip, ...): the
    book keeps the last operation per scope, and this reads from the document's first
    operation on.
    """
    stream = DocumentStream(model_for=lambda document_type: registry.get(document_type))
    wanted = document_key(document_id)

    def take(message: Any) -> None:
        if message.key != wanted:
            return
        record = codec.decode_record(message.value, OperationRecord)
        if record.document_id != document_id:
            return
        stream.apply(record.streamed())

    started = time.perf_counter()
    count, _ = await read_partition(
        settings,
        bootstrap_servers,
        operations_topic,
        partition,
        take,
        start=first_offset if first_offset > 0 else None,
        min_end=min_end,
    )
    log.info(
        "loaded the history of document %s (%d records read) in %.3fs",
        document_id,
        count,
        time.perf_counter() - started,
    )
    return stream.document(document_id)
