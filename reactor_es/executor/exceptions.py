"""Expected failures of the executor service."""

from __future__ import annotations

from reactor_es.errors import ReactorError

__all__ = [
    "ExecutorError",
    "RevisionConflictError",
    "SnapshotRebuildError",
    "UnrecoverableJobError",
]


class ExecutorError(ReactorError):
    """The executor cannot run as configured."""


class SnapshotRebuildError(ExecutorError):
    """Snapshot checkpoints could not be rebuilt, or the rebuilt ones do not restore right."""


class RevisionConflictError(ReactorError):
    """A job's expected revision is not the scope's revision (optimistic concurrency)."""

    def __init__(self, document_id: str, scope: str, expected: int, actual: int) -> None:
        self.document_id = document_id
        self.scope = scope
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"revision conflict on document {document_id} scope {scope}: the job expected "
            f"revision {expected}, the document is at revision {actual}"
        )


class UnrecoverableJobError(RuntimeError):
    """A job was refused after it had changed a document in place, with no copy to put back.

    Only a model that emits signals without declaring `emits_signals` gets here. Deliberately
    not a `ReactorError`: the partition takes it for an executor failure, parks the job and
    rebuilds its documents from the committed topics, the one exact rollback left.
    """
