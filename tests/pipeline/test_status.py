"""`reactor-es status`: exact lags per partition, parked documents, jobs, phase, comparator.

- 30 actions published while the executor is stopped: the executor's lag is exactly what was
  produced to each partition (30 in all), the projectors' 0; once the executor runs, 0;
- parked documents and the comparator's divergence count, as text and JSON;
- without Kafka the stores' side is still reported, and the command does not fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from projections.comparator import COMPARATOR_FILE, Comparison, ComparisonLog, Divergence
from projections.runner import ProjectorRunner
from projections.service import build_runners
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from reactor_es.cli.main import main
from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.kafka.broker import free_port
from reactor_es.kafka.clients import make_producer
from reactor_es.kafka.records import JobStatus
from reactor_es.kafka.topics import TopicNames, document_key, partition_for
from reactor_es.registry import default_registry
from tests.pipeline.conftest import end_offsets, running_executor, use_settings

TODO = "reactor-es/todo-list"
DOCUMENTS = [f"doc-{n}" for n in range(6)]


@contextlib.asynccontextmanager
async def projectors(
    settings: Settings, bootstrap: str, names: Sequence[str]
) -> AsyncIterator[list[ProjectorRunner[Any]]]:
    runners = build_runners(settings, bootstrap, default_registry(), list(names))
    async with contextlib.AsyncExitStack() as stack:
        for runner in runners:
            await stack.enter_async_context(runner)
        yield [r for r in runners if isinstance(r, ProjectorRunner)]


async def caught_up(runners: Sequence[ProjectorRunner[Any]]) -> None:
    for runner in runners:
        await runner.wait_caught_up(timeout=60)


async def status_json(capsys: pytest.CaptureFixture[str], exit_status: int = 0) -> dict[str, Any]:
    assert await asyncio.to_thread(main, ["status", "--json"]) == exit_status
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


async def status_lines(capsys: pytest.CaptureFixture[str], exit_status: int = 0) -> list[str]:
    assert await asyncio.to_thread(main, ["status"]) == exit_status
    return capsys.readouterr().out.splitlines()


async def test_status_json_reports_the_lag_of_a_burst_with_the_executor_stopped(
    pipeline_settings: Settings,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    topics = TopicNames.from_settings(settings)
    use_settings(monkeypatch, settings, bootstrap)
    async with (
        projectors(settings, bootstrap, ["legacy", "jobs"]) as running,
        Reactor(settings, bootstrap) as reactor,
    ):
        async with running_executor(settings, bootstrap):
            created = [await reactor.create_document(TODO, name) for name in DOCUMENTS]
            for job in created:
                await reactor.wait_for_job(job.id, 30, until=JobStatus.READ_READY)
        before = await end_offsets(settings, bootstrap, topics.actions)

        # The executor is stopped: a burst of 30 jobs, unevenly spread over the documents.
        burst = [DOCUMENTS[n % 4] if n % 3 else DOCUMENTS[5] for n in range(30)]
        jobs = [
            await reactor.mutate(
                name, [{"type": "ADD_TODO", "input": {"id": f"i{n}", "text": "x"}}]
            )
            for n, name in enumerate(burst)
        ]
        await caught_up(running)
        produced = Counter(partition_for(name, settings.partitions) for name in burst)
        stopped = await status_json(capsys)

        async with running_executor(settings, bootstrap):
            for job in jobs:
                await reactor.wait_for_job(job.id, 30, until=JobStatus.READ_READY)
            await caught_up(running)
            # The executor's offsets commit with its transactions' markers: a moment later.
            for _ in range(50):
                drained = await status_json(capsys)
                if drained["executor"]["lag"] == 0:
                    break
                await asyncio.sleep(0.2)

    assert sum(produced.values()) == 30
    assert stopped["executor"] == {
        "group": settings.executor_group,
        "topic": topics.actions,
        "positionsFrom": "kafka",
        "members": 0,
        "lag": 30,
        "partitions": [
            {
                "partition": p,
                "end": before[p] + produced[p],
                "position": before[p],
                "lag": produced[p],
            }
            for p in range(settings.partitions)
        ],
    }
    assert sorted(stopped) == [
        "comparator",
        "executor",
        "jobs",
        "kafka",
        "parked",
        "phase",
        "phaseProjectors",
        "projectors",
        "runningPhase",
        "runningProjectors",
    ]
    assert stopped["phase"] == 4
    assert stopped["phaseProjectors"] == ["legacy", "jobs"]
    assert (stopped["runningPhase"], stopped["runningProjectors"]) == (4, ["legacy", "jobs"])
    assert stopped["kafka"] == {"bootstrapServers": bootstrap, "error": None}
    assert list(stopped["projectors"]) == ["legacy", "jobs"]
    for name, topic in (("legacy", topics.operations), ("jobs", topics.job_events)):
        held = stopped["projectors"][name]
        assert held["topic"] == topic
        assert held["positionsFrom"] == "store"
        assert held["store"] == str(settings.home / f"{name}.db")
        assert held["storeExists"] is True
        assert held["inPhase"] is True
        assert held["members"] == 1
        assert held["lag"] == 0
        assert [p["lag"] for p in held["partitions"]] == [0, 0, 0]
        assert all(p["position"] == p["end"] for p in held["partitions"])
    assert stopped["jobs"] == {
        "PENDING": 30,
        "RUNNING": 0,
        "WRITE_READY": 0,
        "READ_READY": 6,
        "FAILED": 0,
    }
    assert stopped["parked"] == {"documents": 0, "records": 0, "unattributed": 0, "byDocument": []}
    assert stopped["comparator"] is None

    assert drained["executor"]["lag"] == 0
    assert drained["executor"]["partitions"] == [
        {
            "partition": p,
            "end": before[p] + produced[p],
            "position": before[p] + produced[p],
            "lag": 0,
        }
        for p in range(settings.partitions)
    ]
    assert drained["projectors"]["legacy"]["lag"] == 0
    assert drained["jobs"]["READ_READY"] == 36
    assert drained["jobs"]["PENDING"] == 0


async def test_status_names_the_phase_the_running_projectors_imply(
    pipeline_settings: Settings,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A shell left at phase 4 while the system runs phase 5 is told so, not misled."""
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    use_settings(monkeypatch, settings, bootstrap)
    async with projectors(settings, bootstrap, ["legacy", "operations", "jobs"]) as running:
        await caught_up(running)
        data = await status_json(capsys)
        lines = await status_lines(capsys)
    assert (data["phase"], data["runningPhase"]) == (4, 5)
    assert data["runningProjectors"] == ["legacy", "operations", "jobs"]
    assert data["projectors"]["operations"]["inPhase"] is False
    assert data["projectors"]["operations"]["members"] == 1
    assert lines[:2] == [
        "phase 4: runs legacy, jobs; READ_READY from legacy; documents from legacy storage",
        "running: phase 5 (projectors with live members: legacy, operations, jobs); "
        "set REACTOR_ES_PHASE=5 to see its stores",
    ]
    operations = next(line for line in lines if line.startswith("  operations "))
    assert operations.endswith(
        f"(1 member; {settings.home / 'operations.db'}; running, but not in this shell's phase)"
    )


async def test_the_executors_own_commit_markers_are_not_lag(
    pipeline_settings: Settings,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A drive's file is a child job the executor writes to `actions` in its transaction:
    the commit marker after it takes an offset that no record fills."""
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    topics = TopicNames.from_settings(settings)
    use_settings(monkeypatch, settings, bootstrap)
    async with (
        projectors(settings, bootstrap, ["legacy", "jobs"]) as running,
        Reactor(settings, bootstrap) as reactor,
        running_executor(settings, bootstrap),
    ):
        created = await reactor.create_document("powerhouse/document-drive", "drive-m")
        await reactor.wait_for_job(created.id, 30, until=JobStatus.READ_READY)
        job = await reactor.mutate(
            "drive-m",
            [
                {
                    "type": "ADD_FILE",
                    "input": {"id": "f1", "name": "F", "documentType": TODO},
                }
            ],
        )
        await reactor.wait_for_jobs_tree(job.id, 30)
        await caught_up(running)
        for _ in range(50):
            data = await status_json(capsys)
            if data["executor"]["lag"] == 0:
                break
            await asyncio.sleep(0.2)
    child = partition_for("f1", settings.partitions)
    at = {p["partition"]: p for p in data["executor"]["partitions"]}
    assert at[child]["end"] - at[child]["position"] == 1  # the marker behind the child job...
    assert data["executor"]["lag"] == 0  # ...which is not counted
    assert [p["lag"] for p in data["executor"]["partitions"]] == [0, 0, 0]
    assert topics.actions == data["executor"]["topic"]


async def produce_poison(settings: Settings, bootstrap: str, document_id: str) -> int:
    producer = make_producer(settings, bootstrap)
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            TopicNames.from_settings(settings).actions,
            value=b"\x00garbage",
            key=document_key(document_id),
        )
        return int(sent.offset)
    finally:
        await producer.stop()


async def test_status_shows_parked_documents_phase_and_comparator_divergences(
    pipeline_settings: Settings,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings, bootstrap = pipeline_settings.with_(phase=5), kafka_bootstrap
    topics = TopicNames.from_settings(settings)
    async with (
        running_executor(settings, bootstrap),
        Reactor(settings, bootstrap) as reactor,
    ):
        for name in ("doc-a", "doc-b"):
            await reactor.wait_for_job((await reactor.create_document(TODO, name)).id, 30)
        poison = await produce_poison(settings, bootstrap, "doc-a")
        held = await reactor.mutate(
            "doc-a", [{"type": "ADD_TODO", "input": {"id": "a", "text": "a"}}]
        )
        passed = await reactor.mutate(
            "doc-b", [{"type": "ADD_TODO", "input": {"id": "b", "text": "b"}}]
        )
        await reactor.wait_for_job(passed.id, 30)
        await asyncio.sleep(0.5)
        assert (await reactor.get_job_status(held.id)).status is JobStatus.PENDING
    comparison = Comparison(
        documents=2,
        divergences=[Divergence("doc-a", "header name: legacy storage 'a', operation store 'b'")],
        finished_at="2026-12-03T12:00:00.000Z",
        seconds=0.25,
    )
    async with await ComparisonLog.open(settings.home / COMPARATOR_FILE) as record:
        await record.record(comparison)
    use_settings(monkeypatch, settings, bootstrap)

    data = await status_json(capsys)
    lines = await status_lines(capsys)

    partition = partition_for("doc-a", settings.partitions)
    reason = (
        "unknown schema id 1734439522 (not in the schema catalogue; written by a newer or "
        "foreign producer?)"
    )
    assert data["parked"] == {
        "documents": 1,
        "records": 2,
        "unattributed": 0,
        "byDocument": [
            {
                "documentId": "doc-a",
                "records": 2,
                "since": f"{topics.actions}[{partition}]@{poison}",
                "reason": reason,
            }
        ],
    }
    assert data["comparator"] == {
        "divergences": 1,
        "documents": 2,
        "deferredPartitions": 0,
        "finishedAt": "2026-12-03T12:00:00.000Z",
        "seconds": 0.25,
        "firstDivergences": [
            "document doc-a: header name: legacy storage 'a', operation store 'b'"
        ],
    }
    assert data["jobs"] is None  # no job-status projector has run: no store yet
    # Phase 5 lists its projectors even before they have written their stores.
    assert list(data["projectors"]) == ["legacy", "operations", "jobs"]
    assert data["projectors"]["operations"]["storeExists"] is False
    assert data["projectors"]["operations"]["members"] == 0
    assert data["executor"]["lag"] == 0
    assert lines[0] == (
        "phase 5: runs legacy, operations, jobs, comparator; READ_READY from legacy; "
        "documents from legacy storage"
    )
    assert lines[1] == f"kafka: {bootstrap}"
    assert lines[2] == "lag per partition, in offsets behind the last stable offset:"
    assert lines[3] == (
        f"  executor    {topics.actions:<24} [0] 0  [1] 0  [2] 0  total 0  (0 members)"
    )
    assert lines[-3:] == [
        f"parked: 1 document: doc-a (2 waiting since {topics.actions}[{partition}]@{poison}: "
        f"{reason})",
        "jobs: no job store yet",
        "comparator: compared: 2 documents, 1 divergences (at 2026-12-03T12:00:00.000Z, "
        "0.25 s, 0 partitions deferred)",
    ]


async def test_status_without_kafka_still_reports_the_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(home=tmp_path / "home", topic_prefix="nokafka.", partitions=2)
    store = await SqliteLegacyStorage.open(settings.home / "legacy.db")
    async with store, store.batch() as batch:
        batch.record_position(settings.projector_group("legacy"), "nokafka.operations", 0, 7)
    port = free_port()
    use_settings(monkeypatch, settings, f"127.0.0.1:{port}")

    data = await status_json(capsys, exit_status=1)  # unreachable Kafka is not healthy
    lines = await status_lines(capsys, exit_status=1)

    assert data["kafka"]["bootstrapServers"] == f"127.0.0.1:{port}"
    assert data["kafka"]["error"].startswith(f"cannot reach Kafka at 127.0.0.1:{port}: ")
    assert data["executor"]["lag"] is None
    assert data["projectors"]["legacy"]["partitions"] == [
        {"partition": 0, "end": None, "position": 7, "lag": None},
        {"partition": 1, "end": None, "position": None, "lag": None},
    ]
    assert data["projectors"]["legacy"]["members"] is None
    assert data["parked"] is None
    assert lines[1].startswith(f"kafka: unreachable: cannot reach Kafka at 127.0.0.1:{port}: ")
    assert lines[4] == (
        "  legacy      nokafka.operations       [0] at 7  [1] ?  total ?  "
        f"(members unknown; {settings.home / 'legacy.db'})"
    )
    assert lines[-3] == "parked: unknown (Kafka unreachable)"


async def test_a_shell_in_another_phase_is_told_why_the_document_is_missing(
    pipeline_settings: Settings,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Services in phase 6 write only the operation store: a shell left at phase 4 reads
    the legacy one, and is told so instead of only "not found"."""
    shell, bootstrap = pipeline_settings, kafka_bootstrap
    services = shell.with_(phase=6)
    use_settings(monkeypatch, shell, bootstrap)
    hint = (
        "the running services are in phase 6 and this shell in phase 4: "
        "set REACTOR_ES_PHASE=6 to use their stores"
    )

    async def cli(args: list[str]) -> int:
        return int(await asyncio.to_thread(main, args))

    async with (
        projectors(services, bootstrap, ["operations", "jobs"]),
        Reactor(services, bootstrap) as reactor,
        running_executor(services, bootstrap),
    ):
        created = await reactor.create_document(TODO, "p6doc")
        await reactor.wait_for_job(created.id, 30, until=JobStatus.READ_READY)
        capsys.readouterr()
        assert await cli(["doc", "p6doc"]) == 2
        assert capsys.readouterr().err == (
            "reactor-es: error: no such document p6doc: the store "
            f"{shell.home / 'legacy.db'} does not exist yet ({hint})\n"
        )
        args = ["publish", "--document", "p6doc", "--type", "ADD_TODO"]
        assert await cli([*args, "--input", '{"id": "a", "text": "b"}']) == 2
        assert capsys.readouterr().err == (
            f"reactor-es: error: Document with id p6doc not found ({hint})\n"
        )
        assert await cli(["create", "--type", TODO, "--id", "p6doc", "--wait"]) == 1
        captured = capsys.readouterr()
        assert captured.out.endswith("FAILED: document p6doc already exists\n")
        assert captured.err == f"reactor-es: note: {hint}\n"
        # Set to the services' phase, the shell reads their store.
        monkeypatch.setenv("REACTOR_ES_PHASE", "6")
        assert await cli(["doc", "p6doc"]) == 0
        assert '"id": "p6doc"' in capsys.readouterr().out


async def test_a_wait_that_times_out_names_the_service_that_is_not_running(
    pipeline_settings: Settings,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    use_settings(monkeypatch, settings, bootstrap)
    create = ["create", "--type", TODO, "--wait", "--timeout", "2"]

    async def cli(args: list[str]) -> tuple[int, str]:
        code = int(await asyncio.to_thread(main, args))
        return code, capsys.readouterr().err

    code, err = await cli([*create, "--id", "idle-1"])
    assert code == 2
    assert err.startswith("reactor-es: error: job ")
    assert err.endswith(
        " is still PENDING after 2s (waiting for READ_READY): no executor is running "
        f"(consumer group '{settings.executor_group}' has no members); the job waits on the "
        "actions topic and runs when one starts (`reactor-es run` or `reactor-es executor`): "
        "do not publish it again\n"
    )
    async with running_executor(settings, bootstrap):
        code, err = await cli([*create, "--id", "idle-2"])
    assert code == 2
    assert err.endswith(
        " is still WRITE_READY after 2s (waiting for READ_READY): no legacy projector is "
        f"running (consumer group '{settings.projector_group('legacy')}' has no members); "
        "its operations are written and become readable when one starts "
        "(`reactor-es run` or `reactor-es project`)\n"
    )
