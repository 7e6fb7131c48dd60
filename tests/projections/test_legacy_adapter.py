"""The phase-6 legacy adapter: the legacy READ contract over the operation store, writes refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from projections.legacy_adapter import (
    DocumentSnapshot,
    MemoryDocumentSnapshots,
    OperationStoreFile,
    OperationStoreLegacyReader,
    ReadOnlyLegacyStorageError,
)
from projections.stores.exceptions import StoreError
from projections.stores.legacy import DocumentDeletion, LegacyStorageReader
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from projections.stores.operation_store import OperationStoreWriter
from projections.stores.operation_store_memory import MemoryOperationStore
from reactor_es.document.ids import derive_operation_id
from reactor_es.document.types import Document, Operation
from tests.projections.builders import Clock, deleted_document, document, operation, operations
from tests.projections.conftest import CORPUS_DOCUMENTS, CORPUS_OPERATIONS, Export
from tests.projections.contracts import LegacyStorageReadContract


async def store_document(writer: OperationStoreWriter, doc: Document) -> None:
    """Every scope's history of `doc` as rows of its streams, as the projector writes them."""
    for scope, history in doc.operations.items():
        if history:
            await writer.apply(doc.id, doc.document_type, scope, doc.header.branch, 0, history)


async def open_sqlite_adapter(directory: Path, documents: Sequence[Document]) -> OperationStoreFile:
    store = await OperationStoreFile.open(directory / "operations.db", clock=Clock())
    for doc in documents:
        async with store.batch() as batch:
            await store_document(batch.operations, doc)
            batch.snapshots.put(doc)
    return store


class TestSqliteLegacyAdapter(LegacyStorageReadContract):
    async def open_reader(
        self, directory: Path, documents: Sequence[Document]
    ) -> LegacyStorageReader:
        return (await open_sqlite_adapter(directory, documents)).legacy_reader()


class TestMemoryLegacyAdapter(LegacyStorageReadContract):
    async def open_reader(
        self, directory: Path, documents: Sequence[Document]
    ) -> LegacyStorageReader:
        operations = MemoryOperationStore(clock=Clock())
        snapshots = MemoryDocumentSnapshots()
        for doc in documents:
            await store_document(operations, doc)
            snapshots.put(doc)
        return OperationStoreLegacyReader(operations, snapshots)


# --- beyond the read contract ------------------------------------------------------------


async def test_writes_are_refused_with_a_clear_error(tmp_path: Path) -> None:
    doc = document("doc-1", ops={"global": operations(0, 1)})
    async with (await open_sqlite_adapter(tmp_path, [doc])).legacy_reader() as reader:
        with pytest.raises(ReadOnlyLegacyStorageError) as raised:
            await reader.add_document_operations("doc-1", [operation(2)], doc)
        assert str(raised.value) == (
            "legacy storage is a read-only adapter over the operation store in phase 6: "
            "add_document_operations of document doc-1 refused "
            "(write through the Reactor instead)"
        )
        with pytest.raises(ReadOnlyLegacyStorageError, match=r"create_document of document doc-2"):
            await reader.create_document(document("doc-2"))
        with pytest.raises(ReadOnlyLegacyStorageError, match=r": delete of document doc-1 "):
            await reader.delete("doc-1")
        # Nothing changed.
        assert await reader.get_document("doc-1") == doc
        assert await reader.exists("doc-2") is False


async def test_a_file_of_the_first_snapshot_schema_knows_its_deleted_documents(
    tmp_path: Path,
) -> None:
    gone, kept = deleted_document("doc-1", slug="gone"), document("doc-2", slug="gone")
    await (await open_sqlite_adapter(tmp_path, [gone, kept])).close()
    with sqlite3.connect(tmp_path / "operations.db") as conn:
        conn.execute("ALTER TABLE document_snapshots DROP COLUMN deleted_at")
        conn.execute(
            "UPDATE schema_versions SET version = 1 WHERE component = 'document_snapshots'"
        )
    async with await OperationStoreFile.open(tmp_path / "operations.db") as store:
        reader = store.legacy_reader()
        assert await reader.exists("doc-1") is False
        assert (await reader.get_document_by_slug("gone")).id == "doc-2"
        assert await reader.get_deletion("doc-1") == DocumentDeletion.of(gone)
        assert await reader.get_held_document("doc-1") == gone
        assert await reader.deleted_documents() == ["doc-1"]


async def test_revision_and_operations_come_from_the_rows_not_the_snapshot(
    tmp_path: Path,
) -> None:
    doc = document("doc-1", ops={"global": operations(0, 1), "local": []})
    store = await open_sqlite_adapter(tmp_path, [doc])
    async with store:
        # Rows written without a new snapshot (only a hand edit or a bug can do this).
        await store.operations.apply(doc.id, doc.document_type, "global", "main", 2, [operation(2)])
        read = await store.legacy_reader().get_document("doc-1")
    assert read.header.revision == {"global": 3, "local": 0}
    assert [op.index for op in read.operations["global"]] == [0, 1, 2]
    assert read.state == doc.state


class _ChangingSnapshots(MemoryDocumentSnapshots):
    """Bumps the version of doc-1 during the first `changes` reads of its rows."""

    def __init__(self, changes: int) -> None:
        super().__init__()
        self.changes = changes
        self.reads = 0

    async def get(self, document_id: str) -> DocumentSnapshot | None:
        self.reads += 1
        return await super().get(document_id)

    async def version(self, document_id: str) -> int | None:
        held = await super().get(document_id)
        if held is not None and self.changes > 0:
            self.changes -= 1
            return held.version + 1
        return None if held is None else held.version


@pytest.mark.parametrize(("changes", "reads"), [(1, 2), (4, 5)])
async def test_a_read_torn_by_a_write_is_done_again(changes: int, reads: int) -> None:
    snapshots = _ChangingSnapshots(changes)
    ops = MemoryOperationStore(clock=Clock())
    doc = document("doc-1", ops={"global": operations(0)})
    await store_document(ops, doc)
    snapshots.put(doc)
    reader = OperationStoreLegacyReader(ops, snapshots)
    assert await reader.get_document("doc-1") == doc
    assert snapshots.reads == reads


async def test_a_document_that_never_holds_still_is_an_error() -> None:
    snapshots = _ChangingSnapshots(5)
    ops = MemoryOperationStore(clock=Clock())
    doc = document("doc-1", ops={"global": operations(0)})
    snapshots.put(doc)
    reader = OperationStoreLegacyReader(ops, snapshots)
    with pytest.raises(StoreError) as raised:
        await reader.get_document("doc-1")
    assert str(raised.value) == "document doc-1 changed during each of 5 reads; try again"


def _with_action_ids(doc: Document) -> Document:
    """The export as the pipeline stores it: every operation has an action id (op ids follow)."""
    ready = doc.model_copy(deep=True)
    for scope, history in ready.operations.items():
        fixed: list[Operation] = []
        for op in history:
            action_id = op.action.id or f"{doc.id}-{scope}-{op.index}"
            fixed.append(
                op.model_copy(
                    update={
                        "id": derive_operation_id(doc.id, scope, "main", action_id),
                        "action": op.action.model_copy(update={"id": action_id}),
                    }
                )
            )
        ready.operations[scope] = fixed
    return ready


async def test_every_real_export_reads_as_legacy_storage_reads_it(
    tmp_path: Path, phd_exports: list[Export]
) -> None:
    documents = [_with_action_ids(export.document) for export in phd_exports]
    legacy_dir, adapter_dir = tmp_path / "legacy", tmp_path / "adapter"
    adapter_dir.mkdir()
    async with (
        await SqliteLegacyStorage.open(legacy_dir / "legacy.db") as legacy,
        (await open_sqlite_adapter(adapter_dir, documents)).legacy_reader() as adapter,
    ):
        for doc in documents:
            await legacy.create_document(doc)
        operations_read = 0
        for doc in documents:
            theirs = await legacy.get_document(doc.id)
            ours = await adapter.get_document(doc.id)
            assert ours.to_json() == theirs.to_json(), doc.id
            assert list(ours.operations) == list(theirs.operations), doc.id
            operations_read += sum(len(ops) for ops in ours.operations.values())
        assert operations_read == CORPUS_OPERATIONS
        ids = (await adapter.find_by_type("powerhouse/document-model", limit=None)).results
        assert ids == [f"export-{n:02d}" for n in range(CORPUS_DOCUMENTS)]
