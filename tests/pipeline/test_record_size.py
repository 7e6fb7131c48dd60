"""Records larger than Kafka takes: refused with their sizes, never a stuck partition.

- An action that fits but whose operation record does not fails its job (the executor's
  check), uses no index, and the rest of its partition flows; restarts agree.
- The client refuses an action record that does not fit before publishing anything; the
  CLI says so in one line, for a whole file of actions.
- A send Kafka refuses anyway (a limit lowered behind the client's back) leaves a FAILED
  job, not a PENDING one forever.
- A snapshot too large for its topic is skipped; restores read that document's operations.
- Unparking retries such a job like any other: it fails, and what followed it waits again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from projections.runner import ProjectorRunner
from projections.service import build_runners
from reactor_es.cli.main import main
from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.actions import create_document_actions, new_action
from reactor_es.document.ids import new_id, utc_now_iso
from reactor_es.errors import PublishError
from reactor_es.executor.book import DocumentBook
from reactor_es.executor.jobs import JobRunner
from reactor_es.executor.restore import read_parking_lot
from reactor_es.executor.service import JobExecutor
from reactor_es.kafka.clients import make_admin, make_consumer
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.limits import RecordTooLargeError, record_size
from reactor_es.kafka.operations_log import read_operations
from reactor_es.kafka.records import ActionEnvelope, JobEvent, JobKind, JobStatus
from reactor_es.kafka.topics import TopicNames, document_key, partition_for
from reactor_es.registry import default_registry
from tests.pipeline.conftest import end_offsets, running_executor, use_settings
from tests.pipeline.test_parking import produce_raw

TODO = "reactor-es/todo-list"
#: Kafka's default max.message.bytes, which the test topics keep.
LIMIT = "1,048,588"
STAMP = "2026-01-02T03:04:05.678Z"


def on_one_partition(partitions: int, first: str, prefix: str) -> tuple[str, str]:
    """`first` and another document id that share its partition."""
    wanted = partition_for(first, partitions)
    other = next(
        f"{prefix}-{n}" for n in range(1000) if partition_for(f"{prefix}-{n}", partitions) == wanted
    )
    return first, other


def add(item: str, text: str) -> dict[str, Any]:
    return {
        "type": "ADD_TODO",
        "input": {"id": item, "text": text},
        "id": f"act-{item}",
        "timestampUtcMs": STAMP,
    }


def operation_record_size(document_id: str, item: str, text: str) -> int:
    """What the executor's operation record of `add(item, text)` on a new list measures,
    computed here by the pure job runner (same ids and timestamps, so the same bytes)."""
    book = DocumentBook(default_registry())
    runner = JobRunner(book)
    model = default_registry().get(TODO)
    runner.run(
        ActionEnvelope(
            job_id=new_id(),
            document_id=document_id,
            scope="document",
            kind=JobKind.CREATE,
            actions=create_document_actions(model, document_id),
            created_at_utc_iso=utc_now_iso(),
            document_type=TODO,
        )
    )
    action = new_action(
        "ADD_TODO", {"id": item, "text": text}, action_id=f"act-{item}", timestamp=STAMP
    )
    outcome = runner.run(
        ActionEnvelope(
            job_id=new_id(),
            document_id=document_id,
            scope="global",
            kind=JobKind.MUTATE,
            actions=[action],
            created_at_utc_iso=utc_now_iso(),
        )
    )
    (record,) = outcome.records
    return record_size(document_key(document_id), RecordCodec().encode_record(record))


def action_record_size(client_id: str, document_id: str, action: dict[str, Any]) -> int:
    """What the client's `actions` record of one short-form action measures."""
    envelope = ActionEnvelope(
        job_id=new_id(),
        document_id=document_id,
        scope="global",
        kind=JobKind.MUTATE,
        actions=[
            new_action(
                action["type"],
                action["input"],
                action_id=action.get("id"),
                timestamp=action.get("timestampUtcMs"),
            )
        ],
        created_at_utc_iso=utc_now_iso(),
        client_id=client_id,
    )
    return record_size(document_key(document_id), RecordCodec().encode_record(envelope))


async def create(reactor: Reactor, *documents: str) -> None:
    for document_id in documents:
        job = await reactor.create_document(TODO, document_id)
        assert (await reactor.wait_for_job(job.id, 30)).status is JobStatus.WRITE_READY


async def test_an_action_whose_operation_is_too_large_fails_alone(
    pipeline_settings: Settings, kafka_bootstrap: str
) -> None:
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    big, small = on_one_partition(settings.partitions, "bigdoc", "small")
    text = "x" * 900_000
    size = operation_record_size(big, "huge", text)
    topics = TopicNames.from_settings(settings)

    async with Reactor(settings, bootstrap) as reactor:
        async with running_executor(settings, bootstrap) as first:
            await create(reactor, big, small)
            assert first.stats.batch_failures == 0
        # Executor stopped: the three jobs wait on the broker and arrive in one batch. The
        # failure ends its transaction (with the operation before it) and the partition is
        # rebuilt, which must read that very commit back, before the third job runs.
        flowing = await reactor.mutate(small, [add("s1", "fits")], document_type=TODO)
        failing = await reactor.mutate(big, [add("huge", text)], document_type=TODO)
        following = await reactor.mutate(big, [add("b1", "fits too")], document_type=TODO)
        async with running_executor(settings, bootstrap) as second:
            failed = await reactor.wait_for_job(failing.id, 60)
            assert failed.status is JobStatus.FAILED
            assert failed.error == (
                f"operation record of document {big} (ADD_TODO) is {size:,} bytes, over the "
                f"{LIMIT}-byte limit of topic '{topics.operations}' "
                "(max.request.size / max.message.bytes)"
            )
            assert failed.operations == ()
            done = await reactor.wait_for_job(flowing.id, 30)
            assert [(r.scope, r.index) for r in done.operations] == [("global", 0)]
            done = await reactor.wait_for_job(following.id, 30)
            # The failed action used no index: the next one on the document takes global[0].
            assert [(r.scope, r.index) for r in done.operations] == [("global", 0)]
            assert second.stats.batch_failures == 0
        # A restart restores the same documents: the next actions continue the indexes.
        async with running_executor(settings, bootstrap) as third:
            more_big = await reactor.mutate(big, [add("b2", "more")], document_type=TODO)
            more_small = await reactor.mutate(small, [add("s2", "more")], document_type=TODO)
            done = await reactor.wait_for_job(more_big.id, 30)
            assert [(r.scope, r.index) for r in done.operations] == [("global", 1)]
            done = await reactor.wait_for_job(more_small.id, 30)
            assert [(r.scope, r.index) for r in done.operations] == [("global", 1)]
            assert third.stats.batch_failures == 0

    log = await read_operations(settings, bootstrap, [big, small])
    assert [(r.scope, r.operation.index) for r in log[big]] == [
        ("document", 0),
        ("document", 1),
        ("global", 0),
        ("global", 1),
    ]
    assert [r.operation.action.input.get("id") for r in log[big] if r.scope == "global"] == [
        "b1",
        "b2",
    ]
    last = log[big][-1]
    assert last.resulting_state is not None
    assert json.loads(last.resulting_state) == {
        "items": [
            {"id": "b1", "text": "fits too", "done": False},
            {"id": "b2", "text": "more", "done": False},
        ]
    }
    assert [(r.scope, r.operation.index) for r in log[small]] == [
        ("document", 0),
        ("document", 1),
        ("global", 0),
        ("global", 1),
    ]


@contextlib.asynccontextmanager
async def projectors(settings: Settings, bootstrap: str) -> AsyncIterator[list[Any]]:
    runners = build_runners(settings, bootstrap, default_registry(), ["legacy", "jobs"])
    async with contextlib.AsyncExitStack() as stack:
        for runner in runners:
            await stack.enter_async_context(runner)
        yield [r for r in runners if isinstance(r, ProjectorRunner)]


async def caught_up(runners: Sequence[Any]) -> None:
    for runner in runners:
        await runner.wait_caught_up(timeout=60)


async def test_the_client_refuses_an_action_too_large_and_publishes_nothing(
    pipeline_settings: Settings,
    kafka_bootstrap: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    topics = TopicNames.from_settings(settings)
    huge = add("huge", "y" * 2_000_000)
    async with (
        projectors(settings, bootstrap) as running,
        running_executor(settings, bootstrap),
        Reactor(settings, bootstrap) as reactor,
    ):
        await create(reactor, "list-1")
        await caught_up(running)
        before = [
            await end_offsets(settings, bootstrap, topic)
            for topic in (topics.actions, topics.job_events)
        ]
        size = action_record_size(reactor.client_id, "list-1", huge)
        expected = (
            f"action record for document list-1 (ADD_TODO) is {size:,} bytes, over the "
            f"{LIMIT}-byte limit of topic '{topics.actions}' "
            "(max.request.size / max.message.bytes)"
        )
        with pytest.raises(RecordTooLargeError) as refused:
            await reactor.mutate("list-1", [huge], document_type=TODO)
        assert str(refused.value) == expected
        with pytest.raises(RecordTooLargeError) as refused:
            reactor.check_actions("list-1", [huge], document_type=TODO)
        assert str(refused.value) == expected

        # The CLI checks every line before publishing any: the first line is not sent.
        lines = tmp_path / "big.jsonl"
        small = {"document": "list-1", "type": "ADD_TODO", "input": {"id": "s", "text": "ok"}}
        big = {"document": "list-1", "type": "ADD_TODO", "input": huge["input"]}
        lines.write_text(f"{json.dumps(small)}\n{json.dumps(big)}\n")
        use_settings(monkeypatch, settings, bootstrap)
        capsys.readouterr()
        code = await asyncio.to_thread(main, ["publish", str(lines), "--wait"])
        out, err = capsys.readouterr()
        # The CLI's action has its own id and time (same lengths): the same size.
        cli_size = action_record_size(
            reactor.client_id, "list-1", {"type": "ADD_TODO", "input": huge["input"]}
        )
        assert (code, out) == (2, "")
        assert err == (
            f"reactor-es: error: {lines} line 2: action record for document list-1 (ADD_TODO) "
            f"is {cli_size:,} bytes, over the {LIMIT}-byte limit of topic '{topics.actions}' "
            "(max.request.size / max.message.bytes)\n"
        )
        after = [
            await end_offsets(settings, bootstrap, topic)
            for topic in (topics.actions, topics.job_events)
        ]
        assert after == before


async def set_max_message_bytes(settings: Settings, bootstrap: str, topic: str, value: int) -> None:
    admin = make_admin(settings, bootstrap)
    await admin.start()
    try:
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": str(value)})]
        )
    finally:
        await admin.close()


async def job_events_of(settings: Settings, bootstrap: str, job_id: str) -> list[JobEvent]:
    topics = TopicNames.from_settings(settings)
    found: list[JobEvent] = []
    consumer = make_consumer(settings, bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topics.job_events, p) for p in range(settings.partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        codec = RecordCodec()
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for messages in (await consumer.getmany(timeout_ms=200)).values():
                for message in messages:
                    event = codec.decode_record(message.value, JobEvent)
                    if event.job_id == job_id:
                        found.append(event)
    finally:
        await consumer.stop()
    return found


async def test_a_send_refused_anyway_leaves_a_failed_job_not_a_pending_one(
    pipeline_settings: Settings, kafka_bootstrap: str
) -> None:
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    topics = TopicNames.from_settings(settings)
    async with Reactor(settings, bootstrap) as reactor:
        # Lowered after the client read the limits: its check passes, the broker refuses.
        # Random text: compressed, it is still over the limit (6 bits a character).
        await set_max_message_bytes(settings, bootstrap, topics.actions, 300_000)
        before = await end_offsets(settings, bootstrap, topics.actions)
        noise = base64.b64encode(random.Random(3).randbytes(375_000)).decode()
        with pytest.raises(PublishError) as refused:
            await reactor.mutate("list-2", [add("big", noise)], document_type=TODO)
        message = str(refused.value)
        job_id = message.split()[1]
        assert message == (
            f"job {job_id} for document list-2 was not published: Kafka refused it "
            "([Error 10] MessageSizeTooLargeError)"
        )
        info = await reactor.get_job_status(job_id)
        assert (info.status, info.error) == (
            JobStatus.FAILED,
            "not published: [Error 10] MessageSizeTooLargeError",
        )
    assert await end_offsets(settings, bootstrap, topics.actions) == before
    events = await job_events_of(settings, bootstrap, job_id)
    assert [(e.status, e.source) for e in events] == [
        (JobStatus.PENDING, "client"),
        (JobStatus.FAILED, "client"),
    ]


async def test_a_snapshot_too_large_is_skipped_and_restore_reads_its_operations(
    pipeline_settings: Settings, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    topics = TopicNames.from_settings(settings)
    wide, narrow = on_one_partition(settings.partitions, "wide", "narrow")
    tp = TopicPartition(topics.actions, partition_for(wide, settings.partitions))

    executor = JobExecutor(settings, bootstrap)
    await executor.start()
    # Snapshots over 5,000 bytes do not fit (the check reads this when workers start).
    executor.limits = replace(
        executor.limits, topics={**executor.limits.topics, topics.snapshots: 5000}
    )
    task = asyncio.create_task(executor.run())
    caplog.set_level(logging.WARNING, logger="reactor_es.executor.partition")
    try:
        await executor.wait_ready(60)
        async with Reactor(settings, bootstrap) as reactor:
            await create(reactor, wide, narrow)
            for document_id, text in ((wide, "w" * 6000), (narrow, "n")):
                job = await reactor.mutate(document_id, [add("i1", text)], document_type=TODO)
                assert (await reactor.wait_for_job(job.id, 30)).status is JobStatus.WRITE_READY
        worker = executor.workers[tp]
        wide_created_at = worker.book.first_offsets[wide]
    finally:
        executor.stop()
        await task  # closing the partition writes a checkpoint: without the wide list
    skipped = [r.getMessage() for r in caplog.records if "snapshot of document" in r.getMessage()]
    assert len(skipped) == 1
    assert skipped[0].startswith(f"partition {tp.partition}: snapshot of document {wide} is ")
    assert skipped[0].endswith(
        f"over the 5,000-byte limit of topic '{topics.snapshots}' (max.request.size / "
        "max.message.bytes): not written, restores read its operations instead"
    )

    async with running_executor(settings, bootstrap) as restarted:
        report = restarted.workers[tp].last_restore
        assert report is not None
        # From the wide list's creation; the narrow list's snapshot holds its operations.
        assert (report.snapshots, report.start_offset) == (1, wide_created_at)
        assert restarted.workers[tp].book.operations_restored == 3
        async with Reactor(settings, bootstrap) as reactor:
            for document_id in (wide, narrow):
                job = await reactor.mutate(document_id, [add("i2", "next")], document_type=TODO)
                done = await reactor.wait_for_job(job.id, 30)
                assert [(r.scope, r.index) for r in done.operations] == [("global", 1)]
        book = restarted.workers[tp].book
        wide_doc, narrow_doc = book.document(wide), book.document(narrow)
        assert wide_doc is not None
        assert narrow_doc is not None
        assert [item["id"] for item in wide_doc.state["global"]["items"]] == ["i1", "i2"]
        assert wide_doc.state["global"]["items"][0]["text"] == "w" * 6000
        assert [item["text"] for item in narrow_doc.state["global"]["items"]] == ["n", "next"]
        assert wide_doc.header.revision == {"document": 2, "global": 2, "local": 0}
        assert narrow_doc.header.revision == {"document": 2, "global": 2, "local": 0}


async def test_unparking_a_job_too_large_fails_it_and_parks_what_followed(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor
) -> None:
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    topics = TopicNames.from_settings(settings)
    async with Reactor(settings, bootstrap) as reactor:
        await create(reactor, "held")
        await produce_raw(settings, bootstrap, document_key("held"), b"\x00garbage")
        too_big = await reactor.mutate("held", [add("huge", "h" * 900_000)], document_type=TODO)
        after = await reactor.mutate("held", [add("h1", "fits")], document_type=TODO)
        await asyncio.sleep(1.0)
        lot = await read_parking_lot(settings, bootstrap, topics.actions_dlq)
        assert [letter.event.value for letter in lot.documents["held"]] == [
            "parked",
            "queued",
            "queued",
        ]
        # Retried in order: the too-large job fails; the next must not run on the document
        # it changed in memory, so it waits again, parked, for the book to be rebuilt.
        unparked = await reactor.unpark("held", skip_first=True)
        assert (await reactor.wait_for_job(unparked.id, 30)).status is JobStatus.READ_READY
        failed = await reactor.wait_for_job(too_big.id, 30)
        assert failed.status is JobStatus.FAILED
        size = operation_record_size("held", "huge", "h" * 900_000)
        assert failed.error == (
            f"operation record of document held (ADD_TODO) is {size:,} bytes, over the "
            f"{LIMIT}-byte limit of topic '{topics.operations}' "
            "(max.request.size / max.message.bytes)"
        )
        lot = await read_parking_lot(settings, bootstrap, topics.actions_dlq)
        assert [letter.event.value for letter in lot.documents["held"]] == ["queued"]
        assert (await reactor.get_job_status(after.id)).status is JobStatus.PENDING

        again = await reactor.unpark("held")
        assert (await reactor.wait_for_job(again.id, 30)).status is JobStatus.READ_READY
        done = await reactor.wait_for_job(after.id, 30)
        assert [(r.scope, r.index) for r in done.operations] == [("global", 0)]
    lot = await read_parking_lot(settings, bootstrap, topics.actions_dlq)
    assert lot.documents == {}
    assert executor.stats.batch_failures == 0
