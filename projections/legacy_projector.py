"""The legacy projector: `operations` into legacy storage, the read model of phases 4 and 5.

Each document is rebuilt from its operations as they come (`DocumentStream`: the state
after an operation travels in its record, so no model reducer runs except for the
document scope's system operations) and handed to the store as Powerhouse's drive server
did: CREATE_DOCUMENT creates the document, later operations are appended together with the
document as it stands after them, and DELETE_DOCUMENT deletes it, as the legacy server's
`deleteDocument` did (also when a drive's DELETE_NODE asked for it): the document and its
operations leave the store, which keeps only a `DocumentDeletion` record, in the same
transaction as the positions. Its id is never created again: the executor refuses to (a
deleted document's id is taken for good), and so does this projector.

Why it is built this way:

- documents live in a bounded LRU cache; a document not in it is read back from the
  store, never by reading Kafka again (the store holds exactly what the positions say);
- all reads happen before the write transaction opens, and each document costs one store
  call per batch, whatever the number of its operations in the batch;
- a re-delivered operation (same id, index, skip and hash as the stored one) is skipped,
  also one of a deleted document (checked against its deletion record);
  one that disagrees with the stored history, or that the store refuses, is logged and
  skipped, with its job left without READ_READY: a bad record never sticks a partition;
- only whole jobs are written (`JobAssembler`), and positions never pass the first record
  of a job still open, so READ_READY (sent after the commit, for the jobs just stored) is
  never lost to a job cut by a poll or a restart. `reports_read_ready` says whether this
  projector has that role: phase 6 gives it to the operation-store projector.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from projections.document_projector import (
    DocumentProjector,
    DocumentProjectorStats,
    PendingDocument,
)
from projections.exceptions import ProjectorStateError
from projections.stores.exceptions import InvalidOperationError
from projections.stores.legacy import DocumentDeletion, LegacyStorageBatch, LegacyStorageError
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from projections.stores.tracking import TopicPartition
from reactor_es.config import Settings
from reactor_es.document.state import is_deleted
from reactor_es.document.types import Document, Operation
from reactor_es.kafka.records import OperationRecord
from reactor_es.registry import DocumentModelRegistry

__all__ = ["LEGACY_STORE_FILE", "LegacyProjector", "LegacyProjectorStats"]

log = logging.getLogger(__name__)

#: The legacy store's file under `settings.home`.
LEGACY_STORE_FILE = "legacy.db"


@dataclass
class LegacyProjectorStats(DocumentProjectorStats):
    """What the projector did since it started."""


@dataclass
class _Pending(PendingDocument):
    """What one batch will write for one document: its operations, in order."""

    operations: list[Operation] = field(default_factory=list)

    def add(self, record: OperationRecord, revision: int) -> None:
        self.operations.append(record.operation)


class LegacyProjector(DocumentProjector[_Pending]):
    """Materialises `operations` into `SqliteLegacyStorage` and reports READ_READY."""

    name = "legacy"
    stats: LegacyProjectorStats

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
        super().__init__(
            settings,
            bootstrap_servers,
            registry,
            reports_read_ready=reports_read_ready,
            store_path=store_path or settings.home / LEGACY_STORE_FILE,
            cache_size=cache_size,
        )
        self.stats = LegacyProjectorStats()
        self._store: SqliteLegacyStorage | None = None

    @property
    def store(self) -> SqliteLegacyStorage:
        if self._store is None:
            raise ProjectorStateError(f"projector {self.name}: its store is not open (start it)")
        return self._store

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

    # -- one batch ---------------------------------------------------------------------------

    async def _read_stored(self, document_id: str) -> Document:
        return await self.store.get_document(document_id)

    async def _read_deletion(self, document_id: str) -> DocumentDeletion | None:
        return await self.store.get_deletion(document_id)

    def _pending(self, created: bool) -> _Pending:
        return _Pending(created)

    async def _store_batch(
        self,
        consumer: str,
        pending: dict[str, _Pending],
        rejected_jobs: set[str],
        positions: Mapping[TopicPartition, int],
    ) -> int:
        deletions: list[DocumentDeletion] = []
        async with self.store.batch() as writer:
            stored, created = await self._write(writer, pending, rejected_jobs, deletions)
            for tp, offset in positions.items():
                writer.record_position(consumer, tp.topic, tp.partition, offset)
        self.stats.documents_created += created
        for deletion in deletions:
            self._deleted_stored(deletion)
        return stored

    async def _write(
        self,
        writer: LegacyStorageBatch,
        pending: dict[str, _Pending],
        rejected_jobs: set[str],
        deletions: list[DocumentDeletion],
    ) -> tuple[int, int]:
        """Hand each document to the store; the operations and documents it took. The
        deletions written are added to `deletions`."""
        stored = created = 0
        for document_id, entry in pending.items():
            document = self._stream.document(document_id)
            assert document is not None  # every pending document went through the stream
            try:
                # The operations go in first, so the store checks them as any others.
                deletion = DocumentDeletion.of(document) if is_deleted(document.state) else None
                if entry.created:
                    await writer.create_document(document)
                else:
                    await writer.add_document_operations(document_id, entry.operations, document)
                if deletion is not None:
                    await writer.delete(document_id, deletion)
                    deletions.append(deletion)
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
