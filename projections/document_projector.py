"""What the legacy and operation-store projectors share: documents rebuilt from `operations`.

Both read `operations`, rebuild each document as it comes (`DocumentStream`), keep the
documents in a bounded LRU cache (a document not in it is read back from the projector's
own store, never by reading Kafka again) and store only whole jobs (`JobAssembler`), so
that READ_READY, when the projector reports it, goes out after the commit for exactly the
jobs just stored. An operation is checked against its document before any transaction
opens: a re-delivery (same id, index, skip and hash as the held one) is skipped, one that
contradicts the history or that the stream refuses is logged and skipped, and its job gets
no READ_READY. How a batch is written is each projector's own (`_store_batch`).

A deleted document (DELETE_DOCUMENT) takes no operation after its deletion, as the executor
refuses them: one that comes anyway is logged and skipped. Legacy storage no longer holds a
deleted document, only its `DocumentDeletion`: an operation of such a document is checked
against that record instead (the DELETE_DOCUMENT itself by its key, the operations before
it, whose history legacy storage forgot, by their index), so a re-delivery is skipped and
never brings the document back.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Literal, TypeVar

from projections.read_ready import JobAssembler, ReadReadyReporter
from projections.runner import Delivered, PolledBatch, Projector
from projections.stores.legacy import DocumentDeletion, DocumentNotFoundError, OperationKey
from projections.stores.tracking import TopicPartition
from reactor_es.config import Settings
from reactor_es.document.materialize import DocumentStream
from reactor_es.document.state import DOCUMENT_SCOPE, is_deleted
from reactor_es.document.types import Document, Operation
from reactor_es.errors import ReactorError
from reactor_es.kafka.records import OperationRecord
from reactor_es.kafka.topics import TopicNames
from reactor_es.registry import DocumentModelRegistry

__all__ = ["DocumentProjector", "DocumentProjectorStats", "Outcome", "PendingDocument"]

Outcome = Literal["applied", "duplicate", "rejected"]


@dataclass
class DocumentProjectorStats:
    """What the projector did since it started."""

    operations: int = 0  # stored
    documents_created: int = 0
    duplicates: int = 0  # re-delivered, already stored
    rejected: int = 0  # logged and skipped
    cache_misses: int = 0  # documents read back from the store
    jobs_reported: int = 0  # READ_READY sent
    documents_deleted: int = 0  # by a DELETE_DOCUMENT stored


@dataclass
class PendingDocument(ABC):
    """What one batch will write for one document."""

    created: bool
    job_ids: set[str] = field(default_factory=set)

    @abstractmethod
    def add(self, record: OperationRecord, revision: int) -> None:
        """Take one checked operation; `revision` is its scope's next index before it."""


P = TypeVar("P", bound=PendingDocument)


class DocumentProjector(Projector[OperationRecord], Generic[P]):
    """A projector of `operations` that materialises documents (see the module docstring)."""

    record_type = OperationRecord
    stats: DocumentProjectorStats

    def __init__(
        self,
        settings: Settings,
        bootstrap_servers: str,
        registry: DocumentModelRegistry,
        *,
        reports_read_ready: bool,
        store_path: Path,
        cache_size: int,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.store_path = store_path
        self.cache_size = cache_size
        self.reporter = (
            ReadReadyReporter(settings, bootstrap_servers, self.name)
            if reports_read_ready
            else None
        )
        self._assembler = JobAssembler()
        self._stream = DocumentStream(model_for=registry.get)
        self._partition_of: dict[str, TopicPartition] = {}
        #: Deletions of documents the store no longer holds, most recently used last.
        self._deletions: dict[str, DocumentDeletion] = {}
        # Each projector logs under its own module, where its operators look for it.
        self._log = logging.getLogger(type(self).__module__)

    def topic(self, topics: TopicNames) -> str:
        return topics.operations

    def reset(self, assigned: Collection[TopicPartition]) -> None:
        """Forget open jobs, and documents of partitions no longer ours (others may write them)."""
        self._assembler.reset()
        keep = set(assigned)
        for document_id, tp in list(self._partition_of.items()):
            if tp not in keep:
                self._forget(document_id)

    # -- what each projector does its own way ------------------------------------------------

    @abstractmethod
    async def _read_stored(self, document_id: str) -> Document:
        """The document as the store holds it (raises `DocumentNotFoundError`)."""

    @abstractmethod
    def _pending(self, created: bool) -> P:
        """An empty entry for a document the batch writes (`created`: it is new)."""

    async def _read_deletion(self, document_id: str) -> DocumentDeletion | None:
        """The deletion of a document the store no longer holds (default: it keeps them)."""
        return None

    def _check(self, record: OperationRecord, revision: int) -> None:
        """Raise a `ReactorError` for an operation the store would refuse (default: none)."""

    @abstractmethod
    async def _store_batch(
        self,
        consumer: str,
        pending: dict[str, P],
        rejected_jobs: set[str],
        positions: Mapping[TopicPartition, int],
    ) -> int:
        """Write the pending documents and the positions in one transaction; the operations
        stored. A document the store refuses is left out, its jobs added to `rejected_jobs`."""

    # -- one batch ---------------------------------------------------------------------------

    async def project(self, batch: PolledBatch[OperationRecord]) -> Mapping[TopicPartition, int]:
        jobs, positions = self._assembler.feed(batch)
        pending: dict[str, P] = {}
        rejected_jobs: set[str] = set()
        try:
            for job in jobs:
                for item in job.records:
                    if await self._apply(item, pending) == "rejected":
                        rejected_jobs.add(job.job_id)
            stored = await self._store_batch(batch.consumer, pending, rejected_jobs, positions)
        except BaseException:
            # The cached documents hold operations that were not stored: read them again.
            for document_id in pending:
                self._forget(document_id)
            raise
        self.stats.operations += stored
        self._evict()
        if self.reporter is not None:
            readable = [job for job in jobs if job.job_id not in rejected_jobs]
            await self.reporter.report(readable)
            self.stats.jobs_reported = self.reporter.reported
        return positions

    async def _apply(self, item: Delivered[OperationRecord], pending: dict[str, P]) -> Outcome:
        """Add one operation to its cached document (loading it first if needed)."""
        record = item.record
        operation = record.operation
        document_id = record.document_id
        # Recorded before the checks: a document read back only to skip an operation is
        # cached too, and `reset` must forget it with its partition.
        self._partition_of[document_id] = item.partition
        document = await self._document(document_id)
        scope = operation.action.scope
        if document is None:
            deletion = await self._deletion(document_id)
            if deletion is not None:
                return self._after_deletion(item, deletion)
        revision = 0 if document is None else document.next_index(scope)
        if document is not None and operation.index < revision:
            known = _held_at(document, scope, operation.index)
            if known is not None and OperationKey.of(known) == OperationKey.of(operation):
                self.stats.duplicates += 1
                return "duplicate"
            return self._reject(
                item,
                f"the document is at index {revision} and holds "
                + ("another operation" if known is not None else "no operation")
                + f" at index {operation.index}",
            )
        if document is not None and is_deleted(document.state):
            when = document.state[DOCUMENT_SCOPE].get("deletedAtUtcIso")
            return self._reject(item, _deleted(when, operation))
        try:
            self._check(record, revision)
            self._stream.apply(record.streamed())
        except ReactorError as exc:  # refused by the store's rules, no CREATE first, bad replay
            return self._reject(item, str(exc))
        entry = pending.get(document_id)
        if entry is None:
            entry = pending[document_id] = self._pending(created=document is None)
        entry.add(record, revision)
        entry.job_ids.add(record.job_id)
        return "applied"

    def _after_deletion(
        self, item: Delivered[OperationRecord], deletion: DocumentDeletion
    ) -> Outcome:
        """An operation of a document the store deleted: stored before, or refused."""
        operation = item.record.operation
        scope = operation.action.scope
        deleted_by = deletion.operation
        if scope == DOCUMENT_SCOPE and operation.index == deleted_by.index:
            if OperationKey.of(operation) != deleted_by:
                return self._reject(
                    item,
                    f"the document was deleted at {deletion.deleted_at} by another operation "
                    f"({deleted_by.id}) at index {deleted_by.index}",
                )
        elif operation.index >= deletion.revisions.get(scope, 0):
            return self._reject(item, _deleted(deletion.deleted_at, operation))
        self.stats.duplicates += 1
        return "duplicate"

    def _reject(self, item: Delivered[OperationRecord], problem: str) -> Outcome:
        operation = item.record.operation
        self._log.error(
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

    async def _deletion(self, document_id: str) -> DocumentDeletion | None:
        """The remembered deletion (now the most recently used), else the stored one."""
        deletion = self._deletions.pop(document_id, None)
        if deletion is None:
            deletion = await self._read_deletion(document_id)
            if deletion is None:
                return None
        self._deletions[document_id] = deletion
        return deletion

    def _deleted_stored(self, deletion: DocumentDeletion) -> None:
        """A deletion just committed: the store holds the record, no longer the document."""
        self._stream.forget(deletion.document_id)
        self._deletions[deletion.document_id] = deletion
        self.stats.documents_deleted += 1

    async def _document(self, document_id: str) -> Document | None:
        """The cached document (now the most recently used), else the stored one, else None."""
        documents = self._stream.documents
        document = documents.pop(document_id, None)
        if document is None:
            try:
                document = await self._read_stored(document_id)
            except DocumentNotFoundError:
                return None
            self.stats.cache_misses += 1
        documents[document_id] = document
        return document

    def _evict(self) -> None:
        documents = self._stream.documents
        while len(documents) > self.cache_size:
            self._forget(next(iter(documents)))
        while len(self._deletions) > self.cache_size:
            self._forget(next(iter(self._deletions)))

    def _forget(self, document_id: str) -> None:
        self._stream.forget(document_id)
        self._deletions.pop(document_id, None)
        self._partition_of.pop(document_id, None)

    def _forget_all(self) -> None:
        for document_id in [*self._stream.documents, *self._deletions]:
            self._forget(document_id)
        self._assembler.reset()


def _deleted(when: object, operation: Operation) -> str:
    """Why an operation after its document's deletion is refused (as the executor says)."""
    at = f" at {when}" if isinstance(when, str) and when else ""
    return f"the document was deleted{at}: {operation.action.type} refused"


def _held_at(document: Document, scope: str, index: int) -> Operation | None:
    """The operation the document holds at `index` of `scope`, if any."""
    for existing in reversed(document.operations.get(scope, ())):
        if existing.index == index:
            return existing
        if existing.index < index:
            break
    return None
