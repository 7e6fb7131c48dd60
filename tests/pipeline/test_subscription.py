"""Subscriptions to the operations topic through a real broker (and their start positions)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.hashing import hash_scope_state
from reactor_es.document.types import Action, Operation
from reactor_es.executor.service import JobExecutor
from reactor_es.kafka.clients import make_producer
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.records import JobStatus, OperationRecord
from reactor_es.kafka.topics import TopicNames, document_key, partition_for
from reactor_es.subscription import (
    SubscribedOperation,
    Subscription,
    SubscriptionError,
    parse_start,
    subscribe,
)

TODO = "reactor-es/todo-list"
DOCS = ("doc-a", "doc-b", "doc-c", "doc-d", "doc-e")


async def _build_documents(reactor: Reactor, documents: Sequence[str], todos: int) -> None:
    """Create each document, then add `todos` items to each, one job per item."""
    created = [await reactor.create_document(TODO, doc) for doc in documents]
    for info in created:
        assert (await reactor.wait_for_job(info.id, 30)).status is JobStatus.WRITE_READY
    jobs = []
    for n in range(todos):
        for doc in documents:
            action = {"type": "ADD_TODO", "input": {"id": f"t{n}", "text": f"{doc} item {n}"}}
            jobs.append(await reactor.mutate(doc, [action], document_type=TODO))
    for info in jobs:
        assert (await reactor.wait_for_job(info.id, 30)).status is JobStatus.WRITE_READY


async def _collect(subscription: Subscription) -> list[SubscribedOperation]:
    return [op async for op in subscription]


async def _take(
    subscription: Subscription, count: int, timeout: float = 30
) -> list[SubscribedOperation]:
    async def take() -> list[SubscribedOperation]:
        return [await anext(subscription) for _ in range(count)]

    return await asyncio.wait_for(take(), timeout)


def _by_document(ops: Sequence[SubscribedOperation]) -> dict[str, list[tuple[str, int, str]]]:
    seen: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
    for op in ops:
        seen[op.document_id].append((op.scope, op.operation.index, op.operation.action.type))
    return dict(seen)


EXPECTED_HISTORY = [
    ("document", 0, "CREATE_DOCUMENT"),
    ("document", 1, "UPGRADE_DOCUMENT"),
    ("global", 0, "ADD_TODO"),
    ("global", 1, "ADD_TODO"),
    ("global", 2, "ADD_TODO"),
]


# -- start positions (no broker) -------------------------------------------------------------


def test_parse_start_accepts_every_documented_form() -> None:
    assert parse_start("beginning") == "beginning"
    assert parse_start("latest") == "latest"
    assert parse_start(42) == 42
    assert parse_start("17") == 17
    assert parse_start("2025-01-31T12:00:00Z") == datetime(2025, 1, 31, 12, tzinfo=UTC)
    assert parse_start("2025-01-31T12:00:00") == datetime(2025, 1, 31, 12, tzinfo=UTC)
    aware = datetime(2025, 1, 31, 13, tzinfo=UTC)
    assert parse_start(aware) is aware


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "start offset must be >= 0, got -1"),
        (True, "start position must not be a boolean, got True"),
        (
            "yesterday",
            "start position 'yesterday' is not 'beginning', 'latest', an offset or an ISO 8601 "
            "timestamp (e.g. 2025-01-31T12:00:00Z)",
        ),
    ],
)
def test_parse_start_refuses_bad_values(value: object, message: str) -> None:
    with pytest.raises(SubscriptionError) as caught:
        parse_start(value)  # type: ignore[arg-type]
    assert str(caught.value) == message


# -- against the broker ----------------------------------------------------------------------


async def test_from_beginning_every_operation_once_in_document_order(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor
) -> None:
    async with Reactor(pipeline_settings, kafka_bootstrap) as reactor:
        await _build_documents(reactor, DOCS, todos=3)
        async with reactor.subscribe(start="beginning", until_end=True) as subscription:
            ops = await asyncio.wait_for(_collect(subscription), 30)

    assert len(ops) == len(DOCS) * 5
    assert _by_document(ops) == dict.fromkeys(DOCS, EXPECTED_HISTORY)
    # Exactly once: no (partition, offset) and no operation id twice.
    assert len({(op.partition, op.offset) for op in ops}) == len(ops)
    assert len({op.operation.id for op in ops}) == len(ops)
    for op in ops:
        assert op.partition == partition_for(op.document_id, pipeline_settings.partitions)
        assert op.document_type == TODO
        assert op.branch == "main"
    # The context of the last operation of doc-a, and its lazily parsed state.
    last = [op for op in ops if op.document_id == "doc-a"][-1]
    state = {
        "items": [
            {"id": "t0", "text": "doc-a item 0", "done": False},
            {"id": "t1", "text": "doc-a item 1", "done": False},
            {"id": "t2", "text": "doc-a item 2", "done": False},
        ]
    }
    assert last.resulting_state == state
    assert last.operation.hash == hash_scope_state(state)
    assert last.header is not None
    assert dict(last.header.revision) == {"document": 2, "global": 3, "local": 0}
    assert last.to_json() == {
        "documentId": "doc-a",
        "documentType": TODO,
        "scope": "global",
        "branch": "main",
        "jobId": last.job_id,
        "partition": last.partition,
        "offset": last.offset,
        "operation": last.operation.to_json(),
    }
    assert last.to_json()["operation"]["index"] == 2
    assert last.to_json()["operation"]["type"] == "ADD_TODO"


async def test_latest_receives_only_operations_committed_after_start(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor
) -> None:
    async with Reactor(pipeline_settings, kafka_bootstrap) as reactor:
        await _build_documents(reactor, ("old-1", "old-2"), todos=2)
        async with reactor.subscribe(start="latest") as subscription:
            # Positions are fixed on entering: nothing committed from here on can be missed.
            job = await reactor.mutate(
                "old-1", [{"type": "ADD_TODO", "input": {"id": "new", "text": "fresh"}}]
            )
            created = await reactor.create_document(TODO, "new-doc")
            ops = await _take(subscription, 3)
            with pytest.raises(TimeoutError):  # and nothing else arrives
                await asyncio.wait_for(anext(subscription), 1.5)
        assert (await reactor.wait_for_job(job.id, 30)).status is JobStatus.WRITE_READY

    got = sorted((op.document_id, op.scope, op.operation.index, op.job_id) for op in ops)
    assert got == [
        ("new-doc", "document", 0, created.id),
        ("new-doc", "document", 1, created.id),
        ("old-1", "global", 2, job.id),
    ]


async def test_latest_until_end_stops_at_once(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor
) -> None:
    async with Reactor(pipeline_settings, kafka_bootstrap) as reactor:
        await _build_documents(reactor, ("only",), todos=1)
    started = time.monotonic()
    async with subscribe(
        pipeline_settings, kafka_bootstrap, start="latest", until_end=True
    ) as subscription:
        ops = await _collect(subscription)
    assert ops == []
    assert time.monotonic() - started < 5


async def test_filters_and_document_partition(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor
) -> None:
    async with Reactor(pipeline_settings, kafka_bootstrap) as reactor:
        await _build_documents(reactor, DOCS, todos=3)

    async with subscribe(
        pipeline_settings, kafka_bootstrap, document_id="doc-c", start="beginning", until_end=True
    ) as subscription:
        assert subscription.partitions == (partition_for("doc-c", 3),)
        ops = await _collect(subscription)
    assert _by_document(ops) == {"doc-c": EXPECTED_HISTORY}

    async with subscribe(
        pipeline_settings, kafka_bootstrap, scope="document", start="beginning", until_end=True
    ) as subscription:
        assert subscription.partitions == (0, 1, 2)
        ops = await _collect(subscription)
    assert _by_document(ops) == dict.fromkeys(DOCS, EXPECTED_HISTORY[:2])

    async with subscribe(
        pipeline_settings,
        kafka_bootstrap,
        document_type="powerhouse/document-model",
        start="beginning",
        until_end=True,
    ) as subscription:
        assert await _collect(subscription) == []


async def test_offset_and_timestamp_starts(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor
) -> None:
    async with Reactor(pipeline_settings, kafka_bootstrap) as reactor:
        await _build_documents(reactor, ("ts-doc",), todos=1)
        await asyncio.sleep(0.05)  # a later record timestamp for the next job
        later = await reactor.mutate(
            "ts-doc", [{"type": "ADD_TODO", "input": {"id": "x", "text": "later"}}]
        )
        assert (await reactor.wait_for_job(later.id, 30)).status is JobStatus.WRITE_READY

    async with subscribe(
        pipeline_settings, kafka_bootstrap, start="beginning", until_end=True
    ) as subscription:
        everything = await _collect(subscription)
    assert [(op.scope, op.operation.index) for op in everything] == [
        ("document", 0),
        ("document", 1),
        ("global", 0),
        ("global", 1),
    ]
    third = everything[2]

    # An offset applies to each partition read; the other (empty) partitions are clamped.
    async with subscribe(
        pipeline_settings, kafka_bootstrap, start=third.offset, until_end=True
    ) as subscription:
        from_offset = await _collect(subscription)
    assert [(op.scope, op.operation.index) for op in from_offset] == [("global", 0), ("global", 1)]

    # A timestamp: the first record committed at or after it (ISO text, as the CLI gives it).
    moment = datetime.fromtimestamp(everything[3].timestamp_ms / 1000, UTC)
    async with subscribe(
        pipeline_settings, kafka_bootstrap, start=moment.isoformat(), until_end=True
    ) as subscription:
        from_time = await _collect(subscription)
    assert [(op.operation.index, op.job_id) for op in from_time] == [(1, later.id)]

    # An offset past the end starts at the end rather than wrapping to the beginning.
    async with subscribe(
        pipeline_settings, kafka_bootstrap, start=10_000, until_end=True
    ) as subscription:
        assert await _collect(subscription) == []


async def test_undecodable_record_is_reported_and_skipped(
    pipeline_settings: Settings,
    kafka_bootstrap: str,
    executor: JobExecutor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with Reactor(pipeline_settings, kafka_bootstrap) as reactor:
        await _build_documents(reactor, ("victim",), todos=0)
    topic = TopicNames.from_settings(pipeline_settings).operations
    partition = partition_for("victim", pipeline_settings.partitions)
    producer = make_producer(pipeline_settings, kafka_bootstrap)
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            topic, b"\x00\x00\x00\x00\x63garbage", key=document_key("victim"), partition=partition
        )
    finally:
        await producer.stop()

    caplog.set_level(logging.WARNING, logger="reactor_es.subscription")
    async with subscribe(
        pipeline_settings, kafka_bootstrap, document_id="victim", start="beginning", until_end=True
    ) as subscription:
        ops = await _collect(subscription)
        assert subscription.skipped == 1
    assert [(op.scope, op.operation.index) for op in ops] == [("document", 0), ("document", 1)]
    warnings = [r for r in caplog.records if r.name == "reactor_es.subscription"]
    assert len(warnings) == 1
    assert (
        warnings[0]
        .getMessage()
        .startswith(
            f"{topic} partition {partition} offset {sent.offset}: skipped undecodable record: "
        )
    )
    assert (warnings[0].partition, warnings[0].offset) == (partition, sent.offset)  # type: ignore[attr-defined]


async def test_missing_topic_is_a_clear_error(kafka_bootstrap: str) -> None:
    settings = Settings(bootstrap_servers=kafka_bootstrap, topic_prefix="no-such-prefix-x.")
    subscription = subscribe(settings, kafka_bootstrap, start="beginning")
    with pytest.raises(SubscriptionError) as caught:
        await subscription.start()
    assert str(caught.value) == (
        f"topic 'no-such-prefix-x.operations' does not exist at {kafka_bootstrap} "
        "(start the reactor first: `reactor-es run` creates it)"
    )


async def test_stop_ends_a_following_subscription(
    pipeline_settings: Settings, kafka_bootstrap: str
) -> None:
    async with subscribe(pipeline_settings, kafka_bootstrap, start="latest") as subscription:
        task = asyncio.create_task(_collect(subscription))
        await asyncio.sleep(0.3)
        subscription.stop()
        assert await asyncio.wait_for(task, 5) == []


# -- throughput --------------------------------------------------------------------------------


def _synthetic(document_id: str, index: int) -> OperationRecord:
    action = Action(
        id=f"{document_id}-a{index}",
        type="ADD_TODO",
        timestamp_utc_ms="2025-01-01T00:00:00.000Z",
        input={"id": f"t{index}", "text": f"item {index}"},
    )
    operation = Operation(
        id=f"{document_id}-o{index}",
        index=index,
        timestamp_utc_ms="2025-01-01T00:00:00.000Z",
        hash="x" * 28,
        action=action,
    )
    return OperationRecord(document_id, TODO, f"job-{document_id}-{index}", operation)


async def test_reads_ten_thousand_operations_from_the_beginning(
    pipeline_settings: Settings, kafka_bootstrap: str
) -> None:
    """10,000 operations of 50 documents written in transactions of 500, as the executor does."""
    topic = TopicNames.from_settings(pipeline_settings).operations
    codec = RecordCodec()
    documents = [f"bulk-{n}" for n in range(50)]
    records = [_synthetic(doc, index) for index in range(200) for doc in documents]
    producer = make_producer(
        pipeline_settings, kafka_bootstrap, transactional_id=f"{topic}-bulk-writer"
    )
    await producer.start()
    try:
        for start in range(0, len(records), 500):
            async with producer.transaction():
                for record in records[start : start + 500]:
                    await producer.send(
                        topic, codec.encode_record(record), key=document_key(record.document_id)
                    )
    finally:
        await producer.stop()

    began = time.perf_counter()
    async with subscribe(
        pipeline_settings, kafka_bootstrap, start="beginning", until_end=True
    ) as subscription:
        ops = await asyncio.wait_for(_collect(subscription), 120)
    elapsed = time.perf_counter() - began
    print(f"\nsubscriber read {len(ops)} operations in {elapsed:.2f}s: {len(ops) / elapsed:,.0f}/s")

    assert len(ops) == 10_000
    assert len({(op.partition, op.offset) for op in ops}) == 10_000
    indexes: dict[str, list[int]] = defaultdict(list)
    for op in ops:
        indexes[op.document_id].append(op.operation.index)
    assert indexes == {doc: list(range(200)) for doc in documents}
    tp_counts: dict[int, int] = defaultdict(int)
    for op in ops:
        tp_counts[op.partition] += 1
    expected = defaultdict(int)
    for doc in documents:
        expected[partition_for(doc, 3)] += 200
    assert tp_counts == expected
