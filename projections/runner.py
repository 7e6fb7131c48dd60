"""Runs one projector: a consumer group on one topic, with its positions kept in SQLite.

A projector gets exactly-once effect without Kafka transactions by writing its rows and
the positions they came from in one SQLite transaction; this runner does the Kafka half:

- one consumer group per projector (`settings.projector_group(name)`), read_committed and
  without auto commit. On every assignment each partition is sought to the position the
  projector's store holds, or to the beginning: SQLite is the truth, and another member of
  the group may have moved the positions since this one last held the partition;
- per poll it decodes the records and offers the projector one `PolledBatch`: the decoded
  records, the offsets it could not decode (logged with topic, partition and offset, then
  skipped) and the consumer's next offset for every partition that moved. Transaction
  markers and skipped records move that offset too, so a partition never sticks behind
  them. The projector writes rows and positions in one transaction and returns the
  positions it committed (it may hold one back, see `legacy_projector`);
- after the commit the same offsets go to Kafka, only so that lag tools see them: in the
  background, at most one commit in flight (the latest offsets win), so the next poll never
  waits for that round trip;
- a batch that fails rolls back in SQLite; the runner seeks back to the stored positions
  and tries again after `retry_delay`, so the records are read again and nothing is lost;
- the revoke callback waits for the batch in flight (the runner's lock) before the group
  moves a partition, so the next owner reads positions that include it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Self, TypeVar

from aiokafka import ConsumerRebalanceListener
from aiokafka import TopicPartition as KafkaPartition
from aiokafka.errors import KafkaError

from projections.exceptions import CatchUpTimeoutError, ProjectorError, ProjectorStateError
from projections.stores.tracking import TopicPartition
from reactor_es import metrics
from reactor_es.config import Settings
from reactor_es.kafka.clients import make_admin, make_consumer
from reactor_es.kafka.codec import RecordCodec, WireRecord
from reactor_es.kafka.codec_errors import RecordDecodeError
from reactor_es.kafka.topics import TopicNames, check_topic_layout, partition_counts

__all__ = [
    "Delivered",
    "PolledBatch",
    "Projector",
    "ProjectorRunner",
    "RunnerStats",
    "decode_messages",
]

log = logging.getLogger(__name__)

R = TypeVar("R", bound=WireRecord)


@dataclass(frozen=True, slots=True)
class Delivered(Generic[R]):
    """A decoded record and where it was read."""

    partition: TopicPartition
    offset: int
    record: R


@dataclass(frozen=True)
class PolledBatch(Generic[R]):
    """What one poll gave: records, undecodable offsets, and where each partition now stands.

    `positions` holds the next offset to read of every partition that moved since the last
    batch; `stable_ends` the last stable offset the broker reported for it (None if unknown).
    """

    consumer: str
    records: Sequence[Delivered[R]]
    skipped: Mapping[TopicPartition, Sequence[int]] = field(default_factory=dict)
    positions: Mapping[TopicPartition, int] = field(default_factory=dict)
    stable_ends: Mapping[TopicPartition, int | None] = field(default_factory=dict)

    def by_partition(self) -> dict[TopicPartition, list[Delivered[R]]]:
        grouped: dict[TopicPartition, list[Delivered[R]]] = {}
        for item in self.records:
            grouped.setdefault(item.partition, []).append(item)
        return grouped


def decode_messages(
    codec: RecordCodec,
    record_type: type[R],
    tp: TopicPartition,
    messages: Iterable[Any],
    records: list[Delivered[R]],
    skipped: dict[TopicPartition, list[int]],
    *,
    reader: str,
    logger: logging.Logger,
    end: int | None = None,
) -> None:
    """Decode the polled messages of `tp` into `records`, up to offset `end` (None: all).

    A record that cannot be decoded is logged by `reader` on `logger` and its offset added
    to `skipped`: the partition moves past it instead of sticking.
    """
    for message in messages:
        if end is not None and message.offset >= end:
            break
        try:
            record = codec.decode_record(message.value or b"", record_type)
        except RecordDecodeError as exc:
            logger.warning(
                "%s: skipped undecodable record at %s partition %d offset %d: %s",
                reader,
                message.topic,
                message.partition,
                message.offset,
                exc,
            )
            skipped.setdefault(tp, []).append(message.offset)
            continue
        records.append(Delivered(tp, message.offset, record))


class Projector(ABC, Generic[R]):
    """A read model fed from one topic; it owns its store and the positions in it."""

    #: The projector's name: its consumer group is `settings.projector_group(name)`.
    name: str
    #: The record type of its topic.
    record_type: type[R]

    @abstractmethod
    def topic(self, topics: TopicNames) -> str:
        """The topic this projector reads."""

    async def start(self) -> None:
        """Open the store and whatever else the projector writes to."""

    @abstractmethod
    async def stored_positions(self, consumer: str) -> dict[TopicPartition, int]:
        """The committed next offsets of `consumer` in the projector's store."""

    @abstractmethod
    async def project(self, batch: PolledBatch[R]) -> Mapping[TopicPartition, int]:
        """Write the batch's rows and positions in one transaction; return those positions."""

    def reset(self, assigned: Collection[TopicPartition]) -> None:
        """Forget progress held in memory: the runner has sought `assigned` to the store."""

    async def close(self) -> None:
        """Release the store (and producer); idempotent."""


@dataclass
class RunnerStats:
    """Counters of one runner since it started."""

    records: int = 0
    skipped: int = 0
    batches: int = 0
    failures: int = 0
    #: Last committed position (next offset) per partition number.
    positions: dict[int, int] = field(default_factory=dict)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: ProjectorRunner[Any]) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: Iterable[KafkaPartition]) -> None:
        await self._runner._revoke(revoked)

    async def on_partitions_assigned(self, assigned: Iterable[KafkaPartition]) -> None:
        await self._runner._assign(assigned)


def _ours(tp: KafkaPartition | TopicPartition) -> TopicPartition:
    return TopicPartition(tp.topic, tp.partition)


def _kafka(tp: TopicPartition) -> KafkaPartition:
    return KafkaPartition(tp.topic, tp.partition)


class ProjectorRunner(Generic[R]):
    """Feeds one projector from its topic until `stop()`; `async with` runs it in a task."""

    def __init__(
        self,
        settings: Settings,
        bootstrap_servers: str,
        projector: Projector[R],
        *,
        max_batch: int = 1000,
        poll_timeout_ms: int = 100,
        retry_delay: float = 1.0,
        codec: RecordCodec | None = None,
    ) -> None:
        self.settings = settings
        self.bootstrap_servers = bootstrap_servers
        self.projector = projector
        self.group_id = settings.projector_group(projector.name)
        self.topic = projector.topic(TopicNames.from_settings(settings))
        self.max_batch = max_batch
        self.poll_timeout_ms = poll_timeout_ms
        self.retry_delay = retry_delay
        self._codec = codec if codec is not None else RecordCodec()
        self._consumer: Any = None
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._progress = asyncio.Event()
        self._assigned: set[TopicPartition] = set()
        self._offered: dict[TopicPartition, int] = {}
        self._stats = RunnerStats()
        self._task: asyncio.Task[None] | None = None
        #: Offsets still to commit to Kafka, and the task committing them (see `_commit_later`).
        self._to_commit: dict[KafkaPartition, int] = {}
        self._committing: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.projector.name

    @property
    def stats(self) -> RunnerStats:
        return self._stats

    @property
    def assigned(self) -> set[TopicPartition]:
        return set(self._assigned)

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the projector, check the topic exists and join the group."""
        if self._consumer is not None:
            return
        admin = make_admin(self.settings, self.bootstrap_servers)
        await admin.start()
        try:
            # Every service refuses to start on a broken layout (actions and operations must
            # be co-partitioned, operations kept forever), not only the executor.
            await check_topic_layout(admin, TopicNames.from_settings(self.settings))
            counts = await partition_counts(admin, [self.topic])
        finally:
            await admin.close()
        if counts[self.topic] is None:
            raise ProjectorError(
                f"projector {self.name}: topic '{self.topic}' does not exist "
                "(create the topics first)"
            )
        await self.projector.start()
        consumer = make_consumer(self.settings, self.bootstrap_servers, group_id=self.group_id)
        try:
            await consumer.start()
        except BaseException:
            await self.projector.close()
            raise
        consumer.subscribe([self.topic], listener=_Listener(self))
        self._consumer = consumer

    async def run(self) -> None:
        """Project until `stop()`; then leave the group and close the projector."""
        if self._consumer is None:
            await self.start()
        try:
            while not self._stopping.is_set():
                polled = await self._consumer.getmany(
                    timeout_ms=self.poll_timeout_ms, max_records=self.max_batch
                )
                async with self._lock:
                    failed = await self._handle(polled)
                if failed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), self.retry_delay)
        finally:
            await self._shutdown()

    def stop(self) -> None:
        self._stopping.set()

    async def __aenter__(self) -> Self:
        await self.start()
        self._task = asyncio.create_task(self.run(), name=f"projector-{self.name}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()
        if self._task is not None:
            task, self._task = self._task, None
            await task

    async def _shutdown(self) -> None:
        await self._commits_done()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()
        self._assigned.clear()
        await self.projector.close()

    # -- waiting ---------------------------------------------------------------------------

    async def wait_caught_up(self, timeout: float = 30.0) -> dict[TopicPartition, int]:
        """Return once the stored positions reach the topic's end offsets as of this call.

        End offsets are read committed (the last stable offsets), so an open executor
        transaction does not hold this up. Returns the stored positions; raises
        `CatchUpTimeoutError` naming the partitions still behind after `timeout` seconds.
        """
        if self._consumer is None:
            raise ProjectorStateError(f"projector {self.name} is not started")
        ends = await self._end_offsets()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            # Cleared before reading, so a commit made during the read still wakes us.
            self._progress.clear()
            stored = await self.projector.stored_positions(self.group_id)
            behind = {
                tp.partition: (stored.get(tp), end)
                for tp, end in ends.items()
                if end > 0 and stored.get(tp, -1) < end
            }
            if not behind:
                async with self._lock:  # the batch that got there has finished its work
                    pass
                return stored
            left = deadline - loop.time()
            if left <= 0:
                raise CatchUpTimeoutError(self.name, self.topic, behind, timeout)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), min(left, 0.25))

    async def _end_offsets(self) -> dict[TopicPartition, int]:
        partitions: set[int] | None = None
        for _ in range(50):
            partitions = self._consumer.partitions_for_topic(self.topic)
            if partitions:
                break
            await asyncio.sleep(0.1)
        if not partitions:
            raise ProjectorError(f"projector {self.name}: no metadata for topic '{self.topic}'")
        tps = [KafkaPartition(self.topic, p) for p in sorted(partitions)]
        ends = await self._consumer.end_offsets(tps)
        return {_ours(tp): int(offset) for tp, offset in ends.items()}

    # -- batches ---------------------------------------------------------------------------

    async def _handle(self, polled: Mapping[KafkaPartition, Sequence[Any]]) -> bool:
        """Offer one poll to the projector; True if it failed (the caller pauses)."""
        records: list[Delivered[R]] = []
        skipped: dict[TopicPartition, list[int]] = {}
        for ktp, messages in polled.items():
            tp = _ours(ktp)
            if tp not in self._assigned:
                continue  # revoked while this poll was on its way: the next owner reads it
            decode_messages(
                self._codec,
                self.projector.record_type,
                tp,
                messages,
                records,
                skipped,
                reader=f"projector {self.name}",
                logger=log,
            )
        positions, stable_ends = await self._moved()
        if not records and not skipped and not positions:
            return False
        batch = PolledBatch(self.group_id, records, skipped, positions, stable_ends)
        try:
            committed = await self.projector.project(batch)
        except Exception:
            self._stats.failures += 1
            log.exception(
                "projector %s: batch of %d records failed; reading it again from the stored "
                "positions in %g s",
                self.name,
                len(records),
                self.retry_delay,
            )
            await self._rewind()
            return True
        self._offered.update(positions)
        self._stats.records += len(records)
        self._stats.skipped += sum(len(offsets) for offsets in skipped.values())
        self._stats.batches += 1
        for tp, offset in committed.items():
            self._stats.positions[tp.partition] = offset
            stable_end = stable_ends.get(tp)
            if stable_end is not None:
                metrics.projector_lag(self.name, tp.partition, max(0, stable_end - offset))
        for partition, count in Counter(r.partition.partition for r in records).items():
            metrics.projector_records(self.name, partition, count)
        self._progress.set()
        self._commit_later(committed)
        return False

    async def _moved(
        self,
    ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int | None]]:
        """Next offset (and last stable offset) of each assigned partition that moved."""
        positions: dict[TopicPartition, int] = {}
        stable_ends: dict[TopicPartition, int | None] = {}
        assignment = self._consumer.assignment()
        for tp in sorted(self._assigned):
            ktp = _kafka(tp)
            if ktp not in assignment:
                continue
            position = int(await self._consumer.position(ktp))
            if position != self._offered.get(tp):
                positions[tp] = position
                stable_ends[tp] = self._consumer.last_stable_offset(ktp)
        return positions, stable_ends

    def _commit_later(self, committed: Mapping[TopicPartition, int]) -> None:
        """Commit these offsets to Kafka in the background (SQLite holds the truth)."""
        self._to_commit.update({_kafka(tp): offset for tp, offset in committed.items()})
        if self._to_commit and (self._committing is None or self._committing.done()):
            self._committing = asyncio.create_task(
                self._commit_to_kafka(), name=f"projector-{self.name}-commit"
            )

    async def _commit_to_kafka(self) -> None:
        while self._to_commit:
            offsets, self._to_commit = self._to_commit, {}
            offsets = {tp: o for tp, o in offsets.items() if _ours(tp) in self._assigned}
            if not offsets:
                continue
            try:
                await self._consumer.commit(offsets)
            except KafkaError as exc:  # SQLite holds the truth; the next commit catches up
                log.debug("projector %s: Kafka offset commit skipped: %r", self.name, exc)

    async def _commits_done(self) -> None:
        """Wait for the background commit (before the partitions move or the consumer stops)."""
        task = self._committing
        if task is not None and not task.done():
            with contextlib.suppress(Exception):
                await task

    async def _rewind(self) -> None:
        """Seek every assigned partition back to its stored position after a failed batch."""
        await self._seek_to_stored(self._assigned)

    async def _seek_to_stored(self, partitions: Collection[TopicPartition]) -> None:
        stored = await self.projector.stored_positions(self.group_id)
        fresh: list[KafkaPartition] = []
        self._offered = {}
        for tp in partitions:
            offset = stored.get(tp)
            if offset is None:
                fresh.append(_kafka(tp))
            else:
                self._consumer.seek(_kafka(tp), offset)
                self._offered[tp] = offset
                self._stats.positions[tp.partition] = offset
        if fresh:
            await self._consumer.seek_to_beginning(*fresh)
        self.projector.reset(partitions)

    # -- rebalancing -----------------------------------------------------------------------

    async def _revoke(self, revoked: Iterable[KafkaPartition]) -> None:
        async with self._lock:  # the batch in flight commits before the partitions go
            await self._commits_done()
            for ktp in revoked:
                self._assigned.discard(_ours(ktp))

    async def _assign(self, assigned: Iterable[KafkaPartition]) -> None:
        async with self._lock:
            self._assigned = {_ours(ktp) for ktp in assigned if ktp.topic == self.topic}
            self._stats.positions = {
                p: o for p, o in self._stats.positions.items() if (self.topic, p) in self._assigned
            }
            try:
                await self._seek_to_stored(self._assigned)
            except Exception:
                # Without positions the partitions cannot be read safely: leave the group.
                log.exception("projector %s: cannot read its stored positions", self.name)
                self._assigned = set()
                self.stop()
            log.info(
                "projector %s: assigned partitions %s of %s",
                self.name,
                sorted(tp.partition for tp in self._assigned),
                self.topic,
            )
