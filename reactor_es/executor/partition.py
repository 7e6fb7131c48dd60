"""One assigned `actions` partition: its documents, its transactional producer, its batches.

Exactly once (KIP-98 style, since aiokafka has no KIP-447 group fencing): each input
partition has its own transactional producer whose transactional id is derived from the
partition alone, so whichever executor owns partition p uses the same id. Starting that
producer fences any zombie that still believes it owns p and aborts its open transaction.
Each poll batch is one transaction holding the operations, the job events, the dead
letters and the consumed offset: either all of it becomes visible to read_committed
readers or none of it does.

Poison input parks only its document (see `parking.py`); the partition never stops.
Every record is measured before it is sent (`reactor_es.kafka.limits`): a job whose output
Kafka would refuse fails with the sizes in its error, instead of aborting its batch forever.

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
from reactor_es.kafka.clients import close_client, make_producer
from reactor_es.kafka.codec import RecordCodec, WireRecord
from reactor_es.kafka.codec_errors import RecordDecodeError
from reactor_es.kafka.limits import RecordLimits, RecordTooLargeError
from reactor_es.kafka.records import ActionEnvelope, JobStatus, SnapshotCheckpoint
from reactor_es.kafka.topics import TopicNames, document_key, job_key
from reactor_es.registry import DocumentModelRegistry

__all__ = ["PartitionFenced", "PartitionState", "PartitionWorker", "partition_transactional_id"]

log = logging.getLogger(__name__)

#: Seconds a producer whose transaction could not even be aborted gets to stop.
_BROKEN_PRODUCER_CLOSE_SECONDS = 5.0

SOURCE = "executor"
#: Operations between two snapshot checkpoints of a partition.
DEFAULT_SNAPSHOT_EVERY = 2000
#: Longest error or reason text put in a job event or a dead-letter header: a model's error
#: may quote a huge input, and the record carrying it must still fit.
MAX_REASON_CHARS = 2000


def partition_transactional_id(group_id: str, actions_topic: str, partition: int) -> str:
    """The transactional id of whoever writes for `actions` partition p: one per partition,
    whichever process holds it, so a newcomer fences the previous writer."""
    return f"{group_id}-{actions_topic}-{partition}"


#: The checkpoint at a handover is worth a short wait only: the rebalance waits for it.
HANDOVER_CHECKPOINT_SECONDS = 15.0


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


@dataclass(frozen=True)
class _Output:
    """One record a job publishes, encoded and measured before anything is sent."""

    topic: str
    key: bytes
    value: bytes
    partition: int | None


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
        limits: RecordLimits | None = None,
    ) -> None:
        self.settings = settings
        #: The largest record each topic takes (Kafka's defaults unless the caller read them).
        self.limits = limits or RecordLimits()
        self.snapshot_every = snapshot_every
        #: How long the checkpoint written when the partition is released may take.
        self.handover_checkpoint_seconds = HANDOVER_CHECKPOINT_SECONDS
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
        #: Documents whose in-memory state holds a failed job's changes: their next job is a
        #: barrier (the book is rebuilt from the topics first).
        self._stale: set[str] = set()
        #: A document whose full history must be loaded before the next job (a barrier).
        self._history_for: str | None = None
        #: Operation records sent in the open transaction: (document id, is creation, future).
        self._sent: list[tuple[str, bool, Any]] = []
        #: The operations partition's end after our last commit (restore reads from here).
        self._operations_end = 0
        self._since_checkpoint = 0
        self.last_restore: RestoreReport | None = None
        self.jobs_done = 0
        #: Jobs seen again after a commit this worker could not confirm (not republished).
        self.jobs_redelivered = 0
        self.records_dead_lettered = 0
        self.checkpoints = 0
        self.histories_loaded = 0
        #: Failed transactions in a row (the same records retried): logged, and backed off.
        self.failures_in_a_row = 0
        #: A failed batch left the documents (maybe) holding its changes: rebuild them from
        #: the topics before the next batch (`_recover`).
        self._broken = False

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the transactional producer: this fences any previous owner of the partition.

        The producer is kept only once started: a half-started one never gets its producer
        id, and a transaction begun on it would wait forever.
        """
        producer = make_producer(
            self.settings, self.bootstrap_servers, transactional_id=self.transactional_id
        )
        try:
            await producer.start()
        except BaseException:
            await close_client(
                producer,
                timeout=_BROKEN_PRODUCER_CLOSE_SECONDS,
                what=f"the unstarted producer of partition {self.partition}",
            )
            raise
        self._producer = producer

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
            min_end=self._operations_end,
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
        self._stale = set()
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
                with contextlib.suppress(Exception):  # the checkpoint logs its failures
                    try:
                        await asyncio.wait_for(
                            self._checkpoint(handover=True), self.handover_checkpoint_seconds
                        )
                    except TimeoutError:
                        # A producer that hangs must not hold the rebalance: its transaction is
                        # left open and aborted when the next owner takes the id over.
                        log.warning(
                            "partition %d: checkpoint at handover not written (no answer in "
                            "%g s); the next owner restores from the previous checkpoint and the "
                            "operations after it",
                            self.partition,
                            self.handover_checkpoint_seconds,
                        )
            if self.state is not PartitionState.FENCED:
                self.state = PartitionState.CLOSED
            producer, self._producer = self._producer, None
            if producer is not None:  # a fenced producer may fail to stop cleanly: ignored
                await close_client(producer, what=f"the producer of partition {self.partition}")

    # -- processing ----------------------------------------------------------------------------

    async def process(self, messages: Sequence[Any]) -> None:
        """Apply one poll batch in one transaction (or a few); raise `PartitionFenced`
        if the partition was taken over.

        On any other Kafka failure the transaction is aborted, the in-memory state is
        rebuilt from the topics and the error is raised: the caller seeks the partition
        back to its committed offset and the batch is processed again (`failures_in_a_row`
        says how often already).
        """
        async with self.lock:
            if self.state is PartitionState.READY and (self._broken or self._producer is None):
                await self._recover()
            remaining = list(messages)
            while remaining and self.state is PartitionState.READY:
                done = await self._transaction(remaining)
                remaining = remaining[done:]
                if self._needs_restore:
                    # An executor failure may have left a document half-changed: rebuild
                    # everything from the committed topics before going on.
                    self._broken = True
                    await self._recover()
                elif self._history_for is not None:
                    await self._load_history(self._history_for)
            if self.state is PartitionState.READY and self._since_checkpoint >= self.snapshot_every:
                await self._checkpoint()

    async def recover(self) -> None:
        """Recover from a failed batch now (see `_recover`), before the partition's committed
        offset is read again: starting a producer under the partition's transactional id
        settles a transaction left in doubt (its commit sent, the answer lost), so the
        offset and the operations read afterwards are final."""
        async with self.lock:
            if self.state is PartitionState.READY and (self._broken or self._producer is None):
                await self._recover()

    async def _recover(self) -> None:
        """Make the worker usable after a failed batch: a started producer, and documents
        rebuilt from the committed topics. Raises while that fails (the broker away): the
        caller rewinds the partition and retries, and nothing is processed meanwhile."""
        try:
            if self._producer is None:
                await self.start()
            if self._broken:
                await self.restore()
        except Exception as exc:
            self.state = PartitionState.READY  # still dispatched: the next batch retries this
            self.failures_in_a_row += 1
            log.warning(
                "partition %d: cannot recover from the failed batch yet (%s: %s); retrying",
                self.partition,
                type(exc).__name__,
                exc,
            )
            raise
        self._broken = False

    async def _transaction(self, messages: Sequence[Any]) -> int:
        producer = self._producer
        self._sent = []
        touched: set[str] = set()
        started = time.perf_counter()
        futures: list[Any] = []
        try:
            await producer.begin_transaction()
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
            self.failures_in_a_row = 0
            return done
        except ProducerFenced as exc:
            _settle(futures)
            self.state = PartitionState.FENCED
            raise PartitionFenced(
                f"partition {self.partition}: producer {self.transactional_id} was fenced"
            ) from exc
        except Exception as exc:
            _settle(futures)
            metrics.batch_failed()
            self._log_failure(messages, exc)
            self._broken = True
            await self._abort(producer)
            with contextlib.suppress(Exception):  # logged; the next batch tries again
                await self._recover()
            raise

    def _log_failure(self, messages: Sequence[Any], exc: Exception) -> None:
        """Say loudly that a batch failed and will be retried: the same records usually fail
        the same way, and the partition makes no progress until they stop failing."""
        self.failures_in_a_row += 1
        first = messages[0].offset if messages else -1
        if self.failures_in_a_row == 1:
            log.exception(
                "partition %d: batch from %s offset %d failed; aborted, will retry",
                self.partition,
                self.tp.topic,
                first,
            )
        else:
            log.error(
                "partition %d: batch from %s offset %d failed %d times in a row, the partition "
                "is stuck until it succeeds: %s: %s",
                self.partition,
                self.tp.topic,
                first,
                self.failures_in_a_row,
                type(exc).__name__,
                exc,
            )

    async def _take(self, producer: Any, job_input: _Input, futures: list[Any]) -> bool:
        """Handle one input inside the open transaction; False means "stop before it"."""
        document_id = key_text(job_input.key)
        if document_id in self._stale:
            return False  # a barrier: commit, rebuild the book, then run it
        if document_id is not None and self.parking.is_parked(document_id):
            job = self._peek(job_input)
            if job is not None and (job.meta or {}).get("control") == UNPARK_CONTROL:
                if self._needs_restore:
                    return False
                if self._parked_jobs_need_history(document_id):
                    self._history_for = document_id
                    return False  # a barrier: load its history, then unpark
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
        # The executor itself failed on this job (SystemExit from model code included): park
        # the document, rebuild, and let every other document go on.
        except (Exception, SystemExit) as exc:
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
            min_end=self._operations_end,
        )
        if document is not None:
            self.book.install_history(document)
            self.histories_loaded += 1

    async def _checkpoint(self, *, handover: bool = False) -> None:
        """Snapshot every document changed since the last checkpoint, then the marker.

        At a `handover` (the partition is being released) the new owner may already be
        taking the transactional id over, so a failure is expected and only a warning.

        A snapshot too large for the topic is not written (with a warning): the marker then
        sends restores back to where that document's last snapshot ends (or to its creation)
        and the document stays dirty, so the next checkpoints do the same until it fits.
        """
        producer = self._producer
        if producer is None or not self.book.dirty:
            self._since_checkpoint = 0
            return
        at = utc_now_iso()
        dirty = sorted(self.book.dirty)
        covered = self._operations_end - 1
        written: list[str] = []
        skipped: list[str] = []
        futures: list[Any] = []
        try:
            await producer.begin_transaction()
            for document_id in dirty:
                snapshot = self.book.snapshot(
                    document_id, partition=self.partition, source_offset=covered, taken_at=at
                )
                if snapshot is None:
                    continue
                try:
                    output = self._output(
                        self.topics.snapshots,
                        document_key(document_id),
                        snapshot,
                        f"snapshot of document {document_id}",
                        self.partition,
                    )
                except RecordTooLargeError as exc:
                    log.warning(
                        "partition %d: %s: not written, restores read its operations instead",
                        self.partition,
                        exc,
                    )
                    skipped.append(document_id)
                    continue
                futures.append(await self._send(producer, output))
                written.append(document_id)
            start = min([self._operations_end, *map(self._replay_from, skipped)])
            marker = SnapshotCheckpoint(self.partition, start, len(written), at)
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
            _settle(futures)
            self.state = PartitionState.FENCED
            raise PartitionFenced(
                f"partition {self.partition}: producer {self.transactional_id} was fenced"
            ) from exc
        except Exception as exc:
            _settle(futures)
            if handover:
                log.warning(
                    "partition %d: checkpoint at handover not written (%s: %s); the next "
                    "owner restores from the previous checkpoint and the operations after it",
                    self.partition,
                    type(exc).__name__,
                    exc,
                )
            else:
                log.exception("partition %d: checkpoint failed; will retry later", self.partition)
            await self._abort(producer)
            return
        self.book.dirty.difference_update(set(dirty).difference(skipped))
        self.book.snapshot_offsets.update(dict.fromkeys(written, covered))
        self._since_checkpoint = 0
        self.checkpoints += 1
        log.info(
            "partition %d: checkpoint of %d document(s) at operations offset %d",
            self.partition,
            len(written),
            start,
        )

    def _replay_from(self, document_id: str) -> int:
        """The operations offset a restore must read a document from when its snapshot is
        not renewed: after its last snapshot, else from its creation."""
        last = self.book.snapshot_offsets.get(document_id)
        if last is not None:
            return last + 1
        return max(0, self.book.first_offsets.get(document_id, 0))

    def _peek(self, job_input: _Input) -> ActionEnvelope | None:
        try:
            return self.codec.decode_record(job_input.value, ActionEnvelope)
        except RecordDecodeError:
            return None

    @staticmethod
    def _rewrites_history(job: ActionEnvelope) -> bool:
        return any(job.skips) or any(a.type in HISTORY_ACTIONS for a in job.actions)

    async def _publish(self, producer: Any, outcome: JobOutcome, futures: list[Any]) -> None:
        if outcome.redelivered:  # committed before, events included: only its offset moves
            self.jobs_redelivered += 1
            log.info(
                "partition %d: job %s was delivered again after its commit; nothing republished",
                self.partition,
                outcome.job.job_id,
            )
            return
        outcome, outputs = self._checked(outcome)
        sent = [await self._send(producer, output) for output in outputs]
        futures.extend(sent)
        for record, future in zip(outcome.records, sent, strict=False):  # records come first
            creates = record.operation.action.type == "CREATE_DOCUMENT"
            self._sent.append((record.document_id, creates, future))
        self.jobs_done += 1
        metrics.job_done(outcome.status.value, _latency(outcome.job.created_at_utc_iso))
        if outcome.error is not None:
            log.info(
                "job %s on document %s failed: %s",
                outcome.job.job_id,
                outcome.job.document_id,
                outcome.error,
            )

    def _checked(self, outcome: JobOutcome) -> tuple[JobOutcome, list[_Output]]:
        """The job's records, encoded and measured; a job with a record Kafka would refuse
        fails instead, like a refused job: only its FAILED event is published.

        The reducer has already changed the document in place (a copy before every job
        would cost every job a third of its time), so a failed job that had operations
        makes the partition rebuild its documents from the topics after this transaction,
        before the document's next job; other documents' jobs go on meanwhile.
        """
        try:
            return outcome, self._encode(outcome)
        except RecordTooLargeError as exc:
            if outcome.records:
                log.warning(
                    "partition %d: job %s failed (%s); rebuilding the partition's documents",
                    self.partition,
                    outcome.job.job_id,
                    exc,
                )
                self._needs_restore = True
                self._stale.add(outcome.job.document_id)
            failed = JobOutcome(job=outcome.job, error=str(exc))
            return failed, self._encode(failed)

    def _encode(self, outcome: JobOutcome) -> list[_Output]:
        """Operations, then child jobs, then job events (`RecordTooLargeError` if one is
        over its topic's limit)."""
        outputs = [
            self._output(
                self.topics.operations,
                document_key(record.document_id),
                record,
                f"operation record of document {record.document_id} "
                f"({record.operation.action.type})",
                self.partition,
            )
            for record in outcome.records
        ]
        outputs.extend(
            self._output(
                self.topics.actions,
                document_key(child.document_id),
                child,
                f"action record of child job {child.job_id} (document {child.document_id})",
            )
            for child in outcome.follow_ups
        )
        outputs.extend(self._event_outputs(outcome))
        return outputs

    def _event_outputs(self, outcome: JobOutcome) -> list[_Output]:
        event = outcome.event(utc_now_iso(), SOURCE)
        if event.error is not None and len(event.error) > MAX_REASON_CHARS:
            event = replace(event, error=_clip(event.error))
        events = [event]
        if outcome.error is None and not outcome.records:
            # Nothing new to project (a retry, a control job, a reused child document):
            # no projector will see this job, and there is nothing it would wait for.
            events.append(replace(event, status=JobStatus.READ_READY))
        return [
            self._output(
                self.topics.job_events, job_key(e.job_id), e, f"job-event record of job {e.job_id}"
            )
            for e in events
        ]

    def _output(
        self, topic: str, key: bytes, record: WireRecord, what: str, partition: int | None = None
    ) -> _Output:
        value = self.codec.encode_record(record)
        self.limits.check(what, topic, key, value)
        return _Output(topic, key, value, partition)

    async def _send(self, producer: Any, output: _Output) -> Any:
        return await producer.send(
            output.topic, value=output.value, key=output.key, partition=output.partition
        )

    async def _send_event(self, producer: Any, futures: list[Any], outcome: JobOutcome) -> None:
        for output in self._event_outputs(outcome):
            futures.append(await self._send(producer, output))

    def _parked_jobs_need_history(self, document_id: str) -> bool:
        """Whether a parked job rewrites history on a trimmed document: its history must be
        loaded before the unpark, which cannot stop half-way through the retried jobs."""
        if not self.book.needs_history(document_id):
            return False
        for letter in self.parking.documents.get(document_id, []):
            try:
                job = self.codec.decode_record(letter.value, ActionEnvelope)
            except RecordDecodeError:
                continue
            if self._rewrites_history(job):
                return True
        return False

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
            # The dropped job will never run: say so, or its client waits on PENDING forever.
            try:
                dropped_job = self.codec.decode_record(dropped.value, ActionEnvelope)
            except RecordDecodeError:
                pass  # not a job (undecodable bytes): there is no job to answer
            else:
                reason = f"dropped by unpark --skip-first (parked: {dropped.reason or 'poison'})"
                await self._send_event(producer, futures, JobOutcome(job=dropped_job, error=reason))
        log.info("document %s: retrying %d parked record(s)", document_id, len(waiting))
        for letter in waiting:
            retried = _Input(
                letter.value,
                letter.key,
                letter.source_topic,
                letter.source_partition,
                letter.source_offset,
            )
            if document_id in self._stale:
                # A retried job failed after changing the document in memory: the rest must
                # not run on it. They wait on the dead-letter topic again (the document is
                # parked) until the book is rebuilt and the document is unparked once more.
                log.warning("document %s: %s waits again", document_id, letter.describe())
                await self._dead_letter(
                    producer, retried, document_id, DeadLetterEvent.QUEUED, futures
                )
                continue
            if not await self._take(producer, retried, futures):
                # Not expected (history is loaded before an unpark): never lose the job.
                await self._dead_letter(
                    producer,
                    retried,
                    document_id,
                    DeadLetterEvent.PARKED,
                    futures,
                    "could not be retried in this unpark; unpark the document again",
                )
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
        reason = _clip(reason)  # a header of the record: it must fit with the action in it
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
        """Abort the open transaction; a producer that cannot even do that is dropped (the
        next batch starts a new one, which fences the transaction left open)."""
        try:
            await producer.abort_transaction()
        except Exception as exc:
            log.warning("partition %d: abort failed: %r; restarting producer", self.partition, exc)
            if self._producer is producer:
                self._producer = None
            # What it holds belongs to a transaction the broker aborts: no flush is worth
            # waiting for (a broken producer's stop() can wait forever).
            await close_client(
                producer,
                timeout=_BROKEN_PRODUCER_CLOSE_SECONDS,
                what=f"the broken producer of partition {self.partition}",
            )


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


def _clip(text: str) -> str:
    """At most `MAX_REASON_CHARS` characters of an error or reason, marked when cut."""
    if len(text) <= MAX_REASON_CHARS:
        return text
    return f"{text[:MAX_REASON_CHARS]}... ({len(text):,} characters in all)"


def _control_outcome(job: ActionEnvelope, problem: str | None) -> JobOutcome:
    error = None if problem is None else f"document {job.document_id} {problem}"
    return JobOutcome(job=job, error=error)


def _settle(futures: Sequence[Any]) -> None:
    """Mark the sends of an aborted transaction as seen: each fails with the transaction
    (a fenced producer fails them all), and asyncio would log every unread failure."""
    for future in futures:
        if future.done():
            if not future.cancelled():
                future.exception()
        else:
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
