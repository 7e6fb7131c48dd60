"""Rebuilding the executor's snapshot checkpoints from `operations` alone, on demand.

The executor keeps no state of its own: a partition's documents are the latest checkpoint on
the compacted `snapshots` topic plus the operations after it, and the checkpoint is itself
derived from `operations`. When it is lost, damaged or was written by a faulty version,
`rebuild_snapshots` recomputes it: per partition, every document from offset 0 of
`operations` by the fold a restore uses (`DocumentBook.restore`), then one transaction
holding a snapshot of every document of the partition and a checkpoint marker at the offset
it read to. It then restores the partition from that checkpoint, as an executor would, and
checks that the result equals the fold from offset 0 (headers, states, first offsets and
the window of recent actions that makes retries idempotent).

Why it cannot race a running executor (two guards):

- it refuses while the executor's consumer group has members: a checkpoint written beside
  a running executor could be followed by one of the executor's own, which covers only the
  documents changed since the executor's previous checkpoint, and a restore from it would
  miss operations;
- each partition is written by a producer with that partition's transactional id, the one
  an executor's worker uses, started before the partition is read. An executor that comes
  up meanwhile fences it: the commit fails and nothing is written for that partition.
  One that came up just before fences nothing of ours but is fenced by us: it can commit
  nothing more, so what we read is the whole partition; it gives the partition up, and its
  next owner restores from the new checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import ProducerFenced

from reactor_es.config import Settings
from reactor_es.document.ids import utc_now_iso
from reactor_es.errors import ReactorError
from reactor_es.executor.book import DocumentBook
from reactor_es.executor.exceptions import SnapshotRebuildError
from reactor_es.executor.partition import partition_transactional_id
from reactor_es.executor.restore import read_partition, restore_partition
from reactor_es.kafka.clients import make_producer, retrieve_failures
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.inspection import KafkaInspector
from reactor_es.kafka.records import DocumentSnapshot, OperationRecord, SnapshotCheckpoint
from reactor_es.kafka.topics import TopicNames, document_key
from reactor_es.progress import Progress
from reactor_es.registry import DocumentModelRegistry

__all__ = ["PartitionRebuild", "SnapshotRebuild", "compare_books", "rebuild_snapshots"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionRebuild:
    """One partition's new checkpoint."""

    partition: int
    documents: int
    operations: int
    #: The checkpoint's operations offset (the partition's last stable offset when read).
    offset: int
    #: None: not checked; True: a restore from the checkpoint equals one from offset 0.
    verified: bool | None

    def line(self) -> str:
        if self.offset == 0:
            return f"partition {self.partition}: no operations, nothing to checkpoint"
        check = {
            None: "not verified",
            True: "verified: a restore from it equals a restore from offset 0",
        }[self.verified]
        return (
            f"partition {self.partition}: {self.documents} documents from {self.operations} "
            f"operations, checkpoint at offset {self.offset}; {check}"
        )


@dataclass
class SnapshotRebuild:
    """Every partition rebuilt, how long it took, and what to look at afterwards."""

    partitions: list[PartitionRebuild] = field(default_factory=list)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def operations(self) -> int:
        return sum(p.operations for p in self.partitions)

    @property
    def documents(self) -> int:
        return sum(p.documents for p in self.partitions)

    def summary(self) -> str:
        rate = self.operations / self.seconds if self.seconds > 0 else 0.0
        return (
            f"rebuilt the snapshot checkpoints of {len(self.partitions)} partitions: "
            f"{self.documents} documents from {self.operations} operations in "
            f"{self.seconds:.2f} s ({rate:,.0f} operations/s)"
        )


def _snapshot_for_comparison(book: DocumentBook, document_id: str) -> DocumentSnapshot | None:
    # Same partition, offset and time on both sides: only what a restore rebuilds differs.
    return book.snapshot(document_id, partition=0, source_offset=0, taken_at="")


def compare_books(partition: int, expected: DocumentBook, restored: DocumentBook) -> list[str]:
    """What differs between a book folded from offset 0 and one restored from a checkpoint."""
    differences: list[str] = []
    ours, theirs = set(expected.document_ids), set(restored.document_ids)
    for document_id in sorted(ours - theirs):
        differences.append(f"document {document_id}: missing from the restore")
    for document_id in sorted(theirs - ours):
        differences.append(f"document {document_id}: restored but not in operations")
    for document_id in sorted(ours & theirs):
        a = _snapshot_for_comparison(expected, document_id)
        b = _snapshot_for_comparison(restored, document_id)
        assert a is not None
        assert b is not None
        for name in ("header", "state", "first_offset", "recent_operations"):
            if getattr(a, name) != getattr(b, name):
                differences.append(
                    f"document {document_id}: {name.replace('_', ' ')} differs after a "
                    f"restore of partition {partition} from the checkpoint"
                )
    return differences


async def rebuild_snapshots(
    settings: Settings,
    bootstrap_servers: str,
    registry: DocumentModelRegistry,
    *,
    partitions: Sequence[int] | None = None,
    verify: bool = True,
    progress: Progress | None = None,
) -> SnapshotRebuild:
    """Write a fresh checkpoint for each partition (all by default) from `operations`.

    Refuses (`ActiveGroupError`) while the executor group has members; raises
    `SnapshotRebuildError` when a partition was fenced or a restore does not match.
    """
    topics = TopicNames.from_settings(settings)
    started = time.perf_counter()
    result = SnapshotRebuild()
    async with KafkaInspector(settings, bootstrap_servers) as kafka:
        await kafka.require_idle(
            settings.executor_group,
            action="rebuild-snapshots refused",
            stop="every executor (`reactor-es executor` or `run`)",
        )
        extent = await kafka.extent(topics.operations)
        if not extent.partitions:
            raise SnapshotRebuildError(f"topic '{topics.operations}' does not exist")
        chosen = extent.partitions if partitions is None else sorted(set(partitions))
        unknown = [p for p in chosen if p not in extent.ends]
        if unknown:
            raise SnapshotRebuildError(
                f"topic '{topics.operations}' has no partition {unknown[0]} "
                f"(partitions 0-{len(extent.partitions) - 1})"
            )
        if progress is not None:
            progress.grow(sum(extent.ends[p] - extent.beginnings.get(p, 0) for p in chosen))
        codec = RecordCodec()
        for partition in chosen:
            result.partitions.append(
                await _rebuild_partition(
                    settings,
                    bootstrap_servers,
                    registry,
                    kafka,
                    topics,
                    partition,
                    codec,
                    verify,
                    progress,
                )
            )
        late = await kafka.members(settings.executor_group)
        if late.active:
            result.warnings.append(
                f"an executor joined group '{settings.executor_group}' during the rebuild "
                f"({late.describe()}); it may have been fenced on a partition: restart it"
            )
    result.seconds = time.perf_counter() - started
    return result


async def _rebuild_partition(
    settings: Settings,
    bootstrap_servers: str,
    registry: DocumentModelRegistry,
    kafka: KafkaInspector,
    topics: TopicNames,
    partition: int,
    codec: RecordCodec,
    verify: bool,
    progress: Progress | None,
) -> PartitionRebuild:
    producer = make_producer(
        settings,
        bootstrap_servers,
        transactional_id=partition_transactional_id(
            settings.executor_group, topics.actions, partition
        ),
    )
    await producer.start()  # fences whoever wrote for this partition before
    try:
        book = DocumentBook(registry)
        read_to = 0

        def take(message: Any) -> None:
            nonlocal read_to
            try:
                record = codec.decode_record(message.value, OperationRecord)
                book.restore(record, message.offset)
            except ReactorError as exc:  # as a restore does: a foreign record is skipped
                log.error(
                    "skipping %s partition %d offset %d: %s",
                    topics.operations,
                    partition,
                    message.offset,
                    exc,
                )
            if progress is not None:
                progress.advance(message.offset + 1 - read_to, 1)
            read_to = message.offset + 1

        count, end = await read_partition(
            settings, bootstrap_servers, topics.operations, partition, take
        )
        book.finish_restore()
        if progress is not None:
            progress.advance(max(end - read_to, 0))
        if end == 0:
            return PartitionRebuild(partition, 0, 0, 0, None)
        marker = await _write_checkpoint(producer, book, topics, partition, end, codec)
    except ProducerFenced as exc:
        raise SnapshotRebuildError(
            f"partition {partition}: an executor took the partition over during the rebuild "
            "(its producer fenced ours); nothing was written for it: stop every executor "
            "and run rebuild-snapshots again"
        ) from exc
    finally:
        await producer.stop()
        retrieve_failures(producer)  # a fenced producer's own futures: read, not logged
    verified: bool | None = None
    if verify:
        await kafka.wait_stable(topics.snapshots, partition, marker)
        await _verify(settings, bootstrap_servers, registry, topics, partition, book, end, codec)
        verified = True
    return PartitionRebuild(partition, len(book), count, end, verified)


async def _write_checkpoint(
    producer: Any,
    book: DocumentBook,
    topics: TopicNames,
    partition: int,
    end: int,
    codec: RecordCodec,
) -> int:
    """Every document's snapshot and the marker, in one transaction; the marker's offset."""
    at = utc_now_iso()
    documents = sorted(book.document_ids)
    async with producer.transaction():
        futures = []
        for document_id in documents:
            snapshot = book.snapshot(
                document_id, partition=partition, source_offset=end - 1, taken_at=at
            )
            if snapshot is None:
                continue
            futures.append(
                await producer.send(
                    topics.snapshots,
                    value=codec.encode_record(snapshot),
                    key=document_key(document_id),
                    partition=partition,
                )
            )
        marker = await producer.send(
            topics.snapshots,
            value=codec.encode_record(SnapshotCheckpoint(partition, end, len(documents), at)),
            key=SnapshotCheckpoint.KEY,
            partition=partition,
        )
        futures.append(marker)
        await asyncio.gather(*futures)
    log.info(
        "partition %d: rebuilt checkpoint of %d documents at operations offset %d",
        partition,
        len(documents),
        end,
    )
    return int(marker.result().offset)


async def _verify(
    settings: Settings,
    bootstrap_servers: str,
    registry: DocumentModelRegistry,
    topics: TopicNames,
    partition: int,
    expected: DocumentBook,
    end: int,
    codec: RecordCodec,
) -> None:
    restored = DocumentBook(registry)
    report = await restore_partition(
        restored,
        settings=settings,
        bootstrap_servers=bootstrap_servers,
        operations_topic=topics.operations,
        partition=partition,
        codec=codec,
        snapshots_topic=topics.snapshots,
    )
    if report.start_offset != end or report.operations:
        raise SnapshotRebuildError(
            f"partition {partition}: a restore started from offset {report.start_offset} and "
            f"read {report.operations} more operations, not from the new checkpoint at {end}: "
            "something else wrote meanwhile (is an executor running?)"
        )
    differences = compare_books(partition, expected, restored)
    if differences:
        more = f" (and {len(differences) - 1} more)" if len(differences) > 1 else ""
        raise SnapshotRebuildError(f"partition {partition}: {differences[0]}{more}")
