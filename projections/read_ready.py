"""Telling clients a job's writes are readable: whole jobs out of `operations`, READ_READY out.

A read model may report READ_READY for a job only once every operation of the job is in
it, but a poll batch can end in the middle of a job. `JobAssembler` cuts each partition
into whole jobs, relying on how the executor writes them: the records of one job are
consecutive in their partition and inside one Kafka transaction, which read_committed
readers see whole, followed by its commit marker. So a job is whole once

- a record of another job follows it, or
- an offset between its last record and the next one read was skipped (a commit marker:
  the transaction, hence the job, has ended), or
- the consumer has read up to the last stable offset (nothing more can come now; this
  covers records from non-transactional producers, which have no markers).

A projector stores only whole jobs and records its position no further than the first
record of the job still open, so a restart reads that job again: no READ_READY is lost
because a job was cut by a restart.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from projections.runner import Delivered, PolledBatch
from projections.stores.tracking import TopicPartition
from reactor_es.config import Settings
from reactor_es.document.ids import utc_now_iso
from reactor_es.kafka.clients import close_client, make_producer
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.records import JobEvent, JobStatus, OperationRecord, OperationRef
from reactor_es.kafka.topics import TopicNames, job_key

__all__ = ["AssembledJob", "JobAssembler", "ReadReadyReporter"]

log = logging.getLogger(__name__)


@dataclass
class AssembledJob:
    """The operation records one job wrote, in offset order."""

    job_id: str
    document_id: str
    partition: TopicPartition
    records: list[Delivered[OperationRecord]] = field(default_factory=list)

    @property
    def first_offset(self) -> int:
        return self.records[0].offset

    def refs(self) -> tuple[OperationRef, ...]:
        return tuple(OperationRef.of(item.record.operation) for item in self.records)


class JobAssembler:
    """Cuts the records of each partition into whole jobs (see the module docstring)."""

    def __init__(self) -> None:
        self._open: dict[TopicPartition, AssembledJob] = {}
        self._next: dict[TopicPartition, int] = {}

    def reset(self, partitions: Collection[TopicPartition] | None = None) -> None:
        """Forget open jobs: the runner has sought these partitions back (None: all)."""
        for tp in list(self._open if partitions is None else partitions):
            self._open.pop(tp, None)
        for tp in list(self._next if partitions is None else partitions):
            self._next.pop(tp, None)

    def open_jobs(self) -> dict[TopicPartition, AssembledJob]:
        return dict(self._open)

    def feed(
        self, batch: PolledBatch[OperationRecord]
    ) -> tuple[list[AssembledJob], dict[TopicPartition, int]]:
        """The jobs this batch completes (in order), and the positions safe to record."""
        closed: list[AssembledJob] = []
        by_partition = batch.by_partition()
        for tp in sorted({*by_partition, *batch.skipped, *batch.positions}):
            read: list[tuple[int, Delivered[OperationRecord] | None]] = [
                (item.offset, item) for item in by_partition.get(tp, ())
            ]
            read.extend((offset, None) for offset in batch.skipped.get(tp, ()))
            read.sort(key=lambda pair: pair[0])
            for offset, item in read:
                expected = self._next.get(tp)
                if tp in self._open and expected is not None and offset > expected:
                    closed.append(self._open.pop(tp))
                self._next[tp] = offset + 1
                if item is not None:
                    self._add(tp, item, closed)
            position = batch.positions.get(tp)
            if position is None:
                continue
            job = self._open.get(tp)
            if job is not None:
                stable = batch.stable_ends.get(tp)
                passed_marker = position > self._next.get(tp, position)
                if passed_marker or (stable is not None and position >= stable):
                    closed.append(self._open.pop(tp))
            self._next[tp] = position
        positions = {
            tp: (self._open[tp].first_offset if tp in self._open else position)
            for tp, position in batch.positions.items()
        }
        return closed, positions

    def _add(
        self, tp: TopicPartition, item: Delivered[OperationRecord], closed: list[AssembledJob]
    ) -> None:
        record = item.record
        job = self._open.get(tp)
        if job is not None and (job.job_id, job.document_id) != (
            record.job_id,
            record.document_id,
        ):
            closed.append(self._open.pop(tp))
            job = None
        if job is None:
            job = AssembledJob(record.job_id, record.document_id, tp)
            self._open[tp] = job
        job.records.append(item)


class ReadReadyReporter:
    """Publishes READ_READY events (source `projector:<name>`) on `job-events`.

    Sent after the read model's commit, so a client that sees READ_READY can read the job's
    writes. A send that fails is logged and not retried: the rows are committed and the
    positions moved on, so the job stays WRITE_READY for its waiters (at most once).
    `reported` counts the events handed to the producer, less those it failed to deliver.
    """

    def __init__(self, settings: Settings, bootstrap_servers: str, projector: str) -> None:
        self.settings = settings
        self.bootstrap_servers = bootstrap_servers
        self.source = f"projector:{projector}"
        self.topic = TopicNames.from_settings(settings).job_events
        self._codec = RecordCodec()
        self._producer: Any = None
        self.reported = 0

    async def start(self) -> None:
        if self._producer is None:
            producer = make_producer(self.settings, self.bootstrap_servers)
            await producer.start()
            self._producer = producer

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await close_client(producer, what="the READ_READY producer")

    async def report(self, jobs: Sequence[AssembledJob]) -> None:
        """Hand the READ_READY events to the producer; their acknowledgements are not
        awaited (the next batch need not wait a broker round trip), a failed one is logged."""
        if not jobs:
            return
        if self._producer is None:
            await self.start()
        at = utc_now_iso()
        try:
            sent = [
                await self._producer.send(
                    self.topic,
                    value=self._codec.encode_record(
                        JobEvent(
                            job_id=job.job_id,
                            document_id=job.document_id,
                            status=JobStatus.READ_READY,
                            at_utc_iso=at,
                            source=self.source,
                            operations=job.refs(),
                        )
                    ),
                    key=job_key(job.job_id),
                )
                for job in jobs
            ]
        except Exception as exc:
            self._failed(jobs, exc)
            return
        self.reported += len(jobs)
        acknowledged = asyncio.gather(*sent)
        acknowledged.add_done_callback(functools.partial(self._acknowledged, jobs))

    def _acknowledged(
        self, jobs: Sequence[AssembledJob], acknowledged: asyncio.Future[Any]
    ) -> None:
        if not acknowledged.cancelled() and acknowledged.exception() is not None:
            self.reported -= len(jobs)
            self._failed(jobs, acknowledged.exception())

    def _failed(self, jobs: Sequence[AssembledJob], exc: BaseException | None) -> None:
        log.error(
            "%s: READ_READY of %d jobs (first %s) not published: %r",
            self.source,
            len(jobs),
            jobs[0].job_id,
            exc,
        )
