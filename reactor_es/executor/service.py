"""The JobExecutor service: a consumer group on `actions`.

Partitions are the unit of ownership. When the group assigns a partition, its worker
starts the partition's transactional producer (fencing any zombie owner), pauses the
partition, rebuilds the partition's documents from `operations` in the background and only
then resumes it from the committed offset. When a partition is revoked the batch in flight
finishes first. Each partition's batches run in a task of their own (the partition is paused
meanwhile), so partitions never wait for each other's transactions; each batch is its own
transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition

from reactor_es import metrics
from reactor_es.config import Settings
from reactor_es.executor.partition import (
    PartitionFenced,
    PartitionState,
    PartitionWorker,
)
from reactor_es.kafka.clients import make_consumer
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.limits import RecordLimits, read_record_limits
from reactor_es.kafka.topics import TopicNames, check_topic_layout
from reactor_es.registry import DocumentModelRegistry, default_registry

__all__ = ["ExecutorStats", "JobExecutor"]

log = logging.getLogger(__name__)

#: Longest pause before a failed batch is retried (the pause doubles from 0.1 s per failure).
MAX_RETRY_DELAY = 5.0


@dataclass
class ExecutorStats:
    jobs: int = 0
    dead_lettered: int = 0
    restores: int = 0
    restored_operations: int = 0
    batch_failures: int = 0
    partitions: list[int] = field(default_factory=list)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, executor: JobExecutor) -> None:
        self.executor = executor

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self.executor._revoke(list(revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self.executor._assign(list(assigned))


class JobExecutor:
    """Runs jobs from `actions`, publishing operations and job events exactly once."""

    def __init__(
        self,
        settings: Settings,
        bootstrap_servers: str,
        *,
        registry: DocumentModelRegistry | None = None,
        max_batch: int = 500,
        snapshot_every: int | None = None,
        idempotency_window: int | None = None,
    ) -> None:
        self.snapshot_every = snapshot_every or settings.snapshot_every
        self.idempotency_window = idempotency_window or settings.idempotency_window
        self.settings = settings
        self.bootstrap_servers = bootstrap_servers
        self.registry = registry if registry is not None else default_registry()
        self.topics = TopicNames.from_settings(settings)
        self.codec = RecordCodec()
        self.group_id = settings.executor_group
        self.max_batch = max_batch
        self.workers: dict[TopicPartition, PartitionWorker] = {}
        self._standby: dict[TopicPartition, PartitionWorker] = {}
        self._restoring: dict[TopicPartition, asyncio.Task[None]] = {}
        self._busy: dict[TopicPartition, asyncio.Task[None]] = {}
        self._consumer: Any = None
        self._stopping = asyncio.Event()
        self._stats = ExecutorStats()
        #: The largest record each topic takes, read at start.
        self.limits = RecordLimits()

    # -- life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Check the topic layout (refusing to start on a bad one) and join the group."""
        await check_topic_layout(self.bootstrap_servers, self.topics, self.settings)
        self.limits = await read_record_limits(
            self.settings, self.bootstrap_servers, self.topics.all()
        )
        self._consumer = make_consumer(
            self.settings,
            self.bootstrap_servers,
            group_id=self.group_id,
            max_poll_records=self.max_batch,
        )
        await self._consumer.start()
        self._consumer.subscribe([self.topics.actions], listener=_Rebalance(self))

    async def run(self) -> None:
        """Process until `stop()` is called."""
        if self._consumer is None:
            await self.start()
        try:
            while not self._stopping.is_set():
                batches = await self._consumer.getmany(timeout_ms=200, max_records=self.max_batch)
                for tp, messages in batches.items():
                    self._dispatch(tp, messages)
        finally:
            await self._drain()
            await self._shutdown()

    def stop(self) -> None:
        self._stopping.set()

    async def __aenter__(self) -> JobExecutor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
        await self._drain()
        await self._shutdown()

    @property
    def stats(self) -> ExecutorStats:
        workers = list(self.workers.values())
        self._stats.jobs = sum(w.jobs_done for w in workers) + self._stats_closed_jobs
        self._stats.dead_lettered = sum(w.records_dead_lettered for w in workers)
        self._stats.partitions = sorted(tp.partition for tp in self.workers)
        return self._stats

    _stats_closed_jobs = 0

    def ready(self) -> bool:
        """True when every assigned partition has been restored and is being processed."""
        return bool(self.workers) and all(
            w.state is PartitionState.READY for w in self.workers.values()
        )

    async def wait_ready(self, timeout: float = 60.0) -> None:
        async def poll() -> None:
            while not self.ready():
                await asyncio.sleep(0.05)

        await asyncio.wait_for(poll(), timeout)

    # -- processing ------------------------------------------------------------------------------

    def _dispatch(self, tp: TopicPartition, messages: list[Any]) -> None:
        """Hand a partition's batch to its own task, and pause the partition meanwhile.

        Partitions do not wait for each other: while one commits its transaction the loop
        keeps polling, and a busy partition's next records gather on the broker, to make
        its next batch (and transaction) bigger.
        """
        highwater = self._consumer.highwater(tp)
        if highwater is not None and messages:
            metrics.executor_lag(tp.partition, max(0, highwater - messages[-1].offset - 1))
        worker = self.workers.get(tp)
        if worker is None or worker.state is not PartitionState.READY:
            return  # being handed over: its next owner reads from the committed offset
        self._consumer.pause(tp)
        task = asyncio.create_task(self._process_partition(worker, messages))
        self._busy[tp] = task
        task.add_done_callback(functools.partial(self._finished, tp, worker))

    def _finished(
        self, tp: TopicPartition, worker: PartitionWorker, task: asyncio.Task[None]
    ) -> None:
        if self._busy.get(tp) is task:
            del self._busy[tp]
        consumer = self._consumer
        if (
            consumer is not None
            and self.workers.get(tp) is worker
            and worker.state is PartitionState.READY
            and tp in consumer.assignment()
        ):
            consumer.resume(tp)

    async def _drain(self) -> None:
        """Let the batches in flight finish (each is one transaction)."""
        busy = list(self._busy.values())
        if busy:
            await asyncio.gather(*busy, return_exceptions=True)

    async def _process_partition(self, worker: PartitionWorker, messages: list[Any]) -> None:
        try:
            await worker.process(messages)
        except PartitionFenced as exc:
            log.warning("%s; leaving it to its new owner", exc)
            self.workers.pop(worker.tp, None)
            await worker.close()
        except Exception:
            # The worker aborted and rebuilt its documents: replay from the committed offset,
            # after a pause that grows while the same records keep failing (logged by the
            # worker), so a lasting failure neither spins nor floods the log.
            self._stats.batch_failures += 1
            delay = min(MAX_RETRY_DELAY, 0.1 * 2 ** min(worker.failures_in_a_row - 1, 10))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            await self._rewind(worker)

    async def _rewind(self, worker: PartitionWorker) -> bool:
        """Move the partition back to its committed offset; False if it is no longer ours.

        Until this succeeds the partition stays paused: reading on past a batch whose
        transaction failed would commit the later records' offsets and lose its actions. So
        a failure to learn the committed offset (the broker away) is retried, not ignored.
        `seek_to_committed` is not used: it does not move a partition whose committed
        offset is 0 or absent, which is exactly the case of a first batch that failed.
        """
        consumer = self._consumer
        tp = worker.tp
        delay = 0.1
        while self.workers.get(tp) is worker and not self._stopping.is_set():
            try:
                await worker.recover()  # first: the transaction in doubt must be settled
                committed = await consumer.committed(tp)
                if tp not in consumer.assignment():
                    return False
                if committed is None:
                    await consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, committed)
                return True
            except Exception as exc:  # the broker away: try again, stay paused
                log.warning(
                    "partition %d: cannot rewind to its committed offset yet (%s: %s); retrying",
                    tp.partition,
                    type(exc).__name__,
                    exc,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(MAX_RETRY_DELAY, delay * 2)
        return False  # revoked or stopping: the next owner starts from the committed offset

    # -- rebalancing -----------------------------------------------------------------------------

    async def _revoke(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            task = self._restoring.pop(tp, None)
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            worker = self.workers.pop(tp, None)
            if worker is None:
                continue
            # Wait for the batch in flight; keep the worker in case the partition comes back
            # in this same rebalance (nobody else can have written to it meanwhile).
            async with worker.lock:
                pass
            if worker.state is PartitionState.READY:
                self._standby[tp] = worker
            else:
                await worker.close()

    async def _assign(self, assigned: list[TopicPartition]) -> None:
        standby, self._standby = self._standby, {}
        for tp in assigned:
            worker = standby.pop(tp, None)
            if worker is not None:
                self.workers[tp] = worker
                continue
            worker = self._new_worker(tp)
            self.workers[tp] = worker
            self._consumer.pause(tp)
            self._restoring[tp] = asyncio.create_task(self._start_worker(worker))
        for worker in standby.values():
            self._stats_closed_jobs += worker.jobs_done
            await worker.close()

    def _new_worker(self, tp: TopicPartition) -> PartitionWorker:
        return PartitionWorker(
            settings=self.settings,
            bootstrap_servers=self.bootstrap_servers,
            topics=self.topics,
            partition=tp.partition,
            registry=self.registry,
            codec=self.codec,
            group_id=self.group_id,
            snapshot_every=self.snapshot_every,
            idempotency_window=self.idempotency_window,
            limits=self.limits,
        )

    async def _start_worker(self, worker: PartitionWorker) -> None:
        tp = worker.tp
        try:
            await worker.start()
            report = await worker.restore()
            self._stats.restores += 1
            self._stats.restored_operations += report.operations
            if self.workers.get(tp) is worker and await self._rewind(worker):
                self._consumer.resume(tp)
        except asyncio.CancelledError:
            await worker.close()
            raise
        except Exception:
            log.exception("partition %d: could not start; retrying", tp.partition)
            await worker.close()
            if self.workers.get(tp) is worker and not self._stopping.is_set():
                await asyncio.sleep(1.0)
                fresh = self._new_worker(tp)
                self.workers[tp] = fresh
                self._restoring[tp] = asyncio.create_task(self._start_worker(fresh))
        finally:
            if self._restoring.get(tp) is asyncio.current_task():
                self._restoring.pop(tp, None)

    async def _shutdown(self) -> None:
        for task in list(self._restoring.values()):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        self._restoring.clear()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()
        for worker in [*self.workers.values(), *self._standby.values()]:
            await worker.close()
        self.workers.clear()
        self._standby.clear()
