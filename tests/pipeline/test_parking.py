"""Poison input parks only its document; unparking retries its jobs in order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.model import RuleVersion
from reactor_es.document.types import Action
from reactor_es.executor.restore import read_parking_lot
from reactor_es.executor.service import JobExecutor
from reactor_es.kafka.clients import make_producer
from reactor_es.kafka.operations_log import read_operations
from reactor_es.kafka.records import JobStatus
from reactor_es.kafka.topics import TopicNames, document_key, partition_for
from reactor_es.models.todo import TodoListModel
from reactor_es.registry import default_registry
from tests.pipeline.conftest import running_executor


class FaultyTodoModel(TodoListModel):
    """A to-do list whose input check crashes (not a refusal) on the text "crash"."""

    document_type = "test/faulty-todo"

    def validate_input(self, action: Action, rules: RuleVersion) -> Any:
        if isinstance(action.input, dict) and action.input.get("text") == "crash":
            raise RuntimeError("boom in the executor")
        return super().validate_input(action, rules)


def registry_with_faulty() -> Any:
    registry = default_registry()
    registry.register(FaultyTodoModel())
    return registry


async def produce_raw(settings: Settings, bootstrap: str, key: bytes, value: bytes) -> int:
    producer = make_producer(settings, bootstrap)
    await producer.start()
    try:
        metadata = await producer.send_and_wait(
            TopicNames.from_settings(settings).actions, value=value, key=key
        )
        return int(metadata.offset)
    finally:
        await producer.stop()


def add(item: str, text: str) -> dict[str, Any]:
    return {"type": "ADD_TODO", "input": {"id": item, "text": text}, "id": f"act-{item}"}


async def test_undecodable_record_parks_only_its_document(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor
) -> None:
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    async with Reactor(settings, bootstrap) as reactor:
        for name in ("doc-a", "doc-b"):
            job = await reactor.create_document("reactor-es/todo-list", name)
            assert (await reactor.wait_for_job(job.id, 30)).status is JobStatus.WRITE_READY

        poison_offset = await produce_raw(
            settings, bootstrap, document_key("doc-a"), b"\x00garbage"
        )
        held = await reactor.mutate("doc-a", [add("a1", "held back")])
        passed = await reactor.mutate("doc-b", [add("b1", "flows")])
        assert (await reactor.wait_for_job(passed.id, 30)).status is JobStatus.WRITE_READY
        await asyncio.sleep(1.0)
        assert (await reactor.get_job_status(held.id)).status is JobStatus.PENDING

        topics = TopicNames.from_settings(settings)
        lot = await read_parking_lot(settings, bootstrap, topics.actions_dlq)
        assert sorted(lot.documents) == ["doc-a"]
        letters = lot.documents["doc-a"]
        assert [letter.event.value for letter in letters] == ["parked", "queued"]
        assert letters[0].source_topic == topics.actions
        assert letters[0].source_partition == partition_for("doc-a", settings.partitions)
        assert letters[0].source_offset == poison_offset
        assert letters[0].reason == (
            "unknown schema id 1734439522 (not in the schema catalogue; written by a newer or "
            "foreign producer?)"
        )

        # A new executor (a restart) still knows doc-a is parked and queues behind it.
        executor.stop()
        await asyncio.sleep(0.5)
        async with running_executor(settings, bootstrap):
            more = await reactor.mutate("doc-a", [add("a2", "also held")])
            await asyncio.sleep(1.0)
            assert (await reactor.get_job_status(more.id)).status is JobStatus.PENDING

            released = await reactor.unpark("doc-a", skip_first=True)
            done = await reactor.wait_for_job(released.id, 30)
            # The unpark job itself writes no operation: it is readable at once.
            assert done.status is JobStatus.READ_READY
            assert (await reactor.wait_for_job(held.id, 30)).status is JobStatus.WRITE_READY
            assert (await reactor.wait_for_job(more.id, 30)).status is JobStatus.WRITE_READY

    log = await read_operations(settings, bootstrap, ["doc-a"])
    global_ops = [r.operation for r in log["doc-a"] if r.scope == "global"]
    assert [(op.index, op.action.input["id"]) for op in global_ops] == [(0, "a1"), (1, "a2")]
    lot = await read_parking_lot(settings, bootstrap, topics.actions_dlq)
    assert lot.documents == {}


async def test_executor_failure_parks_and_unpark_retries(
    pipeline_settings: Settings, kafka_bootstrap: str
) -> None:
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    executor = JobExecutor(settings, bootstrap, registry=registry_with_faulty())
    await executor.start()
    task = asyncio.create_task(executor.run())
    try:
        await executor.wait_ready(60)
        async with Reactor(settings, bootstrap, registry=registry_with_faulty()) as reactor:
            created = await reactor.create_document("test/faulty-todo", "doc-f")
            await reactor.wait_for_job(created.id, 30)
            bad = await reactor.mutate("doc-f", [add("x", "crash")], document_type=None)
            later = await reactor.mutate("doc-f", [add("y", "fine")])
            other = await reactor.create_document("test/faulty-todo", "doc-g")
            assert (await reactor.wait_for_job(other.id, 30)).status is JobStatus.WRITE_READY
            lot = await read_parking_lot(
                settings, bootstrap, TopicNames.from_settings(settings).actions_dlq
            )
            assert [letter.event.value for letter in lot.documents["doc-f"]] == [
                "parked",
                "queued",
            ]
            assert lot.documents["doc-f"][0].reason == (
                "executor failed: RuntimeError: boom in the executor"
            )
            # Retrying without dropping: the poison fails again and parks again, in order.
            again = await reactor.unpark("doc-f")
            assert (await reactor.wait_for_job(again.id, 30)).status is JobStatus.READ_READY
            lot = await read_parking_lot(
                settings, bootstrap, TopicNames.from_settings(settings).actions_dlq
            )
            assert [letter.event.value for letter in lot.documents["doc-f"]] == [
                "parked",
                "queued",
            ]
            skipped = await reactor.unpark("doc-f", skip_first=True)
            assert (await reactor.wait_for_job(skipped.id, 30)).status is JobStatus.READ_READY
            assert (await reactor.wait_for_job(later.id, 30)).status is JobStatus.WRITE_READY
            # The dropped job is answered: its client does not wait on PENDING forever.
            dropped = await reactor.wait_for_job(bad.id, 30)
            assert dropped.status is JobStatus.FAILED
            assert dropped.error == (
                "dropped by unpark --skip-first "
                "(parked: executor failed: RuntimeError: boom in the executor)"
            )
    finally:
        executor.stop()
        await task
    log = await read_operations(settings, bootstrap, ["doc-f"])
    assert [r.operation.action.input.get("id") for r in log["doc-f"] if r.scope == "global"] == [
        "y"
    ]


@pytest.mark.parametrize("control", ["unpark"])
async def test_unparking_a_document_that_is_not_parked_fails_clearly(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor, control: str
) -> None:
    async with Reactor(pipeline_settings, kafka_bootstrap) as reactor:
        job = await reactor.unpark("nobody")
        info = await reactor.wait_for_job(job.id, 30)
    assert info.status is JobStatus.FAILED
    assert info.error == "document nobody is not parked"


async def test_an_undo_parked_behind_poison_is_retried_with_the_full_history(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor
) -> None:
    """The executor keeps only the last operation of a document in memory; an UNDO needs the
    whole history, which an unpark loads first (it used to drop such a job silently)."""
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    async with Reactor(settings, bootstrap) as reactor:
        created = await reactor.create_document("reactor-es/todo-list", "doc-u")
        await reactor.wait_for_job(created.id, 30)
        for item in ("u1", "u2"):
            job = await reactor.mutate("doc-u", [add(item, item)])
            assert (await reactor.wait_for_job(job.id, 30)).status is JobStatus.WRITE_READY
        await produce_raw(settings, bootstrap, document_key("doc-u"), b"\x00garbage")
        undo = await reactor.mutate("doc-u", [{"type": "UNDO", "input": {"count": 1}}])
        await asyncio.sleep(1.0)
        assert (await reactor.get_job_status(undo.id)).status is JobStatus.PENDING

        released = await reactor.unpark("doc-u", skip_first=True)
        assert (await reactor.wait_for_job(released.id, 30)).status is JobStatus.READ_READY
        undone = await reactor.wait_for_job(undo.id, 30)
        assert undone.status is JobStatus.WRITE_READY
        assert [(r.scope, r.index, r.skip) for r in undone.operations] == [("global", 2, 1)]

    log = await read_operations(settings, bootstrap, ["doc-u"])
    global_ops = [r.operation for r in log["doc-u"] if r.scope == "global"]
    assert [(op.index, op.skip, op.action.type) for op in global_ops] == [
        (0, 0, "ADD_TODO"),
        (1, 0, "ADD_TODO"),
        (2, 1, "NOOP"),
    ]
    lot = await read_parking_lot(
        settings, bootstrap, TopicNames.from_settings(settings).actions_dlq
    )
    assert lot.documents == {}
