"""The legacy projector: `operations` into legacy storage, the read model of phases 4 and 5.

Each document is rebuilt from its operations as they come (`DocumentStream`: the state
after an operation travels in its record, so no model reducer runs except for the
document scope's system operations) and handed to the store as Powerhouse's drive server
did: CREATE_DOCUMENT creates the document, later operations are appended together with the
document as it stands after them.

Why it is built this way:

- documents live in a bounded LRU cache; a document not in it is read back from the
  store, never by reading Kafka again (the store holds exactly what the positions say);
- all reads happen before the write transaction opens, and each document costs one store
  call per batch, whatever the number of its operations in the batch;
- a re-delivered operation (same id, index, skip and hash as the stored one) is skipped;
  one that disagrees with the stored history, or that the store refuses, is logged and
  skipped, with its job left without READ_READY: a bad record never sticks a partition;
- only whole jobs are written (`JobAssembler`), and positions never pass the first record
  of a job still open, so READ_READY (sent after the commit, for the jobs just stored) is
  never lost to a job cut by a poll or a restart. `reports_read_ready` says whether this
  projector has that role: phase 6 gives it to the operation-store projector.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from projections.exceptions import ProjectorStateError
from projections.read_ready import JobAssembler, ReadReadyReporter
from projections.runner import Delivered, PolledBatch, Projector
from projections.stores.exceptions import InvalidOperationError
from projections.stores.legacy import (
    DocumentNotFoundError,
    LegacyStorageBatch,
    LegacyStorageError,
    OperationKey,
)
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from projections.stores.tracking import TopicPartition
from reactor_es.config import Settings
from reactor_es.document.materialize import DocumentStream, StreamedOperation
from reactor_es.document.types import Document, Operation
from reactor_es.errors import ReactorError
from reactor_es.kafka.records import OperationRecord
from reactor_es.kafka.topics import TopicNames
from reactor_es.registry import DocumentModelRegistry

__all__ = ["LEGACY_STORE_FILE", "LegacyProjector", "LegacyProjectorStats"]

log = logging.getLogger(__name__)

#: The legacy store's file under `settings.home`.
LEGACY_STORE_FILE = "legacy.db"

_Outcome = Literal["applied", "duplicate", "rejected"]


@dataclass
class LegacyProjectorStats:
    """What the projector did since it started."""

    operations: int = 0  # stored
    documents_created: int = 0
    duplicates: int = 0  # re-delivered, already stored
    rejected: int = 0  # logged and skipped
    cache_misses: int = 0  # documents read back from the store
    jobs_reported: int = 0  # READ_READY sent


@dataclass
class _Pending:
    """What one batch will write for one document."""

    created: bool
    operations: list[Operation] = field(default_factory=list)
    job_ids: set[str] = field(default_factory=set)


class LegacyProjector(Projector[OperationRecord]):
    """Materialises `operations` into `SqliteLegacyStorage` and reports READ_READY."""

    name = "legacy"
    record_type = OperationRecord

    def __init__(
        self,
        settings: Settings,
        bootstrap_servers: str,
        registry: DocumentModelRegistry,
        *,
        reports_read_ready: bool = True,
        store_path: Path | None = None,
        cache_size: int = 4096,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.store_path = store_path or settings.home / LEGACY_STORE_FILE
        self.cache_size = cache_size
        self.reporter = (
            ReadReadyReporter(settings, bootstrap_servers, self.name)
            if reports_read_ready
            else None
        )
        self.stats = LegacyProjectorStats()
        self._store: SqliteLegacyStorage | None = None
        self._assembler = JobAssembler()
        self._stream = DocumentStream(model_for=registry.get)
        self._partition_of: dict[str, TopicPartition] = {}

    @property
    def store(self) -> SqliteLegacyStorage:
        if self._store is None:
            raise ProjectorStateError(f"projector {self.name}: its store is not open (start it)")
        return self._store

    def topic(self, topics: TopicNames) -> str:
        return topics.operations

    async def start(self) -> None:
        if self._store is None:
            self._store = await SqliteLegacyStorage.open(self.store_path)
        if self.reporter is not None:
            await self.reporter.start()

    async def close(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            await store.close()
        if self.reporter is not None:
            await self.reporter.close()
        self._forget_all()

    async def stored_positions(self, consumer: str) -> dict[TopicPartition, int]:
        return await self.store.get_positions(consumer)

    def reset(self, assigned: Collection[TopicPartition]) -> None:
        """Forget open jobs, and documents of partitions no longer ours (others may write them)."""
        self._assembler.reset()
        keep = set(assigned)
        for document_id, tp in list(self._partition_of.items()):
            if tp not in keep:
                self._forget(document_id)

    # -- one batch ---------------------------------------------------------------------------

    async def project(self, batch: PolledBatch[OperationRecord]) -> Mapping[TopicPartition, int]:
        jobs, positions = self._assembler.feed(batch)
        pending: dict[str, _Pending] = {}
        rejected_jobs: set[str] = set()
        try:
            for job in jobs:
                for item in job.records:
                    if await self._apply(item, pending) == "rejected":
                        rejected_jobs.add(job.job_id)
            async with self.store.batch() as writer:
                stored, created = await self._write(writer, pending, rejected_jobs)
                for tp, offset in positions.items():
                    writer.record_position(batch.consumer, tp.topic, tp.partition, offset)
        except BaseException:
            # The cached documents hold operations that were not stored: read them again.
            for document_id in pending:
                self._forget(document_id)
            raise
        self.stats.operations += stored
        self.stats.documents_created += created
        self._evict()
        if self.reporter is not None:
            readable = [job for job in jobs if job.job_id not in rejected_jobs]
            await self.reporter.report(readable)
            self.stats.jobs_reported = self.reporter.reported
        return positions

    async def _apply(
        self, item: Delivered[OperationRecord], pending: dict[str, _Pending]
    ) -> _Outcome:
        """Add one operation to its cached document (loading it first if needed)."""
        record = item.record
        operation = record.operation
        document_id = record.document_id
        document = await self._document(document_id)
        self._partition_of[document_id] = item.partition
        scope = operation.action.scope
        if document is not None and operation.index < document.next_index(scope):
            known = _held_at(document, scope, operation.index)
            if known is not None and OperationKey.of(known) == OperationKey.of(operation):
                self.stats.duplicates += 1
                return "duplicate"
            return self._reject(
                item,
                f"the document is at index {document.next_index(scope)} and holds "
                + ("another operation" if known is not None else "no operation")
                + f" at index {operation.index}",
            )
        try:
            self._stream.apply(
                StreamedOperation(
                    document_id=document_id,
                    document_type=record.document_type,
                    operation=operation,
                    resulting_state=record.resulting_state,
                    name=None if record.header is None else record.header.name,
                    last_modified_at_utc_iso=(
                        None if record.header is None else record.header.last_modified_at_utc_iso
                    ),
                )
            )
        except ReactorError as exc:  # no CREATE_DOCUMENT first, unknown type, bad replay
            return self._reject(item, str(exc))
        entry = pending.get(document_id)
        if entry is None:
            entry = pending[document_id] = _Pending(created=document is None)
        entry.operations.append(operation)
        entry.job_ids.add(record.job_id)
        return "applied"

    async def _write(
        self, writer: LegacyStorageBatch, pending: dict[str, _Pending], rejected_jobs: set[str]
    ) -> tuple[int, int]:
        """Hand each document to the store; the operations and documents it took."""
        stored = created = 0
        for document_id, entry in pending.items():
            document = self._stream.document(document_id)
            assert document is not None  # every pending document went through the stream
            try:
                if entry.created:
                    await writer.create_document(document)
                else:
                    await writer.add_document_operations(document_id, entry.operations, document)
            except (LegacyStorageError, InvalidOperationError) as exc:
                first = entry.operations[0]
                log.error(
                    "projector %s: legacy storage refused %d operations of document %s "
                    "(scope %s from index %d): %s",
                    self.name,
                    len(entry.operations),
                    document_id,
                    first.action.scope,
                    first.index,
                    exc,
                )
                self.stats.rejected += len(entry.operations)
                rejected_jobs.update(entry.job_ids)
                self._forget(document_id)
                continue
            stored += len(entry.operations)
            created += entry.created
        return stored, created

    def _reject(self, item: Delivered[OperationRecord], problem: str) -> _Outcome:
        operation = item.record.operation
        log.error(
            "projector %s: skipped operation %s of document %s (scope %s, index %d) at %s "
            "partition %d offset %d: %s",
            self.name,
            operation.id,
            item.record.document_id,
            operation.action.scope,
            operation.index,
            item.partition.topic,
            item.partition.partition,
            item.offset,
            problem,
        )
        self.stats.rejected += 1
        return "rejected"

    # -- the document cache --------------------------------------------------------------------

    async def _document(self, document_id: str) -> Document | None:
        """The cached document (now the most recently used), else the stored one, else None."""
        documents = self._stream.documents
        document = documents.pop(document_id, None)
        if document is None:
            try:
                document = await self.store.get_document(document_id)
            except DocumentNotFoundError:
                return None
            self.stats.cache_misses += 1
        documents[document_id] = document
        return document

    def _evict(self) -> None:
        documents = self._stream.documents
        while len(documents) > self.cache_size:
            self._forget(next(iter(documents)))

    def _forget(self, document_id: str) -> None:
        self._stream.forget(document_id)
        self._partition_of.pop(document_id, None)

    def _forget_all(self) -> None:
        for document_id in list(self._stream.documents):
            self._forget(document_id)
        self._assembler.reset()


def _held_at(document: Document, scope: str, index: int) -> Operation | None:
    """The operation the document holds at `index` of `scope`, if any."""
    for existing in reversed(document.operations.get(scope, ())):
        if existing.index == index:
            return existing
        if existing.index < index:
            break
    return None
