"""The documents of one `actions` partition, as the executor holds them in memory.

A book is rebuilt from the co-numbered `operations` partition (the source of truth) when
the partition is assigned, so nothing in it is lost by a restart. Besides the documents it
indexes which action ids each document has applied: a retried job must not apply an action
twice, and reports the operation that action already produced.
"""

from __future__ import annotations

import copy

from reactor_es.document.materialize import DocumentStream, StreamedOperation
from reactor_es.document.types import Document, Operation
from reactor_es.kafka.records import OperationRecord
from reactor_es.registry import DocumentModelRegistry

__all__ = ["DocumentBook", "copy_document"]


def copy_document(document: Document) -> Document:
    """A copy that shares immutable operations but not lists, header or state."""
    return Document.model_construct(
        header=document.header.model_copy(deep=True),
        state=copy.deepcopy(document.state),
        initial_state=document.initial_state,
        operations={scope: list(ops) for scope, ops in document.operations.items()},
        clipboard=list(document.clipboard),
    )


class DocumentBook:
    """Documents by id, with the action ids each has applied."""

    def __init__(self, registry: DocumentModelRegistry) -> None:
        self.registry = registry
        self._stream = DocumentStream(model_for=lambda document_type: registry.get(document_type))
        self._applied: dict[str, dict[str, Operation]] = {}
        self.operations_restored = 0

    def __len__(self) -> int:
        return len(self._stream)

    def __contains__(self, document_id: object) -> bool:
        return document_id in self._stream

    @property
    def document_ids(self) -> list[str]:
        return list(self._stream.documents)

    def restore(self, record: OperationRecord) -> None:
        """Take one committed operation from the operations topic into the book."""
        operation = record.operation
        hint = record.header
        self._stream.apply(
            StreamedOperation(
                document_id=record.document_id,
                document_type=record.document_type,
                operation=operation,
                resulting_state=record.resulting_state,
                name=None if hint is None else hint.name,
                last_modified_at_utc_iso=None if hint is None else hint.last_modified_at_utc_iso,
            )
        )
        self._applied.setdefault(record.document_id, {})[operation.action.id] = operation
        self.operations_restored += 1

    def finish_restore(self) -> None:
        """Parse the states a restore left pending, so processing starts on full documents."""
        self._stream.flush_all()

    def document(self, document_id: str) -> Document | None:
        return self._stream.document(document_id)

    def applied(self, document_id: str, action_id: str) -> Operation | None:
        """The operation an action already produced on this document, if any."""
        applied = self._applied.get(document_id)
        return None if applied is None else applied.get(action_id)

    def commit(self, document: Document, operations: list[Operation]) -> None:
        """Record a job's outcome: the (possibly new) document and its new operations."""
        self._stream.documents[document.id] = document
        applied = self._applied.setdefault(document.id, {})
        for operation in operations:
            applied[operation.action.id] = operation

    def replace(self, document: Document) -> None:
        """Put back a document saved before a failed job."""
        self._stream.documents[document.id] = document
