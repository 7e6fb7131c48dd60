"""Write rate of the SQLite stores: 10,000 operations in batches of 100, as a projector writes.

Two shapes per store: one call per batch (a projector that groups a batch's operations by
document and scope), and one call per operation (a projector that writes record by record).
Every batch also records its consumed position. Run with `pytest -m slow -s` to see rates;
the floors asserted are far below what a laptop does, so only a real regression trips them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from projections.stores.legacy_sqlite import SqliteLegacyStorage
from projections.stores.operation_store_sqlite import SqliteOperationStore
from projections.stores.tracking import TopicPartition
from reactor_es.document.types import Document, Operation
from tests.projections.builders import DOCUMENT_MODEL, document, operation

pytestmark = pytest.mark.slow

TOTAL = 10_000
BATCH = 100
DOCUMENTS = 10
SHAPES = ("one call per batch", "one call per operation")
#: Rates no healthy build falls under (ops/s), per store and shape.
FLOORS = {
    ("legacy", SHAPES[0]): 5_000,
    ("legacy", SHAPES[1]): 500,
    ("operations", SHAPES[0]): 5_000,
    ("operations", SHAPES[1]): 500,
}


def _document(document_id: str) -> Document:
    doc = document(document_id)
    # About 10 KB of state: legacy storage rewrites the document with every call.
    doc.state["global"]["notes"] = [f"note {n} " + "x" * 90 for n in range(100)]
    return doc


def _histories() -> dict[str, list[Operation]]:
    return {
        f"doc-{d}": [operation(n, document_id=f"doc-{d}") for n in range(TOTAL // DOCUMENTS)]
        for d in range(DOCUMENTS)
    }


def _plan(shape: str) -> list[list[tuple[str, int, int]]]:
    """Per batch, the calls to make: (document, first index, count)."""
    next_index = dict.fromkeys((f"doc-{d}" for d in range(DOCUMENTS)), 0)
    batches: list[list[tuple[str, int, int]]] = []
    for number in range(TOTAL // BATCH):
        calls: list[tuple[str, int, int]] = []
        if shape == SHAPES[0]:
            doc_id = f"doc-{number % DOCUMENTS}"
            calls.append((doc_id, next_index[doc_id], BATCH))
            next_index[doc_id] += BATCH
        else:
            for n in range(BATCH):
                doc_id = f"doc-{n % DOCUMENTS}"
                calls.append((doc_id, next_index[doc_id], 1))
                next_index[doc_id] += 1
        batches.append(calls)
    return batches


def _report(store: str, shape: str, seconds: float) -> float:
    rate = TOTAL / seconds
    print(f"\n{store:10s} {shape:24s} {TOTAL} ops in {seconds:6.3f} s = {rate:8.0f} ops/s")
    return rate


@pytest.mark.parametrize("shape", SHAPES)
async def test_legacy_storage_write_rate(tmp_path: Path, shape: str) -> None:
    histories = _histories()
    documents = {doc_id: _document(doc_id) for doc_id in histories}
    async with await SqliteLegacyStorage.open(tmp_path / "legacy.sqlite") as store:
        for doc in documents.values():
            await store.create_document(doc)
        offset = 0
        started = time.perf_counter()
        for calls in _plan(shape):
            async with store.batch() as batch:
                for doc_id, first, count in calls:
                    ops = histories[doc_id][first : first + count]
                    await batch.add_document_operations(doc_id, ops, documents[doc_id])
                offset += BATCH
                batch.record_position("legacy", "operations", 0, offset)
        rate = _report("legacy", shape, time.perf_counter() - started)
        for doc_id in histories:
            stored = await store.get_operations(doc_id, "global")
            assert len(stored["global"]) == TOTAL // DOCUMENTS
        assert (await store.get_positions("legacy")) == {TopicPartition("operations", 0): TOTAL}
    assert rate > FLOORS[("legacy", shape)]


@pytest.mark.parametrize("shape", SHAPES)
async def test_operation_store_write_rate(tmp_path: Path, shape: str) -> None:
    histories = _histories()
    async with await SqliteOperationStore.open(tmp_path / "operations.sqlite") as store:
        offset = 0
        started = time.perf_counter()
        for calls in _plan(shape):
            async with store.batch() as batch:
                for doc_id, first, count in calls:
                    ops = histories[doc_id][first : first + count]
                    await batch.apply(doc_id, DOCUMENT_MODEL, "global", "main", first, ops)
                offset += BATCH
                batch.record_position("operation-store", "operations", 0, offset)
        rate = _report("operations", shape, time.perf_counter() - started)
        feed = await store.get_since_id(0)
        assert [row.id for row in feed.results] == list(range(1, TOTAL + 1))
        assert (await store.get_positions("operation-store")) == {
            TopicPartition("operations", 0): TOTAL
        }
    assert rate > FLOORS[("operations", shape)]
