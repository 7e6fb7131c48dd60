"""Rebuild documents from a stream of operations whose resulting states are known.

The operations topic carries, beside each operation, the JSON of its scope's state after
it (as Powerhouse's OperationContext carries `resultingState`) and the header values it
left. Rebuilding a document from that stream needs no model reducer for ordinary
operations: append the operation, take the state. Only the document scope's system
operations (CREATE_DOCUMENT starts the document and UPGRADE_DOCUMENT installs the initial
state of every scope) go through the base reducer's replay.

States are parsed lazily: while a partition is being restored only the last state text of
each scope is kept, so restoring costs one JSON parse per document scope rather than one
per operation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from reactor_es.document.exceptions import DocumentError
from reactor_es.document.model import DocumentModel
from reactor_es.document.reducer import replay_operation
from reactor_es.document.state import DOCUMENT_SCOPE
from reactor_es.document.types import Document, Operation

__all__ = ["DocumentStream", "MaterializeError", "StreamedOperation"]


class MaterializeError(DocumentError):
    """The stream of a document does not rebuild into a document."""


@dataclass(frozen=True, slots=True)
class StreamedOperation:
    """An operation as it travels: with the state and header values it produced."""

    document_id: str
    document_type: str
    operation: Operation
    resulting_state: str | None = None
    name: str | None = None
    last_modified_at_utc_iso: str | None = None


@dataclass
class DocumentStream:
    """Documents rebuilt from their operations, in stream order.

    `model_for(document_type)` gives the model (a registry's `get`). Call `apply` per
    operation in order, then `document(id)` (which parses pending states) when needed.
    """

    model_for: Callable[[str], DocumentModel]
    documents: dict[str, Document] = field(default_factory=dict)
    _pending: dict[str, dict[str, str]] = field(default_factory=dict)

    def __contains__(self, document_id: object) -> bool:
        return document_id in self.documents

    def __len__(self) -> int:
        return len(self.documents)

    def apply(self, item: StreamedOperation) -> Document:
        """Add one operation to its document; the document returned may have pending states."""
        operation = item.operation
        scope = operation.action.scope
        document = self.documents.get(item.document_id)
        if document is None:
            if scope != DOCUMENT_SCOPE or operation.action.type != "CREATE_DOCUMENT":
                raise MaterializeError(
                    f"document {item.document_id}: its first operation is "
                    f"{operation.action.type} in scope {scope} index {operation.index}, "
                    "not CREATE_DOCUMENT"
                )
            model = self.model_for(item.document_type)
            document = replay_operation(None, operation, model).document
            self.documents[item.document_id] = document
            return document
        if scope == DOCUMENT_SCOPE:
            # System operations edit several scopes and the initial state: replay them.
            self._flush(item.document_id, document)
            replay_operation(document, operation, self.model_for(document.header.document_type))
        else:
            document.scope_operations(scope).append(operation)
            document.header.revision[scope] = operation.index + 1
            if item.resulting_state is not None:
                self._pending.setdefault(item.document_id, {})[scope] = item.resulting_state
        if item.name is not None and item.name != document.header.name:
            document.header.name = item.name
        stamp = item.last_modified_at_utc_iso or operation.timestamp_utc_ms
        if stamp > document.header.last_modified_at_utc_iso:
            document.header.last_modified_at_utc_iso = stamp
        if document.clipboard:
            document.clipboard = []
        return document

    def document(self, document_id: str) -> Document | None:
        """The document with every state parsed, or None if the stream has not created it."""
        document = self.documents.get(document_id)
        if document is not None:
            self._flush(document_id, document)
        return document

    def flush_all(self) -> None:
        for document_id, document in self.documents.items():
            self._flush(document_id, document)

    def forget(self, document_id: str) -> None:
        self.documents.pop(document_id, None)
        self._pending.pop(document_id, None)

    def _flush(self, document_id: str, document: Document) -> None:
        pending = self._pending.pop(document_id, None)
        if pending:
            for scope, text in pending.items():
                document.state[scope] = json.loads(text)
