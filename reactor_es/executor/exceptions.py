"""Expected failures of the executor service."""

from __future__ import annotations

from reactor_es.errors import ReactorError

__all__ = ["ExecutorError", "RevisionConflictError", "SnapshotRebuildError"]


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
