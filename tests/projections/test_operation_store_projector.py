"""The operation-store projector: rows, snapshots and positions; refusals; READ_READY hand-over."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from projections.legacy_adapter import OperationStoreFile
from projections.legacy_projector import LegacyProjector
from projections.operation_store_projector import (
    READ_READY_SUFFIX,
    OperationStoreProjector,
    read_ready_start,
)
from projections.runner import Delivered, PolledBatch, ProjectorRunner
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from projections.stores.tracking import TopicPartition
from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.actions import create_document_actions, new_action
from reactor_es.document.reducer import apply_action
from reactor_es.document.types import Action, Document
from reactor_es.kafka.records import HeaderHint, JobStatus, OperationRecord
from reactor_es.registry import default_registry
from tests.pipeline.conftest import running_executor
from tests.projections.pipeline import (
    assert_same_document,
    executor_documents,
    legacy_runner,
    make_pipeline_settings,
    write_todo_lists,
)

TODO = "reactor-es/todo-list"
TP = TopicPartition("operations", 0)
CONSUMER = "projector-operations"


# -- records as the executor writes them (no Kafka) -------------------------------------------


class Writer:
    """Applies actions with the base reducer and turns each operation into its record."""

    def __init__(self) -> None:
        self.model = default_registry().get(TODO)
        self.documents: dict[str, Document] = {}
        self.offset = 0

    def job(
        self, document_id: str, job_id: str, actions: Sequence[Action]
    ) -> list[Delivered[OperationRecord]]:
        delivered = []
        for action in actions:
            applied = apply_action(self.documents.get(document_id), action, self.model)
            document = self.documents[document_id] = applied.document
            record = OperationRecord(
                document_id=document_id,
                document_type=TODO,
                job_id=job_id,
                operation=applied.operation,
                resulting_state=json.dumps(document.state.get(action.scope), separators=(",", ":")),
                header=HeaderHint(
                    document.header.name,
                    dict(document.header.revision),
                    document.header.last_modified_at_utc_iso,
                ),
            )
            delivered.append(Delivered(TP, self.offset, record))
            self.offset += 1
        self.offset += 1  # the transaction's commit marker
        return delivered

    def create(self, document_id: str, job_id: str) -> list[Delivered[OperationRecord]]:
        actions = create_document_actions(
            self.model,
            document_id,
            name=f"List {document_id}",
            timestamp="2026-01-01T00:00:00.000Z",
        )
        return self.job(document_id, job_id, actions)

    def add(self, document_id: str, job_id: str, *texts: str) -> list[Delivered[OperationRecord]]:
        actions = [
            new_action("ADD_TODO", {"id": text, "text": text}, action_id=f"{job_id}-{n}")
            for n, text in enumerate(texts)
        ]
        return self.job(document_id, job_id, actions)

    def batch(self, *jobs: list[Delivered[OperationRecord]]) -> PolledBatch[OperationRecord]:
        records = [item for job in jobs for item in job]
        return PolledBatch(CONSUMER, records, {}, {TP: self.offset}, {TP: self.offset})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", partitions=1)


async def open_projector(settings: Settings) -> OperationStoreProjector:
    projector = OperationStoreProjector(settings, "no-broker", default_registry())
    await projector.start()
    return projector


async def stored_rows(path: Path) -> list[tuple[Any, ...]]:
    async with await OperationStoreFile.open(path) as store:
        found = await store.operations.get_since_id(0)
    return [
        (r.document_id, r.scope, r.index, r.job_id, r.prev_op_id, r.op_id) for r in found.results
    ]


async def test_rows_snapshots_and_positions_commit_together(settings: Settings) -> None:
    writer = Writer()
    batch = writer.batch(
        writer.create("doc-1", "job-c"), writer.add("doc-1", "job-a", "milk", "bread")
    )
    projector = await open_projector(settings)
    legacy = LegacyProjector(settings, "no-broker", default_registry(), reports_read_ready=False)
    await legacy.start()
    try:
        assert await projector.project(batch) == {TP: 6}
        await legacy.project(batch)
        ours = await projector.store.legacy_reader().get_document("doc-1")
        theirs = await legacy.store.get_document("doc-1")
        positions = await projector.store.get_positions(CONSUMER)
    finally:
        await projector.close()
        await legacy.close()

    # The adapter gives back, to the byte, what the legacy projector stored from the batch.
    assert ours.to_json() == theirs.to_json()
    assert ours.state == writer.documents["doc-1"].state
    assert [item["id"] for item in ours.state["global"]["items"]] == ["milk", "bread"]
    assert ours.header.revision == {"document": 2, "global": 2, "local": 0}
    assert positions == {TP: 6}
    rows = await stored_rows(settings.home / "operations.db")
    ids = {(row[1], row[2]): row[5] for row in rows}
    assert rows == [
        ("doc-1", "document", 0, "job-c", "", ids["document", 0]),
        ("doc-1", "document", 1, "job-c", ids["document", 0], ids["document", 1]),
        ("doc-1", "global", 0, "job-a", "", ids["global", 0]),
        ("doc-1", "global", 1, "job-a", ids["global", 0], ids["global", 1]),
    ]
    assert (projector.stats.operations, projector.stats.documents_created) == (4, 1)


async def test_redelivered_operations_are_skipped_and_a_restart_reads_the_store(
    settings: Settings,
) -> None:
    writer = Writer()
    first = writer.batch(writer.create("doc-1", "job-c"), writer.add("doc-1", "job-a", "milk"))
    projector = await open_projector(settings)
    await projector.project(first)
    await projector.close()

    again = await open_projector(settings)
    try:
        await again.project(first)  # every operation of it once more
        await again.project(writer.batch(writer.add("doc-1", "job-b", "eggs")))
        document = await again.store.legacy_reader().get_document("doc-1")
    finally:
        await again.close()
    assert again.stats.duplicates == 3
    assert again.stats.cache_misses == 1  # read back from the store once, then cached
    assert again.stats.operations == 1
    assert [op.index for op in document.operations["global"]] == [0, 1]
    assert [item["id"] for item in document.state["global"]["items"]] == ["milk", "eggs"]
    assert len(await stored_rows(settings.home / "operations.db")) == 4


async def test_an_operation_the_store_would_refuse_is_logged_and_skipped(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    writer = Writer()
    created = writer.create("doc-1", "job-c")
    bad = writer.add("doc-1", "job-a", "milk")
    item = bad[0]
    nameless = item.record.operation.model_copy(
        update={"action": item.record.operation.action.model_copy(update={"id": ""})}
    )
    forged = Delivered(TP, item.offset, _with_operation(item.record, nameless))
    projector = await open_projector(settings)
    try:
        with caplog.at_level(logging.ERROR, logger="projections.operation_store_projector"):
            await projector.project(writer.batch(created, [forged]))
        document = await projector.store.legacy_reader().get_document("doc-1")
        positions = await projector.store.get_positions(CONSUMER)
    finally:
        await projector.close()
    assert [r.getMessage() for r in caplog.records] == [
        f"projector operations: skipped operation {nameless.id} of document doc-1 (scope "
        f"global, index 0) at operations partition 0 offset 3: Invalid operation at index 0 "
        f"(document doc-1, scope global, branch main): operation {nameless.id} has no action id"
    ]
    assert projector.stats.rejected == 1
    assert document.operations["global"] == []
    assert document.state["global"] == {"items": []}
    assert positions == {TP: writer.offset}


def _with_operation(record: OperationRecord, operation: Any) -> OperationRecord:
    return OperationRecord(
        record.document_id,
        record.document_type,
        record.job_id,
        operation,
        record.branch,
        record.resulting_state,
        record.header,
    )


async def test_a_document_the_store_refuses_is_left_out_whole(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    writer = Writer()
    projector = await open_projector(settings)
    try:
        await projector.project(
            writer.batch(writer.create("doc-1", "job-1"), writer.create("doc-2", "job-2"))
        )
        # A row the projector does not know of, as a hand edit would leave it.
        stray = Writer()
        stray.create("doc-1", "stray-c")
        [intruder] = [item.record.operation for item in stray.add("doc-1", "stray", "x")]
        await projector.store.operations.apply("doc-1", TODO, "global", "main", 0, [intruder])
        with caplog.at_level(logging.ERROR, logger="projections.operation_store_projector"):
            await projector.project(
                writer.batch(
                    writer.add("doc-1", "job-x", "milk", "bread"),
                    writer.add("doc-2", "job-y", "eggs"),
                )
            )
        reader = projector.store.legacy_reader()
        one = await reader.get_document("doc-1")
        two = await reader.get_document("doc-2")
        positions = await projector.store.get_positions(CONSUMER)
    finally:
        await projector.close()
    assert [r.getMessage() for r in caplog.records] == [
        "projector operations: the operation store refused document doc-1 (scope global from "
        "index 0, job job-x); its 2 operations of this batch are skipped: Revision mismatch: "
        "expected 1, got 0 (document doc-1, scope global, branch main)"
    ]
    assert projector.stats.rejected == 2
    # doc-1 was written whole or not at all: its snapshot is the one before the batch.
    assert one.state["global"] == {"items": []}
    assert [op.action.id for op in one.operations["global"]] == ["stray-0"]
    assert [item["id"] for item in two.state["global"]["items"]] == ["eggs"]
    assert positions == {TP: writer.offset}


def test_read_ready_start() -> None:
    a, b, c = (TopicPartition("operations", p) for p in range(3))
    consumed = {a: 50, b: 40, c: 30}
    # Phase 6 from the start (no previous reporter): nothing is owed.
    assert read_ready_start(consumed, {}, None) == consumed
    # Taking over from legacy storage: owed from where it stood (from 0 where it never read).
    assert read_ready_start(consumed, {}, {a: 45, b: 40}) == {a: 45, b: 40, c: 0}
    # Once this projector has reported, its own record wins over the previous reporter's.
    assert read_ready_start(consumed, {a: 50, b: 38, c: 30}, {a: 0, b: 0, c: 0}) == {
        a: 50,
        b: 38,
        c: 30,
    }
    # A previous reporter ahead of what was consumed owes nothing beyond it.
    assert read_ready_start({a: 10}, {}, {a: 99}) == {a: 10}


# -- through the real broker ---------------------------------------------------------------------


@pytest.fixture
async def kafka_settings(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> Settings:
    return await make_pipeline_settings(kafka_bootstrap, unique_name, tmp_path)


def operations_runner(settings: Settings, bootstrap: str, **options: Any) -> ProjectorRunner[Any]:
    projector = OperationStoreProjector(
        settings,
        bootstrap,
        default_registry(),
        reports_read_ready=options.pop("reports_read_ready", False),
        previous_reporter=settings.home / "legacy.db",
    )
    return ProjectorRunner(settings, bootstrap, projector, **options)


async def test_both_stores_describe_every_document_alike(
    kafka_settings: Settings, kafka_bootstrap: str
) -> None:
    settings = kafka_settings
    async with (
        running_executor(settings, kafka_bootstrap) as executor,
        legacy_runner(settings, kafka_bootstrap) as legacy,
        operations_runner(settings, kafka_bootstrap, max_batch=20) as operations,
        Reactor(settings, kafka_bootstrap) as reactor,
    ):
        await write_todo_lists(reactor, 4, 3, 5)
        await legacy.wait_caught_up(timeout=60)
        positions = await operations.wait_caught_up(timeout=60)
        reduced = executor_documents(executor)
        async with (
            await SqliteLegacyStorage.open(settings.home / "legacy.db") as theirs,
            await OperationStoreFile.open(settings.home / "operations.db") as store,
        ):
            ours = store.legacy_reader()
            for d in range(4):
                document = await ours.get_document(f"list-{d}")
                assert document.to_json() == (await theirs.get_document(f"list-{d}")).to_json()
                await assert_same_document(
                    settings, kafka_bootstrap, document, reduced[f"list-{d}"]
                )
            assert await store.get_positions(operations.group_id) == positions
            assert positions == await theirs.get_positions(legacy.group_id)
    projector = operations.projector
    assert isinstance(projector, OperationStoreProjector)
    assert projector.stats.operations == 4 * (2 + 3 * 5)
    assert (projector.stats.rejected, projector.stats.duplicates) == (0, 0)


async def test_phase_6_takes_read_ready_over_where_legacy_storage_stopped(
    kafka_settings: Settings, kafka_bootstrap: str
) -> None:
    phase5 = kafka_settings.with_(phase=5)
    phase6 = kafka_settings.with_(phase=6)
    milk = [{"type": "ADD_TODO", "input": {"id": "a", "text": "milk"}}]
    async with (
        running_executor(phase5, kafka_bootstrap),
        Reactor(phase5, kafka_bootstrap) as reactor,
    ):
        async with operations_runner(phase5, kafka_bootstrap) as silent:
            async with legacy_runner(phase5, kafka_bootstrap):
                created = await reactor.create_document(TODO, "doc-1")
                first = await reactor.mutate("doc-1", milk)
                for job in (created, first):
                    done = await reactor.wait_for_job(job.id, until=JobStatus.READ_READY)
                    assert done.status is JobStatus.READ_READY
            # Legacy storage has stopped: these jobs are stored by the operation store only.
            late = [
                await reactor.mutate(
                    "doc-1", [{"type": "ADD_TODO", "input": {"id": f"l{n}", "text": "x"}}]
                )
                for n in range(2)
            ]
            for job in late:
                await reactor.wait_for_job(job.id, until=JobStatus.WRITE_READY)
            await silent.wait_caught_up(timeout=30)
        for job in late:
            assert (await reactor.get_job_status(job.id)).status is JobStatus.WRITE_READY

        async with operations_runner(phase6, kafka_bootstrap, reports_read_ready=True) as taking:
            for job in late:
                done = await reactor.wait_for_job(job.id, timeout=30, until=JobStatus.READ_READY)
                assert done.status is JobStatus.READ_READY
            after = await reactor.mutate(
                "doc-1", [{"type": "ADD_TODO", "input": {"id": "z", "text": "after"}}]
            )
            done = await reactor.wait_for_job(after.id, timeout=30, until=JobStatus.READ_READY)
            assert done.status is JobStatus.READ_READY
            consumed = await taking.wait_caught_up(timeout=30)
        took = taking.projector
        assert isinstance(took, OperationStoreProjector)
        # The two late jobs were read again (their operations already stored), then `after`.
        assert (took.stats.duplicates, took.stats.operations, took.stats.jobs_reported) == (2, 1, 3)
        async with await OperationStoreFile.open(phase6.home / "operations.db") as store:
            reported = await store.get_positions(taking.group_id + READ_READY_SUFFIX)
        # Recorded wherever it read; partitions it never moved on owe nothing either way.
        assert reported == {tp: offset for tp, offset in consumed.items() if offset > 0}

        # A restart owes nothing any more: nothing is read again, nothing reported twice.
        async with operations_runner(phase6, kafka_bootstrap, reports_read_ready=True) as again:
            await again.wait_caught_up(timeout=30)
        assert again.stats.records == 0
        assert again.projector.stats.jobs_reported == 0  # type: ignore[attr-defined]


# -- measurements (pytest -m slow -s) ------------------------------------------------------------


@pytest.mark.slow
async def test_measure_throughput(kafka_settings: Settings, kafka_bootstrap: str) -> None:
    settings = kafka_settings
    docs, jobs, actions = 50, 10, 10
    total = docs * (2 + jobs * actions)
    async with (
        running_executor(settings, kafka_bootstrap),
        Reactor(settings, kafka_bootstrap) as reactor,
    ):
        await write_todo_lists(reactor, docs, jobs, actions)
    for label, runner in (
        ("operation-store projector", operations_runner(settings, kafka_bootstrap)),
        ("legacy projector (same backlog)", legacy_runner(settings, kafka_bootstrap)),
    ):
        started = time.perf_counter()
        async with runner:
            await runner.wait_caught_up(timeout=120)
            ended = time.perf_counter()
        line = (
            f"\n{label}: {total} operations in {ended - started:.3f} s with group join = "
            f"{total / (ended - started):,.0f} operations/s"
        )
        if isinstance(runner.projector, OperationStoreProjector):
            busy = runner.projector.stats.seconds
            line += f"; {total / busy:,.0f} operations/s inside its batches"
        print(line)
        assert runner.stats.records == total
