"""The legacy storage contract: how Powerhouse's document-drive server stored documents.

Phase 4 writes and reads here, phase 5 keeps writing here next to the operation store, and
phase 6 serves this same read interface from an adapter over the operation store, so the
interface is split: `LegacyStorageReader` (what the adapter must serve) and
`LegacyStorageWriter` (what a batch offers). `LegacyStorage` is both, plus tracking.

Merge rules for new operations (Powerhouse's `mergeOperations`, per scope, sorted by index
then skip), applied op by op against the stored history and the ops before it in the call:

- an index already held by an identical operation (same id, index, skip, hash) is skipped,
  so re-adding operations is idempotent;
- an index held by a different operation is a conflict (`ConflictOperationError`);
- an index below the last stored index is refused (`StaleOperationError`);
- an index beyond the last one must be bridged by its skip (`index - skip <= last + 1`), as
  in the garbage-collected shape `[0, 1, 6 skip 4]`; otherwise `MissingOperationError`.

A call that raises writes nothing. The stored header's `revision[scope]` is the last stored
index + 1 for every scope holding operations; other scopes keep the value the caller gave.

Deletion is the legacy server's `deleteDocument`: the document and its operations are gone,
`get` raises `DocumentNotFoundError` ("Document with id X not found"), `exists` is false, no
listing names it and its slug is free. What reactor-es adds is a `DocumentDeletion` record
(`delete(id, deletion)`, `get_deletion`): when and by which DELETE_DOCUMENT operation the
document went, how far its history had gone, so a projector can tell a re-delivered
operation of a deleted document and a reader can say why a document is not found. It is
not part of the legacy interface: every legacy read answers as if it did not exist. Creating
a document under that id again (legacy storage allows it) forgets the record. Legacy
`delete` also deleted the children only the document owned; this storage holds no
parent/child links (drives own their files through their state), so there are none.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Literal, Self

from projections.stores.exceptions import InvalidOperationError, StoreError
from projections.stores.paging import Page
from projections.stores.tracking import PositionRecorder, TrackedStore
from reactor_es.document.state import DOCUMENT_SCOPE, is_deleted
from reactor_es.document.types import Document, DocumentHeader, Operation

__all__ = [
    "ConflictOperationError",
    "DocumentAlreadyExistsError",
    "DocumentDeletion",
    "DocumentMismatchError",
    "DocumentNotFoundError",
    "LegacyStorage",
    "LegacyStorageBatch",
    "LegacyStorageError",
    "LegacyStorageReader",
    "LegacyStorageWriter",
    "MissingOperationError",
    "OperationKey",
    "StaleOperationError",
    "SyncUnit",
    "SyncUnitRevision",
    "check_deletion",
    "document_operations",
    "group_by_scope",
    "known_scopes",
    "plan_scope_merge",
    "stored_header",
]


# --- exceptions --------------------------------------------------------------------------


class LegacyStorageError(StoreError):
    """A legacy storage call was refused."""


class DocumentAlreadyExistsError(LegacyStorageError):
    """`create_document` met an existing id, or a slug another document holds."""

    def __init__(self, document_id: str, reason: Literal["id", "slug"], slug: str = "") -> None:
        self.document_id = document_id
        self.reason = reason
        self.slug = slug
        if reason == "id":
            message = f"Document with id {document_id} already exists"
        else:
            message = f"Document with slug {slug} already exists (document {document_id})"
        super().__init__(message)


class DocumentNotFoundError(LegacyStorageError):
    """No document has this id (or slug)."""

    def __init__(self, identifier: str, by: Literal["id", "slug"] = "id") -> None:
        self.identifier = identifier
        self.by = by
        self.document_id = identifier if by == "id" else None
        super().__init__(f"Document with {by} {identifier} not found")


class DocumentMismatchError(LegacyStorageError):
    """Operations for one document came with another document."""

    def __init__(self, document_id: str, given_id: str) -> None:
        self.document_id = document_id
        self.given_id = given_id
        super().__init__(f"operations for document {document_id} came with document {given_id}")


class StaleOperationError(LegacyStorageError):
    """An operation's index is below the last stored index of its scope."""

    def __init__(self, document_id: str, scope: str, index: int, last_index: int) -> None:
        self.document_id = document_id
        self.scope = scope
        self.index = index
        self.last_index = last_index
        super().__init__(
            f"Tried to add operation with index {index} and document is at index {last_index}"
            f" (document {document_id}, scope {scope})"
        )


@dataclass(frozen=True, slots=True)
class OperationKey:
    """What makes two stored operations the same operation."""

    id: str
    index: int
    skip: int
    hash: str

    @classmethod
    def of(cls, operation: Operation) -> OperationKey:
        return cls(operation.id, operation.index, operation.skip, operation.hash)


class ConflictOperationError(LegacyStorageError):
    """A different operation already holds this index of the scope."""

    status = "CONFLICT"

    def __init__(
        self, document_id: str, scope: str, existing: OperationKey, operation: Operation
    ) -> None:
        self.document_id = document_id
        self.scope = scope
        self.index = operation.index
        self.existing = existing
        self.operation = operation
        super().__init__(
            f"Conflicting operation on index {operation.index}"
            f" (document {document_id}, scope {scope})"
        )


class MissingOperationError(LegacyStorageError):
    """An operation leaves a gap its skip does not bridge; `index` is the first missing one."""

    status = "MISSING"

    def __init__(self, document_id: str, scope: str, index: int, operation: Operation) -> None:
        self.document_id = document_id
        self.scope = scope
        self.index = index
        self.operation = operation
        super().__init__(
            f"Missing operation on index {index} (document {document_id}, scope {scope})"
        )


# --- values ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DocumentDeletion:
    """What is kept of a document a DELETE_DOCUMENT operation deleted (see the module docstring).

    `operation` is that DELETE_DOCUMENT (in scope `document`); `revisions` the next index of
    every scope that held operations when it was deleted; `deleted_at` the instant the
    document scope's state records (`deletedAtUtcIso`).
    """

    document_id: str
    document_type: str
    deleted_at: str
    operation: OperationKey
    revisions: Mapping[str, int]

    @classmethod
    def of(cls, document: Document) -> DocumentDeletion:
        """The deletion of a document whose last document-scope operation deleted it."""
        history = document.operations.get(DOCUMENT_SCOPE, [])
        last = history[-1] if history else None
        if last is None or last.action.type != "DELETE_DOCUMENT" or not is_deleted(document.state):
            raise InvalidOperationError(
                document.id,
                DOCUMENT_SCOPE,
                document.next_index(DOCUMENT_SCOPE),
                "the document is not deleted (its last document operation is no DELETE_DOCUMENT)",
            )
        when = document.state[DOCUMENT_SCOPE].get("deletedAtUtcIso")
        return cls(
            document_id=document.id,
            document_type=document.document_type,
            deleted_at=when if isinstance(when, str) and when else last.timestamp_utc_ms,
            operation=OperationKey.of(last),
            revisions={
                scope: operations[-1].index + 1
                for scope, operations in sorted(document.operations.items())
                if operations
            },
        )

    def to_json(self) -> dict[str, object]:
        """Plain JSON values, as the replay check compares stores."""
        op = self.operation
        return {
            "documentId": self.document_id,
            "documentType": self.document_type,
            "deletedAtUtcIso": self.deleted_at,
            "operation": {"id": op.id, "index": op.index, "skip": op.skip, "hash": op.hash},
            "revision": dict(sorted(self.revisions.items())),
        }


@dataclass(frozen=True, slots=True)
class SyncUnit:
    """One operation history: a scope of a document on a branch."""

    document_id: str
    scope: str
    branch: str = "main"


@dataclass(frozen=True, slots=True)
class SyncUnitRevision:
    """Where a sync unit stands: `revision` is the next index, `last_updated` its last op's time."""

    document_id: str
    document_type: str
    scope: str
    branch: str
    last_updated: str
    revision: int


# --- interfaces --------------------------------------------------------------------------


class LegacyStorageReader(ABC):
    """Reads of the legacy interface; the phase-6 adapter serves these from the new store."""

    @abstractmethod
    async def get_document(self, document_id: str) -> Document:
        """The stored document: header, state, initial state, operations by scope, clipboard."""

    @abstractmethod
    async def get_document_by_slug(self, slug: str) -> Document:
        """The document whose header carries this (non-empty) slug."""

    @abstractmethod
    async def get_operations(
        self, document_id: str, scope: str | None = None
    ) -> dict[str, list[Operation]]:
        """Operations by scope in index order; only `scope` when given (empty list if none)."""

    @abstractmethod
    async def exists(self, document_id: str) -> bool: ...

    @abstractmethod
    async def find_by_type(
        self, document_type: str, limit: int | None = 100, cursor: str | None = None
    ) -> Page[str]:
        """Ids of the documents of a type, in creation order, `limit` at a time (None: all)."""

    @abstractmethod
    async def get_synchronization_units_revision(
        self, units: Sequence[SyncUnit]
    ) -> list[SyncUnitRevision]:
        """Revisions of the units whose document exists, in the order asked."""

    @abstractmethod
    async def get_deletion(self, document_id: str) -> DocumentDeletion | None:
        """Why a document is not found: its deletion (None: not deleted, or created again)."""

    @abstractmethod
    async def deleted_documents(self) -> list[str]:
        """Ids of the deleted documents that `get_deletion` knows, sorted."""

    @abstractmethod
    async def close(self) -> None:
        """Release the store; waits for an open batch. Idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class LegacyStorageWriter(ABC):
    """Writes of the legacy interface; each call is all or nothing."""

    @abstractmethod
    async def create_document(self, document: Document) -> None:
        """Store a new document with the operations it already has."""

    @abstractmethod
    async def add_document_operations(
        self, document_id: str, operations: Sequence[Operation], document: Document
    ) -> None:
        """Merge `operations` into the history and store `document` as the current document."""

    @abstractmethod
    async def delete(self, document_id: str, deletion: DocumentDeletion | None = None) -> bool:
        """Remove a document and its operations; False if there was none.

        With `deletion` (of this id), keep that record of it for `get_deletion`.
        """


class LegacyStorageBatch(LegacyStorageWriter, PositionRecorder):
    """Writes and consumed positions committed together when the batch ends."""


class LegacyStorage(LegacyStorageReader, LegacyStorageWriter, TrackedStore):
    """A legacy store with tracking. Plain writes are batches of one call."""

    @abstractmethod
    def batch(self) -> AbstractAsyncContextManager[LegacyStorageBatch]:
        """Hold the writer: every call and position inside commits together, or nothing."""

    async def create_document(self, document: Document) -> None:
        async with self.batch() as batch:
            await batch.create_document(document)

    async def add_document_operations(
        self, document_id: str, operations: Sequence[Operation], document: Document
    ) -> None:
        async with self.batch() as batch:
            await batch.add_document_operations(document_id, operations, document)

    async def delete(self, document_id: str, deletion: DocumentDeletion | None = None) -> bool:
        async with self.batch() as batch:
            return await batch.delete(document_id, deletion)


# --- merge rules shared by the adapters --------------------------------------------------


def check_deletion(document_id: str, deletion: DocumentDeletion | None) -> None:
    """Refuse the record of another document's deletion."""
    if deletion is not None and deletion.document_id != document_id:
        raise DocumentMismatchError(document_id, deletion.document_id)


def document_operations(document: Document) -> list[Operation]:
    """All operations of a document, refusing any listed under a scope that is not its own."""
    flat: list[Operation] = []
    for scope, operations in document.operations.items():
        for operation in operations:
            if operation.scope != scope:
                raise InvalidOperationError(
                    document.id,
                    scope,
                    operation.index,
                    f"listed under scope {scope} but its action is in scope {operation.scope}",
                )
            flat.append(operation)
    return flat


def group_by_scope(document_id: str, operations: Iterable[Operation]) -> dict[str, list[Operation]]:
    """Operations by scope (scopes sorted), each list sorted by index then skip."""
    grouped: dict[str, list[Operation]] = {}
    for operation in operations:
        if operation.index < 0 or operation.skip < 0 or operation.skip > operation.index:
            raise InvalidOperationError(
                document_id,
                operation.scope,
                operation.index,
                f"skip {operation.skip} must lie between 0 and the index",
            )
        grouped.setdefault(operation.scope, []).append(operation)
    return {
        scope: sorted(grouped[scope], key=lambda op: (op.index, op.skip))
        for scope in sorted(grouped)
    }


def plan_scope_merge(
    document_id: str,
    scope: str,
    last_index: int,
    occupied: Mapping[int, OperationKey],
    incoming: Sequence[Operation],
) -> list[Operation]:
    """The operations of `incoming` to append to one scope, or the error refusing the call.

    `last_index` is the last stored index of the scope (-1 if none); `occupied` holds the
    stored operations at every index from the lowest incoming index on; `incoming` comes
    from `group_by_scope`.
    """
    taken = dict(occupied)
    last = last_index
    added: list[Operation] = []
    for operation in incoming:
        key = OperationKey.of(operation)
        existing = taken.get(operation.index)
        if existing is not None:
            if existing == key:
                continue
            raise ConflictOperationError(document_id, scope, existing, operation)
        if operation.index < last:
            raise StaleOperationError(document_id, scope, operation.index, last)
        if operation.index - operation.skip > last + 1:
            raise MissingOperationError(document_id, scope, last + 1, operation)
        added.append(operation)
        taken[operation.index] = key
        last = operation.index
    return added


def stored_header(header: DocumentHeader, revisions: Mapping[str, int]) -> DocumentHeader:
    """The header to store: the caller's, with the revision of every scope holding ops."""
    return header.model_copy(update={"revision": {**header.revision, **revisions}})


def known_scopes(*groups: Iterable[str]) -> list[str]:
    """Scopes in first-seen order, each once: the keys `get_document` gives back."""
    seen: dict[str, None] = {}
    for group in groups:
        for scope in group:
            seen.setdefault(scope, None)
    return list(seen)
