"""One assigned `actions` partition: its documents, its transactional producer, its batches.

Exactly once (KIP-98 style, since aiokafka has no KIP-447 group fencing): each input
partition has its own transactional producer whose transactional id is derived from the
partition alone, so whichever executor owns partition p uses the same id. Starting that
producer fences any zombie that still believes it owns p and aborts its open transaction.
Each poll batch is one transaction holding the operations, the job events, the dead
letters and the consumed offset: either all of it becomes visible to read_committed
readers or none of it does.

Poison input parks only its document (see `parking.py`); the partition never stops.

Every `snapshot_every` operations the worker writes a checkpoint to the compacted
`snapshots` topic (a snapshot of every document changed since the last one, and a marker
with the operations offset they cover), in a transaction of its own, and again when it
hands the partition over: the next owner restores from there instead of from offset 0.
Documents keep only the last operation of each scope in memory; an action that rewrites
history loads the document's full history from the operations topic first, between two
transactions, so what it reads is exactly what was committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import ProducerFenced

from reactor_es import metrics
from reactor_es.config import Settings
from reactor_es.document.ids import utc_now_iso
from reactor_es.document.model import parse_instant
from reactor_es.executor.book import DEFAULT_IDEMPOTENCY_WINDOW, DocumentBook
from reactor_es.executor.jobs import HISTORY_ACTIONS, JobOutcome, JobRunner
from reactor_es.executor.parking import (
    UNPARK_CONTROL,
    DeadLetter,
    DeadLetterEvent,
    ParkingLot,
    dead_letter_headers,
    key_text,
)
from reactor_es.executor.restore import (
    RestoreReport,
    load_history,
    restore_parking,
    restore_partition,
)
from reactor_es.kafka.clients import make_producer
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.codec_errors import RecordDecodeError
from reactor_es.kafka.records import ActionEnvelope, JobStatus, SnapshotCheckpoint
from reactor_es.kafka.topics import TopicNames, document_key, job_key
from reactor_es.registry import DocumentModelRegistry

__all__ = ["PartitionFenced", "PartitionState", "PartitionWorker", "partition_transactional_id"]

log = logging.getLogger(__name__)

SOURCE = "executor"
#: Operations between two snapshot checkpoints of a partition.
DEFAULT_SNAPSHOT_EVERY = 2000


def partition_transactional_id(group_id: str, actions_topic: str, partition: int) -> str:
    """The transactional id of whoever writes for `actions` partition p: one per partition,
    whichever process holds it, so a newcomer fences the previous writer."""
    return f"{group_id}-{actions_topic}-{partition}"


class PartitionFenced(Exception):
    """Another executor took this partition over; this one must stop working on it."""


class PartitionState(enum.Enum):
    STARTING = "starting"
    RESTORING = "restoring"
    READY = "ready"
    FENCED = "fenced"
    CLOSED = "closed"


@dataclass(frozen=True)
class _Input:
    """One job to run: from the actions topic, or taken back from the dead-letter topic."""

    value: bytes
    key: bytes | None
    topic: str
    partition: int
    offset: int


class PartitionWorker:
    """Processes the batches of one `actions` partition inside Kafka transactions."""

    def __init__(
        self,
        *,
        settings: Settings,
        bootstrap_servers: str,
        topics: TopicNames,
        partition: int,
        registry: DocumentModelRegistry,
        codec: RecordCodec,
        group_id: str,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
        idempotency_window: int = DEFAULT_IDEMPOTENCY_WINDOW,
    ) -> None:
        self.settings = settings
        self.snapshot_every = snapshot_every
        self.idempotency_window = idempotency_window
        self.bootstrap_servers = bootstrap_servers
        self.topics = topics
        self.partition = partition
        self.tp = TopicPartition(topics.actions, partition)
        self.codec = codec
        self.group_id = group_id
        self.registry = registry
        self.book = DocumentBook(registry, window=idempotency_window)
        self.runner = JobRunner(self.book)
        self.parking = ParkingLot()
        self.state = PartitionState.STARTING
        self.lock = asyncio.Lock()
        self.transactional_id = partition_transactional_id(group_id, topics.actions, partition)
        self._producer: Any = None
        self._needs_restore = False
        #: A document whose full history must be loaded before the next job (a barrier).
        self._history_for: str | None = None
        #: Operation records sent in the open transaction: (document id, is creation, future).
        self._sent: list[tuple[str, bool, Any]] = []
        #: The operations partition's end after our last commit (restore reads from here).
        self._operations_end = 0
        self._since_checkpoint = 0
        self.last_restore: RestoreReport | None = None
        self.jobs_done = 0
        self.records_dead_lettered = 0
        self.checkpoints = 0
        self.histories_loaded = 0

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the transactional producer: this fences any previous owner of the partition."""
        self._producer = make_producer(
            self.settings, self.bootstrap_servers, transactional_id=self.transactional_id
        )
        await self._producer.start()

    async def restore(self) -> RestoreReport:
        """Rebuild documents and parking from the topics (after `start`, so nothing moves)."""
        self.state = PartitionState.RESTORING
        book = DocumentBook(self.registry, window=self.idempotency_window)
        parking = ParkingLot()
        report = await restore_partition(
            book,
            settings=self.settings,
            bootstrap_servers=self.bootstrap_servers,
            operations_topic=self.topics.operations,
            partition=self.partition,
            codec=self.codec,
            snapshots_topic=self.topics.snapshots,
        )
        await restore_parking(
            parking,
            settings=self.settings,
            bootstrap_servers=self.bootstrap_servers,
            dead_letter_topic=self.topics.actions_dlq,
            partition=self.partition,
        )
        self.book, self.parking = book, parking
        self.runner = JobRunner(book)
        self.last_restore = report
        metrics.restore_done(report.seconds, report.operations)
        self._needs_restore = False
        self._history_for = None
        self._operations_end = report.end_offset
        self._since_checkpoint = report.operations
        self.state = PartitionState.READY
        return report

    async def close(self) -> None:
        """Finish the batch in flight (if any), checkpoint, then release the producer."""
        async with self.lock:
            if self.state is PartitionState.READY and self.book.dirty:
                # The next owner of the partition restores from here, not from offset 0.
                with contextlib.suppress(Exception):
                    await self._checkpoint()
            if self.state is not PartitionState.FENCED:
                self.state = PartitionState.CLOSED
            producer, self._producer = self._producer, None
            if producer is not None:
                try:
                    await producer.stop()
                except Exception as exc:  # a fenced producer may fail to stop cleanly
                    log.debug("producer of partition %d stopped with %r", self.partition, exc)

    # -- processing ----------------------------------------------------------------------------

    async def process(self, messages: Sequence[Any]) -> None:
        """Apply one poll batch in one transaction (or a few); raise `PartitionFenced`
        if the partition was taken over.

        On any other Kafka failure the transaction is aborted, the in-memory state is
        rebuilt from the topics and the error is raised: the caller seeks the partition
        back to its committed offset and the batch is processed again.
        """
        async with self.lock:
            remaining = list(messages)
            while remaining and self.state is PartitionState.READY:
                done = await self._transaction(remaining)
                remaining = remaining[done:]
                if self._needs_restore:
                    # An executor failure may have left a document half-changed: rebuild
                    # everything from the committed topics before going on.
                    await self.restore()
                elif self._history_for is not None:
                    await self._load_history(self._history_for)
            if self.state is PartitionState.READY and self._since_checkpoint >= self.snapshot_every:
                await self._checkpoint()

    async def _transaction(self, messages: Sequence[Any]) -> int:
        producer = self._producer
        if producer is None:
            return len(messages)
        self._sent = []
        touched: set[str] = set()
        started = time.perf_counter()
        try:
            await producer.begin_transaction()
            futures: list[Any] = []
            done = 0
            for message in messages:
                job_input = _Input(
                    message.value, message.key, message.topic, message.partition, message.offset
                )
                if not await self._take(producer, job_input, futures):
                    break  # a barrier: commit what came before, restore, then go on
                done += 1
            if not done and not futures:
                await producer.abort_transaction()  # a barrier came first: nothing to commit
                return 0
            if done:
                await producer.send_offsets_to_transaction(
                    {self.tp: messages[done - 1].offset + 1}, self.group_id
                )
            if futures:
                await asyncio.gather(*futures)
            await producer.commit_transaction()
            self._committed(touched)
            metrics.batch_done(time.perf_counter() - started)
            return done
        except ProducerFenced as exc:
            self.state = PartitionState.FENCED
            raise PartitionFenced(
                f"partition {self.partition}: producer {self.transactional_id} was fenced"
            ) from exc
        except Exception:
            metrics.batch_failed()
            log.exception("partition %d: batch failed, aborting", self.partition)
            await self._abort(producer)
            await self.restore()
            raise

    async def _take(self, producer: Any, job_input: _Input, futures: list[Any]) -> bool:
        """Handle one input inside the open transaction; False means "stop before it"."""
        document_id = key_text(job_input.key)
        if document_id is not None and self.parking.is_parked(document_id):
            job = self._peek(job_input)
            if job is not None and (job.meta or {}).get("control") == UNPARK_CONTROL:
                if self._needs_restore:
                    return False
                await self._unpark(producer, job, futures)
                return True
            await self._dead_letter(
                producer, job_input, document_id, DeadLetterEvent.QUEUED, futures
            )
            return True
        try:
            job = self.codec.decode_record(job_input.value, ActionEnvelope)
        except RecordDecodeError as exc:
            await self._dead_letter(
                producer, job_input, document_id, DeadLetterEvent.PARKED, futures, str(exc)
            )
            return True
        if self._rewrites_history(job) and self.book.needs_history(job.document_id):
            self._history_for = job.document_id
            return False  # a barrier: load its history between two transactions
        if (job.meta or {}).get("control") == UNPARK_CONTROL:  # the document is not parked
            await self._send_event(producer, futures, _control_outcome(job, "is not parked"))
            return True
        try:
            outcome = self.runner.run(job)
        except Exception as exc:  # the executor itself failed on this job: park, rebuild
            log.exception("partition %d: job %s failed the executor", self.partition, job.job_id)
            reason = f"executor failed: {type(exc).__name__}: {exc}"
            await self._dead_letter(
                producer, job_input, job.document_id, DeadLetterEvent.PARKED, futures, reason
            )
            self._needs_restore = True
            return True
        await self._publish(producer, outcome, futures)
        return True

    def _committed(self, touched: set[str]) -> None:
        """Bookkeeping once a transaction is committed: offsets, first offsets, trimming."""
        for document_id, creates, future in self._sent:
            offset = future.result().offset
            self._operations_end = max(self._operations_end, offset + 1)
            if creates:
                self.book.first_offsets.setdefault(document_id, offset)
            touched.add(document_id)
        self._since_checkpoint += len(self._sent)
        metrics.operations_written(len(self._sent))
        self._sent = []
        self.book.trim_all(touched)

    async def _load_history(self, document_id: str) -> None:
        """Give a trimmed document its full history back (between two transactions)."""
        self._history_for = None
        document = await load_history(
            document_id,
            settings=self.settings,
            bootstrap_servers=self.bootstrap_servers,
            operations_topic=self.topics.operations,
            partition=self.partition,
            first_offset=self.book.first_offsets.get(document_id, 0),
            codec=self.codec,
            registry=self.registry,
        )
        if document is not None:
            self.book.install_history(document)
            self.histories_loaded += 1

    async def _checkpoint(self) -> None:
        """Snapshot every document changed since the last checkpoint, then the marker."""
        producer = self._producer
        if producer is None or not self.book.dirty:
            self._since_checkpoint = 0
            return
        at = utc_now_iso()
        dirty = sorted(self.book.dirty)
        try:
            await producer.begin_transaction()
            futures = []
            for document_id in dirty:
                snapshot = self.book.snapshot(
                    document_id,
                    partition=self.partition,
                    source_offset=self._operations_end - 1,
                    taken_at=at,
                )
                if snapshot is None:
                    continue
                futures.append(
                    await producer.send(
                        self.topics.snapshots,
                        value=self.codec.encode_record(snapshot),
                        key=document_key(document_id),
                        partition=self.partition,
                    )
                )
            marker = SnapshotCheckpoint(self.partition, self._operations_end, len(dirty), at)
            futures.append(
                await producer.send(
                    self.topics.snapshots,
                    value=self.codec.encode_record(marker),
                    key=SnapshotCheckpoint.KEY,
                    partition=self.partition,
                )
            )
            await asyncio.gather(*futures)
            await producer.commit_transaction()
        except ProducerFenced as exc:
            self.state = PartitionState.FENCED
            raise PartitionFenced(
                f"partition {self.partition}: producer {self.transactional_id} was fenced"
            ) from exc
        except Exception:
            log.exception("partition %d: checkpoint failed; will retry later", self.partition)
            await self._abort(producer)
            return
        self.book.dirty.difference_update(dirty)
        self._since_checkpoint = 0
        self.checkpoints += 1
        log.info(
            "partition %d: checkpoint of %d document(s) at operations offset %d",
            self.partition,
            len(dirty),
            self._operations_end,
        )

    def _peek(self, job_input: _Input) -> ActionEnvelope | None:
        try:
            return self.codec.decode_record(job_input.value, ActionEnvelope)
        except RecordDecodeError:
            return None

    @staticmethod
    def _rewrites_history(job: ActionEnvelope) -> bool:
        return any(job.skips) or any(a.type in HISTORY_ACTIONS for a in job.actions)

    async def _publish(self, producer: Any, outcome: JobOutcome, futures: list[Any]) -> None:
        for record in outcome.records:
            future = await producer.send(
                self.topics.operations,
                value=self.codec.encode_record(record),
                key=document_key(record.document_id),
                partition=self.partition,
            )
            futures.append(future)
            creates = record.operation.action.type == "CREATE_DOCUMENT"
            self._sent.append((record.document_id, creates, future))
        for follow_up in outcome.follow_ups:
            futures.append(
                await producer.send(
                    self.topics.actions,
                    value=self.codec.encode_record(follow_up),
                    key=document_key(follow_up.document_id),
                )
            )
        await self._send_event(producer, futures, outcome)
        self.jobs_done += 1
        metrics.job_done(outcome.status.value, _latency(outcome.job.created_at_utc_iso))
        if outcome.error is not None:
            log.info(
                "job %s on document %s failed: %s",
                outcome.job.job_id,
                outcome.job.document_id,
                outcome.error,
            )

    async def _send_event(self, producer: Any, futures: list[Any], outcome: JobOutcome) -> None:
        events = [outcome.event(utc_now_iso(), SOURCE)]
        if outcome.error is None and not outcome.records:
            # Nothing new to project (a retry, a control job, a reused child document):
            # no projector will see this job, and there is nothing it would wait for.
            events.append(replace(events[0], status=JobStatus.READ_READY))
        for event in events:
            futures.append(
                await producer.send(
                    self.topics.job_events,
                    value=self.codec.encode_record(event),
                    key=job_key(event.job_id),
                )
            )

    async def _unpark(self, producer: Any, control: ActionEnvelope, futures: list[Any]) -> None:
        """Take a document's parked records back and retry them in order."""
        document_id = control.document_id
        waiting = self.parking.release(document_id)
        futures.append(
            await producer.send(
                self.topics.actions_dlq,
                value=b"",
                key=document_key(document_id),
                partition=self.partition,
                headers=dead_letter_headers(DeadLetterEvent.RELEASED, document_id=document_id),
            )
        )
        skip_first = bool((control.meta or {}).get("skipFirst"))
        if skip_first and waiting:
            dropped = waiting.pop(0)
            log.warning("document %s: dropping %s", document_id, dropped.describe())
            futures.append(
                await producer.send(
                    self.topics.actions_dlq,
                    value=dropped.value,
                    key=dropped.key,
                    partition=self.partition,
                    headers=_headers_of(dropped, DeadLetterEvent.DROPPED),
                )
            )
        log.info("document %s: retrying %d parked record(s)", document_id, len(waiting))
        for letter in waiting:
            retried = _Input(
                letter.value,
                letter.key,
                letter.source_topic,
                letter.source_partition,
                letter.source_offset,
            )
            await self._take(producer, retried, futures)
        await self._send_event(producer, futures, _control_outcome(control, None))

    async def _dead_letter(
        self,
        producer: Any,
        job_input: _Input,
        document_id: str | None,
        event: DeadLetterEvent,
        futures: list[Any],
        reason: str = "",
    ) -> None:
        """Keep a record on the dead-letter topic (with where it came from) and park its
        document; the rest of the partition carries on."""
        self.records_dead_lettered += 1
        metrics.dead_lettered()
        if event is DeadLetterEvent.PARKED:
            log.warning(
                "parking document %s: record %s[%d]@%d: %s",
                document_id or "(no document key)",
                job_input.topic,
                job_input.partition,
                job_input.offset,
                reason,
            )
        letter = DeadLetter(
            event=event,
            document_id=document_id,
            value=job_input.value or b"",
            key=job_input.key,
            reason=reason,
            source_topic=job_input.topic,
            source_partition=job_input.partition,
            source_offset=job_input.offset,
        )
        futures.append(
            await producer.send(
                self.topics.actions_dlq,
                value=letter.value,
                key=job_input.key,
                partition=self.partition,
                headers=_headers_of(letter, event),
            )
        )
        self.parking.fold(letter)

    async def _abort(self, producer: Any) -> None:
        try:
            await producer.abort_transaction()
        except Exception as exc:
            log.warning("partition %d: abort failed: %r; restarting producer", self.partition, exc)
            try:
                await producer.stop()
            finally:
                self._producer = None
                await self.start()


def _latency(created_at: str) -> float | None:
    """Seconds from the job's creation (client clock) to now; None if unreadable."""
    try:
        return max(0.0, time.time() - parse_instant(created_at).timestamp())
    except ValueError:
        return None


def _headers_of(letter: DeadLetter, event: DeadLetterEvent) -> list[tuple[str, bytes]]:
    return dead_letter_headers(
        event,
        document_id=letter.document_id,
        reason=letter.reason,
        source_topic=letter.source_topic,
        source_partition=letter.source_partition,
        source_offset=letter.source_offset,
    )


def _control_outcome(job: ActionEnvelope, problem: str | None) -> JobOutcome:
    error = None if problem is None else f"document {job.document_id} {problem}"
    return JobOutcome(job=job, error=error)
