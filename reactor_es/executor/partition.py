"""One assigned `actions` partition: its documents, its transactional producer, its batches.

Exactly once (KIP-98 style, since aiokafka has no KIP-447 group fencing): each input
partition has its own transactional producer whose transactional id is derived from the
partition alone, so whichever executor owns partition p uses the same id. Starting that
producer fences any zombie that still believes it owns p and aborts its open transaction.
Each poll batch is one transaction holding the operations, the job events and the consumed
offset: either all of it becomes visible to read_committed readers or none of it does.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import ProducerFenced

from reactor_es.config import Settings
from reactor_es.document.ids import utc_now_iso
from reactor_es.executor.book import DocumentBook
from reactor_es.executor.jobs import JobRunner
from reactor_es.executor.restore import RestoreReport, restore_partition
from reactor_es.kafka.clients import make_producer
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.codec_errors import RecordDecodeError
from reactor_es.kafka.records import ActionEnvelope
from reactor_es.kafka.topics import TopicNames, document_key, job_key
from reactor_es.registry import DocumentModelRegistry

__all__ = ["PartitionFenced", "PartitionState", "PartitionWorker"]

log = logging.getLogger(__name__)

SOURCE = "executor"


class PartitionFenced(Exception):
    """Another executor took this partition over; this one must stop working on it."""


class PartitionState(enum.Enum):
    STARTING = "starting"
    RESTORING = "restoring"
    READY = "ready"
    FENCED = "fenced"
    CLOSED = "closed"


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
    ) -> None:
        self.settings = settings
        self.bootstrap_servers = bootstrap_servers
        self.topics = topics
        self.partition = partition
        self.tp = TopicPartition(topics.actions, partition)
        self.codec = codec
        self.group_id = group_id
        self.registry = registry
        self.book = DocumentBook(registry)
        self.runner = JobRunner(self.book)
        self.state = PartitionState.STARTING
        self.lock = asyncio.Lock()
        self.transactional_id = f"{group_id}-{topics.actions}-{partition}"
        self._producer: Any = None
        self.last_restore: RestoreReport | None = None
        self.jobs_done = 0
        self.records_dead_lettered = 0

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the transactional producer: this fences any previous owner of the partition."""
        self._producer = make_producer(
            self.settings, self.bootstrap_servers, transactional_id=self.transactional_id
        )
        await self._producer.start()

    async def restore(self) -> RestoreReport:
        """Rebuild the book from the operations partition (after `start`, so nothing moves)."""
        self.state = PartitionState.RESTORING
        self.book = DocumentBook(self.registry)
        self.runner = JobRunner(self.book)
        self.last_restore = await restore_partition(
            self.book,
            settings=self.settings,
            bootstrap_servers=self.bootstrap_servers,
            operations_topic=self.topics.operations,
            partition=self.partition,
            codec=self.codec,
        )
        self.state = PartitionState.READY
        return self.last_restore

    async def close(self) -> None:
        """Finish the batch in flight (if any), then release the producer."""
        async with self.lock:
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
        """Apply one poll batch in one transaction; raise `PartitionFenced` if taken over.

        On any other Kafka failure the transaction is aborted, the in-memory documents are
        rebuilt from the operations topic and the error is raised: the caller seeks the
        partition back to its committed offset and the batch is processed again.
        """
        if not messages:
            return
        async with self.lock:
            if self.state is not PartitionState.READY or self._producer is None:
                return
            producer = self._producer
            try:
                await producer.begin_transaction()
                futures = await self._produce_batch(producer, messages)
                await producer.send_offsets_to_transaction(
                    {self.tp: messages[-1].offset + 1}, self.group_id
                )
                if futures:
                    await asyncio.gather(*futures)
                await producer.commit_transaction()
            except ProducerFenced as exc:
                self.state = PartitionState.FENCED
                raise PartitionFenced(
                    f"partition {self.partition}: producer {self.transactional_id} was fenced"
                ) from exc
            except Exception:
                log.exception("partition %d: batch failed, aborting", self.partition)
                await self._abort(producer)
                await self.restore()
                raise

    async def _produce_batch(self, producer: Any, messages: Sequence[Any]) -> list[Any]:
        futures: list[Any] = []
        for message in messages:
            try:
                job = self.codec.decode_record(message.value, ActionEnvelope)
            except RecordDecodeError as exc:
                futures.append(await self._dead_letter(producer, message, str(exc)))
                continue
            outcome = self.runner.run(job)
            for record in outcome.records:
                futures.append(
                    await producer.send(
                        self.topics.operations,
                        value=self.codec.encode_record(record),
                        key=document_key(record.document_id),
                        partition=self.partition,
                    )
                )
            event = outcome.event(utc_now_iso(), SOURCE)
            futures.append(
                await producer.send(
                    self.topics.job_events,
                    value=self.codec.encode_record(event),
                    key=job_key(job.job_id),
                )
            )
            self.jobs_done += 1
            if outcome.error is not None:
                log.info(
                    "job %s on document %s failed: %s", job.job_id, job.document_id, outcome.error
                )
        return futures

    async def _dead_letter(self, producer: Any, message: Any, reason: str) -> Any:
        """Keep an unreadable record (with where it came from) and carry on with the rest."""
        self.records_dead_lettered += 1
        log.warning(
            "undecodable record on %s partition %d offset %d: %s",
            message.topic,
            message.partition,
            message.offset,
            reason,
        )
        headers = [
            ("reason", reason.encode("utf-8")),
            ("source-topic", message.topic.encode("utf-8")),
            ("source-partition", str(message.partition).encode("ascii")),
            ("source-offset", str(message.offset).encode("ascii")),
        ]
        return await producer.send(
            self.topics.actions_dlq,
            value=message.value,
            key=message.key,
            partition=self.partition,
            headers=headers,
        )

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
