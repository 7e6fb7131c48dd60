"""Contract test suites: one abstract suite per store interface, subclassed once per adapter.

As the `eventsourcing` library tests its recorders: the suites here are not collected
(their names do not start with `Test`); each `test_*.py` module subclasses them and supplies
the factory of its adapter. A future adapter (the phase-6 legacy reader over the operation
store) subclasses `LegacyStorageReadContract` alone and supplies `open_reader`.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka.structs import TopicPartition as KafkaTopicPartition

from projections.stores.exceptions import (
    BatchError,
    InvalidOperationError,
    InvalidPositionError,
    InvalidQueryError,
    PositionRegressionError,
    PositionTimeoutError,
    StoreClosedError,
    StoreError,
)
from projections.stores.legacy import (
    ConflictOperationError,
    DocumentAlreadyExistsError,
    DocumentDeletion,
    DocumentMismatchError,
    DocumentNotFoundError,
    LegacyStorage,
    LegacyStorageReader,
    MissingOperationError,
    OperationKey,
    StaleOperationError,
    SyncUnit,
    SyncUnitRevision,
)
from projections.stores.operation_store import (
    EPOCH_ISO,
    DuplicateOperationError,
    OperationFilter,
    OperationStore,
    RevisionMismatchError,
    StoredOperation,
)
from projections.stores.paging import Page, Paging
from projections.stores.tracking import TopicPartition
from reactor_es.document.ids import derive_operation_id
from reactor_es.document.state import is_deleted
from reactor_es.document.types import Document, Operation
from tests.projections.builders import (
    DOCUMENT_MODEL,
    deleted_document,
    document,
    operation,
    operations,
)
from tests.projections.conftest import CORPUS_DOCUMENTS, CORPUS_OPERATIONS, Export

__all__ = [
    "LegacyStorageContract",
    "LegacyStorageReadContract",
    "OperationStoreContract",
    "TrackingContract",
]

DRIVE = "powerhouse/document-drive"
Seed = Callable[..., Awaitable[LegacyStorageReader]]


def _ids(page: Page[StoredOperation]) -> list[tuple[int, int]]:
    """(row id, index) of each result: what a page holds, in its order."""
    return [(row.id, row.index) for row in page.results]


# =========================================================================================
# Legacy storage
# =========================================================================================


class LegacyStorageReadContract(ABC):
    """What every legacy reader serves, whatever stores the documents."""

    @abstractmethod
    async def open_reader(
        self, directory: Path, documents: Sequence[Document]
    ) -> LegacyStorageReader:
        """A reader over a fresh store holding exactly `documents` (created in that order);
        a document whose state says it is deleted (`deleted_document`) is then deleted, as
        its store deletes a document whose DELETE_DOCUMENT it stored."""

    @pytest.fixture
    async def seed(self, tmp_path: Path) -> AsyncIterator[Seed]:
        opened: list[LegacyStorageReader] = []

        async def seed(*documents: Document) -> LegacyStorageReader:
            directory = tmp_path / f"store-{len(opened)}"
            directory.mkdir()
            reader = await self.open_reader(directory, documents)
            opened.append(reader)
            return reader

        yield seed
        for reader in opened:
            await reader.close()

    @staticmethod
    def first() -> Document:
        return document(
            "doc-1",
            slug="first",
            name="First",
            state_note="one",
            ops={
                "global": operations(0, 1, 2),
                "local": [operation(0, scope="local", type="SET_OPEN")],
            },
            clipboard=[operation(9, tag="-undone")],
        )

    async def test_get_document_gives_back_the_document(self, seed: Seed) -> None:
        reader = await seed(self.first())
        stored = await reader.get_document("doc-1")
        assert stored == self.first()
        assert stored.header.revision == {"global": 3, "local": 1}
        assert [op.index for op in stored.operations["global"]] == [0, 1, 2]
        assert stored.operations["local"][0].action.type == "SET_OPEN"
        assert stored.clipboard[0].hash == "hash-global-9-undone"
        assert stored.state["global"] == {"name": "First", "notes": ["one"], "n": 1.5}
        assert stored.state["local"] == {"open": None}

    async def test_scopes_without_operations_come_back_empty(self, seed: Seed) -> None:
        reader = await seed(document("doc-1", ops={"global": [], "local": []}))
        stored = await reader.get_document("doc-1")
        assert stored.operations == {"global": [], "local": []}
        assert stored.header.revision == {"global": 0, "local": 0}

    async def test_garbage_collected_history_reads_back_with_its_gap(self, seed: Seed) -> None:
        gapped = document("doc-3", ops={"global": [*operations(0, 1), operation(6, skip=4)]})
        reader = await seed(gapped)
        history = (await reader.get_operations("doc-3", "global"))["global"]
        assert [(op.index, op.skip) for op in history] == [(0, 0), (1, 0), (6, 4)]
        assert (await reader.get_document("doc-3")).header.revision == {"global": 7}

    async def test_missing_document_is_an_error_naming_it(self, seed: Seed) -> None:
        reader = await seed(self.first())
        with pytest.raises(DocumentNotFoundError) as raised:
            await reader.get_document("nope")
        assert str(raised.value) == "Document with id nope not found"
        assert raised.value.document_id == "nope"
        with pytest.raises(DocumentNotFoundError, match=r"^Document with id nope not found$"):
            await reader.get_operations("nope")

    async def test_get_document_by_slug(self, seed: Seed) -> None:
        reader = await seed(self.first(), document("doc-2", slug=""))
        assert (await reader.get_document_by_slug("first")).id == "doc-1"
        with pytest.raises(DocumentNotFoundError) as raised:
            await reader.get_document_by_slug("second")
        assert str(raised.value) == "Document with slug second not found"
        with pytest.raises(DocumentNotFoundError, match=r"^Document with slug  not found$"):
            await reader.get_document_by_slug("")

    async def test_get_operations_by_scope(self, seed: Seed) -> None:
        reader = await seed(self.first())
        every = await reader.get_operations("doc-1")
        assert {scope: [op.index for op in ops] for scope, ops in every.items()} == {
            "global": [0, 1, 2],
            "local": [0],
        }
        assert every["global"] == operations(0, 1, 2)
        assert await reader.get_operations("doc-1", "local") == {
            "local": [operation(0, scope="local", type="SET_OPEN")]
        }
        assert await reader.get_operations("doc-1", "header") == {"header": []}

    async def test_exists(self, seed: Seed) -> None:
        reader = await seed(self.first())
        assert await reader.exists("doc-1") is True
        assert await reader.exists("doc-2") is False

    async def test_find_by_type_pages_in_creation_order(self, seed: Seed) -> None:
        docs = [document(f"m-{n}") for n in (5, 3, 9, 1, 7)]
        reader = await seed(docs[0], document("drive-1", document_type=DRIVE), *docs[1:])
        first = await reader.find_by_type(DOCUMENT_MODEL, limit=2)
        assert first.results == ["m-5", "m-3"]
        assert first.next_cursor is not None
        second = await reader.find_by_type(DOCUMENT_MODEL, limit=2, cursor=first.next_cursor)
        assert second.results == ["m-9", "m-1"]
        third = await reader.find_by_type(DOCUMENT_MODEL, limit=2, cursor=second.next_cursor)
        assert third == Page(["m-7"], None)
        assert (await reader.find_by_type(DOCUMENT_MODEL, limit=None)).results == [
            "m-5",
            "m-3",
            "m-9",
            "m-1",
            "m-7",
        ]
        assert await reader.find_by_type(DRIVE) == Page(["drive-1"], None)
        assert await reader.find_by_type("nobody/uses-this") == Page([], None)

    async def test_find_by_type_refuses_bad_paging(self, seed: Seed) -> None:
        reader = await seed(self.first())
        with pytest.raises(InvalidQueryError) as raised:
            await reader.find_by_type(DOCUMENT_MODEL, cursor="m-3")
        assert str(raised.value) == "find_by_type: cursor 'm-3' was not issued by this store"
        with pytest.raises(InvalidQueryError) as raised:
            await reader.find_by_type(DOCUMENT_MODEL, limit=0)
        assert str(raised.value) == "find_by_type: paging limit must be a positive integer, got 0"

    async def test_a_deleted_document_reads_as_after_delete_document(self, seed: Seed) -> None:
        gone = deleted_document("doc-2", slug="gone")
        reader = await seed(self.first(), gone, document("doc-3", slug="third"))
        for read in (reader.get_document, reader.get_operations):
            with pytest.raises(DocumentNotFoundError) as raised:
                await read("doc-2")
            assert str(raised.value) == "Document with id doc-2 not found"
        with pytest.raises(DocumentNotFoundError, match=r"^Document with slug gone not found$"):
            await reader.get_document_by_slug("gone")
        assert await reader.exists("doc-2") is False
        assert await reader.find_by_type(DOCUMENT_MODEL) == Page(["doc-1", "doc-3"], None)
        assert await reader.get_synchronization_units_revision([SyncUnit("doc-2", "global")]) == []
        # What reactor-es keeps of it, beside the legacy interface.
        assert await reader.get_deletion("doc-2") == DocumentDeletion(
            document_id="doc-2",
            document_type=DOCUMENT_MODEL,
            deleted_at="2024-01-01T00:01:00.000Z",
            operation=OperationKey.of(gone.operations["document"][1]),
            revisions={"document": 2, "global": 2},
        )
        assert await reader.get_deletion("doc-1") is None
        assert await reader.get_deletion("nope") is None
        assert await reader.deleted_documents() == ["doc-2"]
        assert (await reader.get_document("doc-3")).id == "doc-3"

    async def test_synchronization_units_revision(self, seed: Seed) -> None:
        reader = await seed(self.first())
        units = [
            SyncUnit("doc-1", "global"),
            SyncUnit("missing", "global"),
            SyncUnit("doc-1", "header"),
            SyncUnit("doc-1", "local"),
            SyncUnit("doc-1", "global", branch="draft"),
        ]
        assert await reader.get_synchronization_units_revision(units) == [
            SyncUnitRevision(
                "doc-1", DOCUMENT_MODEL, "global", "main", "2024-01-01T00:00:02.000Z", 3
            ),
            SyncUnitRevision(
                "doc-1", DOCUMENT_MODEL, "header", "main", "2024-01-01T00:00:00.000Z", 0
            ),
            SyncUnitRevision(
                "doc-1", DOCUMENT_MODEL, "local", "main", "2024-01-01T00:00:00.000Z", 1
            ),
            SyncUnitRevision(
                "doc-1", DOCUMENT_MODEL, "global", "draft", "2024-01-01T00:00:00.000Z", 0
            ),
        ]


class TrackingContract(ABC):
    """Rows and consumed positions commit together; positions only move forward."""

    @abstractmethod
    async def open_tracked(self, directory: Path) -> Any:
        """A fresh store with `batch()`, `get_positions()` and `wait_for_position()`."""

    @abstractmethod
    async def write_rows(self, batch: Any, start: int, count: int) -> None:
        """Write `count` valid rows through `batch` (numbered from `start`)."""

    @abstractmethod
    async def write_bad_row(self, batch: Any) -> None:
        """Attempt a write that the store must refuse with a `StoreError`."""

    @abstractmethod
    async def count_rows(self, store: Any) -> int:
        """How many rows written by `write_rows` the store holds (committed)."""

    @pytest.fixture
    async def tracked(self, tmp_path: Path) -> AsyncIterator[Any]:
        store = await self.open_tracked(tmp_path)
        yield store
        await store.close()

    async def test_fresh_store_has_no_positions(self, tracked: Any) -> None:
        assert await tracked.get_positions("projector") == {}

    async def test_rows_and_positions_commit_together(self, tracked: Any) -> None:
        async with tracked.batch() as batch:
            await self.write_rows(batch, 0, 3)
            batch.record_position("projector", "operations", 0, 41)
            batch.record_position("projector", "operations", 0, 42)
            batch.record_position("projector", "operations", 2, 7)
            batch.record_position("other", "operations", 0, 5)
        assert await self.count_rows(tracked) == 3
        positions = await tracked.get_positions("projector")
        assert positions == {
            TopicPartition("operations", 0): 42,
            TopicPartition("operations", 2): 7,
        }
        # aiokafka's own TopicPartition finds the same entries.
        assert positions[KafkaTopicPartition("operations", 2)] == 7
        assert await tracked.get_positions("other") == {TopicPartition("operations", 0): 5}

    async def test_an_exception_leaving_the_batch_writes_nothing(self, tracked: Any) -> None:
        async with tracked.batch() as batch:
            await self.write_rows(batch, 0, 2)
            batch.record_position("projector", "operations", 0, 10)

        async def crash() -> None:
            async with tracked.batch() as batch:
                await self.write_rows(batch, 2, 5)
                batch.record_position("projector", "operations", 0, 20)
                raise RuntimeError("projector crashed")

        with pytest.raises(RuntimeError, match=r"^projector crashed$"):
            await crash()
        assert await self.count_rows(tracked) == 2
        assert await tracked.get_positions("projector") == {TopicPartition("operations", 0): 10}

    async def test_a_refused_call_inside_a_batch_writes_nothing_and_the_batch_goes_on(
        self, tracked: Any
    ) -> None:
        async with tracked.batch() as batch:
            await self.write_rows(batch, 0, 2)
            with pytest.raises(StoreError):
                await self.write_bad_row(batch)
            await self.write_rows(batch, 2, 1)
            batch.record_position("projector", "operations", 1, 3)
        assert await self.count_rows(tracked) == 3
        assert await tracked.get_positions("projector") == {TopicPartition("operations", 1): 3}

    async def test_a_position_moving_back_refuses_the_whole_batch(self, tracked: Any) -> None:
        async with tracked.batch() as batch:
            await self.write_rows(batch, 0, 1)
            batch.record_position("projector", "operations", 0, 100)

        async def move_back() -> None:
            async with tracked.batch() as batch:
                await self.write_rows(batch, 1, 4)
                batch.record_position("projector", "operations", 0, 60)

        with pytest.raises(PositionRegressionError) as raised:
            await move_back()
        assert str(raised.value) == (
            "position of consumer projector on operations[0] would move back from offset 100 to 60"
        )
        assert await self.count_rows(tracked) == 1
        assert await tracked.get_positions("projector") == {TopicPartition("operations", 0): 100}

    async def test_a_position_moving_back_inside_a_batch_is_refused_at_once(
        self, tracked: Any
    ) -> None:
        async with tracked.batch() as batch:
            batch.record_position("projector", "operations", 0, 9)
            with pytest.raises(PositionRegressionError, match=r"from offset 9 to 8$"):
                batch.record_position("projector", "operations", 0, 8)
        assert await tracked.get_positions("projector") == {TopicPartition("operations", 0): 9}

    @pytest.mark.parametrize(
        ("position", "message"),
        [
            (("", "operations", 0, 1), "position needs a consumer name, got ''"),
            (("p", "", 0, 1), "position of consumer p needs a topic, got ''"),
            (
                ("p", "operations", -1, 1),
                "position of consumer p on operations: partition must be a non-negative "
                "integer, got -1",
            ),
            (
                ("p", "operations", 0, -5),
                "position of consumer p on operations: offset must be a non-negative "
                "integer, got -5",
            ),
            (
                ("p", "operations", 0, True),
                "position of consumer p on operations: offset must be a non-negative "
                "integer, got True",
            ),
        ],
    )
    async def test_bad_positions_are_refused(
        self, tracked: Any, position: tuple[Any, ...], message: str
    ) -> None:
        async with tracked.batch() as batch:
            with pytest.raises(InvalidPositionError) as raised:
                batch.record_position(*position)
        assert str(raised.value) == message
        assert await tracked.get_positions("p") == {}

    async def test_a_batch_cannot_be_used_after_it_ended(self, tracked: Any) -> None:
        async with tracked.batch() as batch:
            pass
        with pytest.raises(BatchError, match=r": the batch has ended; open a new one$"):
            batch.record_position("projector", "operations", 0, 1)
        with pytest.raises(BatchError, match=r": the batch has ended; open a new one$"):
            await self.write_rows(batch, 0, 1)
        assert await self.count_rows(tracked) == 0

    async def test_readers_see_a_batch_only_once_it_commits(self, tracked: Any) -> None:
        async with tracked.batch() as batch:
            await self.write_rows(batch, 0, 2)
            batch.record_position("projector", "operations", 0, 2)
            assert await self.count_rows(tracked) == 0
            assert await tracked.get_positions("projector") == {}
        assert await self.count_rows(tracked) == 2

    async def test_batches_from_concurrent_tasks_take_turns(self, tracked: Any) -> None:
        order: list[str] = []

        async def project(name: str, start: int) -> None:
            async with tracked.batch() as batch:
                order.append(f"{name} begins")
                await self.write_rows(batch, start, 2)
                await asyncio.sleep(0.01)
                batch.record_position(name, "operations", 0, start + 2)
                order.append(f"{name} ends")

        await asyncio.gather(project("a", 0), project("b", 10))
        assert order == ["a begins", "a ends", "b begins", "b ends"]
        assert await self.count_rows(tracked) == 4

    async def test_wait_for_position_returns_once_committed(self, tracked: Any) -> None:
        async def project() -> None:
            await asyncio.sleep(0.02)
            async with tracked.batch() as batch:
                await self.write_rows(batch, 0, 1)
                batch.record_position("projector", "operations", 3, 8)

        writer = asyncio.create_task(project())
        await tracked.wait_for_position("projector", "operations", 3, 8, within=5.0)
        assert await self.count_rows(tracked) == 1
        await writer

    async def test_wait_for_position_gives_up(self, tracked: Any) -> None:
        async with tracked.batch() as batch:
            batch.record_position("projector", "operations", 3, 4)
        with pytest.raises(PositionTimeoutError) as raised:
            await tracked.wait_for_position("projector", "operations", 3, 8, within=0.05)
        assert str(raised.value) == (
            "consumer projector did not reach offset 8 on operations[3] within 0.05 s "
            "(it is at offset 4)"
        )


class LegacyStorageContract(LegacyStorageReadContract, TrackingContract):
    """Writes of the legacy interface, and tracking, for stores that implement both."""

    @abstractmethod
    async def open_store(self, directory: Path) -> LegacyStorage:
        """A fresh, empty legacy store."""

    async def open_reader(
        self, directory: Path, documents: Sequence[Document]
    ) -> LegacyStorageReader:
        store = await self.open_store(directory)
        for doc in documents:
            await store.create_document(doc)
            if is_deleted(doc.state):
                await store.delete(doc.id, DocumentDeletion.of(doc))
        return store

    async def open_tracked(self, directory: Path) -> LegacyStorage:
        return await self.open_store(directory)

    async def write_rows(self, batch: Any, start: int, count: int) -> None:
        for n in range(start, start + count):
            await batch.create_document(document(f"track-{n}"))

    async def write_bad_row(self, batch: Any) -> None:
        await batch.add_document_operations("track-missing", [], document("track-missing"))

    async def count_rows(self, store: Any) -> int:
        return len((await store.find_by_type(DOCUMENT_MODEL, limit=None)).results)

    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[LegacyStorage]:
        store = await self.open_store(tmp_path)
        yield store
        await store.close()

    async def seeded(self, store: LegacyStorage) -> Document:
        """doc-1 with global [0, 1, 2] and local [0]."""
        doc = self.first()
        await store.create_document(doc)
        return doc

    @staticmethod
    def advanced(doc: Document, new: list[Operation], note: str) -> Document:
        """`doc` as the server would pass it after applying `new`: history and state moved on."""
        moved = doc.model_copy(deep=True)
        for op in new:
            moved.scope_operations(op.scope).append(op)
            moved.header.revision[op.scope] = moved.next_index(op.scope)
        moved.state["global"]["notes"].append(note)
        return moved

    # --- create ---------------------------------------------------------------------------

    async def test_create_refuses_an_existing_id(self, store: LegacyStorage) -> None:
        doc = await self.seeded(store)
        again = document("doc-1", slug="other", state_note="second try")
        with pytest.raises(DocumentAlreadyExistsError) as raised:
            await store.create_document(again)
        assert str(raised.value) == "Document with id doc-1 already exists"
        assert (raised.value.document_id, raised.value.reason) == ("doc-1", "id")
        assert await store.get_document("doc-1") == doc

    async def test_create_refuses_a_slug_another_document_holds(self, store: LegacyStorage) -> None:
        await self.seeded(store)
        with pytest.raises(DocumentAlreadyExistsError) as raised:
            await store.create_document(document("doc-2", slug="first"))
        assert str(raised.value) == "Document with slug first already exists (document doc-2)"
        assert (raised.value.document_id, raised.value.reason) == ("doc-2", "slug")
        assert await store.exists("doc-2") is False

    async def test_empty_slugs_never_clash(self, store: LegacyStorage) -> None:
        await store.create_document(document("doc-a"))
        await store.create_document(document("doc-b"))
        assert (await store.find_by_type(DOCUMENT_MODEL)).results == ["doc-a", "doc-b"]

    async def test_create_stores_revision_from_the_operations(self, store: LegacyStorage) -> None:
        doc = document("doc-1", ops={"global": operations(0, 1), "local": []})
        doc.header.revision = {"global": 99, "local": 0, "document": 2}
        await store.create_document(doc)
        assert (await store.get_document("doc-1")).header.revision == {
            "global": 2,
            "local": 0,
            "document": 2,
        }

    async def test_create_refuses_an_operation_listed_under_another_scope(
        self, store: LegacyStorage
    ) -> None:
        doc = document("doc-1", ops={"global": [operation(0, scope="local")]})
        with pytest.raises(InvalidOperationError) as raised:
            await store.create_document(doc)
        assert str(raised.value) == (
            "Invalid operation at index 0 (document doc-1, scope global): "
            "listed under scope global but its action is in scope local"
        )
        assert await store.exists("doc-1") is False

    async def test_create_applies_the_merge_rules(self, store: LegacyStorage) -> None:
        doc = document("doc-1", ops={"global": operations(0, 1, 3)})
        with pytest.raises(MissingOperationError) as raised:
            await store.create_document(doc)
        assert str(raised.value) == "Missing operation on index 2 (document doc-1, scope global)"
        assert await store.exists("doc-1") is False

    # --- add_document_operations ----------------------------------------------------------

    async def test_add_appends_and_stores_the_document_passed(self, store: LegacyStorage) -> None:
        doc = await self.seeded(store)
        new = [operation(3), operation(4), operation(1, scope="local")]
        moved = self.advanced(doc, new, "two")
        await store.add_document_operations("doc-1", new, moved)
        stored = await store.get_document("doc-1")
        assert stored == moved
        assert stored.header.revision == {"global": 5, "local": 2}
        assert stored.state["global"]["notes"] == ["one", "two"]
        assert [op.index for op in stored.operations["global"]] == [0, 1, 2, 3, 4]

    async def test_add_sorts_the_operations_it_is_given(self, store: LegacyStorage) -> None:
        doc = await self.seeded(store)
        await store.add_document_operations("doc-1", [operation(4), operation(3)], doc)
        history = (await store.get_operations("doc-1", "global"))["global"]
        assert [op.index for op in history] == [0, 1, 2, 3, 4]

    async def test_revision_comes_from_the_history_not_the_header_passed(
        self, store: LegacyStorage
    ) -> None:
        doc = await self.seeded(store)
        stale = doc.model_copy(deep=True)
        stale.header.revision = {"global": 1, "local": 0, "header": 4}
        await store.add_document_operations("doc-1", [operation(3)], stale)
        assert (await store.get_document("doc-1")).header.revision == {
            "global": 4,
            "local": 1,
            "header": 4,
        }

    async def test_adding_identical_operations_again_changes_nothing(
        self, store: LegacyStorage
    ) -> None:
        doc = await self.seeded(store)
        await store.add_document_operations("doc-1", operations(0, 1, 2), doc)
        assert await store.get_document("doc-1") == doc

    async def test_overlapping_operations_add_only_the_new_ones(self, store: LegacyStorage) -> None:
        doc = await self.seeded(store)
        await store.add_document_operations("doc-1", operations(1, 2, 3), doc)
        history = (await store.get_operations("doc-1", "global"))["global"]
        assert history == operations(0, 1, 2, 3)

    async def test_a_different_operation_on_a_taken_index_is_a_conflict(
        self, store: LegacyStorage
    ) -> None:
        doc = await self.seeded(store)
        rival = operation(2, tag="-rival")
        moved = self.advanced(doc, [operation(3)], "conflicting")
        with pytest.raises(ConflictOperationError) as raised:
            await store.add_document_operations("doc-1", [operation(3), rival], moved)
        assert (
            str(raised.value) == "Conflicting operation on index 2 (document doc-1, scope global)"
        )
        assert raised.value.existing == OperationKey.of(operation(2))
        assert raised.value.operation == rival
        assert await store.get_document("doc-1") == doc

    async def test_same_id_and_index_with_another_hash_is_a_conflict(
        self, store: LegacyStorage
    ) -> None:
        doc = await self.seeded(store)
        rehashed = operation(2, hash="recomputed")
        with pytest.raises(ConflictOperationError, match=r"^Conflicting operation on index 2 "):
            await store.add_document_operations("doc-1", [rehashed], doc)
        assert await store.get_document("doc-1") == doc

    async def test_two_operations_for_one_new_index_conflict(self, store: LegacyStorage) -> None:
        doc = await self.seeded(store)
        with pytest.raises(ConflictOperationError, match=r"^Conflicting operation on index 3 "):
            await store.add_document_operations(
                "doc-1", [operation(3), operation(3, tag="-twin")], doc
            )
        assert await store.get_document("doc-1") == doc

    async def test_skip_bridges_a_gap(self, store: LegacyStorage) -> None:
        doc = await self.seeded(store)
        collected = operation(7, skip=4)
        await store.add_document_operations("doc-1", [collected], doc)
        history = (await store.get_operations("doc-1", "global"))["global"]
        assert [(op.index, op.skip) for op in history] == [(0, 0), (1, 0), (2, 0), (7, 4)]
        assert (await store.get_document("doc-1")).header.revision["global"] == 8

    async def test_an_unbridged_gap_is_a_missing_operation(self, store: LegacyStorage) -> None:
        doc = await self.seeded(store)
        with pytest.raises(MissingOperationError) as raised:
            await store.add_document_operations("doc-1", [operation(3), operation(6, skip=1)], doc)
        assert str(raised.value) == "Missing operation on index 4 (document doc-1, scope global)"
        assert raised.value.index == 4
        assert await store.get_document("doc-1") == doc

    async def test_an_index_below_the_last_one_is_refused(self, store: LegacyStorage) -> None:
        doc = document("doc-1", ops={"global": [*operations(0, 1), operation(6, skip=4)]})
        await store.create_document(doc)
        with pytest.raises(StaleOperationError) as raised:
            await store.add_document_operations("doc-1", [operation(3)], doc)
        assert str(raised.value) == (
            "Tried to add operation with index 3 and document is at index 6"
            " (document doc-1, scope global)"
        )
        assert (raised.value.index, raised.value.last_index) == (3, 6)
        assert await store.get_document("doc-1") == doc

    async def test_a_refusal_in_one_scope_writes_no_scope(self, store: LegacyStorage) -> None:
        doc = await self.seeded(store)
        new = [operation(1, scope="local"), operation(3), operation(1, tag="-rival")]
        with pytest.raises(ConflictOperationError, match=r"^Conflicting operation on index 1 "):
            await store.add_document_operations("doc-1", new, self.advanced(doc, new[:2], "x"))
        assert await store.get_document("doc-1") == doc

    async def test_a_skip_beyond_the_index_is_invalid(self, store: LegacyStorage) -> None:
        doc = await self.seeded(store)
        with pytest.raises(InvalidOperationError) as raised:
            await store.add_document_operations("doc-1", [operation(3, skip=4)], doc)
        assert str(raised.value) == (
            "Invalid operation at index 3 (document doc-1, scope global): "
            "skip 4 must lie between 0 and the index"
        )
        assert await store.get_document("doc-1") == doc

    async def test_add_to_a_missing_document(self, store: LegacyStorage) -> None:
        with pytest.raises(DocumentNotFoundError, match=r"^Document with id doc-9 not found$"):
            await store.add_document_operations("doc-9", operations(0), document("doc-9"))
        assert await store.exists("doc-9") is False

    async def test_add_with_another_document(self, store: LegacyStorage) -> None:
        doc = await self.seeded(store)
        with pytest.raises(DocumentMismatchError) as raised:
            await store.add_document_operations("doc-1", [operation(3)], document("doc-2"))
        assert str(raised.value) == "operations for document doc-1 came with document doc-2"
        assert await store.get_document("doc-1") == doc

    async def test_add_may_change_the_slug_but_not_to_a_taken_one(
        self, store: LegacyStorage
    ) -> None:
        doc = await self.seeded(store)
        await store.create_document(document("doc-2", slug="second"))
        renamed = doc.model_copy(deep=True)
        renamed.header.slug = "second"
        with pytest.raises(DocumentAlreadyExistsError) as raised:
            await store.add_document_operations("doc-1", [operation(3)], renamed)
        assert str(raised.value) == "Document with slug second already exists (document doc-1)"
        renamed.header.slug = "renamed"
        await store.add_document_operations("doc-1", [], renamed)
        assert (await store.get_document_by_slug("renamed")).id == "doc-1"
        with pytest.raises(DocumentNotFoundError):
            await store.get_document_by_slug("first")
        await store.create_document(document("doc-3", slug="first"))

    async def test_changing_a_document_after_storing_it_changes_nothing_stored(
        self, store: LegacyStorage
    ) -> None:
        doc = await self.seeded(store)
        doc.state["global"]["notes"].append("changed later")
        doc.operations["global"][0].action.input["name"] = "changed later"
        stored = await store.get_document("doc-1")
        assert stored.state["global"]["notes"] == ["one"]
        assert stored.operations["global"][0].action.input == {"name": "global 0"}

    # --- delete ---------------------------------------------------------------------------

    async def test_delete_removes_the_document_its_history_and_its_slug(
        self, store: LegacyStorage
    ) -> None:
        await self.seeded(store)
        await store.create_document(document("doc-2"))
        assert await store.delete("doc-1") is True
        assert await store.delete("doc-1") is False
        assert await store.exists("doc-1") is False
        with pytest.raises(DocumentNotFoundError, match=r"^Document with id doc-1 not found$"):
            await store.get_operations("doc-1")
        assert (await store.find_by_type(DOCUMENT_MODEL)).results == ["doc-2"]
        again = document("doc-1", slug="first", ops={"global": operations(0)})
        await store.create_document(again)
        assert await store.get_document("doc-1") == again
        assert (await store.find_by_type(DOCUMENT_MODEL)).results == ["doc-2", "doc-1"]

    async def test_delete_keeps_the_record_it_is_given_until_the_id_is_created_again(
        self, store: LegacyStorage
    ) -> None:
        gone = deleted_document("doc-1", slug="first")
        await store.create_document(gone)
        deletion = DocumentDeletion.of(gone)
        assert deletion.revisions == {"document": 2, "global": 2}  # scopes holding operations
        assert await store.delete("doc-1", deletion) is True
        deletion.revisions["global"] = 99  # type: ignore[index]  # the caller's, not stored
        assert await store.get_deletion("doc-1") == DocumentDeletion.of(gone)
        assert await store.exists("doc-1") is False
        # Deleting again (a re-delivery) changes nothing; the record stays.
        assert await store.delete("doc-1", DocumentDeletion.of(gone)) is False
        assert await store.deleted_documents() == ["doc-1"]
        # Legacy storage lets the id be created again (the projector never asks it to).
        again = document("doc-1", slug="first", ops={"global": operations(0)})
        await store.create_document(again)
        assert await store.get_document("doc-1") == again
        assert await store.get_deletion("doc-1") is None
        assert await store.deleted_documents() == []

    async def test_a_deletion_record_of_another_document_is_refused(
        self, store: LegacyStorage
    ) -> None:
        await self.seeded(store)
        with pytest.raises(DocumentMismatchError) as raised:
            await store.delete("doc-1", DocumentDeletion.of(deleted_document("doc-2")))
        assert str(raised.value) == "operations for document doc-1 came with document doc-2"
        assert await store.exists("doc-1") is True
        assert await store.deleted_documents() == []

    async def test_a_deletion_commits_with_the_batch_and_its_positions(
        self, store: LegacyStorage
    ) -> None:
        gone = deleted_document("doc-1")
        created, deleting = gone.model_copy(deep=True), gone.model_copy(deep=True)
        created.operations["document"].pop()
        created.header.revision["document"] = 1
        created.state["document"] = dict(self.first().state["document"])

        async def crash() -> None:
            async with store.batch() as batch:
                await batch.add_document_operations(
                    "doc-1", [deleting.operations["document"][1]], deleting
                )
                await batch.delete("doc-1", DocumentDeletion.of(deleting))
                batch.record_position("legacy", "operations", 0, 7)
                raise RuntimeError("crash before the commit")

        await store.create_document(created)
        with pytest.raises(RuntimeError, match=r"^crash before the commit$"):
            await crash()
        assert await store.get_document("doc-1") == created
        assert (await store.get_deletion("doc-1"), await store.get_positions("legacy")) == (
            None,
            {},
        )
        # Created, advanced and deleted in one batch, as a projector stores a whole job.
        async with store.batch() as batch:
            await batch.create_document(document("doc-2"))
            await batch.add_document_operations(
                "doc-2", operations(0, 1, document_id="doc-2"), document("doc-2")
            )
            await batch.delete("doc-2", DocumentDeletion.of(deleted_document("doc-2")))
            await batch.add_document_operations(
                "doc-1", [deleting.operations["document"][1]], deleting
            )
            await batch.delete("doc-1", DocumentDeletion.of(deleting))
            batch.record_position("legacy", "operations", 0, 7)
        assert await store.get_positions("legacy") == {TopicPartition("operations", 0): 7}
        assert await store.deleted_documents() == ["doc-1", "doc-2"]
        assert await store.find_by_type(DOCUMENT_MODEL) == Page([], None)
        with pytest.raises(DocumentNotFoundError, match=r"^Document with id doc-2 not found$"):
            await store.get_operations("doc-2")

    # --- real exports ---------------------------------------------------------------------

    async def test_every_real_export_round_trips(
        self, store: LegacyStorage, phd_exports: list[Export]
    ) -> None:
        for export in phd_exports:
            await store.create_document(export.document)
        assert (await store.find_by_type(DOCUMENT_MODEL, limit=None)).results == [
            f"export-{n:02d}" for n in range(CORPUS_DOCUMENTS)
        ]
        stored_operations = 0
        for export in phd_exports:
            doc = export.document
            stored = await store.get_document(doc.id)
            assert stored == doc, export.name
            stored_operations += sum(len(ops) for ops in stored.operations.values())
            # The whole history again, as a re-delivering projector would send it.
            every = [op for ops in doc.operations.values() for op in ops]
            await store.add_document_operations(doc.id, every, doc)
            assert await store.get_document(doc.id) == doc, export.name
        assert stored_operations == CORPUS_OPERATIONS

    # --- batches --------------------------------------------------------------------------

    async def test_a_batch_sees_its_own_writes(self, store: LegacyStorage) -> None:
        doc = self.first()
        async with store.batch() as batch:
            await batch.create_document(doc)
            await batch.add_document_operations("doc-1", [operation(3)], doc)
            await batch.add_document_operations("doc-1", [operation(4)], doc)
            assert await store.exists("doc-1") is False
        history = (await store.get_operations("doc-1", "global"))["global"]
        assert [op.index for op in history] == [0, 1, 2, 3, 4]

    async def test_a_refused_call_keeps_the_calls_before_it_in_the_batch(
        self, store: LegacyStorage
    ) -> None:
        doc = await self.seeded(store)
        moved = self.advanced(doc, [operation(3)], "three")
        async with store.batch() as batch:
            await batch.add_document_operations("doc-1", [operation(3)], moved)
            with pytest.raises(MissingOperationError, match=r"^Missing operation on index 4 "):
                await batch.add_document_operations(
                    "doc-1", [operation(5)], self.advanced(moved, [operation(5)], "five")
                )
            moved.state["global"]["notes"].append("changed after the call")
        assert await store.get_document("doc-1") == self.advanced(doc, [operation(3)], "three")

    async def test_a_batch_checks_operations_against_its_own_earlier_calls(
        self, store: LegacyStorage
    ) -> None:
        doc = await self.seeded(store)
        async with store.batch() as batch:
            await batch.add_document_operations("doc-1", operations(3, 4), doc)
            await batch.add_document_operations("doc-1", operations(2, 3, 4, 5), doc)
            with pytest.raises(ConflictOperationError, match=r"^Conflicting operation on index 4 "):
                await batch.add_document_operations("doc-1", [operation(4, tag="-rival")], doc)
            await batch.add_document_operations("doc-1", [operation(9, skip=3)], doc)
            with pytest.raises(StaleOperationError, match=r"index 7 and document is at index 9 "):
                await batch.add_document_operations("doc-1", [operation(7)], doc)
        history = (await store.get_operations("doc-1", "global"))["global"]
        assert history == [*operations(0, 1, 2, 3, 4, 5), operation(9, skip=3)]

    async def test_changes_after_a_call_do_not_reach_its_batch(self, store: LegacyStorage) -> None:
        doc = await self.seeded(store)
        new = [operation(3)]
        moved = self.advanced(doc, new, "three")
        async with store.batch() as batch:
            await batch.add_document_operations("doc-1", new, moved)
            new[0].hash = "changed after the call"
            moved.state["global"]["notes"].append("changed after the call")
            moved.header.name = "changed after the call"
        assert await store.get_document("doc-1") == self.advanced(doc, [operation(3)], "three")

    async def test_slug_changes_count_at_once_inside_a_batch(self, store: LegacyStorage) -> None:
        doc = await self.seeded(store)
        renamed = doc.model_copy(deep=True)
        renamed.header.slug = "renamed"
        async with store.batch() as batch:
            await batch.add_document_operations("doc-1", [], renamed)
            await batch.create_document(document("doc-2", slug="first"))
            with pytest.raises(DocumentAlreadyExistsError, match=r"^Document with slug renamed "):
                await batch.create_document(document("doc-3", slug="renamed"))
        assert (await store.get_document_by_slug("renamed")).id == "doc-1"
        assert (await store.get_document_by_slug("first")).id == "doc-2"
        assert await store.exists("doc-3") is False

    async def test_delete_and_create_again_inside_a_batch(self, store: LegacyStorage) -> None:
        await self.seeded(store)
        again = document("doc-1", slug="first", ops={"global": operations(0)})
        async with store.batch() as batch:
            await batch.add_document_operations("doc-1", [operation(3)], self.first())
            assert await batch.delete("doc-1") is True
            await batch.create_document(again)
            await batch.add_document_operations("doc-1", [operation(1)], again)
        history = await store.get_operations("doc-1")
        assert {scope: [op.index for op in ops] for scope, ops in history.items()} == {
            "global": [0, 1]
        }

    async def test_writing_through_the_store_inside_its_own_batch_is_refused(
        self, store: LegacyStorage
    ) -> None:
        async with store.batch() as batch:
            await batch.create_document(document("doc-1"))
            with pytest.raises(BatchError, match=r"this task already holds a batch; write through"):
                await store.create_document(document("doc-2"))
        assert (await store.find_by_type(DOCUMENT_MODEL)).results == ["doc-1"]

    async def test_a_closed_store_refuses_calls(self, store: LegacyStorage) -> None:
        await store.close()
        await store.close()
        with pytest.raises(StoreClosedError, match=r" is closed$"):
            await store.get_document("doc-1")
        with pytest.raises(StoreClosedError, match=r" is closed$"):
            await store.create_document(document("doc-1"))


# =========================================================================================
# Operation store
# =========================================================================================


class OperationStoreContract(TrackingContract):
    """Powerhouse's IOperationStore: revision check, uniqueness, idempotency, reads."""

    @abstractmethod
    async def open_store(self, directory: Path) -> OperationStore:
        """A fresh, empty store whose write clock is `tests.projections.builders.Clock()`."""

    async def open_tracked(self, directory: Path) -> OperationStore:
        return await self.open_store(directory)

    async def write_rows(self, batch: Any, start: int, count: int) -> None:
        for n in range(start, start + count):
            await batch.apply(
                f"track-{n}",
                DOCUMENT_MODEL,
                "global",
                "main",
                0,
                [operation(0, document_id=f"track-{n}")],
            )

    async def write_bad_row(self, batch: Any) -> None:
        await batch.apply("track-bad", DOCUMENT_MODEL, "global", "main", 5, [operation(5)])

    async def count_rows(self, store: Any) -> int:
        return len((await store.get_since_id(0)).results)

    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[OperationStore]:
        store = await self.open_store(tmp_path)
        yield store
        await store.close()

    @staticmethod
    async def append(
        store: OperationStore,
        revision: int,
        ops: list[Operation],
        *,
        document_id: str = "doc-1",
        scope: str = "global",
        branch: str = "main",
        job_id: str | None = None,
    ) -> list[StoredOperation]:
        return await store.apply(document_id, DOCUMENT_MODEL, scope, branch, revision, ops, job_id)

    # --- apply ----------------------------------------------------------------------------

    async def test_apply_stores_rows_with_their_provenance(self, store: OperationStore) -> None:
        ops = operations(0, 1, 2)
        rows = await self.append(store, 0, ops, job_id="job-7")
        assert rows == [
            StoredOperation(
                id=n + 1,
                document_id="doc-1",
                document_type=DOCUMENT_MODEL,
                scope="global",
                branch="main",
                operation=ops[n],
                prev_op_id="" if n == 0 else ops[n - 1].id,
                write_timestamp_utc_ms="2025-01-01T00:00:00.001Z",
                job_id="job-7",
            )
            for n in range(3)
        ]
        more = await self.append(store, 3, operations(3))
        assert (more[0].id, more[0].prev_op_id, more[0].job_id) == (4, ops[2].id, None)
        assert more[0].write_timestamp_utc_ms == "2025-01-01T00:00:00.002Z"
        assert (await store.get_since("doc-1", "global", "main", -1)).results == rows + more

    async def test_rows_keep_error_denial_hash_skip_but_not_resulting_state(
        self, store: OperationStore
    ) -> None:
        failed = operation(0, error="name must not be empty", hash="h0")
        denied = operation(1, hash="h1").model_copy(update={"denied_reason": "not a writer"})
        undo = operation(2, skip=1, type="NOOP", input={}, hash="")
        undo.resulting_state = '{"name":"x"}'
        await self.append(store, 0, [failed, denied, undo])
        stored = [
            row.operation for row in (await store.get_since("doc-1", "global", "main", -1)).results
        ]
        assert stored[0].error == "name must not be empty"
        assert stored[1].denied_reason == "not a writer"
        assert (stored[2].skip, stored[2].hash, stored[2].resulting_state) == (1, "", None)
        assert stored[2] == undo.model_copy(update={"resulting_state": None})

    async def test_an_empty_batch_stores_nothing(self, store: OperationStore) -> None:
        assert await self.append(store, 7, []) == []
        assert await self.count_rows(store) == 0

    async def test_revision_must_be_the_next_index(self, store: OperationStore) -> None:
        await self.append(store, 0, operations(0, 1, 2))
        with pytest.raises(RevisionMismatchError) as raised:
            await self.append(store, 5, operations(5))
        assert str(raised.value) == (
            "Revision mismatch: expected 3, got 5 (document doc-1, scope global, branch main)"
        )
        assert (raised.value.expected, raised.value.actual) == (3, 5)
        with pytest.raises(RevisionMismatchError, match=r"^Revision mismatch: expected 3, got 1 "):
            await self.append(store, 1, operations(1, 2, tag="-stale"))
        with pytest.raises(RevisionMismatchError, match=r"^Revision mismatch: expected 0, got 1 "):
            await self.append(store, 1, operations(1, scope="local"), scope="local")
        assert await self.count_rows(store) == 3

    async def test_resubmitting_identical_operations_returns_the_stored_rows(
        self, store: OperationStore
    ) -> None:
        first = await self.append(store, 0, operations(0, 1, 2), job_id="job-1")
        await self.append(store, 3, operations(3))
        again = await self.append(store, 0, operations(0, 1, 2), job_id="job-2")
        assert again == first
        assert [row.write_timestamp_utc_ms for row in again] == ["2025-01-01T00:00:00.001Z"] * 3
        tail = await self.append(store, 1, operations(1, 2))
        assert tail == first[1:]
        assert await self.count_rows(store) == 4

    async def test_a_partial_resubmission_is_a_duplicate(self, store: OperationStore) -> None:
        ops = operations(0, 1, 2)
        await self.append(store, 0, ops)
        with pytest.raises(DuplicateOperationError) as raised:
            await self.append(store, 1, operations(1, 2, 3))
        assert str(raised.value) == (
            f"Duplicate operation: {ops[1].id} at index 1 with skip 0"
            " (document doc-1, scope global, branch main)"
        )
        assert (raised.value.op_id, raised.value.index, raised.value.skip) == (ops[1].id, 1, 0)
        assert await self.count_rows(store) == 3

    async def test_a_resubmission_with_another_hash_is_a_duplicate(
        self, store: OperationStore
    ) -> None:
        await self.append(store, 0, operations(0, 1))
        rehashed = operation(1, hash="recomputed")
        with pytest.raises(DuplicateOperationError, match=r" at index 1 with skip 0 "):
            await self.append(store, 1, [rehashed])
        rows = (await store.get_since("doc-1", "global", "main", 0)).results
        assert [row.operation.hash for row in rows] == ["hash-global-1"]

    async def test_an_operation_stored_in_another_stream_is_a_duplicate(
        self, store: OperationStore
    ) -> None:
        op = operation(0)
        await self.append(store, 0, [op])
        with pytest.raises(DuplicateOperationError) as raised:
            await self.append(store, 0, [op], document_id="doc-2")
        assert str(raised.value) == (
            f"Duplicate operation: {op.id} at index 0 with skip 0"
            " (document doc-2, scope global, branch main)"
        )
        assert (await store.get_revisions("doc-2")).revision == {}

    async def test_a_duplicate_late_in_a_batch_leaves_no_earlier_row(
        self, store: OperationStore
    ) -> None:
        taken = operations(0, 1)
        await self.append(store, 0, taken)
        batch = [operation(0, document_id="doc-2"), taken[1]]
        with pytest.raises(DuplicateOperationError) as raised:
            await self.append(store, 0, batch, document_id="doc-2")
        assert str(raised.value) == (
            f"Duplicate operation: {taken[1].id} at index 1 with skip 0"
            " (document doc-2, scope global, branch main)"
        )
        assert (await store.get_revisions("doc-2")).revision == {}
        assert await self.count_rows(store) == 2
        rows = await self.append(store, 0, batch[:1], document_id="doc-2")
        assert rows[0].id == 3

    async def test_a_reshuffled_copy_may_reuse_an_op_id(self, store: OperationStore) -> None:
        ops = operations(0, 1)
        await self.append(store, 0, ops)
        moved = ops[1].model_copy(update={"index": 2, "skip": 1})
        rows = await self.append(store, 2, [moved])
        assert (rows[0].op_id, rows[0].index, rows[0].skip) == (ops[1].id, 2, 1)
        assert rows[0].prev_op_id == ops[1].id

    @pytest.mark.parametrize(
        ("revision", "batch", "problem"),
        [
            (
                0,
                [operation(0, scope="local")],
                "Invalid operation at index 0 (document doc-1, scope global, branch main): "
                "its action is in scope local, not in the stream's scope",
            ),
            (
                0,
                [
                    operation(0).model_copy(
                        update={"action": operation(0).action.model_copy(update={"id": ""})}
                    )
                ],
                "Invalid operation at index 0 (document doc-1, scope global, branch main): "
                f"operation {operation(0).id} has no action id",
            ),
            (
                0,
                [operation(0), operation(2)],
                "Invalid operation at index 2 (document doc-1, scope global, branch main): "
                "with skip 0 it does not follow index 0",
            ),
            (
                0,
                [operation(1), operation(0)],
                "Invalid operation at index 1 (document doc-1, scope global, branch main): "
                "with skip 0 it does not follow index -1",
            ),
            (
                0,
                [operation(0), operation(0, tag="-twin")],
                "Invalid operation at index 0 (document doc-1, scope global, branch main): "
                "with skip 0 it does not follow index 0",
            ),
            (
                0,
                [operation(0, at="yesterday")],
                "Invalid operation at index 0 (document doc-1, scope global, branch main): "
                "timestamp 'yesterday' is not an ISO-8601 instant",
            ),
            (
                0,
                [operation(0), operation(1, skip=2)],
                "Invalid operation at index 1 (document doc-1, scope global, branch main): "
                "skip 2 must lie between 0 and the index",
            ),
        ],
        ids=["scope", "action-id", "gap", "order", "same-index", "timestamp", "skip"],
    )
    async def test_malformed_batches_are_refused_whole(
        self, store: OperationStore, revision: int, batch: list[Operation], problem: str
    ) -> None:
        with pytest.raises(InvalidOperationError) as raised:
            await self.append(store, revision, batch)
        assert str(raised.value) == problem
        assert await self.count_rows(store) == 0

    async def test_skip_may_bridge_a_gap_in_a_batch(self, store: OperationStore) -> None:
        await self.append(store, 0, operations(0, 1))
        rows = await self.append(store, 2, [operation(2), operation(6, skip=3)])
        assert [(row.index, row.skip) for row in rows] == [(2, 0), (6, 3)]
        assert (await store.get_revisions("doc-1")).revision == {"global": 7}

    async def test_streams_are_separate_per_scope_and_branch(self, store: OperationStore) -> None:
        await self.append(store, 0, operations(0, 1))
        await self.append(store, 0, operations(0, scope="local"), scope="local")
        await self.append(store, 0, operations(0, branch="draft", tag="-d"), branch="draft")
        assert (await store.get_revisions("doc-1")).revision == {"global": 2, "local": 1}
        assert (await store.get_revisions("doc-1", "draft")).revision == {"global": 1}

    async def test_applies_in_one_batch_chain_and_roll_back_together(
        self, store: OperationStore
    ) -> None:
        async with store.batch() as batch:
            await batch.apply("doc-1", DOCUMENT_MODEL, "global", "main", 0, operations(0, 1))
            rows = await batch.apply("doc-1", DOCUMENT_MODEL, "global", "main", 2, operations(2))
        assert (rows[0].id, rows[0].prev_op_id) == (3, operation(1).id)

        async def skip_ahead() -> None:
            async with store.batch() as batch:
                await batch.apply("doc-1", DOCUMENT_MODEL, "global", "main", 3, operations(3, 4))
                await batch.apply("doc-1", DOCUMENT_MODEL, "global", "main", 6, operations(6))

        with pytest.raises(RevisionMismatchError, match=r"^Revision mismatch: expected 5, got 6 "):
            await skip_ahead()
        assert (await store.get_revisions("doc-1")).revision == {"global": 3}
        later = await self.append(store, 3, operations(3))
        assert later[0].id == 4

    # --- reads ----------------------------------------------------------------------------

    async def history(self, store: OperationStore) -> None:
        """doc-1 global 0..5 (types alternate, one second apart), local 0, doc-2 global 0."""
        types = ["SET_NAME", "ADD_MODULE"]
        await self.append(
            store, 0, [operation(n, type=types[n % 2]) for n in range(6)], job_id="job-1"
        )
        await self.append(
            store, 0, [operation(0, scope="local", at="2024-01-01T00:00:30.000Z")], scope="local"
        )
        await self.append(store, 0, operations(0, document_id="doc-2"), document_id="doc-2")

    async def test_get_since_is_strictly_after_and_ascending(self, store: OperationStore) -> None:
        await self.history(store)
        since = await store.get_since("doc-1", "global", "main", 2)
        assert _ids(since) == [(4, 3), (5, 4), (6, 5)]
        assert since.next_cursor is None
        assert _ids(await store.get_since("doc-1", "global", "main", -1))[0] == (1, 0)
        assert (await store.get_since("doc-1", "global", "main", 5)).results == []
        assert (await store.get_since("doc-1", "global", "draft", -1)).results == []

    async def test_get_since_filters(self, store: OperationStore) -> None:
        await self.history(store)

        async def since(revision: int, **conditions: Any) -> list[int]:
            page = await store.get_since(
                "doc-1", "global", "main", revision, OperationFilter(**conditions)
            )
            return [row.index for row in page.results]

        assert await since(-1, action_types=("ADD_MODULE",)) == [1, 3, 5]
        assert await since(-1, action_types=("ADD_MODULE", "SET_NAME")) == [0, 1, 2, 3, 4, 5]
        assert await since(-1, action_types=()) == []
        assert await since(-1, timestamp_from="2024-01-01T00:00:02.000Z") == [2, 3, 4, 5]
        assert await since(-1, timestamp_to="2024-01-01T01:00:02+01:00") == [0, 1, 2]
        assert await since(
            0, timestamp_from="2024-01-01T00:00:01Z", timestamp_to="2024-01-01T00:00:04.000Z"
        ) == [1, 2, 3, 4]
        assert await since(0, since_revision=4) == [4, 5]
        assert await since(0, action_types=("SET_NAME",), since_revision=3) == [4]

    async def test_get_since_pages(self, store: OperationStore) -> None:
        await self.history(store)
        first = await store.get_since("doc-1", "global", "main", 0, paging=Paging(limit=2))
        assert _ids(first) == [(2, 1), (3, 2)]
        assert first.next_cursor == "2"
        second = await store.get_since(
            "doc-1", "global", "main", 0, paging=Paging(first.next_cursor, 2)
        )
        assert _ids(second) == [(4, 3), (5, 4)]
        last = await store.get_since(
            "doc-1", "global", "main", 0, paging=Paging(second.next_cursor, 2)
        )
        assert (_ids(last), last.next_cursor) == ([(6, 5)], None)
        filtered = await store.get_since(
            "doc-1",
            "global",
            "main",
            -1,
            OperationFilter(action_types=("SET_NAME",)),
            Paging(limit=2),
        )
        assert (_ids(filtered), filtered.next_cursor) == ([(1, 0), (3, 2)], "2")

    async def test_reads_refuse_bad_paging_and_filters(self, store: OperationStore) -> None:
        await self.history(store)
        with pytest.raises(InvalidQueryError) as raised:
            await store.get_since("doc-1", "global", "main", 0, paging=Paging("next", 2))
        assert str(raised.value) == "get_since: cursor 'next' was not issued by this store"
        with pytest.raises(InvalidQueryError) as raised:
            await store.get_since_id(0, Paging(limit=-3))
        assert str(raised.value) == "get_since_id: paging limit must be a positive integer, got -3"
        with pytest.raises(InvalidQueryError) as raised:
            await store.get_since(
                "doc-1", "global", "main", 0, OperationFilter(timestamp_from="soon")
            )
        assert str(raised.value) == "get_since: timestamp_from 'soon' is not an ISO-8601 instant"
        with pytest.raises(InvalidQueryError) as raised:
            await store.get_conflicting("doc-1", "global", "main", "")
        assert str(raised.value) == "get_conflicting: min_timestamp '' is not an ISO-8601 instant"

    async def test_get_since_id_is_the_global_feed_in_write_order(
        self, store: OperationStore
    ) -> None:
        await self.history(store)
        feed = await store.get_since_id(5)
        assert [(row.id, row.document_id, row.scope, row.index) for row in feed.results] == [
            (6, "doc-1", "global", 5),
            (7, "doc-1", "local", 0),
            (8, "doc-2", "global", 0),
        ]
        assert feed.results[0].job_id == "job-1"
        page = await store.get_since_id(0, Paging(limit=3))
        assert ([row.id for row in page.results], page.next_cursor) == ([1, 2, 3], "3")
        rest = await store.get_since_id(0, Paging(page.next_cursor, 10))
        assert ([row.id for row in rest.results], rest.next_cursor) == ([4, 5, 6, 7, 8], None)
        assert (await store.get_since_id(8)).results == []

    async def test_get_revisions(self, store: OperationStore) -> None:
        await self.history(store)
        assert await store.get_revisions("doc-1") == (await store.get_revisions("doc-1", "main"))
        revisions = await store.get_revisions("doc-1")
        assert revisions.revision == {"global": 6, "local": 1}
        assert revisions.latest_timestamp == "2024-01-01T00:00:30.000Z"
        assert (await store.get_revisions("doc-2")).revision == {"global": 1}
        empty = await store.get_revisions("doc-3")
        assert (empty.revision, empty.latest_timestamp) == ({}, EPOCH_ISO)

    async def test_latest_timestamp_compares_instants_not_text(self, store: OperationStore) -> None:
        await self.append(
            store,
            0,
            [
                operation(0, at="2024-03-01T09:00:00.000+02:00"),
                operation(1, at="2024-03-01T06:30:00.250Z"),
                operation(2, at="2024-03-01T05:00:00Z"),
            ],
        )
        revisions = await store.get_revisions("doc-1")
        assert revisions.latest_timestamp == "2024-03-01T07:00:00.000Z"

    async def test_get_conflicting(self, store: OperationStore) -> None:
        await self.history(store)
        conflicting = await store.get_conflicting(
            "doc-1", "global", "main", "2024-01-01T00:00:03.000Z"
        )
        assert _ids(conflicting) == [(4, 3), (5, 4), (6, 5)]
        page = await store.get_conflicting(
            "doc-1", "global", "main", "2024-01-01T00:00:03Z", Paging(limit=2)
        )
        assert (_ids(page), page.next_cursor) == ([(4, 3), (5, 4)], "4")
        rest = await store.get_conflicting(
            "doc-1", "global", "main", "2024-01-01T00:00:03Z", Paging(page.next_cursor, 2)
        )
        assert (_ids(rest), rest.next_cursor) == ([(6, 5)], None)
        assert (
            await store.get_conflicting("doc-1", "global", "main", "2024-01-02T00:00:00Z")
        ).results == []

    async def test_every_real_export_is_stored(
        self, store: OperationStore, phd_exports: list[Export]
    ) -> None:
        def replayed(document_id: str, op: Operation) -> Operation:
            # As Powerhouse's replay does: the op id follows from the context; exports
            # older than action ids get one from their coordinates.
            action_id = op.action.id or f"{document_id}-{op.scope}-{op.index}"
            return op.model_copy(
                update={
                    "id": derive_operation_id(document_id, op.scope, "main", action_id),
                    "action": op.action.model_copy(update={"id": action_id}),
                }
            )

        for export in phd_exports:
            doc = export.document
            for scope, ops in doc.operations.items():
                ready = [replayed(doc.id, op) for op in ops]
                rows = await store.apply(doc.id, doc.document_type, scope, "main", 0, ready)
                assert [row.operation for row in rows] == ready, export.name
        feed = await store.get_since_id(0)
        assert [row.id for row in feed.results] == list(range(1, CORPUS_OPERATIONS + 1))
        for export in phd_exports:
            doc = export.document
            revisions = await store.get_revisions(doc.id)
            assert revisions.revision == {
                scope: len(ops) for scope, ops in sorted(doc.operations.items()) if ops
            }, export.name
            # Every corpus timestamp has the `...sss.mmmZ` form, so text order is time order.
            assert revisions.latest_timestamp == max(
                op.timestamp_utc_ms for ops in doc.operations.values() for op in ops
            ), export.name

    async def test_a_closed_store_refuses_calls(self, store: OperationStore) -> None:
        await store.close()
        with pytest.raises(StoreClosedError, match=r" is closed$"):
            await store.get_revisions("doc-1")
        with pytest.raises(StoreClosedError, match=r" is closed$"):
            await self.append(store, 0, operations(0))
