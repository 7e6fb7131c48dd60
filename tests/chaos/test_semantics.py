"""Optimistic concurrency and idempotent retries, through the real pipeline.

An in-process executor is enough here: these are the rules the chaos tests rely on
(a wrong expected revision writes nothing; the same action ids never apply twice), shown
one job at a time with exact outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.actions import create_document_action, new_action, upgrade_document_action
from reactor_es.document.state import backfill_base_state
from reactor_es.document.types import Action
from reactor_es.executor.book import DEFAULT_IDEMPOTENCY_WINDOW
from reactor_es.executor.service import JobExecutor
from reactor_es.jobs import JobInfo
from reactor_es.kafka.operations_log import read_operations
from reactor_es.kafka.records import JobKind, JobStatus
from reactor_es.kafka.topics import TopicNames, ensure_topics
from tests.chaos.observe import read_topic
from tests.chaos.stream import TODO_LIST

DOC = "doc-1"


@pytest.fixture
async def settings(chaos_settings: Callable[[str], Settings], kafka_bootstrap: str) -> Settings:
    settings = chaos_settings(kafka_bootstrap)
    await ensure_topics(kafka_bootstrap, settings)
    return settings


@contextlib.asynccontextmanager
async def pipeline(
    settings: Settings, bootstrap: str, *, idempotency_window: int = DEFAULT_IDEMPOTENCY_WINDOW
) -> AsyncIterator[Reactor]:
    """An in-process executor and a client of it."""
    executor = JobExecutor(settings, bootstrap, idempotency_window=idempotency_window)
    await executor.start()
    task = asyncio.create_task(executor.run())
    try:
        await executor.wait_ready(timeout=60)
        async with Reactor(settings, bootstrap) as client:
            yield client
    finally:
        executor.stop()
        await task


@pytest.fixture
async def reactor(settings: Settings, kafka_bootstrap: str) -> AsyncIterator[Reactor]:
    async with pipeline(settings, kafka_bootstrap) as client:
        yield client


@pytest.fixture
async def small_window_reactor(settings: Settings, kafka_bootstrap: str) -> AsyncIterator[Reactor]:
    """The executor remembers the last 2 action ids per document for retries."""
    async with pipeline(settings, kafka_bootstrap, idempotency_window=2) as client:
        yield client


def add(action_id: str, todo: str) -> Action:
    return new_action(
        "ADD_TODO",
        {"id": todo, "text": f"item {todo}"},
        action_id=action_id,
        timestamp="2026-01-01T00:00:01.000Z",
    )


async def done(reactor: Reactor, info: JobInfo) -> JobInfo:
    return await reactor.wait_for_job(info.id, timeout=30)


async def history(settings: Settings, bootstrap: str) -> list[tuple[str, int, str]]:
    records = (await read_operations(settings, bootstrap, [DOC]))[DOC]
    return [(r.scope, r.operation.index, r.operation.action.id) for r in records]


def create_actions(document_id: str) -> list[Action]:
    """CREATE_DOCUMENT + UPGRADE_DOCUMENT with fixed ids, so the job can be sent again."""
    stamp = "2026-01-01T00:00:00.000Z"
    return [
        create_document_action(
            TODO_LIST, document_id, action_id=f"{document_id}-create", timestamp=stamp
        ),
        upgrade_document_action(
            TODO_LIST,
            document_id,
            0,
            1,
            backfill_base_state({"global": {"items": []}, "local": {}}),
            action_id=f"{document_id}-upgrade",
            timestamp=stamp,
        ),
    ]


async def create(reactor: Reactor, document_id: str = DOC) -> JobInfo:
    info = await reactor.submit_job(
        document_id, create_actions(document_id), JobKind.CREATE, document_type=TODO_LIST
    )
    created = await done(reactor, info)
    assert created.status is JobStatus.WRITE_READY
    return created


async def test_expected_revision_match_writes_and_mismatch_fails_writing_nothing(
    reactor: Reactor, settings: Settings, kafka_bootstrap: str
) -> None:
    await create(reactor)
    matching = await done(
        reactor, await reactor.mutate(DOC, [add("act-1", "a")], expected_revision=0)
    )
    assert matching.status is JobStatus.WRITE_READY
    assert [(r.scope, r.index) for r in matching.operations] == [("global", 0)]

    stale = await done(reactor, await reactor.mutate(DOC, [add("act-2", "b")], expected_revision=0))
    assert stale.status is JobStatus.FAILED
    assert stale.error == (
        "revision conflict on document doc-1 scope global: the job expected revision 0, "
        "the document is at revision 1"
    )
    assert stale.operations == ()
    ahead = await done(reactor, await reactor.mutate(DOC, [add("act-2", "b")], expected_revision=5))
    assert ahead.error == (
        "revision conflict on document doc-1 scope global: the job expected revision 5, "
        "the document is at revision 1"
    )

    # Nothing of act-2 reached the topic, not even in an aborted transaction.
    topics = TopicNames.from_settings(settings)
    everything = await read_topic(
        settings, kafka_bootstrap, topics.operations, isolation_level="read_uncommitted"
    )
    assert len(everything) == 3
    assert await history(settings, kafka_bootstrap) == [
        ("document", 0, f"{DOC}-create"),
        ("document", 1, f"{DOC}-upgrade"),
        ("global", 0, "act-1"),
    ]

    # The refused action id was not remembered as applied: sent right, it applies.
    retried = await done(
        reactor, await reactor.mutate(DOC, [add("act-2", "b")], expected_revision=1)
    )
    assert retried.status is JobStatus.WRITE_READY
    assert [(r.scope, r.index) for r in retried.operations] == [("global", 1)]


async def test_the_same_job_twice_reports_the_same_operations_and_writes_them_once(
    reactor: Reactor, settings: Settings, kafka_bootstrap: str
) -> None:
    first_create = await create(reactor)
    actions = [add("act-1", "a"), add("act-2", "b"), add("act-3", "c")]
    first = await done(reactor, await reactor.mutate(DOC, actions))
    again = await done(reactor, await reactor.mutate(DOC, actions))
    assert first.status is JobStatus.WRITE_READY
    # Nothing new to project: the retry is readable at once.
    assert again.status is JobStatus.READ_READY
    assert first.id != again.id
    assert [(r.scope, r.index) for r in first.operations] == [
        ("global", 0),
        ("global", 1),
        ("global", 2),
    ]
    assert again.operations == first.operations

    # The create job sent again as it was (same action ids): the document is not "already
    # there", the job reports the two operations it made the first time.
    remade = await done(
        reactor,
        await reactor.submit_job(DOC, create_actions(DOC), JobKind.CREATE, document_type=TODO_LIST),
    )
    assert (remade.status, remade.error) == (JobStatus.READ_READY, None)
    assert remade.operations == first_create.operations
    assert [(r.scope, r.index) for r in remade.operations] == [("document", 0), ("document", 1)]

    assert await history(settings, kafka_bootstrap) == [
        ("document", 0, f"{DOC}-create"),
        ("document", 1, f"{DOC}-upgrade"),
        ("global", 0, "act-1"),
        ("global", 1, "act-2"),
        ("global", 2, "act-3"),
    ]


async def test_a_retried_job_with_expected_revision_reports_its_operations(
    reactor: Reactor, settings: Settings, kafka_bootstrap: str
) -> None:
    """A client that lost the answer sends the same job again: it must learn it succeeded.

    A conflict here would tell it the write did not happen, and a client that then
    re-reads and re-applies with new action ids would apply its change twice.
    """
    await create(reactor)
    actions = [add("act-1", "a")]
    first = await done(reactor, await reactor.mutate(DOC, actions, expected_revision=0))
    again = await done(reactor, await reactor.mutate(DOC, actions, expected_revision=0))
    assert first.status is JobStatus.WRITE_READY
    assert (again.status, again.error) == (JobStatus.READ_READY, None)
    assert again.operations == first.operations
    assert [(r.scope, r.index) for r in first.operations] == [("global", 0)]
    assert await history(settings, kafka_bootstrap) == [
        ("document", 0, f"{DOC}-create"),
        ("document", 1, f"{DOC}-upgrade"),
        ("global", 0, "act-1"),
    ]


async def four_single_jobs(reactor: Reactor) -> list[JobInfo]:
    await create(reactor)
    jobs = [await reactor.mutate(DOC, [add(f"act-{i}", f"t{i}")]) for i in range(4)]
    return [await done(reactor, job) for job in jobs]


async def test_a_retry_inside_the_idempotency_window_is_not_applied_again(
    small_window_reactor: Reactor, settings: Settings, kafka_bootstrap: str
) -> None:
    firsts = await four_single_jobs(small_window_reactor)
    again = await done(
        small_window_reactor, await small_window_reactor.mutate(DOC, [add("act-3", "t3")])
    )
    assert (again.status, again.operations) == (JobStatus.READ_READY, firsts[3].operations)
    assert [action for _, _, action in await history(settings, kafka_bootstrap)] == [
        f"{DOC}-create",
        f"{DOC}-upgrade",
        "act-0",
        "act-1",
        "act-2",
        "act-3",
    ]


async def test_a_retry_beyond_the_idempotency_window_is_applied_again(
    small_window_reactor: Reactor, settings: Settings, kafka_bootstrap: str
) -> None:
    """The documented bound: only the last `idempotency_window` actions of a document are
    remembered (window 2 here). An older retry is a new operation, under the same operation
    id at a new index, as Powerhouse's own store allows ((opId, index, skip) is unique)."""
    firsts = await four_single_jobs(small_window_reactor)
    again = await done(
        small_window_reactor, await small_window_reactor.mutate(DOC, [add("act-0", "t0")])
    )
    assert [action for _, _, action in await history(settings, kafka_bootstrap)] == [
        f"{DOC}-create",
        f"{DOC}-upgrade",
        "act-0",
        "act-1",
        "act-2",
        "act-3",
        "act-0",
    ]
    assert again.status is JobStatus.WRITE_READY
    assert [(r.scope, r.index) for r in again.operations] == [("global", 4)]
    assert again.operations[0].id == firsts[0].operations[0].id
