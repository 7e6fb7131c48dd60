"""The dual-write comparator: what counts as a divergence, consistency at equal offsets, the CLI."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from projections.comparator import (
    ComparatorService,
    Comparison,
    ComparisonLog,
    Divergence,
    DualWriteComparator,
    diff_documents,
    diff_held,
)
from projections.legacy_adapter import OperationStoreFile
from projections.stores.legacy import DocumentDeletion, OperationKey
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from projections.stores.tracking import TopicPartition
from reactor_es.cli.main import main
from reactor_es.config import Settings
from reactor_es.document.hashing import hash_scope_state
from reactor_es.document.state import is_deleted
from reactor_es.document.types import Document
from reactor_es.kafka.topics import partition_for
from reactor_es.registry import default_registry
from tests.projections.builders import deleted_document, document, operations
from tests.projections.test_legacy_adapter import store_document

TOPIC = "operations"
LEGACY = "projector-legacy"
OURS = "projector-operations"


def doc(document_id: str, *indexes: int, name: str = "") -> Document:
    return document(
        document_id,
        name=name,
        ops={"global": operations(*indexes, document_id=document_id), "local": []},
    )


# -- what differs (pure) ---------------------------------------------------------------------


def test_identical_documents_do_not_diverge() -> None:
    assert diff_documents("doc-1", doc("doc-1", 0, 1), doc("doc-1", 0, 1)) == []
    assert diff_documents("gone", None, None) == []


def test_each_difference_names_document_scope_and_index() -> None:
    theirs = doc("doc-1", 0, 1, 2, name="Alpha")
    ours = doc("doc-1", 0, 1, 2, 3, name="Beta")
    ours.operations["global"][1] = ours.operations["global"][1].model_copy(
        update={"hash": "tampered", "skip": 1}
    )
    ours.state["global"]["notes"] = ["changed"]
    ours.header.revision = theirs.header.revision
    found = diff_documents("doc-1", theirs, ours)
    added = ours.operations["global"][3]
    assert [d.line() for d in found] == [
        "document doc-1: header name: legacy storage 'Alpha', operation store 'Beta'",
        "document doc-1 scope global index 1: skip: legacy storage 0, operation store 1; "
        "hash: legacy storage 'hash-global-1', operation store 'tampered'",
        f"document doc-1 scope global index 3: only in operation store (operation {added.id}, "
        "SET_MODEL_NAME)",
        "document doc-1 scope global: resulting state: legacy storage hash "
        f"{hash_scope_state(theirs.state['global'])}, operation store hash "
        f"{hash_scope_state(ours.state['global'])}",
    ]
    assert found[1] == Divergence(
        "doc-1",
        "skip: legacy storage 0, operation store 1; "
        "hash: legacy storage 'hash-global-1', operation store 'tampered'",
        "global",
        1,
    )


def test_a_missing_document_or_scope_is_a_divergence() -> None:
    assert [d.line() for d in diff_documents("doc-9", doc("doc-9", 0), None)] == [
        "document doc-9: missing from the operation store"
    ]
    assert [d.line() for d in diff_documents("doc-9", None, doc("doc-9", 0))] == [
        "document doc-9: missing from the legacy storage"
    ]
    theirs, ours = doc("doc-1", 0), doc("doc-1", 0)
    del ours.state["local"]
    ours.initial_state["global"] = {"name": "other", "notes": []}
    assert [d.line() for d in diff_documents("doc-1", theirs, ours)] == [
        "document doc-1 scope local: resulting state: only in legacy storage",
        "document doc-1 scope global: initial state: legacy storage hash "
        f"{hash_scope_state(theirs.initial_state['global'])}, operation store hash "
        f"{hash_scope_state(ours.initial_state['global'])}",
    ]


def test_a_deletion_agrees_only_with_the_same_deletion() -> None:
    gone = deleted_document("doc-1")
    deletion = DocumentDeletion.of(gone)
    assert diff_held("doc-1", deletion, DocumentDeletion.of(gone)) == []
    at = "2024-01-01T00:01:00.000Z"
    assert [d.line() for d in diff_held("doc-1", deletion, doc("doc-1", 0))] == [
        f"document doc-1: legacy storage: deleted at {at}; operation store: alive"
    ]
    assert [d.line() for d in diff_held("doc-1", doc("doc-1", 0), deletion)] == [
        f"document doc-1: legacy storage: alive; operation store: deleted at {at}"
    ]
    assert [d.line() for d in diff_held("doc-1", None, deletion)] == [
        f"document doc-1: legacy storage: missing; operation store: deleted at {at}"
    ]
    other = DocumentDeletion(
        "doc-1",
        "acme/other",
        "2024-01-01T00:02:00.000Z",
        OperationKey(deletion.operation.id, 1, 0, "rival"),
        {"document": 2, "global": 3},
    )
    op_id = deletion.operation.id
    assert [d.line() for d in diff_held("doc-1", deletion, other)] == [
        "document doc-1: deleted document type: legacy storage 'powerhouse/document-model', "
        "operation store 'acme/other'",
        f"document doc-1: deleted at: legacy storage '{at}', operation store "
        "'2024-01-01T00:02:00.000Z'",
        f"document doc-1 scope document index 1: deleted by: legacy storage {op_id} (index 1, "
        f"skip 0, hash hash-document-1), operation store {op_id} (index 1, skip 0, hash rival)",
        "document doc-1: revisions when deleted: legacy storage {'document': 2, 'global': 2}, "
        "operation store {'document': 2, 'global': 3}",
    ]
    # Documents alive in both are compared in full, as before.
    assert diff_held("doc-1", doc("doc-1", 0), doc("doc-1", 0)) == []


def test_json_values_compare_as_javascript_sees_them() -> None:
    theirs, ours = doc("doc-1"), doc("doc-1")
    theirs.state["global"]["flag"] = True
    ours.state["global"]["flag"] = 1  # equal in Python, not in JSON
    assert [d.scope for d in diff_documents("doc-1", theirs, ours)] == ["global"]


# -- rounds over two stores ------------------------------------------------------------------


async def seed(
    home: Path,
    documents: Sequence[Document],
    legacy_positions: Mapping[int, int],
    our_positions: Mapping[int, int] | None = None,
    our_documents: Sequence[Document] | None = None,
) -> None:
    """Both stores of `home` holding `documents` (the operation store `our_documents` if
    given), at the positions given per partition. A deleted document is deleted from legacy
    storage, as its projector does, and kept in the operation store, a tombstone."""
    home.mkdir(parents=True, exist_ok=True)
    async with await SqliteLegacyStorage.open(home / "legacy.db") as legacy, legacy.batch() as b:
        for item in documents:
            await b.create_document(item)
            if is_deleted(item.state):
                await b.delete(item.id, DocumentDeletion.of(item))
        for partition, offset in legacy_positions.items():
            b.record_position(LEGACY, TOPIC, partition, offset)
    ours = legacy_positions if our_positions is None else our_positions
    async with await OperationStoreFile.open(home / "operations.db") as store, store.batch() as b:
        for item in documents if our_documents is None else our_documents:
            await store_document(b.operations, item)
            b.snapshots.put(item)
        for partition, offset in ours.items():
            b.record_position(OURS, TOPIC, partition, offset)


def alter(path: Path, sql: str, *params: object) -> None:
    """A hand edit, through a connection of its own (as an operator's sqlite3 shell)."""
    with sqlite3.connect(path) as conn:
        assert conn.execute(sql, params).rowcount == 1


PARTITIONS = {"doc-1": 0, "doc-2": 1, "doc-3": 1, "doc-4": 0, "doc-5": 1}


class Stores:
    def __init__(self, home: Path) -> None:
        self.home = home

    async def __aenter__(self) -> DualWriteComparator:
        self.legacy = await SqliteLegacyStorage.open(self.home / "legacy.db")
        self.ours = await OperationStoreFile.open(self.home / "operations.db")
        return DualWriteComparator(
            self.legacy,
            self.ours,
            legacy_consumer=LEGACY,
            operations_consumer=OURS,
            partition_of=lambda document_id: TopicPartition(TOPIC, PARTITIONS[document_id]),
            document_types=["powerhouse/document-model"],
        )

    async def __aexit__(self, *exc: object) -> None:
        await self.legacy.close()
        await self.ours.close()


THREE = [doc("doc-1", 0, 1), doc("doc-2", 0, 1, 2), doc("doc-3")]


async def test_level_stores_compare_every_document(tmp_path: Path) -> None:
    await seed(tmp_path, THREE, {0: 4, 1: 7})
    async with Stores(tmp_path) as comparator:
        comparison = await comparator.compare()
    assert comparison.summary() == "compared: 3 documents, 0 divergences"
    assert comparison.deferred == {}
    assert comparison.positions == {TopicPartition(TOPIC, 0): 4, TopicPartition(TOPIC, 1): 7}


async def test_hand_altered_rows_are_reported_where_they_are(tmp_path: Path) -> None:
    await seed(tmp_path, THREE, {0: 4, 1: 7})
    alter(
        tmp_path / "operations.db",
        "UPDATE operations SET hash = 'tampered'"
        " WHERE document_id = 'doc-2' AND scope = 'global' AND idx = 1",
    )
    alter(
        tmp_path / "legacy.db",
        "UPDATE legacy_documents SET state = json_set(state, '$.global.name', 'x') WHERE id = ?",
        "doc-1",
    )
    async with Stores(tmp_path) as comparator:
        comparison = await comparator.compare()
    state = doc("doc-1").state["global"]
    assert [d.line() for d in comparison.divergences] == [
        "document doc-1 scope global: resulting state: legacy storage hash "
        f"{hash_scope_state({**state, 'name': 'x'})}, operation store hash "
        f"{hash_scope_state(state)}",
        "document doc-2 scope global index 1: hash: legacy storage 'hash-global-1', "
        "operation store 'tampered'",
    ]
    assert comparison.summary() == "compared: 3 documents, 2 divergences"


async def test_a_document_deleted_in_both_stores_agrees_and_one_deleted_in_one_diverges(
    tmp_path: Path,
) -> None:
    gone = deleted_document("doc-4")
    await seed(tmp_path / "agree", [*THREE, gone], {0: 4, 1: 7})
    async with Stores(tmp_path / "agree") as comparator:
        assert await comparator.document_ids() == ["doc-1", "doc-2", "doc-3", "doc-4"]
        comparison = await comparator.compare()
    assert comparison.summary() == "compared: 4 documents, 0 divergences"

    # Deleted in the operation store only, deleted in legacy storage only, and a deletion
    # the operation store never had: each named with its document.
    await seed(
        tmp_path / "diverge",
        [*THREE, doc("doc-4", 0, 1), deleted_document("doc-5")],
        {0: 4, 1: 7},
        our_documents=[*THREE, gone],
    )
    async with Stores(tmp_path / "diverge") as comparator:
        comparison = await comparator.compare()
    at = "2024-01-01T00:01:00.000Z"
    assert [d.line() for d in comparison.divergences] == [
        f"document doc-4: legacy storage: alive; operation store: deleted at {at}",
        f"document doc-5: legacy storage: deleted at {at}; operation store: missing",
    ]
    assert comparison.summary() == "compared: 5 documents, 2 divergences"

    # The same deletion, but not the same DELETE_DOCUMENT: named where it differs.
    alter(tmp_path / "agree" / "legacy.db", "UPDATE legacy_deletions SET hash = 'tampered'")
    async with Stores(tmp_path / "agree") as comparator:
        comparison = await comparator.compare()
    delete_id = gone.operations["document"][1].id
    assert [d.line() for d in comparison.divergences] == [
        f"document doc-4 scope document index 1: deleted by: legacy storage {delete_id} "
        f"(index 1, skip 0, hash tampered), operation store {delete_id} (index 1, skip 0, "
        "hash hash-document-1)"
    ]


async def test_partitions_at_different_offsets_are_deferred(tmp_path: Path) -> None:
    # The operation store has not yet read partition 1 as far: doc-2 and doc-3 must wait,
    # whatever they hold (a missing document there is not reported either).
    await seed(tmp_path, THREE, {0: 4, 1: 7}, {0: 4, 1: 5})
    alter(tmp_path / "operations.db", "DELETE FROM document_snapshots WHERE id = 'doc-3'")
    async with Stores(tmp_path) as comparator:
        comparison = await comparator.compare()
    assert comparison.summary() == "compared: 1 documents, 0 divergences"
    assert comparison.deferred_lines() == [
        "not compared: operations partition 1: legacy storage at 7, operation store at 5"
    ]


class _Moving(SqliteLegacyStorage):
    """Legacy storage whose partition 1 moves on while a round reads the documents."""

    calls = 0

    async def get_positions(self, consumer: str) -> dict[TopicPartition, int]:
        positions = await super().get_positions(consumer)
        _Moving.calls += 1
        if _Moving.calls > 1:
            positions[TopicPartition(TOPIC, 1)] += 3
        return positions


async def test_a_partition_that_moves_during_the_round_is_deferred(tmp_path: Path) -> None:
    await seed(tmp_path, THREE, {0: 4, 1: 7})
    async with Stores(tmp_path) as comparator:
        moving = await _Moving.open(tmp_path / "legacy.db")
        comparator.legacy = moving
        try:
            comparison = await comparator.compare()
        finally:
            await moving.close()
    assert comparison.summary() == "compared: 1 documents, 0 divergences"
    assert comparison.deferred == {TopicPartition(TOPIC, 1): (10, 7)}


async def test_comparing_when_level_waits_for_the_slower_store(tmp_path: Path) -> None:
    await seed(tmp_path, THREE, {0: 4, 1: 7}, {0: 4, 1: 5})
    async with Stores(tmp_path) as comparator:

        async def catch_up() -> None:
            await asyncio.sleep(0.3)
            async with comparator.operations.batch() as b:
                b.record_position(OURS, TOPIC, 1, 7)

        waiting = asyncio.create_task(comparator.compare_level(wait=5, poll_interval=0.05))
        await catch_up()
        comparison = await waiting
        assert comparison.summary() == "compared: 3 documents, 0 divergences"
        async with comparator.operations.batch() as b:
            b.record_position(OURS, TOPIC, 0, 9)
        given_up = await comparator.compare_level(wait=0.2, poll_interval=0.05)
    assert given_up.summary() == "compared: 2 documents, 0 divergences"
    assert list(given_up.deferred) == [TopicPartition(TOPIC, 0)]


async def test_the_log_keeps_the_last_rounds(tmp_path: Path) -> None:
    async with await ComparisonLog.open(tmp_path / "comparator.db") as log:
        assert await log.last() is None
        for n in range(ComparisonLog.ROUNDS + 5):
            await log.record(
                Comparison(
                    documents=n,
                    divergences=[Divergence("doc-1", "x", "global", n)],
                    finished_at=f"t{n}",
                )
            )
        last = await log.last()
        rows = await log._db.read("SELECT count(*) FROM comparisons")
    assert last is not None
    assert last.summary() == f"compared: {ComparisonLog.ROUNDS + 4} documents, 1 divergences"
    assert last.lines == [f"document doc-1 scope global index {ComparisonLog.ROUNDS + 4}: x"]
    assert rows[0][0] == ComparisonLog.ROUNDS


# -- the running comparator and the commands ---------------------------------------------------


def cli_settings(home: Path, monkeypatch: pytest.MonkeyPatch, phase: int = 5) -> Settings:
    for name, value in {
        "REACTOR_ES_HOME": str(home),
        "REACTOR_ES_PHASE": str(phase),
        "REACTOR_ES_PARTITIONS": "2",
        "REACTOR_ES_TOPIC_PREFIX": "",
    }.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def partitioned(settings: Settings) -> dict[int, int]:
    """Positions 4 and 7 on partitions 0 and 1, for `seed`, as the CLI maps documents."""
    assert {partition_for(d.id, settings.partitions) for d in THREE} <= {0, 1}
    return {0: 4, 1: 7}


async def run_cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_compare_prints_each_divergence_then_the_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = cli_settings(tmp_path, monkeypatch)
    await seed(tmp_path, THREE, partitioned(settings))
    assert await run_cli("compare", "--wait", "1") == 0
    assert capsys.readouterr().out == "compared: 3 documents, 0 divergences\n"

    alter(
        tmp_path / "operations.db",
        "UPDATE operations SET skip = 1 WHERE document_id = 'doc-2' AND scope = 'global'"
        " AND idx = 2",
    )
    assert await run_cli("compare", "--wait", "1") == 1
    assert capsys.readouterr().out.splitlines() == [
        "document doc-2 scope global index 2: skip: legacy storage 0, operation store 1",
        "compared: 3 documents, 1 divergences",
    ]
    assert await run_cli("status") == 1  # no broker here: reported, and not healthy
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "phase 5: runs legacy, operations, jobs, comparator; READ_READY from legacy; "
        "documents from legacy storage"
    )
    # Without a broker the lags are unknown; where each store stands is shown instead.
    assert out[4].startswith(
        "  legacy      operations               [0] at 4  [1] at 7  total ?  ("
    )
    assert out[4].endswith(f"{tmp_path / 'legacy.db'})")
    assert out[5].startswith(
        "  operations  operations               [0] at 4  [1] at 7  total ?  ("
    )
    assert out[5].endswith(f"{tmp_path / 'operations.db'})")
    assert out[-1].startswith("comparator: compared: 3 documents, 1 divergences (at ")


async def test_compare_refuses_without_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_settings(tmp_path, monkeypatch)
    assert await run_cli("compare") == 2
    assert capsys.readouterr().err == (
        f"reactor-es: error: no legacy storage at {tmp_path / 'legacy.db'} "
        "(check REACTOR_ES_HOME; run phase 5 to fill both stores)\n"
    )
    assert not (tmp_path / "legacy.db").exists()


async def test_phase_check_asks_for_level_and_equal_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = cli_settings(tmp_path, monkeypatch)
    assert await run_cli("phase", "--check", "6", "--wait", "0") == 1
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == [
        "phase 5 → 6: not ready",
        f"  no legacy storage at {tmp_path / 'legacy.db'}",
        f"  no operation store at {tmp_path / 'operations.db'}",
        "  run phase 5 until the comparator finds both stores equal",
    ]
    await seed(tmp_path, THREE, partitioned(settings))
    assert await run_cli("phase", "--check", "6", "--wait", "1") == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "phase 5 → 6: ready",
        "  both stores level and equal (compared: 3 documents, 0 divergences)",
    ]
    alter(tmp_path / "operations.db", "DELETE FROM document_snapshots WHERE id = 'doc-3'")
    assert await run_cli("phase", "--check", "6", "--wait", "0") == 1
    assert capsys.readouterr().out.splitlines()[1:] == [
        "phase 5 → 6: not ready",
        "  the stores diverge (compared: 3 documents, 1 divergences)",
    ]


async def test_the_running_comparator_records_every_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = cli_settings(tmp_path, monkeypatch)
    await seed(tmp_path, THREE, partitioned(settings))
    service = ComparatorService(
        settings,
        default_registry(),
        legacy_path=tmp_path / "legacy.db",
        operations_path=tmp_path / "operations.db",
        interval=0.05,
    )
    async with service:
        first = await service.next_round(timeout=10)
        alter(
            tmp_path / "legacy.db",
            "DELETE FROM legacy_operations WHERE idx = 0 AND scope = 'global'"
            " AND document_seq = (SELECT seq FROM legacy_documents WHERE id = 'doc-1')",
        )
        second = await service.next_round(timeout=10)
    assert first.summary() == "compared: 3 documents, 0 divergences"
    line = second.divergences[0].line()
    assert line.startswith("document doc-1 scope global index 0: only in operation store")
    async with await ComparisonLog.open(tmp_path / "comparator.db") as log:
        last = await log.last()
    assert last is not None
    assert last.divergences >= 1
    assert service.rounds >= 2
