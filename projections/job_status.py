"""The job-status projection: `job-events` into a SQLite table any process can query.

Clients follow their own jobs on `job-events`; this store answers for any job, from any
process (`reactor-es job ID`, another client): its file is in WAL mode, so readers see the
last committed batch while the projector writes the next one.

A job's status only moves forward (PENDING → RUNNING → WRITE_READY → READ_READY, or
FAILED), by the same rule as `JobInfo.advance`: events of one job come from different
producers (client, executor, projector) on one partition, but a client's PENDING may be
written after the executor has already answered, so any order must end at the same row.
The time of each status is kept apart from the status (first time seen wins) so that
latencies (e.g. READ_READY after WRITE_READY) can be measured whatever order the events
came in; `created_at` is the PENDING time when known, else the earliest event's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from projections.exceptions import ProjectorStateError
from projections.runner import PolledBatch, Projector
from projections.stores.sqlite import Migration, Row, SqliteConnection, SqliteDatabase
from projections.stores.tracking import (
    TRACKING_MIGRATIONS,
    PositionRecorder,
    SqliteTrackedStore,
    TopicPartition,
)
from reactor_es.config import Settings
from reactor_es.jobs import STATUS_RANK, JobInfo
from reactor_es.kafka.records import JobEvent, JobStatus, OperationRef
from reactor_es.kafka.topics import TopicNames

__all__ = [
    "JOBS_MIGRATIONS",
    "JOB_STORE_FILE",
    "JobStatusBatch",
    "JobStatusProjector",
    "JobTimes",
    "SqliteJobStatusStore",
]

#: The job store's file under `settings.home`.
JOB_STORE_FILE = "jobs.db"

#: Column of each status's first-seen time.
_TIME_COLUMNS: dict[JobStatus, str] = {
    JobStatus.PENDING: "pending_at",
    JobStatus.RUNNING: "running_at",
    JobStatus.WRITE_READY: "write_ready_at",
    JobStatus.READ_READY: "read_ready_at",
    JobStatus.FAILED: "failed_at",
}

JOBS_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        (
            "CREATE TABLE jobs ("
            " id TEXT PRIMARY KEY,"
            " document_id TEXT NOT NULL,"
            " status TEXT NOT NULL,"
            " error TEXT,"
            " operations TEXT NOT NULL,"
            " created_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL,"
            " pending_at TEXT,"
            " running_at TEXT,"
            " write_ready_at TEXT,"
            " read_ready_at TEXT,"
            " failed_at TEXT"
            ") WITHOUT ROWID",
            "CREATE INDEX jobs_status ON jobs (status)",
            "CREATE INDEX jobs_document ON jobs (document_id, created_at)",
        ),
    ),
)

_COLUMNS = (
    "id, document_id, status, error, operations, created_at, updated_at,"
    " pending_at, running_at, write_ready_at, read_ready_at, failed_at"
)


def _rank(status: str) -> str:
    """SQL for the lifecycle rank of a status (`STATUS_RANK`; FAILED ranks as the end)."""
    cases = " ".join(f"WHEN '{status.value}' THEN {rank}" for status, rank in STATUS_RANK.items())
    return f"(CASE {status} {cases} END)"


#: `JobInfo.advance` in SQL: the event moves the job unless it is FAILED already or the
#: event is no step forward (FAILED always is).
_MOVES = (
    "(jobs.status <> 'FAILED' AND (excluded.status = 'FAILED'"
    f" OR {_rank('excluded.status')} > {_rank('jobs.status')}))"
)

#: One event folded into its job's row in SQLite, without reading the row first. Every
#: right-hand side sees the row as it was before this event; events of one job in one
#: batch are folded in order, as `JobInfo.advance` would.
_FOLD = (
    f"INSERT INTO jobs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
    " ON CONFLICT (id) DO UPDATE SET"
    f" document_id = CASE WHEN {_MOVES} AND excluded.document_id <> ''"
    " THEN excluded.document_id ELSE jobs.document_id END,"
    f" status = CASE WHEN {_MOVES} THEN excluded.status ELSE jobs.status END,"
    f" error = CASE WHEN {_MOVES} AND excluded.error IS NOT NULL"
    " THEN excluded.error ELSE jobs.error END,"
    f" operations = CASE WHEN {_MOVES} AND excluded.operations <> '[]'"
    " THEN excluded.operations ELSE jobs.operations END,"
    f" updated_at = CASE WHEN {_MOVES} THEN excluded.updated_at ELSE jobs.updated_at END,"
    # The first time each status was seen wins; created = PENDING's time, else the earliest.
    " pending_at = COALESCE(jobs.pending_at, excluded.pending_at),"
    " running_at = COALESCE(jobs.running_at, excluded.running_at),"
    " write_ready_at = COALESCE(jobs.write_ready_at, excluded.write_ready_at),"
    " read_ready_at = COALESCE(jobs.read_ready_at, excluded.read_ready_at),"
    " failed_at = COALESCE(jobs.failed_at, excluded.failed_at),"
    " created_at = COALESCE(jobs.pending_at, excluded.pending_at,"
    " MIN(jobs.created_at, excluded.created_at))"
)

#: Job ids per SELECT when a batch reads the rows it updates (SQLite's variable limit).
_READ_CHUNK = 500


@dataclass(frozen=True)
class JobTimes:
    """When a job first reached each status (ISO instants, None if never seen)."""

    job_id: str
    pending_at: str | None = None
    running_at: str | None = None
    write_ready_at: str | None = None
    read_ready_at: str | None = None
    failed_at: str | None = None


def _event_params(event: JobEvent) -> tuple[object, ...]:
    """The row `event` makes for a job not seen before (the parameters of `_FOLD`)."""
    return (
        event.job_id,
        event.document_id,
        event.status.value,
        event.error,
        _dump_refs(event.operations),
        event.at_utc_iso,
        event.at_utc_iso,
        *(event.at_utc_iso if status is event.status else None for status in _TIME_COLUMNS),
    )


def _job_from_row(row: Row) -> JobInfo:
    job_id, document_id, status, error, operations, created, updated = row[:7]
    return JobInfo(
        id=job_id,
        document_id=document_id,
        status=JobStatus(status),
        created_at_utc_iso=created,
        updated_at_utc_iso=updated,
        error=error,
        operations=_load_refs(operations),
    )


def _dump_refs(refs: Sequence[OperationRef]) -> str:
    return json.dumps([ref.to_avro() for ref in refs], separators=(",", ":"))


def _load_refs(text: str) -> tuple[OperationRef, ...]:
    return tuple(OperationRef.from_avro(r) for r in json.loads(text))


class JobStatusBatch(PositionRecorder):
    """Job events and positions committed together when the batch ends."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._events: list[JobEvent] = []

    def apply(self, event: JobEvent) -> None:
        self._check_open()
        self._events.append(event)

    async def flush(self, conn: SqliteConnection) -> None:
        """Fold the events into their rows, in order, in SQLite (no row is read first)."""
        if self._events:
            await conn.executemany(_FOLD, [_event_params(event) for event in self._events])
            self._events = []


class SqliteJobStatusStore(SqliteTrackedStore[JobStatusBatch]):
    """Job statuses in one SQLite file; open with `await SqliteJobStatusStore.open(path)`."""

    @classmethod
    async def open(cls, path: str | Path) -> SqliteJobStatusStore:
        db = await SqliteDatabase.open(
            f"job store {path}", path, {"tracking": TRACKING_MIGRATIONS, "jobs": JOBS_MIGRATIONS}
        )
        return cls(db)

    async def __aenter__(self) -> SqliteJobStatusStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _start_batch(self, conn: SqliteConnection) -> JobStatusBatch:
        return JobStatusBatch(self._db.name)

    async def _flush(self, batch: JobStatusBatch, conn: SqliteConnection) -> None:
        await batch.flush(conn)

    async def apply(self, *events: JobEvent) -> None:
        """Apply events in one batch of their own (tools and tests; projectors use `batch`)."""
        async with self.batch() as batch:
            for event in events:
                batch.apply(event)

    async def get_job(self, job_id: str) -> JobInfo | None:
        rows = await self._db.read(
            f"SELECT {_COLUMNS} FROM jobs WHERE id = ?",  # noqa: S608
            (job_id,),
        )
        return _job_from_row(rows[0]) if rows else None

    async def get_times(self, job_id: str) -> JobTimes | None:
        times = await self.times([job_id])
        return times[0] if times else None

    async def times(self, job_ids: Sequence[str] | None = None) -> list[JobTimes]:
        """Per-status times of these jobs (all jobs if None), in the order asked."""
        columns = ", ".join(_TIME_COLUMNS.values())
        if job_ids is None:
            rows = await self._db.read(f"SELECT id, {columns} FROM jobs ORDER BY created_at, id")  # noqa: S608
        else:
            rows = []
            for start in range(0, len(job_ids), _READ_CHUNK):
                chunk = list(job_ids[start : start + _READ_CHUNK])
                marks = ", ".join("?" * len(chunk))
                rows.extend(
                    await self._db.read(
                        f"SELECT id, {columns} FROM jobs WHERE id IN ({marks})",  # noqa: S608
                        chunk,
                    )
                )
            order = {job_id: n for n, job_id in enumerate(job_ids)}
            rows.sort(key=lambda row: order[row[0]])
        return [JobTimes(*row) for row in rows]

    async def count_by_status(self) -> dict[str, int]:
        """Jobs per status, every status listed (in lifecycle order), zeros included."""
        counts = dict.fromkeys((status.value for status in _TIME_COLUMNS), 0)
        for status, count in await self._db.read(
            "SELECT status, COUNT(*) FROM jobs GROUP BY status"
        ):
            counts[status] = int(count)
        return counts


class JobStatusProjector(Projector[JobEvent]):
    """Folds `job-events` into `SqliteJobStatusStore` (name `jobs`)."""

    name = "jobs"
    record_type = JobEvent

    def __init__(self, settings: Settings, *, store_path: Path | None = None) -> None:
        self.store_path = store_path or settings.home / JOB_STORE_FILE
        self._store: SqliteJobStatusStore | None = None
        self.events = 0

    @property
    def store(self) -> SqliteJobStatusStore:
        if self._store is None:
            raise ProjectorStateError(f"projector {self.name}: its store is not open (start it)")
        return self._store

    def topic(self, topics: TopicNames) -> str:
        return topics.job_events

    async def start(self) -> None:
        if self._store is None:
            self._store = await SqliteJobStatusStore.open(self.store_path)

    async def close(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            await store.close()

    async def stored_positions(self, consumer: str) -> dict[TopicPartition, int]:
        return await self.store.get_positions(consumer)

    async def project(self, batch: PolledBatch[JobEvent]) -> Mapping[TopicPartition, int]:
        async with self.store.batch() as writer:
            for item in batch.records:
                writer.apply(item.record)
            for tp, offset in batch.positions.items():
                writer.record_position(batch.consumer, tp.topic, tp.partition, offset)
        self.events += len(batch.records)
        return dict(batch.positions)
