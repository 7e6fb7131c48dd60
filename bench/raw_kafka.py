"""Part (a): the Kafka client's ceiling on this broker, moving the executor's input bytes.

Records with the exact key and value bytes the client puts on `actions` are produced to an
input topic (same partition count as the pipeline), then passed through to an output topic
by one consumer and one producer in one process, as the executor is:

- at least once: idempotent producer (`acks=all`, the project's producer settings), every
  record of a poll sent, then the consumer's offsets committed;
- exactly once: one transactional producer per input partition (the executor's layout,
  KIP-98 style), one transaction per partition and poll holding the records and the
  consumer offsets (`send_offsets_to_transaction`), partitions of one poll concurrently.

Rates count records passed through, from the first poll that returned records to the last
commit; group join and topic creation are reported apart.

`transaction_round_trips` times back-to-back transactions of one record plus consumer
offsets (what the executor does per poll and partition when the load is low): the floor
that exactly-once puts under the executor's latency, with the client's default retry
backoff and with a shorter one (aiokafka waits `retry_backoff_ms` when the coordinator is
still writing the previous transaction's markers).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import NewTopic

from bench.cpu import CpuMeter
from reactor_es.config import Settings
from reactor_es.kafka.clients import make_admin, make_consumer, make_producer

__all__ = ["RawResult", "raw_pass_through", "transaction_round_trips"]


@dataclass(frozen=True)
class RawResult:
    mode: str
    records: int
    seconds: float
    join_seconds: float
    bytes_per_record: float
    #: Cores busy per process while records moved (this process, the broker).
    cpu: dict[str, float] = field(default_factory=dict)
    #: Rates of every attempt (the result is the best one).
    attempts: tuple[float, ...] = ()

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "records": self.records,
            "seconds": round(self.seconds, 4),
            "joinSeconds": round(self.join_seconds, 3),
            "recordsPerSecond": round(self.rate, 1),
            "bytesPerRecord": round(self.bytes_per_record, 1),
            "megabytesPerSecond": round(self.rate * self.bytes_per_record / 1e6, 3),
            "cpuCoresUsed": self.cpu,
            "cpuMicrosecondsPerRecord": {
                name: round(share * self.seconds / self.records * 1e6, 1)
                for name, share in self.cpu.items()
                if name != "wallSeconds"
            },
            "attemptsRecordsPerSecond": [round(rate, 1) for rate in self.attempts],
        }


async def _create_topics(
    settings: Settings, bootstrap: str, names: Sequence[str], partitions: int
) -> None:
    admin = make_admin(settings, bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, partitions, settings.replication_factor) for name in names]
        )
    finally:
        await admin.close()


async def _produce(
    settings: Settings, bootstrap: str, topic: str, records: Sequence[tuple[bytes, bytes]]
) -> RawResult:
    producer = make_producer(settings, bootstrap)
    await producer.start()
    try:
        await producer.client.force_metadata_update()
        started = time.perf_counter()
        futures = [await producer.send(topic, value=value, key=key) for key, value in records]
        await asyncio.gather(*futures)
        seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    size = sum(len(v) for _, v in records) / len(records)
    return RawResult("produce", len(records), seconds, 0.0, size)


async def _pass_through(
    settings: Settings,
    bootstrap: str,
    source: str,
    target: str,
    *,
    expected: int,
    partitions: int,
    group: str,
    transactional: bool,
    max_batch: int,
    pids: dict[str, int],
) -> RawResult:
    consumer = make_consumer(settings, bootstrap, group_id=group, max_poll_records=max_batch)
    if transactional:
        producers: dict[int, Any] = {
            p: make_producer(settings, bootstrap, transactional_id=f"{group}-{p}")
            for p in range(partitions)
        }
    else:
        producers = {-1: make_producer(settings, bootstrap)}
    joined = time.perf_counter()
    await asyncio.gather(consumer.start(), *(p.start() for p in producers.values()))
    consumer.subscribe([source])
    moved = 0
    size = 0
    first: float | None = None
    meter = CpuMeter(pids)
    try:
        while moved < expected:
            batches = await consumer.getmany(timeout_ms=200, max_records=max_batch)
            if not batches:
                continue
            if first is None:
                first = time.perf_counter()
                meter.start()
            if transactional:
                await asyncio.gather(
                    *(
                        _transaction(producers[tp.partition], consumer, tp, messages, target, group)
                        for tp, messages in batches.items()
                    )
                )
            else:
                producer = producers[-1]
                futures = [
                    await producer.send(target, value=m.value, key=m.key, partition=m.partition)
                    for messages in batches.values()
                    for m in messages
                ]
                await asyncio.gather(*futures)
                await consumer.commit({tp: ms[-1].offset + 1 for tp, ms in batches.items()})
            for messages in batches.values():
                moved += len(messages)
                size += sum(len(m.value) for m in messages)
        ended = time.perf_counter()
        cpu = meter.stop()
    finally:
        await asyncio.gather(
            consumer.stop(), *(p.stop() for p in producers.values()), return_exceptions=True
        )
    assert first is not None
    mode = "exactly once (transactions)" if transactional else "at least once"
    return RawResult(mode, moved, ended - first, first - joined, size / max(moved, 1), cpu)


async def _transaction(
    producer: Any, consumer: Any, tp: TopicPartition, messages: list[Any], target: str, group: str
) -> None:
    await producer.begin_transaction()
    futures = [
        await producer.send(target, value=m.value, key=m.key, partition=tp.partition)
        for m in messages
    ]
    await producer.send_offsets_to_transaction({tp: messages[-1].offset + 1}, group)
    await asyncio.gather(*futures)
    await producer.commit_transaction()


async def raw_pass_through(
    settings: Settings,
    bootstrap: str,
    records: Sequence[tuple[bytes, bytes]],
    *,
    name: str,
    max_batch: int = 500,
    repeat: int = 2,
    broker_pid: int | None = None,
) -> list[RawResult]:
    """Produce `records` (key, value) to a fresh topic, then pass them through, each mode
    `repeat` times (a fresh consumer group each time); the best attempt of each mode."""
    prefix = f"{settings.topic_prefix}raw-{name}."
    source, alo, eos = f"{prefix}in", f"{prefix}out-alo", f"{prefix}out-eos"
    partitions = settings.partitions
    pids = {"client": os.getpid()}
    if broker_pid is not None:
        pids["broker"] = broker_pid
    await _create_topics(settings, bootstrap, [source, alo, eos], partitions)
    results = [await _produce(settings, bootstrap, source, records)]
    for target, transactional in ((alo, False), (eos, True)):
        attempts = [
            await _pass_through(
                settings,
                bootstrap,
                source,
                target,
                expected=len(records),
                partitions=partitions,
                group=f"{prefix}{'eos' if transactional else 'alo'}-{attempt}",
                transactional=transactional,
                max_batch=max_batch,
                pids=pids,
            )
            for attempt in range(repeat)
        ]
        best = max(attempts, key=lambda result: result.rate)
        results.append(replace(best, attempts=tuple(a.rate for a in attempts)))
    return results


async def transaction_round_trips(
    settings: Settings, bootstrap: str, *, name: str, count: int = 40, **overrides: Any
) -> list[float]:
    """Seconds per transaction (begin, send, send offsets, commit), `count` in a row."""
    topic = f"{settings.topic_prefix}raw-{name}.in"
    group = f"{settings.topic_prefix}raw-{name}.txn-probe"
    suffix = "-".join(f"{k}{v}" for k, v in sorted(overrides.items())) or "default"
    producer = make_producer(settings, bootstrap, transactional_id=f"{group}-{suffix}", **overrides)
    await producer.start()
    tp = TopicPartition(topic, 0)
    durations = []
    try:
        for i in range(count + 3):
            started = time.perf_counter()
            await producer.begin_transaction()
            sent = await producer.send(topic, value=b"probe", partition=0)
            await producer.send_offsets_to_transaction({tp: i}, group)
            await sent
            await producer.commit_transaction()
            if i >= 3:  # the first transactions find the coordinator and warm up
                durations.append(time.perf_counter() - started)
    finally:
        await producer.stop()
    return durations
