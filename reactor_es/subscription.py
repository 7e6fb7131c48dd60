"""Operation streams for users: follow committed operations on the `operations` topic.

A subscription is a plain read_committed consumer without a group: it assigns the
partitions itself, so any number of subscribers can read without joining (or disturbing)
a consumer group, and nothing is committed. A `document_id` filter reads only that
document's partition (`partition_for`); every other filter is applied after decoding.

Start positions are resolved in `start()` (`async with` calls it): once it returns, every
operation committed afterwards will be delivered, so "subscribe at latest, then publish"
cannot lose the first operations. `start` may be:

- "latest": only operations committed from now on;
- "beginning": the whole history (the topic keeps every record);
- an int: that offset in each partition read (clamped to what the partition holds);
- a timestamp (datetime or ISO 8601 string; no zone means UTC): the first operation each
  partition recorded at or after it. This is when the record was committed to Kafka, not
  the operation's `timestampUtcMs` (imports keep historical operation timestamps).

Order: a document lives in one partition, so its operations arrive in the order the
executor wrote them (per scope, index order). Different documents interleave freely.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal, TypeAlias

from aiokafka import TopicPartition
from aiokafka.errors import ConsumerStoppedError, KafkaError

from reactor_es.config import Settings
from reactor_es.document.types import JsonDict, Operation
from reactor_es.errors import ReactorError
from reactor_es.kafka.clients import make_consumer, start_client
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.codec_errors import RecordDecodeError
from reactor_es.kafka.records import HeaderHint, OperationRecord
from reactor_es.kafka.topics import TopicNames, partition_for

#: Seconds `until_end` waits for transactions written before it started to become readable.
UNTIL_END_SETTLE_SECONDS = 1.0

__all__ = [
    "StartPosition",
    "SubscribedOperation",
    "Subscription",
    "SubscriptionError",
    "parse_start",
    "subscribe",
]

log = logging.getLogger(__name__)

#: Where a subscription starts; see the module docstring.
StartPosition: TypeAlias = Literal["beginning", "latest"] | int | datetime | str

_POLL_MS = 500


class SubscriptionError(ReactorError):
    """A subscription cannot start or its records cannot be read."""


@dataclass(frozen=True)
class SubscribedOperation:
    """A committed operation with its document context and where it lies in Kafka."""

    document_id: str
    document_type: str
    scope: str
    branch: str
    job_id: str
    operation: Operation
    partition: int
    offset: int
    #: Kafka record timestamp (ms since the epoch): when the operation was committed.
    timestamp_ms: int
    header: HeaderHint | None = None
    #: `state[scope]` after the operation, as JSON text (see `resulting_state`).
    resulting_state_json: str | None = field(default=None, repr=False)

    @cached_property
    def resulting_state(self) -> JsonDict | None:
        """The scope's state after this operation, parsed on first use (states can be big)."""
        if self.resulting_state_json is None:
            return None
        try:
            value = json.loads(self.resulting_state_json)
        except ValueError as exc:
            raise SubscriptionError(
                f"document {self.document_id} scope {self.scope} index {self.operation.index}: "
                f"resulting state is not valid JSON: {exc}"
            ) from None
        if not isinstance(value, dict):
            raise SubscriptionError(
                f"document {self.document_id} scope {self.scope} index {self.operation.index}: "
                f"resulting state is a JSON {type(value).__name__}, not an object"
            )
        return value

    def to_json(self) -> JsonDict:
        """The shape `reactor-es subscribe` prints: context plus Powerhouse's operation JSON."""
        return {
            "documentId": self.document_id,
            "documentType": self.document_type,
            "scope": self.scope,
            "branch": self.branch,
            "jobId": self.job_id,
            "partition": self.partition,
            "offset": self.offset,
            "operation": self.operation.to_json(),
        }


# -- start positions ---------------------------------------------------------------------------


def parse_start(value: StartPosition) -> Literal["beginning", "latest"] | int | datetime:
    """A checked start position: "beginning", "latest", an offset >= 0, or an aware datetime.

    Strings of digits are offsets (the CLI passes text); other strings must be ISO 8601.
    """
    if isinstance(value, bool):
        raise SubscriptionError(f"start position must not be a boolean, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise SubscriptionError(f"start offset must be >= 0, got {value}")
        return value
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise SubscriptionError(
            f"start position must be 'beginning', 'latest', an offset or a timestamp, "
            f"not {type(value).__name__}"
        )
    text = value.strip()
    if text in ("beginning", "latest"):
        return "beginning" if text == "beginning" else "latest"
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SubscriptionError(
            f"start position {value!r} is not 'beginning', 'latest', an offset or an "
            "ISO 8601 timestamp (e.g. 2025-01-31T12:00:00Z)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# -- the subscription --------------------------------------------------------------------------


class Subscription:
    """An async iterator of `SubscribedOperation`; see the module docstring.

    Use `async with subscribe(...) as ops: async for op in ops: ...` (positions fixed on
    entering), or iterate directly (positions fixed at the first `__anext__`). `stop()` may
    be called from a signal handler: iteration ends within one poll (0.5 s).
    """

    def __init__(
        self,
        settings: Settings,
        bootstrap_servers: str,
        *,
        document_id: str | None = None,
        document_type: str | None = None,
        scope: str | None = None,
        branch: str | None = None,
        start: StartPosition = "latest",
        until_end: bool = False,
    ) -> None:
        self.settings = settings
        self.bootstrap_servers = bootstrap_servers
        self.document_id = document_id
        self.document_type = document_type
        self.scope = scope
        self.branch = branch
        self.start_position = parse_start(start)  # refused here, before any connection
        self.until_end = until_end
        self.topic = TopicNames.from_settings(settings).operations
        #: Undecodable records skipped so far (each was logged with partition and offset).
        self.skipped = 0
        self._codec = RecordCodec()
        self._consumer: Any = None
        self._partitions: list[TopicPartition] = []
        self._ends: dict[TopicPartition, int] = {}
        self._done: set[TopicPartition] = set()
        self._buffer: deque[SubscribedOperation] = deque()
        self._started = False
        self._closed = False
        self._stopping = False

    @property
    def partitions(self) -> tuple[int, ...]:
        """The partitions of `operations` read (known once started)."""
        return tuple(tp.partition for tp in self._partitions)

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, assign the partitions and resolve every start position (idempotent)."""
        if self._started:
            return
        if self._closed:
            raise SubscriptionError(f"subscription to '{self.topic}' is closed")
        self._started = True
        consumer = make_consumer(self.settings, self.bootstrap_servers, group_id=None)
        self._consumer = consumer
        try:
            await start_client(consumer, self.bootstrap_servers)
            partitions = await self._topic_partitions()
            if self.document_id is not None:
                partitions = [partition_for(self.document_id, len(partitions))]
            self._partitions = [TopicPartition(self.topic, p) for p in partitions]
            consumer.assign(self._partitions)
            await self._seek(self._partitions)
            if self.until_end:
                self._ends = await self._committed_ends()
                for tp in self._partitions:
                    if await consumer.position(tp) >= self._ends[tp]:
                        self._finish_partition(tp)
        except KafkaError as exc:
            await self.aclose()
            raise SubscriptionError(
                f"cannot subscribe to '{self.topic}' at {self.bootstrap_servers}: {exc}"
            ) from None
        except BaseException:
            await self.aclose()
            raise

    async def _committed_ends(self) -> dict[TopicPartition, int]:
        """Where `until_end` stops: every record committed by now.

        The last stable offset alone can stop short: a commit returns to its producer before
        the coordinator writes the markers, and until then read_committed readers do not see
        it (a job already WRITE_READY would be cut off). So the ends wait, briefly, for the
        last stable offset to reach the high watermark seen at the start; a transaction
        still open after that is not committed, and is left out.
        """
        consumer = self._consumer
        peek = make_consumer(
            self.settings, self.bootstrap_servers, group_id=None, isolation_level="read_uncommitted"
        )
        await start_client(peek, self.bootstrap_servers)
        try:
            written = dict(await peek.end_offsets(self._partitions))
        finally:
            await peek.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + UNTIL_END_SETTLE_SECONDS
        ends = dict(await consumer.end_offsets(self._partitions))
        while any(ends[tp] < written[tp] for tp in ends) and loop.time() < deadline:
            await asyncio.sleep(0.01)
            ends = dict(await consumer.end_offsets(self._partitions))
        return ends

    async def aclose(self) -> None:
        """Disconnect; iteration ends. Safe to call twice or before `start`."""
        self._closed = True
        self._buffer.clear()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    def stop(self) -> None:
        """Ask iteration to end after the current poll (sync: for signal handlers)."""
        self._stopping = True

    async def __aenter__(self) -> Subscription:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- iteration -------------------------------------------------------------------------

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> SubscribedOperation:
        if not self._started:
            await self.start()
        while True:
            if self._buffer:
                return self._buffer.popleft()
            if self._closed or self._stopping or self._at_end():
                raise StopAsyncIteration
            await self._poll()

    def _at_end(self) -> bool:
        return self.until_end and len(self._done) == len(self._partitions)

    async def _poll(self) -> None:
        consumer = self._consumer
        try:
            batches = await consumer.getmany(timeout_ms=_POLL_MS)
        except ConsumerStoppedError:
            self._closed = True
            return
        except KafkaError as exc:
            raise SubscriptionError(f"reading '{self.topic}' failed: {exc}") from None
        for tp, messages in batches.items():
            self._accept(tp, messages)
        if self.until_end:
            for tp in self._partitions:
                if tp not in self._done and await consumer.position(tp) >= self._ends[tp]:
                    self._finish_partition(tp)

    def _accept(self, tp: TopicPartition, messages: Iterable[Any]) -> None:
        end = self._ends.get(tp) if self.until_end else None
        for message in messages:
            if end is not None and message.offset >= end:
                break  # committed after the subscription started: not part of this run
            try:
                record = self._codec.decode_record(message.value, OperationRecord)
            except RecordDecodeError as exc:
                self.skipped += 1
                log.warning(
                    "%s partition %d offset %d: skipped undecodable record: %s",
                    tp.topic,
                    tp.partition,
                    message.offset,
                    exc,
                    extra={"topic": tp.topic, "partition": tp.partition, "offset": message.offset},
                )
                continue
            if self._wanted(record):
                self._buffer.append(
                    SubscribedOperation(
                        document_id=record.document_id,
                        document_type=record.document_type,
                        scope=record.scope,
                        branch=record.branch,
                        job_id=record.job_id,
                        operation=record.operation,
                        partition=tp.partition,
                        offset=message.offset,
                        timestamp_ms=message.timestamp,
                        header=record.header,
                        resulting_state_json=record.resulting_state,
                    )
                )

    def _wanted(self, record: OperationRecord) -> bool:
        return (
            (self.document_id is None or record.document_id == self.document_id)
            and (self.document_type is None or record.document_type == self.document_type)
            and (self.scope is None or record.scope == self.scope)
            and (self.branch is None or record.branch == self.branch)
        )

    def _finish_partition(self, tp: TopicPartition) -> None:
        self._done.add(tp)
        self._consumer.pause(tp)  # later records are not part of this run

    # -- positions -------------------------------------------------------------------------

    async def _topic_partitions(self) -> list[int]:
        consumer = self._consumer
        for attempt in range(20):
            if attempt:
                await asyncio.sleep(0.1)
            # Without subscribed topics the client's metadata covers every topic.
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(self.topic)
            if partitions:
                return sorted(partitions)
        raise SubscriptionError(
            f"topic '{self.topic}' does not exist at {self.bootstrap_servers} "
            "(start the reactor first: `reactor-es run` creates it)"
        )

    async def _seek(self, partitions: list[TopicPartition]) -> None:
        consumer = self._consumer
        start = self.start_position
        if start == "beginning":
            await consumer.seek_to_beginning(*partitions)
        elif start == "latest":
            await consumer.seek_to_end(*partitions)
        else:
            firsts = await consumer.beginning_offsets(partitions)
            ends = await consumer.end_offsets(partitions)
            if isinstance(start, int):
                targets = dict.fromkeys(partitions, start)
            else:
                assert isinstance(start, datetime)
                millis = max(0, int(start.timestamp() * 1000))
                found = await consumer.offsets_for_times(dict.fromkeys(partitions, millis))
                # No record at or after the moment: start at the end (only newer ones).
                targets = {
                    tp: ends[tp] if found[tp] is None else found[tp].offset for tp in partitions
                }
            for tp in partitions:
                # Past the end would make the broker answer OFFSET_OUT_OF_RANGE and the
                # consumer reset to the beginning: clamp instead.
                consumer.seek(tp, min(max(targets[tp], firsts[tp]), ends[tp]))
        for tp in partitions:
            await consumer.position(tp)  # resolve now: nothing committed later is missed


def subscribe(
    settings: Settings,
    bootstrap_servers: str,
    *,
    document_id: str | None = None,
    document_type: str | None = None,
    scope: str | None = None,
    branch: str | None = None,
    start: StartPosition = "latest",
    until_end: bool = False,
) -> Subscription:
    """A `Subscription` to the operations topic (not started: `async with` or iterate)."""
    return Subscription(
        settings,
        bootstrap_servers,
        document_id=document_id,
        document_type=document_type,
        scope=scope,
        branch=branch,
        start=start,
        until_end=until_end,
    )
