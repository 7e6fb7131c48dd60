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
    DocumentNotFoundError,
    LegacyStorageError,
    LegacyStorageReader,
    LegacyStorageWriter,
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
)

_SNAPSHOT_COLUMNS = "header, state, initial_state, clipboard, scopes, version"

_UPSERT = (
    "INSERT INTO document_snapshots (id, document_type, slug, header, state, initial_state,"
    " clipboard, scopes, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)"
    " ON CONFLICT (id) DO UPDATE SET document_type = excluded.document_type,"
    " slug = excluded.slug, header = excluded.header, state = excluded.state,"
    " initial_state = excluded.initial_state, clipboard = excluded.clipboard,"
    " scopes = excluded.scopes, version = document_snapshots.version + 1"
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

#: A snapshot as stored: id, type, slug, header, state, initial state, clipboard, scopes.
_SnapshotRow = tuple[str, str, str, str, str, str, str, str]


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

    @classmethod
    def load(
        cls, header: str, state: str, initial: str, clipboard: str, scopes: str, version: int
    ) -> Self:
        return cls(
            header=load_header(header),
            state=load_json(state),
            initial_state=load_json(initial),
            clipboard=load_operations(clipboard),
            scopes=load_json(scopes),
            version=version,
        )


class DocumentSnapshots(ABC):
    """Reads of the snapshot table; the operation-store projector writes it."""

    @abstractmethod
    async def get(self, document_id: str) -> DocumentSnapshot | None: ...

    @abstractmethod
    async def get_by_slug(self, slug: str) -> DocumentSnapshot | None:
        """The first-created document holding this non-empty slug."""

    @abstractmethod
    async def version(self, document_id: str) -> int | None:
        """The snapshot's write count (None if absent): a read compares it before and after."""

    @abstractmethod
    async def find_by_type(self, document_type: str, paging: Paging) -> Page[str]:
        """Ids of a type in creation order; cursors are creation numbers, as in legacy."""

    @abstractmethod
    async def documents(self) -> list[tuple[str, str]]:
        """(id, type) of every document, in creation order."""

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
        return await self._one("slug = ?", slug) if slug else None

    async def version(self, document_id: str) -> int | None:
        rows = await self._db.read(
            "SELECT version FROM document_snapshots WHERE id = ?", (document_id,)
        )
        return int(rows[0][0]) if rows else None

    async def find_by_type(self, document_type: str, paging: Paging) -> Page[str]:
        after = cursor_key(paging, "find_by_type") or 0
        size = page_limit(paging, "find_by_type")
        rows = await self._db.read(
            "SELECT seq, id FROM document_snapshots"
            " WHERE document_type = ? AND seq > ? ORDER BY seq LIMIT ?",
            (document_type, after, -1 if size is None else size + 1),
        )
        page = to_page(rows, size, key=lambda row: int(row[0]))
        return Page([row[1] for row in page.results], page.next_cursor)

    async def documents(self) -> list[tuple[str, str]]:
        rows = await self._db.read("SELECT id, document_type FROM document_snapshots ORDER BY seq")
        return [(row[0], row[1]) for row in rows]

    async def close(self) -> None:
        await self._db.close()


@dataclass
class _MemorySnapshot:
    seq: int
    row: _SnapshotRow
    version: int

    def load(self) -> DocumentSnapshot:
        return DocumentSnapshot.load(*self.row[3:], self.version)


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
                if held.row[2] == slug:
                    return held.load()
        return None

    async def version(self, document_id: str) -> int | None:
        held = self._by_id.get(document_id)
        return None if held is None else held.version

    async def find_by_type(self, document_type: str, paging: Paging) -> Page[str]:
        after = cursor_key(paging, "find_by_type") or 0
        size = page_limit(paging, "find_by_type")
        found = [held for held in self._ordered() if held.row[1] == document_type]
        rows = [(held.seq, held.row[0]) for held in found if held.seq > after]
        page = to_page(rows if size is None else rows[: size + 1], size, key=lambda row: row[0])
        return Page([row[1] for row in page.results], page.next_cursor)

    async def documents(self) -> list[tuple[str, str]]:
        return [(held.row[0], held.row[1]) for held in self._ordered()]

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
        for _ in range(_READ_ATTEMPTS):
            snapshot = await self._snapshots.get(document_id)
            if snapshot is None:
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
        return await self.get_document(snapshot.header.id)

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
        if snapshot is None:
            raise DocumentNotFoundError(document_id)
        branch = snapshot.header.branch
        revisions = (await self._operations.get_revisions(document_id, branch)).revision
        scopes = known_scopes(snapshot.scopes, revisions) if scope is None else [scope]
        return {s: await self._history(document_id, s, branch, revisions) for s in scopes}

    async def exists(self, document_id: str) -> bool:
        return await self._snapshots.version(document_id) is not None

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
            if snapshot is None:
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

    async def create_document(self, document: Document) -> None:
        raise ReadOnlyLegacyStorageError("create_document", document.id)

    async def add_document_operations(
        self, document_id: str, operations: Sequence[Operation], document: Document
    ) -> None:
        raise ReadOnlyLegacyStorageError("add_document_operations", document_id)

    async def delete(self, document_id: str) -> bool:
        raise ReadOnlyLegacyStorageError("delete", document_id)

    async def close(self) -> None:
        await self._operations.close()
        await self._snapshots.close()
