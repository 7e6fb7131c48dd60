"""The operation store contract, run against the SQLite and the in-memory adapter."""

from __future__ import annotations

from pathlib import Path

from projections.stores.operation_store import OperationStore
from projections.stores.operation_store_memory import MemoryOperationStore
from projections.stores.operation_store_sqlite import SqliteOperationStore
from projections.stores.tracking import TopicPartition
from tests.projections.builders import DOCUMENT_MODEL, Clock, operations
from tests.projections.contracts import OperationStoreContract


class TestSqliteOperationStore(OperationStoreContract):
    async def open_store(self, directory: Path) -> OperationStore:
        return await SqliteOperationStore.open(directory / "operations.sqlite", clock=Clock())

    async def test_rows_and_positions_survive_reopening(self, tmp_path: Path) -> None:
        path = tmp_path / "operations.sqlite"
        store = await SqliteOperationStore.open(path, clock=Clock())
        async with store, store.batch() as batch:
            first = await batch.apply(
                "doc-1", DOCUMENT_MODEL, "global", "main", 0, operations(0, 1)
            )
            batch.record_position("operation-store", "operations", 0, 2)
        async with await SqliteOperationStore.open(path, clock=Clock()) as store:
            assert (await store.get_since_id(0)).results == first
            assert await store.get_positions("operation-store") == {
                TopicPartition("operations", 0): 2
            }
            again = await store.apply(
                "doc-1", DOCUMENT_MODEL, "global", "main", 0, operations(0, 1)
            )
            assert again == first
            more = await store.apply("doc-1", DOCUMENT_MODEL, "global", "main", 2, operations(2))
            assert (more[0].id, more[0].prev_op_id) == (3, first[1].op_id)


class TestMemoryOperationStore(OperationStoreContract):
    async def open_store(self, directory: Path) -> OperationStore:
        return MemoryOperationStore(clock=Clock())
