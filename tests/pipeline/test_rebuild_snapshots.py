"""`reactor-es rebuild-snapshots`: the executor's checkpoints recomputed from `operations`.

A damaged checkpoint (a snapshot with a wrong state, as a faulty version could write) makes
a restore differ from the fold of `operations` from offset 0; the rebuild writes a full
checkpoint per partition, a restore from it equals the fold again, and a restarted executor
goes on from the true state. It refuses while an executor runs, writing nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from reactor_es.cli.main import main
from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.ids import utc_now_iso
from reactor_es.executor.book import DocumentBook
from reactor_es.executor.partition import PartitionWorker, partition_transactional_id
from reactor_es.executor.rebuild import compare_books, rebuild_snapshots
from reactor_es.executor.restore import read_checkpoint, restore_partition
from reactor_es.kafka.clients import make_producer
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.exceptions import ActiveGroupError
from reactor_es.kafka.operations_log import read_operations
from reactor_es.kafka.records import JobStatus, SnapshotCheckpoint
from reactor_es.kafka.topics import TopicNames, document_key, partition_for
from reactor_es.registry import default_registry
from tests.pipeline.conftest import end_offsets, running_executor, settle, use_settings

TODO = "reactor-es/todo-list"
DOCUMENTS = [f"doc-{n}" for n in range(6)]


def add(n: int) -> dict[str, object]:
    return {"type": "ADD_TODO", "input": {"id": f"t{n}", "text": f"item {n}"}, "id": f"act-{n}"}


async def restored_from_snapshots(
    settings: Settings, bootstrap: str, partition: int
) -> DocumentBook:
    topics = TopicNames.from_settings(settings)
    book = DocumentBook(default_registry())
    await restore_partition(
        book,
        settings=settings,
        bootstrap_servers=bootstrap,
        operations_topic=topics.operations,
        partition=partition,
        codec=RecordCodec(),
        snapshots_topic=topics.snapshots,
    )
    return book


async def folded_from_zero(settings: Settings, bootstrap: str, partition: int) -> DocumentBook:
    book = DocumentBook(default_registry())
    await restore_partition(
        book,
        settings=settings,
        bootstrap_servers=bootstrap,
        operations_topic=TopicNames.from_settings(settings).operations,
        partition=partition,
        codec=RecordCodec(),
    )
    return book


async def damage_checkpoint(settings: Settings, bootstrap: str, document_id: str) -> None:
    """A snapshot of `document_id` with an empty list, covered by a new marker."""
    topics = TopicNames.from_settings(settings)
    codec = RecordCodec()
    partition = partition_for(document_id, settings.partitions)
    checkpoint, snapshots = await read_checkpoint(
        settings, bootstrap, topics.snapshots, partition, codec
    )
    assert checkpoint is not None
    wrong = dataclasses.replace(
        snapshots[document_id], state={**snapshots[document_id].state, "global": {"items": []}}
    )
    producer = make_producer(settings, bootstrap)
    await producer.start()
    try:
        for key, record in (
            (document_key(document_id), wrong),
            (
                SnapshotCheckpoint.KEY,
                SnapshotCheckpoint(partition, checkpoint.operations_offset, 1, utc_now_iso()),
            ),
        ):
            await producer.send_and_wait(
                topics.snapshots, value=codec.encode_record(record), key=key, partition=partition
            )
    finally:
        await producer.stop()


async def test_rebuilt_checkpoints_restore_what_operations_say(
    pipeline_settings: Settings,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    topics = TopicNames.from_settings(settings)
    async with Reactor(settings, bootstrap) as reactor:
        async with running_executor(settings, bootstrap):
            for name in DOCUMENTS:
                await reactor.wait_for_job((await reactor.create_document(TODO, name)).id, 30)
            for n in range(18):
                job = await reactor.mutate(DOCUMENTS[n % 6], [add(n)])
                assert (await reactor.wait_for_job(job.id, 30)).status is JobStatus.WRITE_READY
        # Stopped: the executor handed its partitions over with a checkpoint each.
        damaged = "doc-2"
        partition = partition_for(damaged, settings.partitions)
        await damage_checkpoint(settings, bootstrap, damaged)
        restored = await restored_from_snapshots(settings, bootstrap, partition)
        folded = await folded_from_zero(settings, bootstrap, partition)
        assert compare_books(partition, folded, restored) == [
            f"document {damaged}: state differs after a restore of partition {partition} from "
            "the checkpoint"
        ]

        # Refused while an executor runs; nothing is written.
        snapshots_before = await end_offsets(settings, bootstrap, topics.snapshots)
        async with running_executor(settings, bootstrap):
            with pytest.raises(ActiveGroupError) as refused:
                await rebuild_snapshots(settings, bootstrap, default_registry())
        message = str(refused.value)
        assert message.startswith(
            f"rebuild-snapshots refused: consumer group '{settings.executor_group}' has 1 "
            "active member ("
        )
        assert message.endswith("); stop every executor (`reactor-es executor` or `run`) first")
        # (stopping that executor wrote a checkpoint of its own: count from here)
        snapshots_before = await end_offsets(settings, bootstrap, topics.snapshots)
        await damage_checkpoint(settings, bootstrap, damaged)

        use_settings(monkeypatch, settings, bootstrap)
        assert await asyncio.to_thread(main, ["rebuild-snapshots", "--partition", "7"]) == 2
        # (the last line: logging set up by an earlier command may have written warnings)
        assert capsys.readouterr().err.splitlines()[-1] == (
            f"reactor-es: error: topic '{topics.operations}' has no partition 7 (partitions 0-2)"
        )
        assert await asyncio.to_thread(main, ["rebuild-snapshots"]) == 0
        out = capsys.readouterr().out.splitlines()

        ends = await end_offsets(settings, bootstrap, topics.operations)
        log = await read_operations(settings, bootstrap, DOCUMENTS)
        expected = []
        for p in range(settings.partitions):
            names = [d for d in DOCUMENTS if partition_for(d, settings.partitions) == p]
            records = sum(len(log[d]) for d in names)
            expected.append(
                f"partition {p}: {len(names)} documents from {records} operations, checkpoint "
                f"at offset {ends[p]}; verified: a restore from it equals a restore from offset 0"
            )
        assert sum(len(ops) for ops in log.values()) == 6 * 2 + 18
        assert out[-4:-1] == expected
        assert re.fullmatch(
            r"rebuilt the snapshot checkpoints of 3 partitions: 6 documents from 30 operations "
            r"in \d+\.\d\d s \([\d,]+ operations/s\)",
            out[-1],
        )
        await settle(settings, bootstrap, topics.snapshots)  # the CLI's last markers
        for p in range(settings.partitions):
            checkpoint, covered = await read_checkpoint(
                settings, bootstrap, topics.snapshots, p, RecordCodec()
            )
            names = sorted(d for d in DOCUMENTS if partition_for(d, settings.partitions) == p)
            assert checkpoint is not None
            assert (checkpoint.operations_offset, checkpoint.documents) == (ends[p], len(names))
            assert sorted(covered) == names
            assert all(covered[d].source_offset == ends[p] - 1 for d in names)
            fresh = await restored_from_snapshots(settings, bootstrap, p)
            assert compare_books(p, await folded_from_zero(settings, bootstrap, p), fresh) == []
        # One transaction per partition: the snapshots topic grew by documents + marker each.
        snapshots_after = await end_offsets(settings, bootstrap, topics.snapshots)
        grown = {p: snapshots_after[p] - snapshots_before[p] for p in snapshots_after}
        for p in range(settings.partitions):
            names = [d for d in DOCUMENTS if partition_for(d, settings.partitions) == p]
            # the damage wrote 2 plain records on one partition; the rebuild n + 1 + a commit marker
            assert grown[p] == len(names) + 2 + (2 if p == partition else 0)

        # A restarted executor restores from the rebuilt checkpoint and goes on from the truth.
        async with running_executor(settings, bootstrap) as executor:
            worker = executor.workers[TopicPartition(topics.actions, partition)]
            assert worker.transactional_id == partition_transactional_id(
                settings.executor_group, topics.actions, partition
            )
            assert isinstance(worker, PartitionWorker)
            report = worker.last_restore
            assert report is not None
            assert (report.start_offset, report.operations) == (ends[partition], 0)
            job = await reactor.mutate(damaged, [add(100)])
            done = await reactor.wait_for_job(job.id, 30)
    assert done.status is JobStatus.WRITE_READY
    assert [(r.scope, r.index) for r in done.operations] == [("global", 3)]
    state = (await read_operations(settings, bootstrap, [damaged]))[damaged][-1].resulting_state
    assert state is not None
    assert '"id":"t100"' in state.replace(" ", "")
    assert state.replace(" ", "").count('"id":"t') == 4  # t2, t8, t14 and t100
