"""The legacy projector through a real broker: documents, READ_READY, restarts, duplicates."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import pytest

from projections.legacy_projector import LegacyProjector
from projections.read_ready import AssembledJob, JobAssembler
from projections.runner import Delivered, PolledBatch, ProjectorRunner
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from projections.stores.tracking import TopicPartition
from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.hashing import hash_scope_state
from reactor_es.document.ids import derive_operation_id
from reactor_es.kafka.records import JobStatus, OperationRecord, OperationRef
from reactor_es.kafka.topics import partition_for
from reactor_es.registry import default_registry
from tests.pipeline.conftest import running_executor
from tests.projections.pipeline import (
    TODO,
    assert_same_document,
    count_rows,
    executor_documents,
    legacy_runner,
    raw_producer,
    write_todo_lists,
)


async def test_document_is_read_back_exactly(settings: Settings, kafka_bootstrap: str) -> None:
    async with (
        running_executor(settings, kafka_bootstrap) as executor,
        legacy_runner(settings, kafka_bootstrap) as runner,
        Reactor(settings, kafka_bootstrap) as reactor,
    ):
        created = await reactor.create_document(TODO, "doc-1", name="Groceries")
        await reactor.wait_for_job(created.id, until=JobStatus.READ_READY)
        job = await reactor.mutate(
            "doc-1",
            [
                {"type": "ADD_TODO", "input": {"id": "a", "text": "milk"}, "id": "act-1"},
                {"type": "ADD_TODO", "input": {"id": "b", "text": "bread"}, "id": "act-2"},
                {"type": "TOGGLE_TODO", "input": {"id": "a"}, "id": "act-3"},
            ],
        )
        written = await reactor.wait_for_job(job.id, until=JobStatus.WRITE_READY)
        readable = await reactor.wait_for_job(job.id, until=JobStatus.READ_READY)
        await runner.wait_caught_up(timeout=30)
        reduced = executor_documents(executor)["doc-1"]
        async with await SqliteLegacyStorage.open(settings.home / "legacy.db") as store:
            stored = await store.get_document("doc-1")

    assert readable.status is JobStatus.READ_READY
    assert list(readable.operations) == list(written.operations)
    states = [
        {"items": [{"id": "a", "text": "milk", "done": False}]},
        {
            "items": [
                {"id": "a", "text": "milk", "done": False},
                {"id": "b", "text": "bread", "done": False},
            ]
        },
        {
            "items": [
                {"id": "a", "text": "milk", "done": True},
                {"id": "b", "text": "bread", "done": False},
            ]
        },
    ]
    assert stored.state["global"] == states[-1]
    assert stored.state["local"] == {}
    assert [(op.index, op.skip, op.hash, op.id) for op in stored.operations["global"]] == [
        (
            n,
            0,
            hash_scope_state(state),
            derive_operation_id("doc-1", "global", "main", f"act-{n + 1}"),
        )
        for n, state in enumerate(states)
    ]
    assert [
        OperationRef("global", op.index, op.skip, op.id, op.hash)
        for op in stored.operations["global"]
    ] == list(written.operations)
    assert [(op.index, op.action.type) for op in stored.operations["document"]] == [
        (0, "CREATE_DOCUMENT"),
        (1, "UPGRADE_DOCUMENT"),
    ]
    assert stored.header.revision == {"document": 2, "global": 3, "local": 0}
    assert stored.header.name == "Groceries"
    # What the projector materialised is what the executor's reducers produced.
    await assert_same_document(settings, kafka_bootstrap, stored, reduced)
    assert runner.stats.records == 5
    assert runner.projector.stats.operations == 5  # type: ignore[attr-defined]


# -- cutting partitions into whole jobs (no Kafka) ----------------------------------------------

TP = TopicPartition("ops", 0)


def delivered(offset: int, job_id: str, index: int) -> Delivered[OperationRecord]:
    from tests.projections.builders import operation

    record = OperationRecord("doc-1", TODO, job_id, operation(index, type="ADD_TODO"))
    return Delivered(TP, offset, record)


def polled(
    *records: Delivered[OperationRecord],
    position: int,
    stable: int | None,
    skipped: tuple[int, ...] = (),
) -> PolledBatch[OperationRecord]:
    return PolledBatch(
        "c", list(records), {TP: list(skipped)} if skipped else {}, {TP: position}, {TP: stable}
    )


def cut(jobs: list[AssembledJob]) -> list[tuple[str, list[int]]]:
    return [(job.job_id, [item.offset for item in job.records]) for job in jobs]


def test_a_job_is_whole_when_another_follows_or_its_marker_is_passed() -> None:
    assembler = JobAssembler()
    a = [delivered(0, "A", 0), delivered(1, "A", 1), delivered(2, "A", 2)]
    b = [delivered(4, "B", 3), delivered(5, "B", 4)]
    # A's marker (offset 3) lies before B; B's records are read but its marker is not yet.
    closed, positions = assembler.feed(polled(*a, *b, position=6, stable=7))
    assert cut(closed) == [("A", [0, 1, 2])]
    assert positions == {TP: 4}  # not past B: a restart must read B again
    assert cut(list(assembler.open_jobs().values())) == [("B", [4, 5])]
    # The next poll only moves the position past B's marker.
    closed, positions = assembler.feed(polled(position=7, stable=7))
    assert cut(closed) == [("B", [4, 5])]
    assert positions == {TP: 7}
    assert assembler.open_jobs() == {}


def test_a_poll_cut_inside_a_job_holds_it_back() -> None:
    assembler = JobAssembler()
    closed, positions = assembler.feed(
        polled(delivered(10, "A", 0), delivered(11, "A", 1), position=12, stable=20)
    )
    assert (cut(closed), positions) == ([], {TP: 10})
    closed, positions = assembler.feed(
        polled(delivered(12, "A", 2), delivered(14, "C", 3), position=15, stable=20)
    )
    assert (cut(closed), positions) == ([("A", [10, 11, 12])], {TP: 14})


def test_an_undecodable_record_inside_a_job_does_not_cut_it() -> None:
    assembler = JobAssembler()
    closed, positions = assembler.feed(
        polled(delivered(0, "A", 0), delivered(2, "A", 1), position=3, stable=4, skipped=(1,))
    )
    assert (cut(closed), positions) == ([], {TP: 0})
    closed, positions = assembler.feed(polled(position=4, stable=4))
    assert (cut(closed), positions) == ([("A", [0, 2])], {TP: 4})


def test_records_without_markers_are_whole_at_the_stable_end() -> None:
    assembler = JobAssembler()
    closed, positions = assembler.feed(
        polled(delivered(0, "A", 0), delivered(1, "A", 1), position=2, stable=2)
    )
    assert (cut(closed), positions) == ([("A", [0, 1])], {TP: 2})


def test_reset_forgets_open_jobs() -> None:
    assembler = JobAssembler()
    assembler.feed(polled(delivered(0, "A", 0), position=1, stable=5))
    assembler.reset([TP])
    assert assembler.open_jobs() == {}
    closed, positions = assembler.feed(polled(delivered(0, "A", 0), position=2, stable=5))
    assert (cut(closed), positions) == ([("A", [0])], {TP: 2})


# -- restarts and re-delivery --------------------------------------------------------------------

DOCS = 10
JOBS_PER_DOC = 3
ACTIONS_PER_JOB = 10
TOTAL_OPS = DOCS * (2 + JOBS_PER_DOC * ACTIONS_PER_JOB)  # CREATE + UPGRADE per document
TOTAL_JOBS = DOCS * (1 + JOBS_PER_DOC)


class CrashingProjector(LegacyProjector):
    """Hangs inside the SQLite transaction of its n-th batch, until cancelled (a crash)."""

    def __init__(self, *args: object, crash_in_batch: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.crash_in_batch = crash_in_batch
        self.writes = 0
        self.stalled = asyncio.Event()

    async def _write(self, writer, pending, rejected_jobs, deletions):  # type: ignore[no-untyped-def]
        stored = await super()._write(writer, pending, rejected_jobs, deletions)
        self.writes += 1
        if self.writes == self.crash_in_batch:
            self.stalled.set()
            await asyncio.Event().wait()
        return stored


async def test_restart_resumes_from_sqlite_positions(
    settings: Settings, kafka_bootstrap: str
) -> None:
    registry = default_registry()
    path = settings.home / "legacy.db"
    async with (
        running_executor(settings, kafka_bootstrap) as executor,
        Reactor(settings, kafka_bootstrap) as reactor,
    ):
        await write_todo_lists(reactor, DOCS, JOBS_PER_DOC, ACTIONS_PER_JOB)

        crashing = CrashingProjector(settings, kafka_bootstrap, registry, crash_in_batch=4)
        first = ProjectorRunner(settings, kafka_bootstrap, crashing, max_batch=15)
        await first.start()
        task = asyncio.create_task(first.run())
        await asyncio.wait_for(crashing.stalled.wait(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        rows_before, _ = await count_rows(path)
        reported_before = crashing.stats.jobs_reported
        # Three batches committed, the fourth rolled back with its positions.
        assert first.stats.batches == 3
        assert 0 < rows_before < TOTAL_OPS
        assert rows_before == crashing.stats.operations

        second = legacy_runner(settings, kafka_bootstrap, max_batch=15)
        async with second:
            positions = await second.wait_caught_up(timeout=60)
        resumed = second.projector
        assert isinstance(resumed, LegacyProjector)
        books = executor_documents(executor)

    # It read only what the first run had not committed, and stored each operation once.
    # Positions never pass the first record of a job still open (READ_READY must not be
    # lost), so the records of a job the crash cut are read again, and skipped as stored:
    # at most one open job per partition.
    assert second.stats.records == TOTAL_OPS - rows_before + resumed.stats.duplicates
    assert resumed.stats.duplicates < 3 * ACTIONS_PER_JOB
    assert resumed.stats.rejected == 0
    assert await count_rows(path) == (TOTAL_OPS, TOTAL_OPS)
    assert reported_before + resumed.stats.jobs_reported == TOTAL_JOBS
    assert sorted(tp.partition for tp in positions) == [0, 1, 2]
    async with await SqliteLegacyStorage.open(path) as store:
        for d in range(DOCS):
            stored = await store.get_document(f"list-{d}")
            indexes = [op.index for op in stored.operations["global"]]
            assert indexes == list(range(JOBS_PER_DOC * ACTIONS_PER_JOB))
            assert len(stored.state["global"]["items"]) == JOBS_PER_DOC * ACTIONS_PER_JOB
            await assert_same_document(settings, kafka_bootstrap, stored, books[f"list-{d}"])


async def test_a_conflicting_operation_is_logged_and_its_job_not_reported(
    settings: Settings, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    from reactor_es.kafka.codec import RecordCodec
    from reactor_es.kafka.topics import TopicNames, document_key
    from tests.projections.builders import operation

    topics = TopicNames.from_settings(settings)
    partition = partition_for("doc-c", settings.partitions)
    forged = OperationRecord(
        document_id="doc-c",
        document_type=TODO,
        job_id="forged-job",
        operation=operation(0, document_id="doc-c", type="ADD_TODO", hash="forged"),
        resulting_state='{"items":[]}',
    )
    projector = LegacyProjector(settings, kafka_bootstrap, default_registry())
    with caplog.at_level(logging.ERROR, logger="projections.legacy_projector"):
        async with (
            running_executor(settings, kafka_bootstrap),
            Reactor(settings, kafka_bootstrap) as reactor,
            raw_producer(settings, kafka_bootstrap) as foreign,
            ProjectorRunner(settings, kafka_bootstrap, projector) as runner,
        ):
            created = await reactor.create_document(TODO, "doc-c")
            await reactor.wait_for_job(created.id, until=JobStatus.READ_READY)
            first = await reactor.mutate(
                "doc-c", [{"type": "ADD_TODO", "input": {"id": "a", "text": "milk"}}]
            )
            first_done = await reactor.wait_for_job(first.id, until=JobStatus.READ_READY)
            sent = await foreign.send_and_wait(
                topics.operations,
                RecordCodec().encode_record(forged),
                key=document_key("doc-c"),
                partition=partition,
            )
            second = await reactor.mutate(
                "doc-c", [{"type": "ADD_TODO", "input": {"id": "b", "text": "bread"}}]
            )
            readable = await reactor.wait_for_job(second.id, until=JobStatus.READ_READY)
            await runner.wait_caught_up(timeout=30)
    async with await SqliteLegacyStorage.open(settings.home / "legacy.db") as store:
        stored = await store.get_document("doc-c")

    assert [r.getMessage() for r in caplog.records if r.name == "projections.legacy_projector"] == [
        f"projector legacy: skipped operation {forged.operation.id} of document doc-c "
        f"(scope global, index 0) at {topics.operations} partition {partition} offset "
        f"{sent.offset}: the document is at index 1 and holds another operation at index 0"
    ]
    assert projector.stats.rejected == 1
    assert projector.stats.jobs_reported == 3  # the forged job gets no READ_READY
    assert [(r.scope, r.index) for r in readable.operations] == [("global", 1)]
    assert [item["id"] for item in stored.state["global"]["items"]] == ["a", "b"]
    assert [op.hash for op in stored.operations["global"]] == [
        first_done.operations[0].hash,
        readable.operations[0].hash,
    ]


class ReplayingProjector(LegacyProjector):
    """A second consumer (own group, own positions) on the same store: re-delivers it all."""

    name = "legacy-replay"


async def test_redelivered_operations_are_skipped(settings: Settings, kafka_bootstrap: str) -> None:
    path = settings.home / "legacy.db"
    async with (
        running_executor(settings, kafka_bootstrap),
        Reactor(settings, kafka_bootstrap) as reactor,
    ):
        await write_todo_lists(reactor, 3, 2, 5)
    async with legacy_runner(settings, kafka_bootstrap) as runner:
        await runner.wait_caught_up(timeout=30)
    stored_once = await count_rows(path)
    async with await SqliteLegacyStorage.open(path) as store:
        before = (await store.get_document("list-1")).model_dump()

    replay = ReplayingProjector(settings, kafka_bootstrap, default_registry())
    async with ProjectorRunner(settings, kafka_bootstrap, replay) as replayer:
        await replayer.wait_caught_up(timeout=30)

    total = 3 * (2 + 2 * 5)
    assert stored_once == (total, total)
    assert replayer.stats.records == total
    assert replay.stats.duplicates == total
    assert replay.stats.operations == 0
    assert replay.stats.cache_misses == 3  # each document read back from the store once
    assert await count_rows(path) == (total, total)
    async with await SqliteLegacyStorage.open(path) as store:
        assert (await store.get_document("list-1")).model_dump() == before


async def test_history_actions_materialise_as_the_executor_reduced_them(
    settings: Settings, kafka_bootstrap: str
) -> None:
    from reactor_es.document.actions import create_document_actions
    from reactor_es.executor.service import JobExecutor
    from reactor_es.kafka.records import JobKind
    from tests.pipeline.test_history_pipeline import COUNTER, STEPS, counter_registry

    executor = JobExecutor(settings, kafka_bootstrap, registry=counter_registry())
    await executor.start()
    running = asyncio.create_task(executor.run())
    await executor.wait_ready(60)
    projector = LegacyProjector(settings, kafka_bootstrap, counter_registry())
    genesis = create_document_actions(COUNTER, "counter-1", timestamp="2026-02-01T09:00:00.000Z")
    try:
        async with (
            Reactor(settings, kafka_bootstrap, registry=counter_registry()) as reactor,
            ProjectorRunner(settings, kafka_bootstrap, projector) as runner,
        ):
            created = await reactor.submit_job(
                "counter-1", genesis, JobKind.CREATE, document_type=COUNTER.document_type
            )
            await reactor.wait_for_job(created.id, until=JobStatus.READ_READY)
            for n, (kind, payload, skip) in enumerate(STEPS):
                action = {"type": kind, "input": payload, "id": f"a{n}", "skip": skip}
                job = await reactor.mutate("counter-1", [action], document_type="test/counter")
                done = await reactor.wait_for_job(job.id, until=JobStatus.READ_READY)
                assert done.status is JobStatus.READ_READY
            await runner.wait_caught_up(timeout=30)
            reduced = executor_documents(executor)["counter-1"]
    finally:
        executor.stop()
        await running
    async with await SqliteLegacyStorage.open(settings.home / "legacy.db") as store:
        stored = await store.get_document("counter-1")

    assert [(op.action.type, op.index, op.skip) for op in stored.operations["global"]] == [
        ("INCREMENT", 0, 0),
        ("INCREMENT", 1, 0),
        ("INCREMENT", 2, 0),
        ("NOOP", 3, 1),
        ("NOOP", 4, 1),
        ("INCREMENT", 5, 0),
        ("NOOP", 6, 1),
    ]
    assert stored.state["global"] == {"count": 1}
    await assert_same_document(settings, kafka_bootstrap, stored, reduced)
    assert projector.stats.jobs_reported == 1 + len(STEPS)


# -- measurements (pytest -m slow -s) --------------------------------------------------------------


def _ms(start: str | None, end: str | None) -> float:
    from datetime import datetime

    assert start is not None
    assert end is not None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() * 1000


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class TimedProjector(LegacyProjector):
    """Notes when its first batch started, so group joining is left out of the rate."""

    first_batch: float | None = None

    async def project(self, batch):  # type: ignore[no-untyped-def]
        if self.first_batch is None and batch.records:
            self.first_batch = time.perf_counter()
        return await super().project(batch)


@pytest.mark.slow
async def test_measure_throughput_and_read_ready_latency(
    settings: Settings, kafka_bootstrap: str
) -> None:
    from projections.job_status import JobStatusProjector

    docs, jobs_per_doc, actions = 50, 10, 10
    total = docs * (2 + jobs_per_doc * actions)
    async with (
        running_executor(settings, kafka_bootstrap),
        Reactor(settings, kafka_bootstrap) as reactor,
    ):
        await write_todo_lists(reactor, docs, jobs_per_doc, actions)

    # 1. Throughput: the whole backlog from the topic into SQLite.
    projector = TimedProjector(settings, kafka_bootstrap, default_registry())
    started = time.perf_counter()
    async with ProjectorRunner(settings, kafka_bootstrap, projector) as runner:
        await runner.wait_caught_up(timeout=120)
        ended = time.perf_counter()
    assert projector.first_batch is not None
    projecting = ended - projector.first_batch
    print(
        f"\nlegacy projector: {total} operations ({docs} documents, jobs of {actions}) in "
        f"{projecting:.3f} s = {total / projecting:,.0f} operations/s "
        f"({ended - started:.3f} s with group join), {runner.stats.batches} batches"
    )
    assert runner.stats.records == total
    assert await count_rows(settings.home / "legacy.db") == (total, total)

    # 2. READ_READY latency after WRITE_READY, everything running: paced, then a burst. The
    # stored times are stamped by their producers (the executor stamps WRITE_READY before its
    # transaction commits); `seen` is when a consumer of job-events received each event.
    seen: dict[tuple[str, JobStatus], float] = {}
    async with (
        running_executor(settings, kafka_bootstrap),
        ProjectorRunner(settings, kafka_bootstrap, JobStatusProjector(settings)) as jobs,
        legacy_runner(settings, kafka_bootstrap),
        Reactor(settings, kafka_bootstrap) as reactor,
        watching_job_events(settings, kafka_bootstrap, seen),
    ):
        store = jobs.projector.store  # type: ignore[attr-defined]
        for label, burst in (("one job at a time", False), ("burst of 500 jobs", True)):
            submitted = []
            for n in range(500 if burst else 200):
                items = [
                    {"type": "ADD_TODO", "input": {"id": f"{label}-{n}-{k}", "text": "x"}}
                    for k in range(actions)
                ]
                info = await reactor.mutate(f"list-{n % docs}", items)
                submitted.append(info.id)
                if not burst:
                    await reactor.wait_for_job(info.id, until=JobStatus.READ_READY)
            for job_id in submitted:
                await reactor.wait_for_job(job_id, timeout=120, until=JobStatus.READ_READY)
            await jobs.wait_caught_up(timeout=60)
            await asyncio.sleep(0.2)  # the watcher's last poll
            times = await store.times(submitted)
            stamped = [_ms(t.write_ready_at, t.read_ready_at) for t in times]
            received = [
                1000 * (seen[(j, JobStatus.READ_READY)] - seen[(j, JobStatus.WRITE_READY)])
                for j in submitted
            ]
            print(
                f"READ_READY after WRITE_READY, {label} ({len(times)} jobs of {actions}): "
                f"stamped p50 {_percentile(stamped, 0.5):.0f} ms, "
                f"p95 {_percentile(stamped, 0.95):.0f} ms; "
                f"as received p50 {_percentile(received, 0.5):.1f} ms, "
                f"p95 {_percentile(received, 0.95):.1f} ms"
            )
            assert len(times) == len(submitted)


@contextlib.asynccontextmanager
async def watching_job_events(
    settings: Settings, bootstrap: str, seen: dict[tuple[str, JobStatus], float]
) -> AsyncIterator[None]:
    """Note when each (job, status) event is first received from `job-events`."""
    from aiokafka import TopicPartition as KafkaPartition

    from reactor_es.kafka.clients import make_consumer
    from reactor_es.kafka.codec import RecordCodec
    from reactor_es.kafka.records import JobEvent
    from reactor_es.kafka.topics import TopicNames

    topic = TopicNames.from_settings(settings).job_events
    consumer = make_consumer(settings, bootstrap, group_id=None)
    await consumer.start()
    tps = [KafkaPartition(topic, p) for p in range(settings.partitions)]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)
    codec = RecordCodec()

    async def watch() -> None:
        while True:
            for messages in (await consumer.getmany(timeout_ms=50)).values():
                now = time.perf_counter()
                for message in messages:
                    event = codec.decode_record(message.value, JobEvent)
                    seen.setdefault((event.job_id, event.status), now)

    task = asyncio.create_task(watch())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()
