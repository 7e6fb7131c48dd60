"""Phases 5 and 6 through the real pipeline: dual write over every export, then the switch.

- phase 5 over all 34 exports ends with exactly `compared: 34 documents, 0 divergences`;
- a row altered by hand in either store is reported with its document, scope and index;
- switching a running system from phase 5 to phase 6 loses nothing: no READ_READY, no
  operation, and every document read through the legacy adapter is what legacy storage held.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from projections.comparator import ComparatorService, Comparison, comparator_for
from projections.legacy_adapter import (
    OperationStoreFile,
    OperationStoreLegacyReader,
    ReadOnlyLegacyStorageError,
)
from projections.operation_store_projector import OperationStoreProjector
from projections.runner import ProjectorRunner
from projections.service import build_runners, open_document_reader, projector_names_for_phase
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from reactor_es.cli.main import main
from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.phd import read_phd
from reactor_es.document.types import Document
from reactor_es.document.verify import find_exports
from reactor_es.importer import ImportResult, import_exports
from reactor_es.kafka.records import JobStatus
from reactor_es.kafka.topics import ensure_topics
from reactor_es.registry import default_registry
from tests.corpus import CORPUS_DOCUMENTS, CORPUS_OPERATIONS, require_phd_dir
from tests.pipeline.conftest import running_executor

TODO = "reactor-es/todo-list"


def phase_settings(bootstrap: str, home: Path, phase: int) -> Settings:
    return Settings(
        bootstrap_servers=bootstrap,
        home=home,
        topic_prefix=f"phases-{uuid.uuid4().hex[:10]}.",
        partitions=3,
        phase=phase,
    )


def by_name(services: Sequence[Any]) -> dict[str, Any]:
    return {service.name: service for service in services}


@contextlib.asynccontextmanager
async def running(services: Sequence[Any]) -> AsyncIterator[dict[str, Any]]:
    """Every runner and service of a phase, running until the block ends."""
    async with contextlib.AsyncExitStack() as stack:
        for service in services:
            await stack.enter_async_context(service)
        yield by_name(services)


async def level_round(comparator: ComparatorService, tries: int = 20) -> Comparison:
    """The comparator's first round with nothing deferred."""
    for _ in range(tries):
        comparison = await comparator.next_round(timeout=30)
        if not comparison.deferred:
            return comparison
    raise AssertionError(f"no level round in {tries}: {comparison.deferred_lines()}")


def use_settings(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """The CLI reads its settings from the environment."""
    for name, value in {
        "REACTOR_ES_HOME": str(settings.home),
        "REACTOR_ES_PHASE": str(settings.phase),
        "REACTOR_ES_PARTITIONS": str(settings.partitions),
        "REACTOR_ES_TOPIC_PREFIX": settings.topic_prefix,
    }.items():
        monkeypatch.setenv(name, value)


async def run_cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


# -- phase 5 over every export ----------------------------------------------------------------


@dataclass
class Phase5Run:
    settings: Settings
    results: list[ImportResult]
    comparison: Comparison
    projected: int
    projecting_seconds: float
    #: Records written: CREATE and UPGRADE per document, then the exports' model-scope ops.
    expected_records: int


@pytest.fixture(scope="module")
async def phase5(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Phase5Run:
    """Every export imported through a phase-5 system, which is then stopped, caught up."""
    settings = phase_settings(kafka_bootstrap, tmp_path_factory.mktemp("phase5") / "home", 5)
    await ensure_topics(kafka_bootstrap, settings)
    exports = [read_phd(path) for path in find_exports([require_phd_dir()])]
    services = build_runners(
        settings, kafka_bootstrap, default_registry(), projector_names_for_phase(5)
    )
    async with running_executor(settings, kafka_bootstrap), running(services) as by:
        assert list(by) == ["legacy", "operations", "jobs", "comparator"]
        by["comparator"].interval = 0.5
        async with Reactor(settings, kafka_bootstrap) as reactor:
            results = await import_exports(reactor, exports, timeout=120)
        await by["legacy"].wait_caught_up(timeout=120)
        await by["operations"].wait_caught_up(timeout=120)
        comparison = await level_round(by["comparator"])
        projector = by["operations"].projector
        assert isinstance(projector, OperationStoreProjector)
    expected = 2 * len(exports) + sum(
        len(ops)
        for export in exports
        for scope, ops in export.document.operations.items()
        if scope != "document"
    )
    return Phase5Run(
        settings,
        results,
        comparison,
        projector.stats.operations,
        projector.stats.seconds,
        expected,
    )


async def test_phase_5_over_every_export_compares_equal(
    phase5: Phase5Run, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert [r.line() for r in phase5.results if not r.ok] == []
    assert len(phase5.results) == CORPUS_DOCUMENTS
    assert sum(r.operations for r in phase5.results) == CORPUS_OPERATIONS
    assert phase5.projected == phase5.expected_records
    # The running comparator, as `reactor-es status` reports it.
    assert phase5.comparison.summary() == "compared: 34 documents, 0 divergences"
    use_settings(monkeypatch, phase5.settings)
    # The system is stopped: status reports the stores, and exits 1 for the absent Kafka.
    assert await run_cli("status") == 1
    assert "comparator: compared: 34 documents, 0 divergences (at " in capsys.readouterr().out
    # And the command, on the stopped system.
    assert await run_cli("compare") == 0
    assert capsys.readouterr().out == "compared: 34 documents, 0 divergences\n"
    print(
        f"\noperation-store projector: {phase5.projected} operations in "
        f"{phase5.projecting_seconds:.3f} s inside its batches = "
        f"{phase5.projected / phase5.projecting_seconds:,.0f} operations/s; "
        f"comparator round over the corpus: {phase5.comparison.seconds:.3f} s"
    )


def copy_home(settings: Settings, to: Path) -> Settings:
    """The stores of a stopped system, copied (a hand edit must not touch the shared run)."""
    to.mkdir(parents=True)
    for name in ("legacy.db", "operations.db"):
        with sqlite3.connect(settings.home / name) as src, sqlite3.connect(to / name) as dst:
            src.backup(dst)
    return settings.with_(home=to)


def op_row(path: Path, document_id: str, scope: str, index: int) -> tuple[str, str]:
    with sqlite3.connect(path) as conn:
        [(op_id, op_hash)] = conn.execute(
            "SELECT op_id, hash FROM operations WHERE document_id = ? AND scope = ? AND idx = ?",
            (document_id, scope, index),
        ).fetchall()
    return op_id, op_hash


@pytest.mark.parametrize("altered", ["operation store", "legacy storage"])
async def test_a_row_altered_by_hand_is_reported_where_it_is(
    altered: str,
    phase5: Phase5Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = copy_home(phase5.settings, tmp_path / "home")
    target = max(phase5.results, key=lambda r: r.operations).document_id
    _, original = op_row(settings.home / "operations.db", target, "global", 5)
    if altered == "operation store":
        sql = (
            "UPDATE operations SET hash = 'tampered'"
            " WHERE document_id = ? AND scope = 'global' AND idx = 5"
        )
        expected = f"hash: legacy storage '{original}', operation store 'tampered'"
        path = settings.home / "operations.db"
    else:
        sql = (
            "UPDATE legacy_operations SET body = json_set(body, '$.hash', 'tampered')"
            " WHERE scope = 'global' AND idx = 5"
            " AND document_seq = (SELECT seq FROM legacy_documents WHERE id = ?)"
        )
        expected = f"hash: legacy storage 'tampered', operation store '{original}'"
        path = settings.home / "legacy.db"
    with sqlite3.connect(path) as conn:
        assert conn.execute(sql, (target,)).rowcount == 1
    use_settings(monkeypatch, settings)
    assert await run_cli("compare", "--wait", "0") == 1
    assert capsys.readouterr().out.splitlines() == [
        f"document {target} scope global index 5: {expected}",
        "compared: 34 documents, 1 divergences",
    ]


# -- the switch -----------------------------------------------------------------------------------


async def keep_writing(reactor: Reactor, lists: int, jobs: list[str], stop: asyncio.Event) -> None:
    """Submit a job every few ms, round robin over the lists, until `stop` (not awaited)."""
    n = 0
    while not stop.is_set():
        item = {"type": "ADD_TODO", "input": {"id": f"w{n}", "text": f"written {n}"}}
        jobs.append((await reactor.mutate(f"list-{n % lists}", [item])).id)
        n += 1
        await asyncio.sleep(0.01)


async def legacy_documents(path: Path) -> dict[str, Document]:
    async with await SqliteLegacyStorage.open(path) as store:
        ids = [
            document_id
            for document_type in default_registry().document_types()
            for document_id in (await store.find_by_type(document_type, limit=None)).results
        ]
        return {document_id: await store.get_document(document_id) for document_id in ids}


async def test_switching_a_running_system_from_phase_5_to_6_loses_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    phase5 = phase_settings(kafka_bootstrap, tmp_path / "home", 5)
    phase6 = phase5.with_(phase=6)
    await ensure_topics(kafka_bootstrap, phase5)
    registry = default_registry()
    exports = [read_phd(path) for path in find_exports([require_phd_dir()])]
    lists = 6
    written: list[str] = []
    stop_writing = asyncio.Event()
    async with (
        running_executor(phase5, kafka_bootstrap),
        Reactor(phase5, kafka_bootstrap) as reactor,
    ):
        services5 = build_runners(phase5, kafka_bootstrap, registry, projector_names_for_phase(5))
        async with running(services5) as by5:
            by5["comparator"].interval = 0.5
            results = await import_exports(reactor, exports, timeout=120)
            assert [r.line() for r in results if not r.ok] == []
            for d in range(lists):
                created = await reactor.create_document(TODO, f"list-{d}")
                await reactor.wait_for_job(created.id, until=JobStatus.READ_READY)
            await by5["legacy"].wait_caught_up(timeout=60)
            await by5["operations"].wait_caught_up(timeout=60)
            before_switch = await level_round(by5["comparator"])
            writer = asyncio.create_task(keep_writing(reactor, lists, written, stop_writing))
            await asyncio.sleep(1.0)
        # Phase 5 is stopped while jobs keep coming; phase 6 starts on the same stores.
        held = await legacy_documents(phase5.home / "legacy.db")
        services6 = build_runners(phase6, kafka_bootstrap, registry, projector_names_for_phase(6))
        async with running(services6) as by6:
            assert list(by6) == ["operations", "jobs"]
            await asyncio.sleep(1.0)
            stop_writing.set()
            await writer
            for job_id in written:
                done = await reactor.wait_for_job(job_id, timeout=60, until=JobStatus.READ_READY)
                assert done.status is JobStatus.READ_READY, job_id
            await by6["operations"].wait_caught_up(timeout=60)
            took = by6["operations"].projector
            assert isinstance(took, OperationStoreProjector)

            reader = await open_document_reader(phase6)
            try:
                assert isinstance(reader, OperationStoreLegacyReader)
                adapted = {i: await reader.get_document(i) for i in held}
                with pytest.raises(ReadOnlyLegacyStorageError):
                    await reader.delete("list-0")
            finally:
                await reader.close()

    assert (
        before_switch.summary() == f"compared: {CORPUS_DOCUMENTS + lists} documents, 0 divergences"
    )
    assert len(held) == CORPUS_DOCUMENTS + lists
    assert took.stats.rejected == 0
    assert took.stats.jobs_reported > 0
    # Every document legacy storage held reads the same through the adapter, the jobs
    # written since the switch added on top (imported documents got none: identical).
    changed = 0
    for document_id, theirs in held.items():
        ours = adapted[document_id]
        for scope, history in theirs.operations.items():
            assert ours.operations[scope][: len(history)] == history, (document_id, scope)
        if ours.to_json() != theirs.to_json():
            assert document_id.startswith("list-"), document_id
            changed += 1
    assert changed > 0  # the switch happened while jobs were being written

    # Legacy storage, caught up after the fact, agrees with the operation store on everything.
    [catch_up] = build_runners(phase6, kafka_bootstrap, registry, ["legacy"])
    assert isinstance(catch_up, ProjectorRunner)
    async with catch_up:
        await catch_up.wait_caught_up(timeout=60)
    async with (
        await SqliteLegacyStorage.open(phase6.home / "legacy.db") as legacy,
        await OperationStoreFile.open(phase6.home / "operations.db") as operations,
    ):
        final = await comparator_for(phase6, legacy, operations).compare_level(wait=10)
    assert final.summary() == f"compared: {CORPUS_DOCUMENTS + lists} documents, 0 divergences"
