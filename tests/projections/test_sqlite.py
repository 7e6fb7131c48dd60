"""How the SQLite stores hold their file: WAL, foreign keys, idempotent schema, clear failures."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from projections.stores.exceptions import SchemaVersionError, StoreIOError
from projections.stores.legacy import DocumentDeletion
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from projections.stores.operation_store_sqlite import SqliteOperationStore
from projections.stores.sqlite import Migration, SqliteDatabase
from projections.stores.tracking import TopicPartition
from tests.projections.builders import (
    DOCUMENT_MODEL,
    Clock,
    deleted_document,
    document,
    operations,
)


def _query(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute(sql).fetchall())


async def test_stores_use_wal_and_record_their_schema(tmp_path: Path) -> None:
    legacy = await SqliteLegacyStorage.open(tmp_path / "legacy.sqlite")
    await legacy.close()
    operations_store = await SqliteOperationStore.open(tmp_path / "operations.sqlite")
    await operations_store.close()
    assert _query(tmp_path / "legacy.sqlite", "PRAGMA journal_mode") == [("wal",)]
    assert _query(tmp_path / "legacy.sqlite", "SELECT * FROM schema_versions ORDER BY 1") == [
        ("legacy", 2),
        ("tracking", 1),
    ]
    assert _query(tmp_path / "operations.sqlite", "SELECT * FROM schema_versions ORDER BY 1") == [
        ("operations", 1),
        ("tracking", 1),
    ]


async def test_opening_again_migrates_nothing_and_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "legacy.sqlite"
    doc = document("doc-1", ops={"global": operations(0, 1)})
    async with await SqliteLegacyStorage.open(path) as store:
        await store.create_document(doc)
    tables = _query(path, "SELECT name FROM sqlite_master ORDER BY name")
    for _ in range(2):
        async with await SqliteLegacyStorage.open(path) as store:
            assert await store.get_document("doc-1") == doc
    assert _query(path, "SELECT name FROM sqlite_master ORDER BY name") == tables
    assert _query(path, "SELECT * FROM schema_versions ORDER BY 1") == [
        ("legacy", 2),
        ("tracking", 1),
    ]


async def test_both_stores_can_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "projections.sqlite"
    async with (
        await SqliteLegacyStorage.open(path) as legacy,
        await SqliteOperationStore.open(path, clock=Clock()) as store,
    ):
        async with legacy.batch() as batch:
            await batch.create_document(document("doc-1"))
            batch.record_position("legacy", "operations", 0, 1)
        async with store.batch() as batch:
            await batch.apply("doc-1", DOCUMENT_MODEL, "global", "main", 0, operations(0))
            batch.record_position("operation-store", "operations", 0, 1)
        assert await legacy.get_positions("legacy") == {TopicPartition("operations", 0): 1}
        assert await store.get_positions("operation-store") == {TopicPartition("operations", 0): 1}
    assert _query(path, "SELECT * FROM schema_versions ORDER BY 1") == [
        ("legacy", 2),
        ("operations", 1),
        ("tracking", 1),
    ]


async def test_deleting_a_document_deletes_its_operation_rows(tmp_path: Path) -> None:
    path = tmp_path / "legacy.sqlite"
    async with await SqliteLegacyStorage.open(path) as store:
        await store.create_document(document("doc-1", ops={"global": operations(0, 1, 2)}))
        await store.create_document(document("doc-2", ops={"global": operations(0)}))
        assert await store.delete("doc-1") is True
    assert _query(path, "SELECT count(*) FROM legacy_operations") == [(1,)]


async def test_a_deleted_document_leaves_a_record_and_no_operation_row(tmp_path: Path) -> None:
    path = tmp_path / "legacy.sqlite"
    gone = deleted_document("doc-1")
    async with await SqliteLegacyStorage.open(path) as store:
        await store.create_document(gone)
        await store.create_document(document("doc-2", ops={"global": operations(0)}))
        assert await store.delete("doc-1", DocumentDeletion.of(gone)) is True
    assert _query(path, "SELECT count(*) FROM legacy_operations") == [(1,)]
    assert _query(path, "SELECT id FROM legacy_documents") == [("doc-2",)]
    assert _query(path, "SELECT * FROM legacy_deletions") == [
        (
            "doc-1",
            DOCUMENT_MODEL,
            "2024-01-01T00:01:00.000Z",
            gone.operations["document"][1].id,
            1,
            0,
            "hash-document-1",
            '{"document":2,"global":2}',
        )
    ]


async def test_a_store_of_the_first_schema_deletes_its_deleted_documents(tmp_path: Path) -> None:
    """Before version 2, the projector kept a deleted document readable: the migration
    deletes it as the projector now does, keeping its record."""
    path = tmp_path / "legacy.sqlite"
    gone, kept = deleted_document("doc-1", slug="gone"), document("doc-2", slug="kept")
    async with await SqliteLegacyStorage.open(path) as store:
        await store.create_document(gone)  # stored whole, as version 1 stored it
        await store.create_document(kept)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE legacy_deletions")
        conn.execute("UPDATE schema_versions SET version = 1 WHERE component = 'legacy'")
    async with await SqliteLegacyStorage.open(path) as store:
        assert await store.exists("doc-1") is False
        assert await store.get_deletion("doc-1") == DocumentDeletion.of(gone)
        assert await store.get_document("doc-2") == kept
        assert (await store.find_by_type(DOCUMENT_MODEL)).results == ["doc-2"]
    assert _query(path, "SELECT count(*) FROM legacy_operations") == [(0,)]
    assert _query(path, "SELECT * FROM schema_versions ORDER BY 1") == [
        ("legacy", 2),
        ("tracking", 1),
    ]


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "legacy.sqlite"
    await (await SqliteLegacyStorage.open(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_versions SET version = 3 WHERE component = 'legacy'")
    with pytest.raises(SchemaVersionError) as raised:
        await SqliteLegacyStorage.open(path)
    assert str(raised.value) == (
        f"SQLite store {path}: schema of legacy is at version 3, "
        "this reactor-es knows versions up to 2"
    )


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_bytes(b"these are notes, not a database" * 100)
    with pytest.raises(StoreIOError) as raised:
        await SqliteOperationStore.open(path)
    assert str(raised.value) == f"SQLite store {path}: file is not a database"


async def test_a_failed_statement_rolls_the_batch_back_even_if_swallowed(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    schema = {"t": (Migration(1, ("CREATE TABLE t (n INTEGER PRIMARY KEY)",)),)}
    db = await SqliteDatabase.open("test store", path, schema)

    async def swallow_a_failure() -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO t VALUES (1)")
            with pytest.raises(sqlite3.OperationalError):
                await conn.execute("INSERT INTO missing VALUES (2)")
            with pytest.raises(StoreIOError):
                await conn.execute("INSERT INTO t VALUES (3)")

    with pytest.raises(StoreIOError) as raised:
        await swallow_a_failure()
    assert str(raised.value) == (
        f"SQLite store {path}: batch rolled back after a failed statement: no such table: missing"
    )
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO t VALUES (4)")
    await db.close()
    assert _query(path, "SELECT n FROM t ORDER BY n") == [(4,)]


async def test_a_write_waits_for_another_process_holding_the_file(tmp_path: Path) -> None:
    path = tmp_path / "operations.sqlite"
    async with await SqliteOperationStore.open(path, clock=Clock()) as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        write = asyncio.create_task(
            store.apply("doc-1", DOCUMENT_MODEL, "global", "main", 0, operations(0))
        )
        await asyncio.sleep(0.2)
        assert not write.done()
        # Reads are not blocked by the other writer.
        assert (await store.get_revisions("doc-1")).revision == {}
        other.execute("ROLLBACK")
        other.close()
        rows = await write
        assert [row.id for row in rows] == [1]
