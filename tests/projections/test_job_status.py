"""The job-status projection: folding events in any order, readers elsewhere, the real pipeline."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from projections.job_status import (
    JobStatusBatch,
    JobStatusProjector,
    JobTimes,
    SqliteJobStatusStore,
)
from projections.legacy_projector import LegacyProjector
from projections.runner import ProjectorRunner
from projections.service import open_document_reader, open_job_store
from projections.stores.exceptions import PositionRegressionError
from projections.stores.legacy import DocumentNotFoundError
from projections.stores.tracking import TopicPartition
from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.jobs import JobInfo
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.operations_log import read_operations
from reactor_es.kafka.records import JobEvent, JobStatus, OperationRef
from reactor_es.kafka.topics import TopicNames, job_key
from reactor_es.registry import default_registry
from tests.pipeline.conftest import running_executor
from tests.projections.pipeline import TODO, raw_producer

REFS = (OperationRef("global", 0, 0, "op-0", "h0"), OperationRef("global", 1, 0, "op-1", "h1"))


def at(second: int) -> str:
    return f"2025-03-01T10:00:{second:02d}.000Z"


def event(
    status: JobStatus,
    second: int,
    job_id: str = "job-1",
    *,
    error: str | None = None,
    refs: tuple[OperationRef, ...] = (),
    source: str = "test",
) -> JobEvent:
    return JobEvent(job_id, "doc-1", status, at(second), source, refs, error)


# -- the store, without Kafka --------------------------------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteJobStatusStore]:
    opened = await SqliteJobStatusStore.open(tmp_path / "jobs.db")
    yield opened
    await opened.close()


async def test_lifecycle_in_order(store: SqliteJobStatusStore) -> None:
    await store.apply(event(JobStatus.PENDING, 1, source="client"))
    assert await store.get_job("job-1") == JobInfo(
        "job-1", "doc-1", JobStatus.PENDING, at(1), at(1), None, ()
    )
    await store.apply(event(JobStatus.RUNNING, 2), event(JobStatus.WRITE_READY, 3, refs=REFS))
    await store.apply(event(JobStatus.READ_READY, 5, refs=REFS))
    assert await store.get_job("job-1") == JobInfo(
        "job-1", "doc-1", JobStatus.READ_READY, at(1), at(5), None, REFS
    )
    assert await store.get_times("job-1") == JobTimes("job-1", at(1), at(2), at(3), at(5), None)
    assert await store.get_job("job-2") is None
    assert await store.get_times("job-2") is None


async def test_events_out_of_order_end_at_the_same_row(store: SqliteJobStatusStore) -> None:
    # READ_READY before anything, PENDING last but one; split over two batches.
    await store.apply(event(JobStatus.READ_READY, 5, refs=REFS), event(JobStatus.RUNNING, 2))
    assert (await store.get_job("job-1")) == JobInfo(
        "job-1", "doc-1", JobStatus.READ_READY, at(2), at(5), None, REFS
    )
    await store.apply(event(JobStatus.PENDING, 1), event(JobStatus.WRITE_READY, 3, refs=REFS))
    assert await store.get_job("job-1") == JobInfo(
        "job-1", "doc-1", JobStatus.READ_READY, at(1), at(5), None, REFS
    )
    assert await store.get_times("job-1") == JobTimes("job-1", at(1), at(2), at(3), at(5), None)
    # A re-delivered event changes nothing, not even the time first seen.
    await store.apply(event(JobStatus.WRITE_READY, 9, refs=REFS))
    assert await store.get_times("job-1") == JobTimes("job-1", at(1), at(2), at(3), at(5), None)


async def test_failed_is_final(store: SqliteJobStatusStore) -> None:
    failed = event(JobStatus.FAILED, 3, "job-f", error="document ghost not found")
    await store.apply(event(JobStatus.PENDING, 1, "job-f"), failed)
    await store.apply(event(JobStatus.WRITE_READY, 4, "job-f", refs=REFS))
    assert await store.get_job("job-f") == JobInfo(
        "job-f", "doc-1", JobStatus.FAILED, at(1), at(3), "document ghost not found", ()
    )
    assert await store.get_times("job-f") == JobTimes("job-f", at(1), None, at(4), None, at(3))
    await store.apply(event(JobStatus.PENDING, 1, "job-p"), event(JobStatus.RUNNING, 1, "job-r"))
    assert await store.count_by_status() == {
        "PENDING": 1,
        "RUNNING": 1,
        "WRITE_READY": 0,
        "READ_READY": 0,
        "FAILED": 1,
    }
    assert [t.job_id for t in await store.times(["job-r", "job-f"])] == ["job-r", "job-f"]


async def test_events_and_positions_commit_together(store: SqliteJobStatusStore) -> None:
    async with store.batch() as batch:
        batch.apply(event(JobStatus.PENDING, 1))
        batch.record_position("projector-jobs", "job-events", 0, 7)

    async def regressing_batch() -> None:
        async with store.batch() as batch:
            batch.apply(event(JobStatus.WRITE_READY, 2, refs=REFS))
            batch.record_position("projector-jobs", "job-events", 0, 3)

    with pytest.raises(PositionRegressionError):
        await regressing_batch()
    assert (await store.get_job("job-1")) == JobInfo(
        "job-1", "doc-1", JobStatus.PENDING, at(1), at(1), None, ()
    )
    assert await store.get_positions("projector-jobs") == {TopicPartition("job-events", 0): 7}


_READER = """
import sqlite3, sys
conn = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=0)
print(conn.execute("SELECT status FROM jobs WHERE id = ?", (sys.argv[2],)).fetchone()[0])
"""


def read_in_another_process(path: Path, job_id: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _READER, str(path), job_id],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.strip()


async def test_another_process_reads_while_a_batch_writes(store: SqliteJobStatusStore) -> None:
    await store.apply(event(JobStatus.PENDING, 1))
    async with store._db.transaction() as conn:
        staged = JobStatusBatch("test")
        staged.apply(event(JobStatus.WRITE_READY, 2, refs=REFS))
        await staged.flush(conn)
        # Written but not committed: the other process reads the last commit, at once.
        assert read_in_another_process(store.path, "job-1") == "PENDING"
    assert read_in_another_process(store.path, "job-1") == "WRITE_READY"


# -- through the broker --------------------------------------------------------------------------


def jobs_runner(settings: Settings, bootstrap: str) -> ProjectorRunner[JobEvent]:
    return ProjectorRunner(settings, bootstrap, JobStatusProjector(settings))


async def test_job_goes_pending_write_ready_read_ready(
    settings: Settings, kafka_bootstrap: str
) -> None:
    async with (
        jobs_runner(settings, kafka_bootstrap) as jobs,
        Reactor(settings, kafka_bootstrap) as reactor,
    ):
        store = await open_job_store(settings)
        # No executor yet: the job can only be PENDING.
        created = await reactor.create_document(TODO, "doc-s")
        await jobs.wait_caught_up(timeout=30)
        pending = await store.get_job(created.id)

        async with running_executor(settings, kafka_bootstrap):
            written = await reactor.wait_for_job(created.id, until=JobStatus.WRITE_READY)
            await jobs.wait_caught_up(timeout=30)
            write_ready = await store.get_job(created.id)
            failed_job = await reactor.mutate(
                "ghost", [{"type": "ADD_TODO", "input": {"id": "a", "text": "x"}}]
            )
            failed = await reactor.wait_for_job(failed_job.id)

        legacy = LegacyProjector(settings, kafka_bootstrap, default_registry())
        async with ProjectorRunner(settings, kafka_bootstrap, legacy) as runner:
            await runner.wait_caught_up(timeout=30)
        await jobs.wait_caught_up(timeout=30)
        read_ready = await store.get_job(created.id)
        stored_failure = await store.get_job(failed_job.id)
        times = await store.get_times(created.id)
        counts = await store.count_by_status()
        # Another client, which submitted nothing, answers from the store.
        async with Reactor(settings, kafka_bootstrap, jobs=store) as other:
            seen_elsewhere = await other.get_job_status(created.id)
        await store.close()

    refs = (written.operations[0], written.operations[1])
    assert [(r.scope, r.index) for r in refs] == [("document", 0), ("document", 1)]
    assert pending == JobInfo(
        created.id,
        "doc-s",
        JobStatus.PENDING,
        created.created_at_utc_iso,
        created.created_at_utc_iso,
        None,
        (),
    )
    assert write_ready is not None
    assert (write_ready.status, tuple(write_ready.operations)) == (JobStatus.WRITE_READY, refs)
    assert read_ready is not None
    assert (read_ready.status, tuple(read_ready.operations)) == (JobStatus.READ_READY, refs)
    assert read_ready.created_at_utc_iso == created.created_at_utc_iso
    assert seen_elsewhere == read_ready
    assert times is not None
    assert times.pending_at == created.created_at_utc_iso
    assert times.running_at is None
    assert times.failed_at is None
    assert times.pending_at <= (times.write_ready_at or "") <= (times.read_ready_at or "")

    assert failed.status is JobStatus.FAILED
    assert stored_failure is not None
    assert (stored_failure.status, stored_failure.error, tuple(stored_failure.operations)) == (
        JobStatus.FAILED,
        "document ghost not found",
        (),
    )
    assert counts == {
        "PENDING": 0,
        "RUNNING": 0,
        "WRITE_READY": 0,
        "READ_READY": 1,
        "FAILED": 1,
    }
    # The failed job wrote nothing anywhere.
    assert (await read_operations(settings, kafka_bootstrap, ["ghost"])) == {}
    assert [
        r.operation.index
        for r in (await read_operations(settings, kafka_bootstrap, ["doc-s"]))["doc-s"]
    ] == [0, 1]
    documents = await open_document_reader(settings)
    try:
        with pytest.raises(DocumentNotFoundError):
            await documents.get_document("ghost")
        assert (await documents.get_document("doc-s")).header.revision == {
            "document": 2,
            "global": 0,
            "local": 0,
        }
    finally:
        await documents.close()


async def test_out_of_order_events_from_kafka(settings: Settings, kafka_bootstrap: str) -> None:
    topic = TopicNames.from_settings(settings).job_events
    codec = RecordCodec()
    sent = [
        event(JobStatus.READ_READY, 5, refs=REFS, source="projector:legacy"),
        event(JobStatus.PENDING, 1, source="client"),
        event(JobStatus.WRITE_READY, 3, refs=REFS, source="executor"),
        event(JobStatus.RUNNING, 2, source="executor"),
        event(JobStatus.FAILED, 4, "job-2", error="boom", source="executor"),
        event(JobStatus.PENDING, 1, "job-2", source="client"),
        event(JobStatus.WRITE_READY, 6, "job-2", refs=REFS, source="executor"),
    ]
    async with raw_producer(settings, kafka_bootstrap) as producer:
        for item in sent:
            await producer.send_and_wait(topic, codec.encode_record(item), key=job_key(item.job_id))
    async with jobs_runner(settings, kafka_bootstrap) as runner:
        await runner.wait_caught_up(timeout=30)
        store = runner.projector.store  # type: ignore[attr-defined]
        first = await store.get_job("job-1")
        second = await store.get_job("job-2")
        first_times = await store.get_times("job-1")

    # Every event is stored once: the positions cover the 7 records. (A rebalance while
    # the group forms seeks back to the stored positions, so records may be read twice.)
    assert sum(runner.stats.positions.values()) == 7
    assert runner.stats.records >= 7
    assert first == JobInfo("job-1", "doc-1", JobStatus.READ_READY, at(1), at(5), None, REFS)
    assert first_times == JobTimes("job-1", at(1), at(2), at(3), at(5), None)
    assert second == JobInfo("job-2", "doc-1", JobStatus.FAILED, at(1), at(4), "boom", ())


def _reference_fold(events: list[JobEvent]) -> tuple[JobInfo, JobTimes]:
    """The row the store must end at: `JobInfo.advance` per event, first time per status."""
    info = JobInfo.from_event(events[0])
    first_seen = {events[0].status: events[0].at_utc_iso}
    for later in events[1:]:
        info = info.advance(later)
        first_seen.setdefault(later.status, later.at_utc_iso)
    created = first_seen.get(JobStatus.PENDING) or min(first_seen.values())
    info = JobInfo(
        info.id, info.document_id, info.status, created, info.updated_at_utc_iso, info.error,
        tuple(info.operations),
    )  # fmt: skip
    times = JobTimes(info.id, *(first_seen.get(status) for status in JobStatus))
    return info, times


LIFECYCLE = (
    event(JobStatus.PENDING, 1, "job-x", source="client"),
    event(JobStatus.RUNNING, 2, "job-x"),
    event(JobStatus.WRITE_READY, 3, "job-x", refs=REFS),
    event(JobStatus.READ_READY, 5, "job-x", refs=REFS[:1]),
    event(JobStatus.FAILED, 4, "job-x", error="refused"),
    event(JobStatus.WRITE_READY, 7, "job-x", refs=REFS),  # a re-delivery, later
)


@pytest.mark.parametrize("split", [0, 2, 4], ids=["one batch", "split at 2", "split at 4"])
async def test_every_order_folds_as_job_info_advance(tmp_path: Path, split: int) -> None:
    """Every order of six events of one job (720 orders), in one batch or two, ends at the
    row `JobInfo.advance` gives, times included."""
    orders = list(itertools.permutations(LIFECYCLE))
    store = await SqliteJobStatusStore.open(tmp_path / "jobs.db")
    try:
        for n, order in enumerate(orders):
            job_id = f"job-{n}"
            events = [replace(e, job_id=job_id) for e in order]
            if split:
                await store.apply(*events[:split])
                await store.apply(*events[split:])
            else:
                await store.apply(*events)
            assert (await store.get_job(job_id), await store.get_times(job_id)) == (
                _reference_fold(events)
            ), order
    finally:
        await store.close()
    assert len(orders) == 720
