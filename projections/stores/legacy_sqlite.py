"""Legacy storage in a SQLite file (aiosqlite), with tracking in the same file.

Documents are rows (header, state, initial state and clipboard as JSON); operations are
rows keyed by (document, scope, index), clustered in that order so a history reads in one
range scan. Per-scope next indexes are kept on the document row, so appending needs no read
of the history: the stored operations are only read when an incoming index reaches back
into it (a re-delivery or a conflict). Deletion records are rows of `legacy_deletions`,
which no legacy read looks at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

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
from projections.stores.sqlite import Migration, Row, SqliteConnection, SqliteDatabase
from projections.stores.tracking import TRACKING_MIGRATIONS, SqliteTrackedStore
from reactor_es.document.types import Document, Operation

__all__ = ["LEGACY_MIGRATIONS", "SqliteLegacyStorage"]

LEGACY_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        (
            # AUTOINCREMENT: a deleted document's seq is never reused, so cursors stay valid.
            "CREATE TABLE legacy_documents ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " id TEXT NOT NULL UNIQUE,"
            " document_type TEXT NOT NULL,"
            " slug TEXT NOT NULL,"
            " header TEXT NOT NULL,"
            " state TEXT NOT NULL,"
            " initial_state TEXT NOT NULL,"
            " clipboard TEXT NOT NULL,"
            " scopes TEXT NOT NULL,"
            " revisions TEXT NOT NULL"
            ")",
            "CREATE UNIQUE INDEX legacy_documents_slug ON legacy_documents (slug) WHERE slug <> ''",
            "CREATE INDEX legacy_documents_type ON legacy_documents (document_type, seq)",
            "CREATE TABLE legacy_operations ("
            " document_seq INTEGER NOT NULL"
            "  REFERENCES legacy_documents (seq) ON DELETE CASCADE,"
            " scope TEXT NOT NULL,"
            " idx INTEGER NOT NULL,"
            " skip INTEGER NOT NULL,"
            " op_id TEXT NOT NULL,"
            " hash TEXT NOT NULL,"
            " timestamp TEXT NOT NULL,"
            " body TEXT NOT NULL,"
            " PRIMARY KEY (document_seq, scope, idx)"
            ") WITHOUT ROWID",
        ),
    ),
    Migration(
        2,
        (
            # What a DELETE_DOCUMENT leaves: legacy storage forgot the document, we keep this.
            "CREATE TABLE legacy_deletions ("
            " id TEXT PRIMARY KEY,"
            " document_type TEXT NOT NULL,"
            " deleted_at TEXT NOT NULL,"
            " op_id TEXT NOT NULL,"
            " idx INTEGER NOT NULL,"
            " skip INTEGER NOT NULL,"
            " hash TEXT NOT NULL,"
            " revisions TEXT NOT NULL"
            ") WITHOUT ROWID",
            # Stores written before deletions deleted still hold deleted documents: delete
            # them now, as the projector deletes them, keeping the record of each.
            "INSERT INTO legacy_deletions"
            " (id, document_type, deleted_at, op_id, idx, skip, hash, revisions)"
            " SELECT d.id, d.document_type,"
            "  coalesce(json_extract(d.state, '$.document.deletedAtUtcIso'), o.timestamp),"
            "  o.op_id, o.idx, o.skip, o.hash, d.revisions"
            " FROM legacy_documents d JOIN legacy_operations o"
            "  ON o.document_seq = d.seq AND o.scope = 'document'"
            "  AND o.idx = json_extract(d.revisions, '$.document') - 1"
            " WHERE json_type(d.state, '$.document.isDeleted') = 'true'"
            "  AND json_extract(o.body, '$.action.type') = 'DELETE_DOCUMENT'",
            "DELETE FROM legacy_documents WHERE id IN (SELECT id FROM legacy_deletions)",
        ),
    ),
)

_INSERT_OPERATION = (
    "INSERT INTO legacy_operations"
    " (document_seq, scope, idx, skip, op_id, hash, timestamp, body)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

_DOCUMENT_COLUMNS = "seq, header, state, initial_state, clipboard, scopes"


#: A `legacy_operations` row: seq, scope, idx, skip, op_id, hash, timestamp, body.
_OperationRow = tuple[int, str, int, int, str, str, str, str]


def _document_text(
    document: Document, scopes: Sequence[str], revisions: dict[str, int]
) -> tuple[str, str, str, str, str, str]:
    """A document's columns header to revisions, as both the INSERT and the UPDATE take them."""
    return (
        dump_header(stored_header(document.header, revisions)),
        dump_json(document.state),
        dump_json(document.initial_state),
        dump_operations(document.clipboard),
        dump_json(scopes),
        dump_json(revisions),
    )


def _operation_rows(seq: int, operations: Sequence[Operation]) -> list[_OperationRow]:
    return [
        (
            seq,
            op.scope,
            op.index,
            op.skip,
            op.id,
            op.hash,
            op.timestamp_utc_ms,
            dump_operation(op),
        )
        for op in operations
    ]


@dataclass(slots=True)
class _DocumentRow:
    """A document row as this batch has left it, and what is still to be written for it."""

    seq: int
    slug: str
    scopes: list[str]
    revisions: dict[str, int]
    update: tuple[object, ...] | None = None
    added: list[_OperationRow] = field(default_factory=list)


_UPDATE_DOCUMENT = (
    "UPDATE legacy_documents SET header = ?, state = ?, initial_state = ?, clipboard = ?,"
    " scopes = ?, revisions = ? WHERE seq = ?"
)


class _SqliteLegacyBatch(LegacyStorageBatch):
    """Every call reads and checks first, then writes: a refused call has written nothing.

    The batch holds the file's write lock, so what it read stays true until it ends: it
    keeps the rows of the documents it touched, and writes their new operations and each
    document's last version when it commits, in one `executemany` each (serialised at the
    call, as callers go on mutating their documents: reducers do). A projector writing
    record by record thus costs no statement per call once it has read the document's row.
    Document rows (for their seq) and slug changes are written at once, because other calls
    check ids and slugs against the table.
    """

    def __init__(self, name: str, conn: SqliteConnection) -> None:
        super().__init__(name)
        self._conn = conn
        self._rows: dict[str, _DocumentRow] = {}

    async def _row(self, document_id: str) -> _DocumentRow | None:
        row = self._rows.get(document_id)
        if row is None:
            found = await self._conn.fetch(
                "SELECT seq, slug, scopes, revisions FROM legacy_documents WHERE id = ?",
                (document_id,),
            )
            if not found:
                return None
            seq, slug, scopes, revisions = found[0]
            row = _DocumentRow(seq, slug, load_json(scopes), load_json(revisions))
            self._rows[document_id] = row
        return row

    async def _holder_of_slug(self, slug: str) -> str | None:
        if not slug:
            return None
        rows = await self._conn.fetch("SELECT id FROM legacy_documents WHERE slug = ?", (slug,))
        return str(rows[0][0]) if rows else None

    async def create_document(self, document: Document) -> None:
        self._check_open()
        document_id = document.id
        if await self._row(document_id) is not None:
            raise DocumentAlreadyExistsError(document_id, "id")
        slug = document.header.slug
        if await self._holder_of_slug(slug) is not None:
            raise DocumentAlreadyExistsError(document_id, "slug", slug)
        grouped = group_by_scope(document_id, document_operations(document))
        added: list[Operation] = []
        revisions: dict[str, int] = {}
        for scope, incoming in grouped.items():
            scope_added = plan_scope_merge(document_id, scope, -1, {}, incoming)
            added.extend(scope_added)
            revisions[scope] = scope_added[-1].index + 1
        scopes = known_scopes(document.operations, grouped)
        # Legacy storage lets a deleted document's id be created again: the record goes.
        await self._conn.execute("DELETE FROM legacy_deletions WHERE id = ?", (document_id,))
        cursor = await self._conn.execute(
            "INSERT INTO legacy_documents (id, document_type, slug, header, state,"
            " initial_state, clipboard, scopes, revisions)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                document_id,
                document.document_type,
                slug,
                *_document_text(document, scopes, revisions),
            ),
        )
        seq = cursor.lastrowid
        assert seq is not None  # an INSERT into a rowid table always sets it
        self._rows[document_id] = _DocumentRow(
            seq, slug, scopes, revisions, added=_operation_rows(seq, added)
        )

    async def add_document_operations(
        self, document_id: str, operations: Sequence[Operation], document: Document
    ) -> None:
        self._check_open()
        row = await self._row(document_id)
        if row is None:
            raise DocumentNotFoundError(document_id)
        if document.id != document_id:
            raise DocumentMismatchError(document_id, document.id)
        slug = document.header.slug
        if slug != row.slug and await self._holder_of_slug(slug) not in (None, document_id):
            raise DocumentAlreadyExistsError(document_id, "slug", slug)
        grouped = group_by_scope(document_id, operations)
        revisions = dict(row.revisions)
        added: list[Operation] = []
        for scope, incoming in grouped.items():
            last = revisions.get(scope, 0) - 1
            lowest = incoming[0].index
            occupied: dict[int, OperationKey] = {}
            if lowest <= last:
                # Only a re-delivery or a conflict reaches back into the history.
                for idx, op_id, skip, op_hash in await self._conn.fetch(
                    "SELECT idx, op_id, skip, hash FROM legacy_operations"
                    " WHERE document_seq = ? AND scope = ? AND idx >= ?",
                    (row.seq, scope, lowest),
                ):
                    occupied[idx] = OperationKey(op_id, idx, skip, op_hash)
                for _, op_scope, idx, skip, op_id, op_hash, _, _ in row.added:
                    if op_scope == scope and idx >= lowest:
                        occupied[idx] = OperationKey(op_id, idx, skip, op_hash)
            scope_added = plan_scope_merge(document_id, scope, last, occupied, incoming)
            if scope_added:
                added.extend(scope_added)
                revisions[scope] = scope_added[-1].index + 1
        scopes = known_scopes(row.scopes, document.operations, grouped)
        update = (*_document_text(document, scopes, revisions), row.seq)
        if slug != row.slug:
            await self._conn.execute(
                "UPDATE legacy_documents SET slug = ? WHERE seq = ?", (slug, row.seq)
            )
        row.slug, row.scopes, row.revisions, row.update = slug, scopes, revisions, update
        row.added.extend(_operation_rows(row.seq, added))

    async def delete(self, document_id: str, deletion: DocumentDeletion | None = None) -> bool:
        self._check_open()
        check_deletion(document_id, deletion)
        # One statement (operations go by ON DELETE CASCADE), so it cannot half-happen.
        cursor = await self._conn.execute(
            "DELETE FROM legacy_documents WHERE id = ?", (document_id,)
        )
        self._rows.pop(document_id, None)
        if deletion is not None:
            op = deletion.operation
            await self._conn.execute(
                "INSERT INTO legacy_deletions"
                " (id, document_type, deleted_at, op_id, idx, skip, hash, revisions)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET document_type = excluded.document_type,"
                " deleted_at = excluded.deleted_at, op_id = excluded.op_id, idx = excluded.idx,"
                " skip = excluded.skip, hash = excluded.hash, revisions = excluded.revisions",
                (
                    document_id,
                    deletion.document_type,
                    deletion.deleted_at,
                    op.id,
                    op.index,
                    op.skip,
                    op.hash,
                    dump_json(dict(deletion.revisions)),
                ),
            )
        return cursor.rowcount > 0

    async def flush(self) -> None:
        """Write the new operations and the last version of every document changed."""
        inserts = [op_row for row in self._rows.values() for op_row in row.added]
        if inserts:
            await self._conn.executemany(_INSERT_OPERATION, inserts)
        updates = [row.update for row in self._rows.values() if row.update is not None]
        if updates:
            await self._conn.executemany(_UPDATE_DOCUMENT, updates)
        for row in self._rows.values():
            row.added, row.update = [], None


class SqliteLegacyStorage(SqliteTrackedStore[_SqliteLegacyBatch], LegacyStorage):
    """Legacy storage in one SQLite file; open with `await SqliteLegacyStorage.open(path)`."""

    @classmethod
    async def open(cls, path: str | Path) -> SqliteLegacyStorage:
        db = await SqliteDatabase.open(
            f"legacy storage {path}",
            path,
            {"tracking": TRACKING_MIGRATIONS, "legacy": LEGACY_MIGRATIONS},
        )
        return cls(db)

    def _start_batch(self, conn: SqliteConnection) -> _SqliteLegacyBatch:
        return _SqliteLegacyBatch(self._db.name, conn)

    async def _flush(self, batch: _SqliteLegacyBatch, conn: SqliteConnection) -> None:
        await batch.flush()

    async def get_document(self, document_id: str) -> Document:
        async with self._db.snapshot() as conn:
            found = await conn.fetch(
                f"SELECT {_DOCUMENT_COLUMNS} FROM legacy_documents WHERE id = ?",  # noqa: S608
                (document_id,),
            )
            if not found:
                raise DocumentNotFoundError(document_id)
            return await self._document(conn, found[0])

    async def get_document_by_slug(self, slug: str) -> Document:
        async with self._db.snapshot() as conn:
            found: list[Row] = []
            if slug:
                found = await conn.fetch(
                    f"SELECT {_DOCUMENT_COLUMNS} FROM legacy_documents WHERE slug = ?",  # noqa: S608
                    (slug,),
                )
            if not found:
                raise DocumentNotFoundError(slug, by="slug")
            return await self._document(conn, found[0])

    async def _document(self, conn: SqliteConnection, row: Row) -> Document:
        seq, header, state, initial_state, clipboard, scopes = row
        return Document(
            header=load_header(header),
            state=load_json(state),
            initial_state=load_json(initial_state),
            operations=await self._operations(conn, seq, load_json(scopes)),
            clipboard=load_operations(clipboard),
        )

    async def _operations(
        self, conn: SqliteConnection, seq: int, scopes: list[str]
    ) -> dict[str, list[Operation]]:
        operations: dict[str, list[Operation]] = {scope: [] for scope in scopes}
        if len(scopes) == 1:
            rows = await conn.fetch(
                "SELECT scope, body FROM legacy_operations"
                " WHERE document_seq = ? AND scope = ? ORDER BY idx",
                (seq, scopes[0]),
            )
        else:
            rows = await conn.fetch(
                "SELECT scope, body FROM legacy_operations"
                " WHERE document_seq = ? ORDER BY scope, idx",
                (seq,),
            )
        for scope, body in rows:
            if scope in operations:
                operations[scope].append(load_operation(body))
        return operations

    async def get_operations(
        self, document_id: str, scope: str | None = None
    ) -> dict[str, list[Operation]]:
        async with self._db.snapshot() as conn:
            found = await conn.fetch(
                "SELECT seq, scopes FROM legacy_documents WHERE id = ?", (document_id,)
            )
            if not found:
                raise DocumentNotFoundError(document_id)
            seq, scopes = found[0]
            return await self._operations(
                conn, seq, load_json(scopes) if scope is None else [scope]
            )

    async def exists(self, document_id: str) -> bool:
        found = await self._db.read("SELECT 1 FROM legacy_documents WHERE id = ?", (document_id,))
        return bool(found)

    async def get_deletion(self, document_id: str) -> DocumentDeletion | None:
        rows = await self._db.read(
            "SELECT document_type, deleted_at, op_id, idx, skip, hash, revisions"
            " FROM legacy_deletions WHERE id = ?",
            (document_id,),
        )
        if not rows:
            return None
        document_type, deleted_at, op_id, idx, skip, op_hash, revisions = rows[0]
        return DocumentDeletion(
            document_id=document_id,
            document_type=document_type,
            deleted_at=deleted_at,
            operation=OperationKey(op_id, idx, skip, op_hash),
            revisions=load_json(revisions),
        )

    async def deleted_documents(self) -> list[str]:
        rows = await self._db.read("SELECT id FROM legacy_deletions ORDER BY id")
        return [str(row[0]) for row in rows]

    async def find_by_type(
        self, document_type: str, limit: int | None = 100, cursor: str | None = None
    ) -> Page[str]:
        paging = Paging(cursor, limit)
        after = cursor_key(paging, "find_by_type") or 0
        size = page_limit(paging, "find_by_type")
        rows = await self._db.read(
            "SELECT seq, id FROM legacy_documents"
            " WHERE document_type = ? AND seq > ? ORDER BY seq LIMIT ?",
            (document_type, after, -1 if size is None else size + 1),
        )
        page = to_page(rows, size, key=lambda row: int(row[0]))
        return Page([row[1] for row in page.results], page.next_cursor)

    async def get_synchronization_units_revision(
        self, units: Sequence[SyncUnit]
    ) -> list[SyncUnitRevision]:
        found: list[SyncUnitRevision] = []
        async with self._db.snapshot() as conn:
            for unit in units:
                rows = await conn.fetch(
                    "SELECT seq, document_type, header FROM legacy_documents WHERE id = ?",
                    (unit.document_id,),
                )
                if not rows:
                    continue
                seq, document_type, header_json = rows[0]
                header = load_header(header_json)
                last: list[Row] = []
                if unit.branch == header.branch:
                    last = await conn.fetch(
                        "SELECT idx, timestamp FROM legacy_operations"
                        " WHERE document_seq = ? AND scope = ? ORDER BY idx DESC LIMIT 1",
                        (seq, unit.scope),
                    )
                found.append(
                    SyncUnitRevision(
                        document_id=unit.document_id,
                        document_type=document_type,
                        scope=unit.scope,
                        branch=unit.branch,
                        last_updated=last[0][1] if last else header.created_at_utc_iso,
                        revision=last[0][0] + 1 if last else 0,
                    )
                )
        return found
