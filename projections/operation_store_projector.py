"""The operation-store projector: `operations` into the new operation store (phases 5 and 6).

Each record's operation becomes a row of its stream `(document, scope, branch)` through
`IOperationStore.apply`, under the store's optimistic revision check, with the job id kept.
Beside the rows, in the same SQLite transaction as them and the consumed positions, it
writes each document's snapshot (header, states, initial state, clipboard), which the
phase-6 legacy adapter serves (see `legacy_adapter` for why a snapshot and not a replay).
Documents are rebuilt as the legacy projector rebuilds them (both are `DocumentProjector`s),
so both stores describe one document identically; the comparator checks that they do.

How a batch goes:

- only whole jobs are written (`JobAssembler`), and positions never pass the first record
  of a job still open, as in the legacy projector;
- first, outside any transaction, every operation is checked against its document (read
  back through the adapter when not cached): a re-delivered operation (same id, index,
  skip and hash) is skipped, one that contradicts the history, that comes after its
  document's DELETE_DOCUMENT (the document is kept, a tombstone) or that the store's `apply`
  rules would refuse (no action id, a gap its skip does not bridge, a bad timestamp) is
  logged and skipped, and its job gets no READ_READY;
- then one transaction writes, per document, one `apply` per run of a job's operations
  and one snapshot. If the store still refuses a document (it disagrees with what it told
  us, e.g. a row changed by hand), the transaction is done again without that document:
  a document is never half written, and a bad record never sticks a partition.

READ_READY: in phase 6 this projector reports it (in phase 5 the legacy projector does).
When it takes the role over, the jobs the legacy projector stored last may not have been
reported yet, or at all. So a reporting projector also records, per partition, how far it
has reported (consumer `<group>/read-ready`); where it has no such record it starts from the
legacy store's position instead (the legacy projector reported exactly the jobs it had
stored), reading the records between again: their operations are already stored, so they
are skipped as re-deliveries and only their READ_READY goes out. Jobs both projectors
report get a second READ_READY, which moves no job (statuses never go back).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from projections.document_projector import (
    DocumentProjector,
    DocumentProjectorStats,
    PendingDocument,
)
from projections.legacy_adapter import OperationStoreFile, OperationStoreLegacyReader
from projections.runner import PolledBatch
from projections.stores.exceptions import InvalidOperationError
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from projections.stores.operation_store import OperationStoreError, check_stream_batch
from projections.stores.tracking import TopicPartition
from reactor_es.config import Settings
from reactor_es.document.state import is_deleted
from reactor_es.document.types import Document, Operation
from reactor_es.errors import ReactorError
from reactor_es.kafka.records import OperationRecord
from reactor_es.registry import DocumentModelRegistry

__all__ = [
    "OPERATION_STORE_FILE",
    "READ_READY_SUFFIX",
    "OperationStoreProjector",
    "OperationStoreProjectorStats",
    "read_ready_start",
]

log = logging.getLogger(__name__)

#: The operation store's file under `settings.home`.
OPERATION_STORE_FILE = "operations.db"
#: Appended to the consumer name to record how far READ_READY has been reported.
READ_READY_SUFFIX = "/read-ready"


@dataclass
class OperationStoreProjectorStats(DocumentProjectorStats):
    """What the projector did since it started; `seconds` is time spent in batches."""

    batches: int = 0
    seconds: float = 0.0


@dataclass
class _Run:
    """Consecutive operations of one job in one stream: one `apply` call."""

    job_id: str
    document_type: str
    scope: str
    branch: str
    revision: int
    operations: list[Operation] = field(default_factory=list)


@dataclass
class _Pending(PendingDocument):
    """What one batch will write for one document: its runs, in order."""

    runs: list[_Run] = field(default_factory=list)

    def add(self, record: OperationRecord, revision: int) -> None:
        scope = record.scope
        last = self.runs[-1] if self.runs else None
        if last is None or (last.job_id, last.scope, last.branch) != (
            record.job_id,
            scope,
            record.branch,
        ):
            last = _Run(record.job_id, record.document_type, scope, record.branch, revision)
            self.runs.append(last)
        last.operations.append(record.operation)


class _Refused(Exception):
    """The store refused a document inside the write transaction; it is redone without it."""

    def __init__(self, document_id: str, run: _Run, cause: Exception) -> None:
        super().__init__(str(cause))
        self.document_id = document_id
        self.run = run
        self.cause = cause


def read_ready_start(
    consumed: Mapping[TopicPartition, int],
    reported: Mapping[TopicPartition, int],
    previous_reporter: Mapping[TopicPartition, int] | None,
) -> dict[TopicPartition, int]:
    """Where a READ_READY-reporting projector reads from, per partition it has consumed.

    Its own consumed position, unless it has reported less far: its own reported position
    if it has one, else the previous reporter's (None: there was none, nothing is owed;
    a partition the previous reporter never read is owed from its beginning, 0).
    """
    start: dict[TopicPartition, int] = {}
    for tp, offset in consumed.items():
        done = reported.get(tp)
        if done is None:
            done = offset if previous_reporter is None else previous_reporter.get(tp, 0)
        start[tp] = min(offset, done)
    return start


class OperationStoreProjector(DocumentProjector[_Pending]):
    """Fills the operation store (and the snapshots beside it); READ_READY in phase 6."""

    name = "operations"
    stats: OperationStoreProjectorStats

    def __init__(
        self,
        settings: Settings,
        bootstrap_servers: str,
        registry: DocumentModelRegistry,
        *,
        reports_read_ready: bool = False,
        store_path: Path | None = None,
        previous_reporter: Path | None = None,
        cache_size: int = 4096,
    ) -> None:
        """`previous_reporter`: the legacy store whose positions say which jobs got their
        READ_READY before this projector took the role (see the module docstring)."""
        super().__init__(
            settings,
            bootstrap_servers,
            registry,
            reports_read_ready=reports_read_ready,
            store_path=store_path or settings.home / OPERATION_STORE_FILE,
            cache_size=cache_size,
        )
        self.previous_reporter = previous_reporter
        self.stats = OperationStoreProjectorStats()
        self._store: OperationStoreFile | None = None
        self._reader: OperationStoreLegacyReader | None = None
        self._previous_positions: dict[TopicPartition, int] | None = None

    @property
    def store(self) -> OperationStoreFile:
        if self._store is None:
            raise ReactorError(f"projector {self.name}: its store is not open (call start())")
        return self._store

    async def start(self) -> None:
        if self._store is None:
            self._store = await OperationStoreFile.open(self.store_path)
            self._reader = self._store.legacy_reader()
        if self.reporter is not None:
            self._previous_positions = await self._read_previous_reporter()
            await self.reporter.start()

    async def _read_previous_reporter(self) -> dict[TopicPartition, int] | None:
        path = self.previous_reporter
        if path is None or not path.exists():
            return None
        async with await SqliteLegacyStorage.open(path) as legacy:
            return await legacy.get_positions(self.settings.projector_group("legacy"))

    async def close(self) -> None:
        store, self._store, self._reader = self._store, None, None
        if store is not None:
            await store.close()
        if self.reporter is not None:
            await self.reporter.close()
        self._forget_all()

    async def stored_positions(self, consumer: str) -> dict[TopicPartition, int]:
        consumed = await self.store.get_positions(consumer)
        if self.reporter is None:
            return consumed
        reported = await self.store.get_positions(consumer + READ_READY_SUFFIX)
        return read_ready_start(consumed, reported, self._previous_positions)

    # -- one batch ---------------------------------------------------------------------------

    async def project(self, batch: PolledBatch[OperationRecord]) -> Mapping[TopicPartition, int]:
        started = time.perf_counter()
        positions = await super().project(batch)
        self.stats.seconds += time.perf_counter() - started
        return positions

    async def _read_stored(self, document_id: str) -> Document:
        assert self._reader is not None  # set by start(), with the store
        # A deleted document too: the operation store keeps it (a tombstone).
        return await self._reader.get_held_document(document_id)

    def _pending(self, created: bool) -> _Pending:
        return _Pending(created)

    def _check(self, record: OperationRecord, revision: int) -> None:
        check_stream_batch(
            record.document_id, record.scope, record.branch, revision, [record.operation]
        )

    async def _store_batch(
        self,
        consumer: str,
        pending: dict[str, _Pending],
        rejected_jobs: set[str],
        positions: Mapping[TopicPartition, int],
    ) -> int:
        """One transaction for the batch, done again without each document the store refuses."""
        consumed = await self.store.get_positions(consumer)
        while True:
            try:
                stored = await self._write_once(consumer, pending, positions, consumed)
            except _Refused as refused:
                entry = pending.pop(refused.document_id)
                log.error(
                    "projector %s: the operation store refused document %s (scope %s from "
                    "index %d, job %s); its %d operations of this batch are skipped: %s",
                    self.name,
                    refused.document_id,
                    refused.run.scope,
                    refused.run.operations[0].index,
                    refused.run.job_id,
                    sum(len(run.operations) for run in entry.runs),
                    refused.cause,
                )
                self.stats.rejected += sum(len(run.operations) for run in entry.runs)
                rejected_jobs.update(entry.job_ids)
                self._forget(refused.document_id)
                continue
            self.stats.batches += 1
            return stored

    async def _write_once(
        self,
        consumer: str,
        pending: dict[str, _Pending],
        positions: Mapping[TopicPartition, int],
        consumed: Mapping[TopicPartition, int],
    ) -> int:
        stored = 0
        async with self.store.batch() as writer:
            for document_id, entry in pending.items():
                for run in entry.runs:
                    try:
                        await writer.operations.apply(
                            document_id,
                            run.document_type,
                            run.scope,
                            run.branch,
                            run.revision,
                            run.operations,
                            run.job_id,
                        )
                    except (OperationStoreError, InvalidOperationError) as exc:
                        raise _Refused(document_id, run, exc) from exc
                    stored += len(run.operations)
                document = self._stream.document(document_id)
                assert document is not None  # every pending document went through the stream
                writer.snapshots.put(document)
            for tp, offset in positions.items():
                # While READ_READY is caught up after a hand-over, reading is behind what
                # was consumed: that position stays where it is.
                if offset > consumed.get(tp, -1):
                    writer.record_position(consumer, tp.topic, tp.partition, offset)
                if self.reporter is not None:
                    writer.record_position(
                        consumer + READ_READY_SUFFIX, tp.topic, tp.partition, offset
                    )
        self.stats.documents_created += sum(entry.created for entry in pending.values())
        # A deleted document takes no operation after its DELETE_DOCUMENT: this batch stored it.
        self.stats.documents_deleted += sum(
            is_deleted(document.state)
            for document_id in pending
            if (document := self._stream.document(document_id)) is not None
        )
        return stored
