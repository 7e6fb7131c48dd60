"""Helpers for projector tests against the real broker: private topics, producers, data."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from projections.legacy_projector import LegacyProjector
from projections.runner import ProjectorRunner
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.types import Document, Operation
from reactor_es.executor.service import JobExecutor
from reactor_es.kafka.clients import make_producer
from reactor_es.kafka.operations_log import read_operations
from reactor_es.kafka.records import JobStatus, OperationRecord
from reactor_es.kafka.topics import ensure_topics
from reactor_es.registry import default_registry

__all__ = [
    "TODO",
    "assert_same_document",
    "count_rows",
    "executor_documents",
    "legacy_runner",
    "make_pipeline_settings",
    "raw_producer",
    "write_todo_lists",
]

TODO = "reactor-es/todo-list"


async def make_pipeline_settings(
    bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path, partitions: int = 3
) -> Settings:
    """Settings with a topic prefix of their own (topics created) and a home in `tmp_path`."""
    settings = Settings(
        bootstrap_servers=bootstrap,
        home=tmp_path / "home",
        topic_prefix=unique_name("p") + ".",
        partitions=partitions,
    )
    await ensure_topics(bootstrap, settings)
    return settings


def legacy_runner(
    settings: Settings, bootstrap: str, projector: LegacyProjector | None = None, **options: object
) -> ProjectorRunner[OperationRecord]:
    """A runner of the legacy projector (a fresh one unless `projector` is given)."""
    projector = projector or LegacyProjector(settings, bootstrap, default_registry())
    return ProjectorRunner(settings, bootstrap, projector, **options)  # type: ignore[arg-type]


@asynccontextmanager
async def raw_producer(
    settings: Settings, bootstrap: str, **options: Any
) -> AsyncIterator[AIOKafkaProducer]:
    """A producer of our own, as a foreign writer (or a hand-driven executor) would be."""
    producer = make_producer(settings, bootstrap, **options)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def write_todo_lists(reactor: Reactor, docs: int, jobs: int, actions: int) -> list[str]:
    """Create `docs` lists and add `jobs` x `actions` items to each; returns every job id."""
    created = [await reactor.create_document(TODO, f"list-{d}") for d in range(docs)]
    job_ids = [info.id for info in created]
    for j in range(jobs):
        for d in range(docs):
            items = [
                {"type": "ADD_TODO", "input": {"id": f"i{j}-{n}", "text": f"item {j}.{n}"}}
                for n in range(actions)
            ]
            job_ids.append((await reactor.mutate(f"list-{d}", items)).id)
    for job_id in job_ids:
        done = await reactor.wait_for_job(job_id, timeout=60)
        assert done.status in (JobStatus.WRITE_READY, JobStatus.READ_READY)
    return job_ids


async def count_rows(path: Path) -> tuple[int, int]:
    async with await SqliteLegacyStorage.open(path) as store:
        rows = await store._db.read("SELECT COUNT(*), COUNT(DISTINCT op_id) FROM legacy_operations")
    return int(rows[0][0]), int(rows[0][1])


def executor_documents(executor: JobExecutor) -> dict[str, Document]:
    """The documents the executor's reducers produced (their history may be trimmed)."""
    found: dict[str, Document] = {}
    for worker in executor.workers.values():
        for document_id in worker.book.document_ids:
            document = worker.book.document(document_id)
            assert document is not None
            found[document_id] = document
    return found


async def assert_same_document(
    settings: Settings, bootstrap: str, stored: Document, reduced: Document
) -> None:
    """`stored` has the executor's header, states and clipboard, and every logged operation."""
    assert stored.header == reduced.header
    assert stored.state == reduced.state
    assert stored.initial_state == reduced.initial_state
    assert stored.clipboard == reduced.clipboard
    logged: dict[str, list[Operation]] = {}
    for record in (await read_operations(settings, bootstrap, [stored.id]))[stored.id]:
        logged.setdefault(record.scope, []).append(record.operation)
    assert {scope: ops for scope, ops in stored.operations.items() if ops} == logged
