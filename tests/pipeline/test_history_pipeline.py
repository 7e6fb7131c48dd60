"""UNDO, REDO and NOOP-with-skip through Kafka store what the pure reducer produces."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from projections.legacy_projector import LEGACY_STORE_FILE, LegacyProjector
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.actions import create_document_actions, new_action
from reactor_es.document.history import garbage_collect
from reactor_es.document.reducer import ReducerOptions, apply_action
from reactor_es.document.types import Action, Document, Operation
from reactor_es.executor.service import JobExecutor
from reactor_es.jobs import JobInfo
from reactor_es.kafka.operations_log import read_operations
from reactor_es.kafka.records import JobKind, JobStatus, OperationRecord
from reactor_es.kafka.topics import TopicNames
from reactor_es.registry import DocumentModelRegistry, default_registry
from tests.domain.counter_model import CounterModel
from tests.pipeline.conftest import end_offsets
from tests.projections.pipeline import legacy_runner

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


# -- the worked examples of powerhouse-semantics.md §1.10-§1.11, through Kafka ---------------

STAMPS = [f"2026-02-01T10:{minute:02d}:00.000Z" for minute in range(60)]


def counter_hash(count: int) -> str:
    """hash({"count": N}) per §1.7, computed here: base64(SHA-1('{"count":N}'))."""
    text = json.dumps({"count": count}, separators=(",", ":"))
    return base64.b64encode(hashlib.sha1(text.encode("utf-8")).digest()).decode("ascii")


def genesis_of(document_id: str, protocol: int) -> list[Action]:
    create, upgrade = create_document_actions(
        COUNTER, document_id, timestamp="2026-02-01T09:00:00.000Z"
    )
    create.input["protocolVersions"] = {"base-reducer": protocol}
    return [
        create.model_copy(update={"id": f"{document_id}-create"}),
        upgrade.model_copy(update={"id": f"{document_id}-upgrade"}),
    ]


def steps_of(document_id: str, steps: list[tuple[str, int]]) -> list[tuple[Action, int]]:
    """(action, skip) for each (type, skip): fixed ids and increasing timestamps."""
    out = []
    for number, (kind, skip) in enumerate(steps):
        payload = {"count": 1} if kind == "UNDO" else {}
        action = new_action(
            kind, payload, action_id=f"{document_id}-{number}", timestamp=STAMPS[number]
        )
        out.append((action, skip))
    return out


def offline(
    genesis: list[Action], steps: list[tuple[Action, int]], *, prune_on_skip: bool = True
) -> Document:
    """The reference: the same actions through the pure reducer, no Kafka."""
    document: Document | None = None
    for action in genesis:
        document = apply_action(document, action, COUNTER).document
    assert document is not None
    for action, skip in steps:
        options = ReducerOptions(skip=skip, prune_on_skip=prune_on_skip)
        apply_action(document, action, COUNTER, options=options)
    return document


def triples(operations: Sequence[Operation]) -> list[tuple[int, int, str]]:
    return [(op.index, op.skip, op.hash) for op in operations]


@dataclass
class ThroughKafka:
    log: list[OperationRecord]
    legacy: Document
    infos: list[JobInfo]

    @property
    def logged(self) -> list[Operation]:
        return [r.operation for r in self.log if r.scope == "global"]


async def through_kafka(
    settings: Settings,
    bootstrap: str,
    document_id: str,
    genesis: list[Action],
    steps: list[tuple[Action, int]],
) -> ThroughKafka:
    """Create, then one job per step via the Reactor client; read the operations topic and
    the legacy store (its projector caught up) back."""
    infos = []
    async with Reactor(settings, bootstrap, registry=counter_registry()) as reactor:
        created = await reactor.submit_job(
            document_id, genesis, JobKind.CREATE, document_type=COUNTER.document_type
        )
        assert (await reactor.wait_for_job(created.id, 30)).status is JobStatus.WRITE_READY
        for action, skip in steps:
            short = {
                "type": action.type,
                "input": action.input,
                "id": action.id,
                "timestampUtcMs": action.timestamp_utc_ms,
                "skip": skip,
            }
            job = await reactor.mutate(document_id, [short], document_type=COUNTER.document_type)
            infos.append(await reactor.wait_for_job(job.id, 30))
    log = (await read_operations(settings, bootstrap, [document_id]))[document_id]
    return ThroughKafka(log, await legacy_document(settings, bootstrap, document_id), infos)


async def legacy_document(settings: Settings, bootstrap: str, document_id: str) -> Document:
    """The document in the legacy store, once its projector has read every operation."""
    projector = LegacyProjector(settings, bootstrap, counter_registry())
    async with legacy_runner(settings, bootstrap, projector) as runner:
        await runner.wait_caught_up(timeout=60)
    async with await SqliteLegacyStorage.open(settings.home / LEGACY_STORE_FILE) as store:
        return await store.get_document(document_id)


async def test_six_increments_then_one_with_skip_4_through_kafka(
    pipeline_settings: Settings, kafka_bootstrap: str, counter_executor: JobExecutor
) -> None:
    """§1.10 (Powerhouse's skip-operations.test.ts): six INCREMENTs, then an INCREMENT with
    skip 4 -> the surviving history is [0:0, 1:0, 6:4] and the count is 3. The append-only
    log keeps the overwritten operations; garbage collecting it gives Powerhouse's list."""
    genesis = genesis_of("counter-skip", protocol=2)
    steps = steps_of("counter-skip", [("INCREMENT", 0)] * 6 + [("INCREMENT", 4)])

    found = await through_kafka(pipeline_settings, kafka_bootstrap, "counter-skip", genesis, steps)

    assert [info.status for info in found.infos] == [JobStatus.WRITE_READY] * 7
    assert [[(r.index, r.skip) for r in info.operations] for info in found.infos] == [
        [(n, 0)] for n in range(6)
    ] + [[(6, 4)]]
    expected = [(n, 0, counter_hash(n + 1)) for n in range(6)] + [(6, 4, counter_hash(3))]
    assert triples(found.logged) == expected
    assert [op.action.type for op in found.logged] == ["INCREMENT"] * 7
    assert len(found.logged) == 7
    # The pure reducer: the same list when it keeps what the skip overwrote, and Powerhouse's
    # pruned list by default; garbage collecting the log gives that list too.
    kept = offline(genesis, steps, prune_on_skip=False)
    assert triples(kept.operations["global"]) == expected
    pruned = offline(genesis, steps)
    assert triples(pruned.operations["global"]) == [
        (0, 0, counter_hash(1)),
        (1, 0, counter_hash(2)),
        (6, 4, counter_hash(3)),
    ]
    assert triples(garbage_collect(found.logged)) == triples(pruned.operations["global"])
    assert pruned.state["global"] == kept.state["global"] == {"count": 3}
    assert (
        pruned.header.revision
        == kept.header.revision
        == {
            "document": 2,
            "global": 7,
            "local": 0,
        }
    )
    assert json.loads(found.log[-1].resulting_state or "null") == {"count": 3}
    # The legacy store: every logged operation, the state and revision of the reducer.
    assert triples(found.legacy.operations["global"]) == expected
    assert found.legacy.state["global"] == {"count": 3}
    assert found.legacy.header.revision == {"document": 2, "global": 7, "local": 0}


async def test_the_protocol_2_undo_example_through_kafka(
    pipeline_settings: Settings, kafka_bootstrap: str, counter_executor: JobExecutor
) -> None:
    """§1.11 (Powerhouse's undo-redo-v2.test.ts): INCREMENT x3, UNDO x2, INCREMENT x2, UNDO ->
    operations 0..7 all kept (each UNDO a NOOP with skip 1 and an empty hash), count 2."""
    genesis = genesis_of("counter-v2", protocol=2)
    kinds = ["INCREMENT"] * 3 + ["UNDO"] * 2 + ["INCREMENT"] * 2 + ["UNDO"]
    steps = steps_of("counter-v2", [(kind, 0) for kind in kinds])

    found = await through_kafka(pipeline_settings, kafka_bootstrap, "counter-v2", genesis, steps)

    assert [info.status for info in found.infos] == [JobStatus.WRITE_READY] * 8
    expected = [
        (0, 0, counter_hash(1)),
        (1, 0, counter_hash(2)),
        (2, 0, counter_hash(3)),
        (3, 1, ""),  # undoes 2: count 2
        (4, 1, ""),  # undoes 1: count 1
        (5, 0, counter_hash(2)),
        (6, 0, counter_hash(3)),
        (7, 1, ""),  # undoes 6: count 2
    ]
    assert triples(found.logged) == expected
    assert [op.action.type for op in found.logged] == (
        ["INCREMENT"] * 3 + ["NOOP"] * 2 + ["INCREMENT"] * 2 + ["NOOP"]
    )
    reference = offline(genesis, steps)
    assert triples(reference.operations["global"]) == expected
    assert reference.state["global"] == {"count": 2}
    assert reference.header.revision == {"document": 2, "global": 8, "local": 0}
    assert json.loads(found.log[-1].resulting_state or "null") == {"count": 2}
    assert triples(found.legacy.operations["global"]) == expected
    assert found.legacy.state["global"] == {"count": 2}
    assert found.legacy.header.revision == {"document": 2, "global": 8, "local": 0}
    assert found.legacy.clipboard == []


async def test_a_protocol_1_undo_reusing_an_index_is_refused_and_writes_nothing(
    pipeline_settings: Settings, kafka_bootstrap: str, counter_executor: JobExecutor
) -> None:
    """Protocol 1: a second UNDO in a row reuses the first one's NOOP index (§1.11), which an
    append-only log cannot hold: the executor fails the job and writes nothing."""
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    topics = TopicNames.from_settings(settings)
    genesis = genesis_of("counter-v1", protocol=1)
    steps = steps_of("counter-v1", [("INCREMENT", 0), ("INCREMENT", 0), ("UNDO", 0)])
    second_undo = new_action(
        "UNDO", {"count": 1}, action_id="counter-v1-undo-2", timestamp=STAMPS[10]
    )
    # The pure reducer does reuse it: NOOP index 2 again, now with skip 2.
    reference = offline(genesis, steps)
    assert triples(reference.operations["global"]) == [
        (0, 0, counter_hash(1)),
        (2, 1, counter_hash(1)),
    ]
    reused = apply_action(reference, second_undo, COUNTER).operation
    assert (reused.action.type, reused.index, reused.skip) == ("NOOP", 2, 2)

    found = await through_kafka(settings, bootstrap, "counter-v1", genesis, steps)
    assert [info.status for info in found.infos] == [JobStatus.WRITE_READY] * 3
    before = triples(found.logged)
    assert before == [(0, 0, counter_hash(1)), (1, 0, counter_hash(2)), (2, 1, counter_hash(1))]
    offsets_before = await end_offsets(settings, bootstrap, topics.operations)

    async with Reactor(settings, bootstrap, registry=counter_registry()) as reactor:
        job = await reactor.mutate(
            "counter-v1",
            [{"type": "UNDO", "input": {"count": 1}, "id": second_undo.id}],
            document_type=COUNTER.document_type,
        )
        refused = await reactor.wait_for_job(job.id, 30)

    assert refused.status is JobStatus.FAILED
    assert refused.error == (
        "document counter-v1 scope global: UNDO would reuse index 2 (protocol 1 undo); "
        "an append-only log cannot store that: use protocol 2 documents"
    )
    assert refused.operations == ()
    assert await end_offsets(settings, bootstrap, topics.operations) == offsets_before
    log = (await read_operations(settings, bootstrap, ["counter-v1"]))["counter-v1"]
    assert triples([r.operation for r in log if r.scope == "global"]) == before
    legacy = await legacy_document(settings, bootstrap, "counter-v1")
    assert triples(legacy.operations["global"]) == before
    assert legacy.state["global"] == {"count": 1}
    assert legacy.header.revision == {"document": 2, "global": 3, "local": 0}
