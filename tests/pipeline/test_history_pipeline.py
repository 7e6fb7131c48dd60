"""UNDO, REDO and NOOP-with-skip through Kafka store what the pure reducer produces."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.actions import create_document_actions, new_action
from reactor_es.document.reducer import ReducerOptions, apply_action
from reactor_es.document.types import Document
from reactor_es.executor.service import JobExecutor
from reactor_es.kafka.operations_log import read_operations
from reactor_es.kafka.records import JobKind, JobStatus
from reactor_es.registry import DocumentModelRegistry, default_registry
from tests.domain.counter_model import CounterModel

COUNTER = CounterModel()


def counter_registry() -> DocumentModelRegistry:
    registry = default_registry()
    registry.register(COUNTER)
    return registry


@pytest.fixture
async def counter_executor(
    pipeline_settings: Settings, kafka_bootstrap: str
) -> AsyncIterator[JobExecutor]:
    executor = JobExecutor(pipeline_settings, kafka_bootstrap, registry=counter_registry())
    await executor.start()
    task = asyncio.create_task(executor.run())
    await executor.wait_ready(60)
    yield executor
    executor.stop()
    await task


STEPS: list[tuple[str, dict[str, Any], int]] = [
    ("INCREMENT", {}, 0),
    ("INCREMENT", {}, 0),
    ("INCREMENT", {}, 0),
    ("UNDO", {"count": 1}, 0),
    ("UNDO", {"count": 1}, 0),
    ("INCREMENT", {}, 0),
    ("NOOP", {}, 1),
]


async def test_history_actions_through_kafka_match_the_pure_reducer(
    pipeline_settings: Settings, kafka_bootstrap: str, counter_executor: JobExecutor
) -> None:
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    genesis = create_document_actions(COUNTER, "counter-1", timestamp="2026-02-01T09:00:00.000Z")
    actions = [
        new_action(kind, payload, action_id=f"a{i}") for i, (kind, payload, _) in enumerate(STEPS)
    ]

    # The reference: the same actions through the pure reducer, no Kafka.
    offline: Document | None = None
    for action in genesis:
        offline = apply_action(offline, action, COUNTER).document
    assert offline is not None
    for action, (_, _, skip) in zip(actions, STEPS, strict=True):
        apply_action(offline, action, COUNTER, options=ReducerOptions(skip=skip) if skip else None)

    async with Reactor(settings, bootstrap, registry=counter_registry()) as reactor:
        created = await reactor.submit_job(
            "counter-1", genesis, JobKind.CREATE, document_type=COUNTER.document_type
        )
        assert (await reactor.wait_for_job(created.id, 30)).status is JobStatus.WRITE_READY
        for action, (_, _, skip) in zip(actions, STEPS, strict=True):
            short = {
                "type": action.type,
                "input": action.input,
                "id": action.id,
                "timestampUtcMs": action.timestamp_utc_ms,
                "skip": skip,
            }
            job = await reactor.mutate("counter-1", [short], document_type=COUNTER.document_type)
            info = await reactor.wait_for_job(job.id, 30)
            assert info.status is JobStatus.WRITE_READY, info.error
        redo = await reactor.mutate(
            "counter-1", [{"type": "REDO", "input": {"count": 1}}], document_type="test/counter"
        )
        refused = await reactor.wait_for_job(redo.id, 30)

    assert refused.status is JobStatus.FAILED
    assert refused.error == (
        "Cannot redo: no operations in the clipboard (document counter-1, scope global)"
    )
    log = (await read_operations(settings, bootstrap, ["counter-1"]))["counter-1"]
    stored = [
        (r.operation.action.type, r.operation.index, r.operation.skip, r.operation.hash)
        for r in log
        if r.scope == "global"
    ]
    expected = [(op.action.type, op.index, op.skip, op.hash) for op in offline.operations["global"]]
    assert stored == expected
    assert [(kind, index, skip) for kind, index, skip, _ in stored] == [
        ("INCREMENT", 0, 0),
        ("INCREMENT", 1, 0),
        ("INCREMENT", 2, 0),
        ("NOOP", 3, 1),
        ("NOOP", 4, 1),
        ("INCREMENT", 5, 0),
        ("NOOP", 6, 1),
    ]
    assert offline.state["global"] == {"count": 1}
    assert json.loads(log[-1].resulting_state or "null") == {"count": 1}
