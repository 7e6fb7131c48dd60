"""Legacy storage in memory, for tests and tools: the same contract as the SQLite one.

A batch works on a fork of the committed state (records are never changed in place, only
replaced), so readers see only committed data and rolling back is dropping the fork.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from projections.stores.codec import (
    dump_header,
    dump_json,
    dump_operation,
    dump_operations,
    load_header,
    load_json,
    load_operation,
    load_operations,
)
from projections.stores.legacy import (
    DocumentAlreadyExistsError,
    DocumentDeletion,
    DocumentMismatchError,
    DocumentNotFoundError,
    LegacyStorage,
    LegacyStorageBatch,
    OperationKey,
    SyncUnit,
    SyncUnitRevision,
    check_deletion,
    document_operations,
    group_by_scope,
    known_scopes,
    plan_scope_merge,
    stored_header,
)
from projections.stores.paging import Page, Paging, cursor_key, page_limit, to_page
from projections.stores.tracking import MemoryTrackedStore
from reactor_es.document.types import Document, Operation

__all__ = ["MemoryLegacyStorage"]


@dataclass(frozen=True, slots=True)
class _StoredOperation:
    key: OperationKey
    timestamp: str
    text: str


@dataclass(frozen=True, slots=True)
class _Record:
    seq: int
    document_type: str
    slug: str
    header: str
    state: str
    initial_state: str
    clipboard: str
    scopes: tuple[str, ...]
    revisions: dict[str, int]
    operations: dict[str, tuple[_StoredOperation, ...]]

    def to_document(self) -> Document:
        return Document(
            header=load_header(self.header),
            state=load_json(self.state),
            initial_state=load_json(self.initial_state),
            operations=self.load_operations(),
            clipboard=load_operations(self.clipboard),
        )

    def load_operations(self, scope: str | None = None) -> dict[str, list[Operation]]:
        scopes = self.scopes if scope is None else (scope,)
        return {
            name: [load_operation(op.text) for op in self.operations.get(name, ())]
            for name in scopes
        }


@dataclass(slots=True)
class _State:
    records: dict[str, _Record] = field(default_factory=dict)
    slugs: dict[str, str] = field(default_factory=dict)
    next_seq: int = 1
    deletions: dict[str, DocumentDeletion] = field(default_factory=dict)

    def fork(self) -> _State:
        return _State(dict(self.records), dict(self.slugs), self.next_seq, dict(self.deletions))


def _stored(operation: Operation) -> _StoredOperation:
    return _StoredOperation(
        OperationKey.of(operation), operation.timestamp_utc_ms, dump_operation(operation)
    )


class _MemoryLegacyBatch(LegacyStorageBatch):
    def __init__(self, name: str, state: _State) -> None:
        super().__init__(name)
        self._state = state

    async def create_document(self, document: Document) -> None:
        self._check_open()
        state = self._state
        document_id = document.id
        if document_id in state.records:
            raise DocumentAlreadyExistsError(document_id, "id")
        slug = document.header.slug
        if slug and slug in state.slugs:
            raise DocumentAlreadyExistsError(document_id, "slug", slug)
        grouped = group_by_scope(document_id, document_operations(document))
        operations: dict[str, tuple[_StoredOperation, ...]] = {}
        revisions: dict[str, int] = {}
        for scope, incoming in grouped.items():
            added = plan_scope_merge(document_id, scope, -1, {}, incoming)
            operations[scope] = tuple(_stored(op) for op in added)
            revisions[scope] = added[-1].index + 1
        record = _Record(
            seq=state.next_seq,
            document_type=document.document_type,
            slug=slug,
            header=dump_header(stored_header(document.header, revisions)),
            state=dump_json(document.state),
            initial_state=dump_json(document.initial_state),
            clipboard=dump_operations(document.clipboard),
            scopes=tuple(known_scopes(document.operations, grouped)),
            revisions=revisions,
            operations=operations,
        )
        state.records[document_id] = record
        if slug:
            state.slugs[slug] = document_id
        state.next_seq += 1
        state.deletions.pop(document_id, None)

    async def add_document_operations(
        self, document_id: str, operations: Sequence[Operation], document: Document
    ) -> None:
        self._check_open()
        state = self._state
        record = state.records.get(document_id)
        if record is None:
            raise DocumentNotFoundError(document_id)
        if document.id != document_id:
            raise DocumentMismatchError(document_id, document.id)
        slug = document.header.slug
        if slug and state.slugs.get(slug, document_id) != document_id:
            raise DocumentAlreadyExistsError(document_id, "slug", slug)
        grouped = group_by_scope(document_id, operations)
        histories = dict(record.operations)
        revisions = dict(record.revisions)
        for scope, incoming in grouped.items():
            history = histories.get(scope, ())
            lowest = incoming[0].index
            occupied = {op.key.index: op.key for op in history if op.key.index >= lowest}
            last = revisions.get(scope, 0) - 1
            added = plan_scope_merge(document_id, scope, last, occupied, incoming)
            if added:
                histories[scope] = history + tuple(_stored(op) for op in added)
                revisions[scope] = added[-1].index + 1
        state.records[document_id] = replace(
            record,
            slug=slug,
            header=dump_header(stored_header(document.header, revisions)),
            state=dump_json(document.state),
            initial_state=dump_json(document.initial_state),
            clipboard=dump_operations(document.clipboard),
            scopes=tuple(known_scopes(record.scopes, document.operations, grouped)),
            revisions=revisions,
            operations=histories,
        )
        if record.slug != slug:
            state.slugs.pop(record.slug, None)
            if slug:
                state.slugs[slug] = document_id

    async def delete(self, document_id: str, deletion: DocumentDeletion | None = None) -> bool:
        self._check_open()
        check_deletion(document_id, deletion)
        if deletion is not None:
            # Copied: the caller may go on changing the mapping it passed.
            self._state.deletions[document_id] = replace(
                deletion, revisions=dict(deletion.revisions)
            )
        record = self._state.records.pop(document_id, None)
        if record is None:
            return False
        if record.slug:
            self._state.slugs.pop(record.slug, None)
        return True


class MemoryLegacyStorage(MemoryTrackedStore[_MemoryLegacyBatch], LegacyStorage):
    """Legacy storage held in this process only."""

    def __init__(self, name: str = "memory legacy storage") -> None:
        super().__init__(name)
        self._state = _State()

    def _start_batch(self) -> _MemoryLegacyBatch:
        return _MemoryLegacyBatch(self.name, self._state.fork())

    def _commit(self, batch: _MemoryLegacyBatch) -> None:
        self._state = batch._state

    def _record(self, document_id: str) -> _Record:
        self._check_open()
        record = self._state.records.get(document_id)
        if record is None:
            raise DocumentNotFoundError(document_id)
        return record

    async def get_document(self, document_id: str) -> Document:
        return self._record(document_id).to_document()

    async def get_document_by_slug(self, slug: str) -> Document:
        self._check_open()
        document_id = self._state.slugs.get(slug) if slug else None
        if document_id is None:
            raise DocumentNotFoundError(slug, by="slug")
        return self._record(document_id).to_document()

    async def get_operations(
        self, document_id: str, scope: str | None = None
    ) -> dict[str, list[Operation]]:
        return self._record(document_id).load_operations(scope)

    async def exists(self, document_id: str) -> bool:
        self._check_open()
        return document_id in self._state.records

    async def get_deletion(self, document_id: str) -> DocumentDeletion | None:
        self._check_open()
        deletion = self._state.deletions.get(document_id)
        return None if deletion is None else replace(deletion, revisions=dict(deletion.revisions))

    async def deleted_documents(self) -> list[str]:
        self._check_open()
        return sorted(self._state.deletions)

    async def find_by_type(
        self, document_type: str, limit: int | None = 100, cursor: str | None = None
    ) -> Page[str]:
        self._check_open()
        paging = Paging(cursor, limit)
        after = cursor_key(paging, "find_by_type") or 0
        size = page_limit(paging, "find_by_type")
        matches = sorted(
            (record.seq, document_id)
            for document_id, record in self._state.records.items()
            if record.document_type == document_type and record.seq > after
        )
        page = to_page(matches, size, key=lambda match: match[0])
        return Page([document_id for _, document_id in page.results], page.next_cursor)

    async def get_synchronization_units_revision(
        self, units: Sequence[SyncUnit]
    ) -> list[SyncUnitRevision]:
        self._check_open()
        found: list[SyncUnitRevision] = []
        for unit in units:
            record = self._state.records.get(unit.document_id)
            if record is None:
                continue
            header = load_header(record.header)
            history = record.operations.get(unit.scope, ()) if unit.branch == header.branch else ()
            found.append(
                SyncUnitRevision(
                    document_id=unit.document_id,
                    document_type=record.document_type,
                    scope=unit.scope,
                    branch=unit.branch,
                    last_updated=history[-1].timestamp if history else header.created_at_utc_iso,
                    revision=history[-1].key.index + 1 if history else 0,
                )
            )
        return found
