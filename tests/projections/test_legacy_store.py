"""The legacy storage contract, run against the SQLite and the in-memory adapter."""

from __future__ import annotations

from pathlib import Path

from projections.stores.legacy import LegacyStorage
from projections.stores.legacy_memory import MemoryLegacyStorage
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from projections.stores.tracking import TopicPartition
from tests.projections.builders import document, operation, operations
from tests.projections.contracts import LegacyStorageContract


class TestSqliteLegacyStorage(LegacyStorageContract):
    async def open_store(self, directory: Path) -> LegacyStorage:
        return await SqliteLegacyStorage.open(directory / "legacy.sqlite")

    async def test_documents_and_positions_survive_reopening(self, tmp_path: Path) -> None:
        path = tmp_path / "legacy.sqlite"
        doc = document("doc-1", slug="first", ops={"global": operations(0, 1), "local": []})
        async with await SqliteLegacyStorage.open(path) as store, store.batch() as batch:
            await batch.create_document(doc)
            batch.record_position("legacy", "operations", 4, 120)
        async with await SqliteLegacyStorage.open(path) as store:
            assert await store.get_document("doc-1") == doc
            assert await store.get_positions("legacy") == {TopicPartition("operations", 4): 120}
            await store.add_document_operations("doc-1", [operation(2)], doc)
            assert (await store.get_document("doc-1")).header.revision == {"global": 3, "local": 0}


class TestMemoryLegacyStorage(LegacyStorageContract):
    async def open_store(self, directory: Path) -> LegacyStorage:
        return MemoryLegacyStorage()
