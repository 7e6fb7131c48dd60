"""The documents of one `actions` partition, as the executor holds them in memory.

A book is rebuilt from the topics (the latest snapshots, then the tail of `operations`)
when the partition is assigned, so nothing in it is lost by a restart. It keeps, per
document, what processing needs and no more, so memory does not grow with history:

- the header and the state of every scope;
- the last operation of each scope (the next index); the full history is loaded on
  demand, only for the actions that rewrite history (UNDO, REDO, NOOP with skip, ...);
- the operations of the most recent actions (a bounded window): a retried job must not
  apply an action twice, and reports the operation that action produced the first time.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Iterable

from reactor_es.document.materialize import DocumentStream
from reactor_es.document.types import Document, Operation
from reactor_es.kafka.records import DocumentSnapshot, OperationRecord, RecentOperation
from reactor_es.registry import DocumentModelRegistry

__all__ = ["DEFAULT_IDEMPOTENCY_WINDOW", "DocumentBook", "copy_document"]

#: Recent actions remembered per document for idempotent retries.
DEFAULT_IDEMPOTENCY_WINDOW = 256


def copy_document(document: Document) -> Document:
    """A copy that shares immutable operations but not lists, header or state."""
    return Document.model_construct(
        header=document.header.model_copy(deep=True),
        state=copy.deepcopy(document.state),
        initial_state=document.initial_state,
        operations={scope: list(ops) for scope, ops in document.operations.items()},
        clipboard=list(document.clipboard),
    )


def _recent(operation: Operation) -> RecentOperation:
    """What a retry of this operation's action needs to be answered (no input, small)."""
    return RecentOperation(
        operation.action.id,
        operation.action.scope,
        operation.index,
        operation.skip,
        operation.id,
        operation.hash,
        operation.timestamp_utc_ms,
        operation.error,
    )


#: How many of the last restored jobs are remembered as possibly delivered again.
RESTORED_JOBS_KEPT = 10_000


class DocumentBook:
    """Documents by id, their recent actions, and which ones have their full history."""

    def __init__(
        self, registry: DocumentModelRegistry, *, window: int = DEFAULT_IDEMPOTENCY_WINDOW
    ) -> None:
        self.registry = registry
        self.window = window
        self._stream = DocumentStream(model_for=lambda document_type: registry.get(document_type))
        self._applied: dict[str, OrderedDict[str, RecentOperation]] = {}
        #: Job ids of the last operations a restore read (newest last, bounded): the jobs a
        #: replay from a lagging committed offset can deliver again.
        self.restored_jobs: dict[str, None] = {}
        #: Offset of each document's CREATE_DOCUMENT in the operations partition.
        self.first_offsets: dict[str, int] = {}
        #: Documents whose in-memory history is cut to the last operation of each scope.
        self.trimmed: set[str] = set()
        #: Documents changed since the last snapshot checkpoint.
        self.dirty: set[str] = set()
        #: The operations offset each document's latest stored snapshot covers (a snapshot
        #: too large to store is skipped: restores then read its document from here on).
        self.snapshot_offsets: dict[str, int] = {}
        self.operations_restored = 0

    def __len__(self) -> int:
        return len(self._stream)

    def __contains__(self, document_id: object) -> bool:
        return document_id in self._stream

    @property
    def document_ids(self) -> list[str]:
        return list(self._stream.documents)

    # -- restore ---------------------------------------------------------------------------

    def load_snapshot(self, snapshot: DocumentSnapshot) -> None:
        """Start a document from its snapshot (history trimmed, recent actions known)."""
        header = snapshot.header.model_copy(deep=True)
        document = Document.model_construct(
            header=header,
            state=snapshot.state,
            initial_state={},
            operations={},
            clipboard=[],
        )
        self._stream.documents[header.id] = document
        self.trimmed.add(header.id)
        self.snapshot_offsets[header.id] = snapshot.source_offset
        if snapshot.first_offset >= 0:
            self.first_offsets[header.id] = snapshot.first_offset
        applied = self._applied.setdefault(header.id, OrderedDict())
        for recent in snapshot.recent_operations:
            applied[recent.action_id] = recent

    def restore(self, record: OperationRecord, offset: int = -1) -> None:
        """Take one committed operation from the operations topic into the book."""
        operation = record.operation
        self._stream.apply(record.streamed())
        if offset >= 0:
            self.first_offsets.setdefault(record.document_id, offset)
        # Keep only the last operation of the scope as the stream goes by, so a restore's
        # memory follows the number of documents, not the length of their histories.
        document = self._stream.documents[record.document_id]
        history = document.operations.get(operation.action.scope)
        if history is not None and len(history) > 1:
            document.operations[operation.action.scope] = history[-1:]
            self.trimmed.add(record.document_id)
        self._remember(record.document_id, [operation])
        self.restored_jobs[record.job_id] = None
        if len(self.restored_jobs) > RESTORED_JOBS_KEPT:
            del self.restored_jobs[next(iter(self.restored_jobs))]
        # Changed after the checkpoint restored from (if any): the next one must cover it.
        self.dirty.add(record.document_id)
        self.operations_restored += 1

    def finish_restore(self) -> None:
        """Parse the states a restore left pending and cut histories to what is needed."""
        self._stream.flush_all()
        for document_id in self._stream.documents:
            self.trim(document_id)

    # -- processing ------------------------------------------------------------------------

    def document(self, document_id: str) -> Document | None:
        return self._stream.document(document_id)

    def applied(self, document_id: str, action_id: str) -> RecentOperation | None:
        """The operation an action already produced on this document, if remembered."""
        applied = self._applied.get(document_id)
        return None if applied is None else applied.get(action_id)

    def commit(self, document: Document, operations: list[Operation]) -> None:
        """Record a job's outcome: the (possibly new) document and its new operations."""
        self._stream.documents[document.id] = document
        self._remember(document.id, operations)
        self.dirty.add(document.id)

    def replace(self, document: Document) -> None:
        """Put back a document saved before a failed job."""
        self._stream.documents[document.id] = document

    def needs_history(self, document_id: str) -> bool:
        return document_id in self.trimmed

    def install_history(self, document: Document) -> None:
        """Replace a trimmed document with its full history (loaded from the topic)."""
        current = self._stream.documents.get(document.id)
        if current is not None:
            document.clipboard = current.clipboard
        self._stream.documents[document.id] = document
        self.trimmed.discard(document.id)

    def trim(self, document_id: str, keep: int = 1) -> None:
        """Cut the in-memory history of a document to its last `keep` operations per scope."""
        document = self._stream.documents.get(document_id)
        if document is None:
            return
        cut = False
        for scope, operations in document.operations.items():
            if len(operations) > keep:
                document.operations[scope] = operations[-keep:]
                cut = True
        if cut or document_id in self.trimmed:
            self.trimmed.add(document_id)

    def trim_all(self, document_ids: Iterable[str]) -> None:
        for document_id in document_ids:
            self.trim(document_id)

    def snapshot(
        self, document_id: str, *, partition: int, source_offset: int, taken_at: str
    ) -> DocumentSnapshot | None:
        document = self.document(document_id)
        if document is None:
            return None
        applied = self._applied.get(document_id, OrderedDict())
        return DocumentSnapshot(
            header=document.header,
            state=document.state,
            source_partition=partition,
            source_offset=source_offset,
            taken_at_utc_iso=taken_at,
            first_offset=self.first_offsets.get(document_id, -1),
            recent_operations=list(applied.values()),
        )

    def _remember(self, document_id: str, operations: list[Operation]) -> None:
        applied = self._applied.setdefault(document_id, OrderedDict())
        for operation in operations:
            applied[operation.action.id] = _recent(operation)
            applied.move_to_end(operation.action.id)
        while len(applied) > self.window:
            applied.popitem(last=False)
