"""The operation store in a SQLite file (aiosqlite), with tracking in the same file.

One table, as Powerhouse's: the row id is the global feed position, the two unique keys
are (document, scope, branch, index) and (op id, index, skip). Timestamps are kept as given
and, next to them, as microseconds since the epoch, so ranges compare instants.

The append path is two statements: one reads the stream head and the last row id, one
`executemany` inserts the rows with ids given here. The stored rows are only read again when
that insert or the revision check fails (re-submission, duplicate, stale revision).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from projections.stores.codec import dump_operation, load_operation
from projections.stores.operation_store import (
    EPOCH_ISO,
    OperationFilter,
    OperationStore,
    OperationStoreBatch,
    Revisions,
    StoredOperation,
    check_stream_batch,
    iso_from_us,
    query_instant_us,
    resolve_apply,
)
from projections.stores.paging import Page, Paging, cursor_key, page_limit, to_page
from projections.stores.sqlite import Migration, Row, SqliteConnection, SqliteDatabase
from projections.stores.tracking import TRACKING_MIGRATIONS, SqliteTrackedStore
from reactor_es.document.ids import utc_now_iso
from reactor_es.document.types import Action, Operation

__all__ = ["OPERATION_STORE_MIGRATIONS", "SqliteOperationBatch", "SqliteOperationStore"]

OPERATION_STORE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        (
            "CREATE TABLE operations ("
            " id INTEGER PRIMARY KEY,"
            " job_id TEXT,"
            " op_id TEXT NOT NULL,"
            " prev_op_id TEXT NOT NULL,"
            " write_timestamp TEXT NOT NULL,"
            " document_id TEXT NOT NULL,"
            " document_type TEXT NOT NULL,"
            " scope TEXT NOT NULL,"
            " branch TEXT NOT NULL,"
            " timestamp TEXT NOT NULL,"
            " timestamp_us INTEGER NOT NULL,"
            " idx INTEGER NOT NULL,"
            " skip INTEGER NOT NULL,"
            " action_type TEXT NOT NULL,"
            " action TEXT NOT NULL,"
            " error TEXT,"
            " denied_reason TEXT,"
            " hash TEXT NOT NULL,"
            " UNIQUE (document_id, scope, branch, idx),"
            " UNIQUE (op_id, idx, skip)"
            ")",
            "CREATE INDEX operations_document_instant"
            " ON operations (document_id, branch, timestamp_us)",
        ),
    ),
)

_COLUMNS = (
    "id, job_id, op_id, prev_op_id, write_timestamp, document_id, document_type, scope,"
    " branch, timestamp, idx, skip, action, error, denied_reason, hash"
)

_INSERT = (
    "INSERT INTO operations (id, job_id, op_id, prev_op_id, write_timestamp, document_id,"
    " document_type, scope, branch, timestamp, timestamp_us, idx, skip, action_type, action,"
    " error, denied_reason, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_HEAD = (
    "SELECT (SELECT coalesce(max(id), 0) FROM operations),"
    " (SELECT idx FROM operations WHERE document_id = ? AND scope = ? AND branch = ?"
    "  ORDER BY idx DESC LIMIT 1),"
    " (SELECT op_id FROM operations WHERE document_id = ? AND scope = ? AND branch = ?"
    "  ORDER BY idx DESC LIMIT 1)"
)

#: Keeps `IN (...)` lists far below SQLite's limit on bound variables.
_CHUNK = 500


def _stored(row: Row) -> StoredOperation:
    (
        row_id,
        job_id,
        op_id,
        prev_op_id,
        written,
        document_id,
        document_type,
        scope,
        branch,
        timestamp,
        index,
        skip,
        action,
        error,
        denied_reason,
        op_hash,
    ) = row
    return StoredOperation(
        id=row_id,
        document_id=document_id,
        document_type=document_type,
        scope=scope,
        branch=branch,
        operation=Operation(
            id=op_id,
            index=index,
            skip=skip,
            timestamp_utc_ms=timestamp,
            hash=op_hash,
            error=error,
            denied_reason=denied_reason,
            action=Action.model_validate_json(action),
        ),
        prev_op_id=prev_op_id,
        write_timestamp_utc_ms=written,
        job_id=job_id,
    )


class SqliteOperationBatch(OperationStoreBatch):
    """Appends through one transaction that holds the file's write lock.

    Nobody else can write while it is open, so the batch remembers the heads of the streams
    it has read or written and the last row id: appending to a stream it already knows is a
    single statement, the insert.
    """

    def __init__(self, name: str, conn: SqliteConnection, clock: Callable[[], str]) -> None:
        super().__init__(name)
        self._conn = conn
        self._clock = clock
        self._heads: dict[tuple[str, str, str], tuple[int, str]] = {}
        self._last_id = 0

    @property
    def connection(self) -> SqliteConnection:
        """The batch's transaction, for tables kept beside the operations in the same file
        (the phase-6 document snapshots): what they write commits or rolls back with it."""
        return self._conn

    async def _head(self, stream: tuple[str, str, str]) -> tuple[int, str]:
        """(max index or -1, its op id or "") of a stream; refreshes the last row id too."""
        known = self._heads.get(stream)
        if known is None:
            [(last_id, head, op_id)] = await self._conn.fetch(_HEAD, stream + stream)
            self._last_id = last_id
            known = (-1, "") if head is None else (head, op_id)
            self._heads[stream] = known
        return known

    async def apply(
        self,
        document_id: str,
        document_type: str,
        scope: str,
        branch: str,
        revision: int,
        operations: Sequence[Operation],
        job_id: str | None = None,
    ) -> list[StoredOperation]:
        self._check_open()
        if not operations:
            return []
        instants = check_stream_batch(document_id, scope, branch, revision, operations)
        conn = self._conn
        stream = (document_id, scope, branch)
        head, prev_op_id = await self._head(stream)
        if head != revision - 1:
            return await self._resubmitted(stream, revision, operations, head)
        written = self._clock()
        row_ids = [self._last_id + 1 + offset for offset in range(len(operations))]
        prev_op_ids = [prev_op_id, *(op.id for op in operations[:-1])]
        rows: list[tuple[object, ...]] = []
        for op, instant, row_id, previous in zip(
            operations, instants, row_ids, prev_op_ids, strict=True
        ):
            rows.append(
                (
                    row_id,
                    job_id,
                    op.id,
                    previous,
                    written,
                    document_id,
                    document_type,
                    scope,
                    branch,
                    op.timestamp_utc_ms,
                    instant,
                    op.index,
                    op.skip,
                    op.action.type,
                    op.action.model_dump_json(by_alias=True, exclude_none=True),
                    op.error,
                    op.denied_reason,
                    op.hash,
                )
            )
        try:
            await conn.executemany(_INSERT, rows, constraints_checked_here=True)
        except sqlite3.IntegrityError:
            # Only (op id, index, skip) can collide above the head. The rows inserted
            # before the collision carry the ids given above: remove them, then explain.
            await conn.execute(
                "DELETE FROM operations WHERE id BETWEEN ? AND ?", (row_ids[0], row_ids[-1])
            )
            stored_keys = await self._stored_keys(operations)
            resolve_apply(*stream, revision, operations, head, {}, stored_keys)
            raise
        self._heads[stream] = (operations[-1].index, operations[-1].id)
        self._last_id = row_ids[-1]
        return [
            StoredOperation(
                id=row_id,
                document_id=document_id,
                document_type=document_type,
                scope=scope,
                branch=branch,
                operation=load_operation(dump_operation(op, resulting_state=False)),
                prev_op_id=prev,
                write_timestamp_utc_ms=written,
                job_id=job_id,
            )
            for op, row_id, prev in zip(operations, row_ids, prev_op_ids, strict=True)
        ]

    async def _resubmitted(
        self,
        stream: tuple[str, str, str],
        revision: int,
        operations: Sequence[Operation],
        head: int,
    ) -> list[StoredOperation]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM operations"  # noqa: S608 - constant columns
            " WHERE document_id = ? AND scope = ? AND branch = ? AND idx BETWEEN ? AND ?",
            (*stream, operations[0].index, operations[-1].index),
        )
        at_index = {stored.index: stored for stored in map(_stored, rows)}
        stored_keys = await self._stored_keys(operations)
        resubmitted = resolve_apply(*stream, revision, operations, head, at_index, stored_keys)
        assert resubmitted is not None  # head != revision - 1 never resolves to an append
        return resubmitted

    async def _stored_keys(self, operations: Sequence[Operation]) -> set[tuple[str, int, int]]:
        wanted = {(op.id, op.index, op.skip) for op in operations}
        op_ids = sorted({op.id for op in operations})
        found: set[tuple[str, int, int]] = set()
        for start in range(0, len(op_ids), _CHUNK):
            chunk = op_ids[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            for op_id, idx, skip in await self._conn.fetch(
                f"SELECT op_id, idx, skip FROM operations WHERE op_id IN ({marks})",  # noqa: S608
                chunk,
            ):
                if (op_id, idx, skip) in wanted:
                    found.add((op_id, idx, skip))
        return found


class SqliteOperationStore(SqliteTrackedStore[SqliteOperationBatch], OperationStore):
    """The operation store in one SQLite file; open with `await SqliteOperationStore.open(p)`."""

    def __init__(self, db: SqliteDatabase, clock: Callable[[], str] = utc_now_iso) -> None:
        super().__init__(db)
        self._clock = clock

    @classmethod
    async def open(
        cls, path: str | Path, clock: Callable[[], str] = utc_now_iso
    ) -> SqliteOperationStore:
        db = await SqliteDatabase.open(
            f"operation store {path}",
            path,
            {"tracking": TRACKING_MIGRATIONS, "operations": OPERATION_STORE_MIGRATIONS},
        )
        return cls(db, clock)

    def _start_batch(self, conn: SqliteConnection) -> SqliteOperationBatch:
        return SqliteOperationBatch(self._db.name, conn, self._clock)

    async def get_since(
        self,
        document_id: str,
        scope: str,
        branch: str,
        revision: int,
        filter: OperationFilter | None = None,
        paging: Paging | None = None,
    ) -> Page[StoredOperation]:
        after = max(revision, cursor_key(paging, "get_since") or -1)
        size = page_limit(paging, "get_since")
        where = ["document_id = ?", "scope = ?", "branch = ?", "idx > ?"]
        params: list[object] = [document_id, scope, branch, after]
        if filter is not None:
            if filter.action_types is not None:
                where.append(f"action_type IN ({', '.join('?' * len(filter.action_types))})")
                params.extend(filter.action_types)
            if filter.timestamp_from is not None:
                where.append("timestamp_us >= ?")
                params.append(
                    query_instant_us(filter.timestamp_from, "get_since", "timestamp_from")
                )
            if filter.timestamp_to is not None:
                where.append("timestamp_us <= ?")
                params.append(query_instant_us(filter.timestamp_to, "get_since", "timestamp_to"))
            if filter.since_revision is not None:
                where.append("idx >= ?")
                params.append(filter.since_revision)
        params.append(-1 if size is None else size + 1)
        rows = await self._db.read(
            # Constant columns and conditions; every value is a bound parameter.
            f"SELECT {_COLUMNS} FROM operations WHERE {' AND '.join(where)}"  # noqa: S608
            " ORDER BY idx LIMIT ?",
            params,
        )
        return _page(rows, size, key=lambda stored: stored.index)

    async def get_since_id(
        self, row_id: int, paging: Paging | None = None
    ) -> Page[StoredOperation]:
        after = max(row_id, cursor_key(paging, "get_since_id") or 0)
        size = page_limit(paging, "get_since_id")
        rows = await self._db.read(
            f"SELECT {_COLUMNS} FROM operations WHERE id > ? ORDER BY id LIMIT ?",  # noqa: S608
            (after, -1 if size is None else size + 1),
        )
        return _page(rows, size, key=lambda stored: stored.id)

    async def get_revisions(self, document_id: str, branch: str = "main") -> Revisions:
        async with self._db.snapshot() as conn:
            scopes = await conn.fetch(
                "SELECT scope, max(idx) FROM operations"
                " WHERE document_id = ? AND branch = ? GROUP BY scope ORDER BY scope",
                (document_id, branch),
            )
            latest = await conn.fetch(
                "SELECT max(timestamp_us) FROM operations WHERE document_id = ? AND branch = ?",
                (document_id, branch),
            )
        instant = latest[0][0]
        return Revisions(
            {scope: last + 1 for scope, last in scopes},
            EPOCH_ISO if instant is None else iso_from_us(instant),
        )

    async def get_conflicting(
        self,
        document_id: str,
        scope: str,
        branch: str,
        min_timestamp: str,
        paging: Paging | None = None,
    ) -> Page[StoredOperation]:
        since = query_instant_us(min_timestamp, "get_conflicting", "min_timestamp")
        after = cursor_key(paging, "get_conflicting")
        size = page_limit(paging, "get_conflicting")
        rows = await self._db.read(
            f"SELECT {_COLUMNS} FROM operations WHERE document_id = ? AND scope = ?"  # noqa: S608
            " AND branch = ? AND timestamp_us >= ? AND idx > ? ORDER BY idx LIMIT ?",
            (
                document_id,
                scope,
                branch,
                since,
                -1 if after is None else after,
                -1 if size is None else size + 1,
            ),
        )
        return _page(rows, size, key=lambda stored: stored.index)


def _page(
    rows: Sequence[Row], size: int | None, key: Callable[[StoredOperation], int]
) -> Page[StoredOperation]:
    return to_page([_stored(row) for row in rows], size, key)
