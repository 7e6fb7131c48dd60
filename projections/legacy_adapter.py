"""Phase 6: the legacy read interface served from the operation store, read-only.

`OperationStoreLegacyReader` answers every `LegacyStorageReader` call the way legacy
storage would have: operations, revisions and sync-unit revisions come from the operation
store's rows; what those rows cannot hold (the header as the document stands, the state of
every scope, the initial state, the clipboard and the order of the scopes) comes from a
document-snapshot table that the operation-store projector writes beside the rows, in the
same SQLite file and the same transaction as the rows and the consumed positions.

Why a snapshot table and not a replay through the base reducer:

- the state legacy storage returns is the executor's `resultingState`, which travels with
  every operation record; storing it is exact by construction, while a replay would have to
  reproduce every era's rules, hash reuse and upgrade, and could only ever be compared with it;
- a read costs one row and one range per scope instead of O(history) reducer calls, and
  needs no model registry (a reader of the store need not load every document model);
- the header fields legacy storage returns (name, slug, meta, last modification) are set
  by the projector's materializer from the records' header hints, not derivable from rows;
- Powerhouse's own reactor keeps documents apart from `IOperationStore` too (the document
  view indexes `resultingState`, keyframes cache states).

Reads of one document are consistent although they span several statements: the snapshot
row carries a version bumped by every write, and a read whose version changed while it
read the rows is done again.

A deleted document (DELETE_DOCUMENT, the operation store's tombstone: its rows stay, its
snapshot says deleted) reads as legacy storage reads it after `deleteDocument`: not found,
not listed, its slug free; `get_deletion` says when and by which operation it went, and
`get_held_document` (for the projector and the comparator, not part of the legacy
interface) still gives it whole.

Writes through the adapter raise `ReadOnlyLegacyStorageError`: in phase 6 only the
operation-store projector writes, from the `operations` topic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from projections.stores.codec import (
    dump_header,
    dump_json,
    dump_operations,
    load_header,
    load_json,
    load_operations,
)
from projections.stores.exceptions import StoreError
from projections.stores.legacy import (
    DocumentDeletion,
    DocumentNotFoundError,
    LegacyStorageError,
    LegacyStorageReader,
    LegacyStorageWriter,
    OperationKey,
    SyncUnit,
    SyncUnitRevision,
    known_scopes,
    stored_header,
)
from projections.stores.operation_store import OperationStoreReader
from projections.stores.operation_store_sqlite import (
    OPERATION_STORE_MIGRATIONS,
    SqliteOperationBatch,
    SqliteOperationStore,
)
from projections.stores.paging import Page, Paging, cursor_key, page_limit, to_page
from projections.stores.sqlite import Migration, SqliteConnection, SqliteDatabase
from projections.stores.tracking import TRACKING_MIGRATIONS, TopicPartition
from reactor_es.document.ids import utc_now_iso
from reactor_es.document.state import DOCUMENT_SCOPE, is_deleted
from reactor_es.document.types import Document, DocumentHeader, JsonDict, Operation

__all__ = [
    "SNAPSHOT_MIGRATIONS",
    "DocumentSnapshot",
    "DocumentSnapshots",
    "MemoryDocumentSnapshots",
    "OperationStoreFile",
    "OperationStoreFileBatch",
    "OperationStoreLegacyReader",
    "ReadOnlyLegacyStorageError",
    "SnapshotWriter",
    "SqliteDocumentSnapshots",
]

#: How often a document read is tried again when a write lands in the middle of it.
_READ_ATTEMPTS = 5

SNAPSHOT_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        (
            # AUTOINCREMENT: creation order (find_by_type) survives deletions, as in legacy.
            "CREATE TABLE document_snapshots ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " id TEXT NOT NULL UNIQUE,"
            " document_type TEXT NOT NULL,"
            " slug TEXT NOT NULL,"
            " header TEXT NOT NULL,"
            " state TEXT NOT NULL,"
            " initial_state TEXT NOT NULL,"
            " clipboard TEXT NOT NULL,"
            " scopes TEXT NOT NULL,"
            " version INTEGER NOT NULL"
            ")",
            "CREATE INDEX document_snapshots_slug ON document_snapshots (slug) WHERE slug <> ''",
            "CREATE INDEX document_snapshots_type ON document_snapshots (document_type, seq)",
        ),
    ),
    Migration(
        2,
        (
            # When DELETE_DOCUMENT deleted the document (NULL: alive); legacy reads skip it.
            "ALTER TABLE document_snapshots ADD COLUMN deleted_at TEXT",
            "UPDATE document_snapshots SET deleted_at ="
            " coalesce(json_extract(state, '$.document.deletedAtUtcIso'), '')"
            " WHERE json_type(state, '$.document.isDeleted') = 'true'",
        ),
    ),
)

_SNAPSHOT_COLUMNS = "header, state, initial_state, clipboard, scopes, version, deleted_at"

_UPSERT = (
    "INSERT INTO document_snapshots (id, document_type, slug, header, state, initial_state,"
    " clipboard, scopes, deleted_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
    " ON CONFLICT (id) DO UPDATE SET document_type = excluded.document_type,"
    " slug = excluded.slug, header = excluded.header, state = excluded.state,"
    " initial_state = excluded.initial_state, clipboard = excluded.clipboard,"
    " scopes = excluded.scopes, deleted_at = excluded.deleted_at,"
    " version = document_snapshots.version + 1"
)


class ReadOnlyLegacyStorageError(LegacyStorageError):
    """A write reached the legacy interface while the operation store is primary."""

    def __init__(self, call: str, document_id: str) -> None:
        self.call = call
        self.document_id = document_id
        super().__init__(
            f"legacy storage is a read-only adapter over the operation store in phase 6: "
            f"{call} of document {document_id} refused (write through the Reactor instead)"
        )


# --- snapshots ---------------------------------------------------------------------------

#: A snapshot as stored: id, type, slug, header, state, initial state, clipboard, scopes,
#: deleted at (None: alive).
_SnapshotRow = tuple[str, str, str, str, str, str, str, str, str | None]


def _deleted_at(document: Document) -> str | None:
    if not is_deleted(document.state):
        return None
    when = document.state[DOCUMENT_SCOPE].get("deletedAtUtcIso")
    return when if isinstance(when, str) else ""


def _snapshot_row(document: Document) -> _SnapshotRow:
    return (
        document.id,
        document.document_type,
        document.header.slug,
        dump_header(document.header),
        dump_json(document.state),
        dump_json(document.initial_state),
        dump_operations(document.clipboard),
        dump_json(list(document.operations)),
        _deleted_at(document),
    )


@dataclass(frozen=True, slots=True)
class DocumentSnapshot:
    """What the operation store's rows cannot say about a document, as of its last write."""

    header: DocumentHeader
    state: JsonDict
    initial_state: JsonDict
    clipboard: list[Operation]
    scopes: list[str]
    version: int
    #: When DELETE_DOCUMENT deleted the document; None while it is alive.
    deleted_at: str | None = None

    @classmethod
    def load(
        cls,
        header: str,
        state: str,
        initial: str,
        clipboard: str,
        scopes: str,
        version: int,
        deleted_at: str | None,
    ) -> Self:
        return cls(
            header=load_header(header),
            state=load_json(state),
            initial_state=load_json(initial),
            clipboard=load_operations(clipboard),
            scopes=load_json(scopes),
            version=version,
            deleted_at=deleted_at,
        )


class DocumentSnapshots(ABC):
    """Reads of the snapshot table; the operation-store projector writes it."""

    @abstractmethod
    async def get(self, document_id: str) -> DocumentSnapshot | None: ...

    @abstractmethod
    async def get_by_slug(self, slug: str) -> DocumentSnapshot | None:
        """The first-created document not deleted holding this non-empty slug."""

    @abstractmethod
    async def version(self, document_id: str) -> int | None:
        """The snapshot's write count (None if absent): a read compares it before and after."""

    @abstractmethod
    async def alive(self, document_id: str) -> bool:
        """The document has a snapshot and is not deleted."""

    @abstractmethod
    async def find_by_type(self, document_type: str, paging: Paging) -> Page[str]:
        """Ids of a type not deleted, in creation order; cursors are creation numbers, as in
        legacy."""

    @abstractmethod
    async def documents(self) -> list[tuple[str, str]]:
        """(id, type) of every document, deleted ones too, in creation order."""

    @abstractmethod
    async def deleted(self) -> list[str]:
        """Ids of the deleted documents, sorted."""

    @abstractmethod
    async def close(self) -> None: ...


class SnapshotWriter:
    """Stages snapshots of a batch (serialised at the call) and writes them in one statement."""

    def __init__(self, conn: SqliteConnection) -> None:
        self._conn = conn
        self._rows: dict[str, _SnapshotRow] = {}

    def put(self, document: Document) -> None:
        self._rows[document.id] = _snapshot_row(document)

    async def flush(self) -> None:
        if self._rows:
            await self._conn.executemany(_UPSERT, list(self._rows.values()))
            self._rows = {}


class SqliteDocumentSnapshots(DocumentSnapshots):
    """The snapshot table of an operation-store file."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def _one(self, where: str, value: str) -> DocumentSnapshot | None:
        rows = await self._db.read(
            # Constant columns and condition; the value is a bound parameter.
            f"SELECT {_SNAPSHOT_COLUMNS} FROM document_snapshots WHERE {where}"  # noqa: S608
            " ORDER BY seq LIMIT 1",
            (value,),
        )
        return DocumentSnapshot.load(*rows[0]) if rows else None

    async def get(self, document_id: str) -> DocumentSnapshot | None:
        return await self._one("id = ?", document_id)

    async def get_by_slug(self, slug: str) -> DocumentSnapshot | None:
        return await self._one("slug = ? AND deleted_at IS NULL", slug) if slug else None

    async def version(self, document_id: str) -> int | None:
        rows = await self._db.read(
            "SELECT version FROM document_snapshots WHERE id = ?", (document_id,)
        )
        return int(rows[0][0]) if rows else None

    async def alive(self, document_id: str) -> bool:
        rows = await self._db.read(
            "SELECT 1 FROM document_snapshots WHERE id = ? AND deleted_at IS NULL", (document_id,)
        )
        return bool(rows)

    async def find_by_type(self, document_type: str, paging: Paging) -> Page[str]:
        after = cursor_key(paging, "find_by_type") or 0
        size = page_limit(paging, "find_by_type")
        rows = await self._db.read(
            "SELECT seq, id FROM document_snapshots"
            " WHERE document_type = ? AND seq > ? AND deleted_at IS NULL ORDER BY seq LIMIT ?",
            (document_type, after, -1 if size is None else size + 1),
        )
        page = to_page(rows, size, key=lambda row: int(row[0]))
        return Page([row[1] for row in page.results], page.next_cursor)

    async def documents(self) -> list[tuple[str, str]]:
        rows = await self._db.read("SELECT id, document_type FROM document_snapshots ORDER BY seq")
        return [(row[0], row[1]) for row in rows]

    async def deleted(self) -> list[str]:
        rows = await self._db.read(
            "SELECT id FROM document_snapshots WHERE deleted_at IS NOT NULL ORDER BY id"
        )
        return [str(row[0]) for row in rows]

    async def close(self) -> None:
        await self._db.close()


@dataclass
class _MemorySnapshot:
    seq: int
    row: _SnapshotRow
    version: int

    @property
    def deleted_at(self) -> str | None:
        return self.row[8]

    def load(self) -> DocumentSnapshot:
        header, state, initial, clipboard, scopes = self.row[3:8]
        return DocumentSnapshot.load(
            header, state, initial, clipboard, scopes, self.version, self.deleted_at
        )


class MemoryDocumentSnapshots(DocumentSnapshots):
    """Snapshots in memory, kept as the same text the SQLite table holds; for tests."""

    def __init__(self) -> None:
        self._by_id: dict[str, _MemorySnapshot] = {}
        self._next_seq = 1

    def put(self, document: Document) -> None:
        held = self._by_id.get(document.id)
        if held is None:
            self._by_id[document.id] = _MemorySnapshot(self._next_seq, _snapshot_row(document), 1)
            self._next_seq += 1
        else:
            held.row, held.version = _snapshot_row(document), held.version + 1

    def _ordered(self) -> list[_MemorySnapshot]:
        return sorted(self._by_id.values(), key=lambda held: held.seq)

    async def get(self, document_id: str) -> DocumentSnapshot | None:
        held = self._by_id.get(document_id)
        return None if held is None else held.load()

    async def get_by_slug(self, slug: str) -> DocumentSnapshot | None:
        if slug:
            for held in self._ordered():
                if held.row[2] == slug and held.deleted_at is None:
                    return held.load()
        return None

    async def version(self, document_id: str) -> int | None:
        held = self._by_id.get(document_id)
        return None if held is None else held.version

    async def alive(self, document_id: str) -> bool:
        held = self._by_id.get(document_id)
        return held is not None and held.deleted_at is None

    async def find_by_type(self, document_type: str, paging: Paging) -> Page[str]:
        after = cursor_key(paging, "find_by_type") or 0
        size = page_limit(paging, "find_by_type")
        found = [
            held
            for held in self._ordered()
            if held.row[1] == document_type and held.deleted_at is None
        ]
        rows = [(held.seq, held.row[0]) for held in found if held.seq > after]
        page = to_page(rows if size is None else rows[: size + 1], size, key=lambda row: row[0])
        return Page([row[1] for row in page.results], page.next_cursor)

    async def documents(self) -> list[tuple[str, str]]:
        return [(held.row[0], held.row[1]) for held in self._ordered()]

    async def deleted(self) -> list[str]:
        return sorted(id_ for id_, held in self._by_id.items() if held.deleted_at is not None)

    async def close(self) -> None:
        return None


# --- the file the operation-store projector writes ---------------------------------------


@dataclass(frozen=True)
class OperationStoreFileBatch:
    """One transaction over the file: operation rows, snapshots and positions together."""

    operations: SqliteOperationBatch
    snapshots: SnapshotWriter

    def record_position(self, consumer: str, topic: str, partition: int, offset: int) -> None:
        self.operations.record_position(consumer, topic, partition, offset)


class OperationStoreFile:
    """The operation store, its snapshot table and tracking, in one SQLite file."""

    def __init__(self, db: SqliteDatabase, clock: Callable[[], str] = utc_now_iso) -> None:
        self._db = db
        self.operations = SqliteOperationStore(db, clock)
        self.snapshots = SqliteDocumentSnapshots(db)

    @classmethod
    async def open(cls, path: str | Path, clock: Callable[[], str] = utc_now_iso) -> Self:
        db = await SqliteDatabase.open(
            f"operation store {path}",
            path,
            {
                "tracking": TRACKING_MIGRATIONS,
                "operations": OPERATION_STORE_MIGRATIONS,
                "document_snapshots": SNAPSHOT_MIGRATIONS,
            },
        )
        return cls(db, clock)

    @property
    def path(self) -> Path:
        return self._db.path

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[OperationStoreFileBatch]:
        """Rows, snapshots and positions commit together, or nothing does."""
        async with self.operations.batch() as operations:
            batch = OperationStoreFileBatch(operations, SnapshotWriter(operations.connection))
            yield batch
            await batch.snapshots.flush()

    async def get_positions(self, consumer: str) -> dict[TopicPartition, int]:
        return await self.operations.get_positions(consumer)

    def legacy_reader(self) -> OperationStoreLegacyReader:
        """The phase-6 legacy interface over this file; closing it closes the file."""
        return OperationStoreLegacyReader(self.operations, self.snapshots)

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


# --- the adapter -------------------------------------------------------------------------


class OperationStoreLegacyReader(LegacyStorageReader, LegacyStorageWriter):
    """Legacy storage as phase 6 serves it: reads from the operation store, writes refused."""

    def __init__(self, operations: OperationStoreReader, snapshots: DocumentSnapshots) -> None:
        self._operations = operations
        self._snapshots = snapshots

    async def get_document(self, document_id: str) -> Document:
        return await self._read(document_id, deleted=False)

    async def get_held_document(self, document_id: str) -> Document:
        """The document as the operation store holds it, a deleted one too (what the
        projector and the comparator read: the legacy interface hides deleted documents)."""
        return await self._read(document_id, deleted=True)

    async def _read(self, document_id: str, *, deleted: bool) -> Document:
        for _ in range(_READ_ATTEMPTS):
            snapshot = await self._snapshots.get(document_id)
            if snapshot is None or (snapshot.deleted_at is not None and not deleted):
                raise DocumentNotFoundError(document_id)
            document = await self._assemble(document_id, snapshot)
            if await self._snapshots.version(document_id) == snapshot.version:
                return document
        raise StoreError(
            f"document {document_id} changed during each of {_READ_ATTEMPTS} reads; try again"
        )

    async def get_document_by_slug(self, slug: str) -> Document:
        snapshot = await self._snapshots.get_by_slug(slug)
        if snapshot is None:
            raise DocumentNotFoundError(slug, by="slug")
        try:
            return await self.get_document(snapshot.header.id)
        except DocumentNotFoundError:  # deleted since
            raise DocumentNotFoundError(slug, by="slug") from None

    async def _assemble(self, document_id: str, snapshot: DocumentSnapshot) -> Document:
        branch = snapshot.header.branch
        revisions = (await self._operations.get_revisions(document_id, branch)).revision
        return Document(
            header=stored_header(snapshot.header, revisions),
            state=snapshot.state,
            initial_state=snapshot.initial_state,
            operations={
                scope: await self._history(document_id, scope, branch, revisions)
                for scope in known_scopes(snapshot.scopes, revisions)
            },
            clipboard=snapshot.clipboard,
        )

    async def _history(
        self, document_id: str, scope: str, branch: str, revisions: dict[str, int]
    ) -> list[Operation]:
        if scope not in revisions:
            return []
        page = await self._operations.get_since(document_id, scope, branch, -1)
        return [row.operation for row in page.results]

    async def get_operations(
        self, document_id: str, scope: str | None = None
    ) -> dict[str, list[Operation]]:
        snapshot = await self._snapshots.get(document_id)
        if snapshot is None or snapshot.deleted_at is not None:
            raise DocumentNotFoundError(document_id)
        branch = snapshot.header.branch
        revisions = (await self._operations.get_revisions(document_id, branch)).revision
        scopes = known_scopes(snapshot.scopes, revisions) if scope is None else [scope]
        return {s: await self._history(document_id, s, branch, revisions) for s in scopes}

    async def exists(self, document_id: str) -> bool:
        return await self._snapshots.alive(document_id)

    async def find_by_type(
        self, document_type: str, limit: int | None = 100, cursor: str | None = None
    ) -> Page[str]:
        return await self._snapshots.find_by_type(document_type, Paging(cursor, limit))

    async def get_synchronization_units_revision(
        self, units: Sequence[SyncUnit]
    ) -> list[SyncUnitRevision]:
        found: list[SyncUnitRevision] = []
        for unit in units:
            snapshot = await self._snapshots.get(unit.document_id)
            if snapshot is None or snapshot.deleted_at is not None:
                continue
            header = snapshot.header
            last: Operation | None = None
            if unit.branch == header.branch:
                revisions = await self._operations.get_revisions(unit.document_id, unit.branch)
                following = revisions.revision.get(unit.scope)
                if following is not None:
                    page = await self._operations.get_since(
                        unit.document_id, unit.scope, unit.branch, following - 2
                    )
                    last = page.results[-1].operation if page.results else None
            found.append(
                SyncUnitRevision(
                    document_id=unit.document_id,
                    document_type=header.document_type,
                    scope=unit.scope,
                    branch=unit.branch,
                    last_updated=header.created_at_utc_iso
                    if last is None
                    else last.timestamp_utc_ms,
                    revision=0 if last is None else last.index + 1,
                )
            )
        return found

    async def get_deletion(self, document_id: str) -> DocumentDeletion | None:
        snapshot = await self._snapshots.get(document_id)
        if snapshot is None or snapshot.deleted_at is None:
            return None
        branch = snapshot.header.branch
        revisions = (await self._operations.get_revisions(document_id, branch)).revision
        following = revisions.get(DOCUMENT_SCOPE)
        last: Operation | None = None
        if following is not None:
            page = await self._operations.get_since(
                document_id, DOCUMENT_SCOPE, branch, following - 2
            )
            last = page.results[-1].operation if page.results else None
        if last is None:
            raise StoreError(
                f"document {document_id} is deleted but holds no document-scope operation"
            )
        return DocumentDeletion(
            document_id=document_id,
            document_type=snapshot.header.document_type,
            deleted_at=snapshot.deleted_at,
            operation=OperationKey.of(last),
            revisions=dict(sorted(revisions.items())),
        )

    async def deleted_documents(self) -> list[str]:
        return await self._snapshots.deleted()

    async def create_document(self, document: Document) -> None:
        raise ReadOnlyLegacyStorageError("create_document", document.id)

    async def add_document_operations(
        self, document_id: str, operations: Sequence[Operation], document: Document
    ) -> None:
        raise ReadOnlyLegacyStorageError("add_document_operations", document_id)

    async def delete(self, document_id: str, deletion: DocumentDeletion | None = None) -> bool:
        raise ReadOnlyLegacyStorageError("delete", document_id)

    async def close(self) -> None:
        await self._operations.close()
        await self._snapshots.close()
