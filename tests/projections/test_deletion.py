"""Deleting a document through the real pipeline: legacy storage deletes it as the legacy
server's `deleteDocument` did, the operation store keeps the DELETE_DOCUMENT (a tombstone),
the comparator finds them agreeing, a re-delivery or a crash brings nothing back, a deleted
id is not created again, and the CLI says when a document was deleted."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from projections.comparator import comparator_for
from projections.legacy_adapter import OperationStoreFile
from projections.legacy_projector import LegacyProjector
from projections.runner import ProjectorRunner
from projections.service import build_runners
from projections.stores.legacy import DocumentDeletion, DocumentNotFoundError, OperationKey
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from reactor_es.cli.main import main
from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.actions import create_document_actions, new_action
from reactor_es.kafka.operations_log import read_operations
from reactor_es.kafka.records import JobKind, JobStatus, OperationRecord
from reactor_es.models.document_drive import DocumentDriveModel
from reactor_es.registry import default_registry
from tests.pipeline.conftest import running_executor, use_settings
from tests.projections.pipeline import TODO, count_rows, legacy_runner

ITEMS = [
    {"type": "ADD_TODO", "input": {"id": "a", "text": "milk"}},
    {"type": "ADD_TODO", "input": {"id": "b", "text": "bread"}},
]


@contextlib.asynccontextmanager
async def projectors(
    settings: Settings, bootstrap: str, names: Sequence[str]
) -> AsyncIterator[dict[str, Any]]:
    runners = build_runners(settings, bootstrap, default_registry(), list(names))
    async with contextlib.AsyncExitStack() as stack:
        for runner in runners:
            await stack.enter_async_context(runner)
        yield {runner.name: runner for runner in runners}


async def run_cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


def expected_deletion(record: OperationRecord, revisions: dict[str, int]) -> DocumentDeletion:
    return DocumentDeletion(
        document_id=record.document_id,
        document_type=TODO,
        deleted_at=record.operation.timestamp_utc_ms,
        operation=OperationKey.of(record.operation),
        revisions=revisions,
    )


async def write(reactor: Reactor, until: JobStatus) -> None:
    """doc-d created and given two items; doc-k created."""
    created = [
        await reactor.create_document(TODO, "doc-d", name="Errands"),
        await reactor.create_document(TODO, "doc-k"),
    ]
    for info in created:
        assert (await reactor.wait_for_job(info.id, 30, until=until)).status is until
    mutated = await reactor.mutate("doc-d", ITEMS, document_type=TODO)
    assert (await reactor.wait_for_job(mutated.id, 30, until=until)).status is until


async def delete(reactor: Reactor, until: JobStatus) -> None:
    """doc-d deleted."""
    deleted = await reactor.delete_document("doc-d")
    done = await reactor.wait_for_job(deleted.id, 30, until=until)
    assert done.status is until
    assert [(ref.scope, ref.index) for ref in done.operations] == [("document", 2)]


async def test_a_deleted_document_leaves_legacy_storage_and_stays_a_tombstone_in_the_operation_store(  # noqa: E501
    settings: Settings,
    kafka_bootstrap: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = settings.with_(phase=5)
    async with (
        running_executor(settings, kafka_bootstrap),
        projectors(settings, kafka_bootstrap, ["legacy", "operations"]) as running,
        Reactor(settings, kafka_bootstrap) as reactor,
    ):
        await write(reactor, JobStatus.READ_READY)
        await delete(reactor, JobStatus.READ_READY)
        # The executor keeps the deleted document: its id is not created again, and it
        # takes no action. Nothing of these jobs reaches the stores.
        again = await reactor.create_document(TODO, "doc-d")
        recreated = await reactor.wait_for_job(again.id, 30)
        later = await reactor.mutate("doc-d", ITEMS[:1], document_type=TODO)
        refused = await reactor.wait_for_job(later.id, 30)
        for runner in running.values():
            await runner.wait_caught_up(timeout=30)
        legacy_projector = running["legacy"].projector

    assert (recreated.status, recreated.error) == (
        JobStatus.FAILED,
        "document doc-d is deleted: CREATE_DOCUMENT refused",
    )
    assert (refused.status, refused.error) == (
        JobStatus.FAILED,
        "document doc-d is deleted: ADD_TODO refused",
    )
    log = (await read_operations(settings, kafka_bootstrap, ["doc-d"]))["doc-d"]
    assert [(r.scope, r.operation.index, r.operation.action.type) for r in log] == [
        ("document", 0, "CREATE_DOCUMENT"),
        ("document", 1, "UPGRADE_DOCUMENT"),
        ("global", 0, "ADD_TODO"),
        ("global", 1, "ADD_TODO"),
        ("document", 2, "DELETE_DOCUMENT"),
    ]
    deletion = expected_deletion(log[-1], {"document": 3, "global": 2})
    assert legacy_projector.stats.documents_deleted == 1
    assert legacy_projector.stats.rejected == 0

    # Legacy storage: as after the legacy server's deleteDocument.
    legacy_path = settings.home / "legacy.db"
    async with await SqliteLegacyStorage.open(legacy_path) as legacy:
        with pytest.raises(DocumentNotFoundError) as raised:
            await legacy.get_document("doc-d")
        assert str(raised.value) == "Document with id doc-d not found"
        assert await legacy.exists("doc-d") is False
        assert (await legacy.find_by_type(TODO)).results == ["doc-k"]
        assert await legacy.get_deletion("doc-d") == deletion
        assert (await legacy.get_document("doc-k")).header.revision == {
            "document": 2,
            "global": 0,
            "local": 0,
        }
    assert await count_rows(legacy_path) == (2, 2)  # doc-k's CREATE and UPGRADE only

    # The operation store: the DELETE_DOCUMENT is its last document-scope operation.
    async with await OperationStoreFile.open(settings.home / "operations.db") as ours:
        page = await ours.operations.get_since("doc-d", "document", "main", -1)
        assert [row.operation.action.type for row in page.results] == [
            "CREATE_DOCUMENT",
            "UPGRADE_DOCUMENT",
            "DELETE_DOCUMENT",
        ]
        assert page.results[-1].job_id == log[-1].job_id
        reader = ours.legacy_reader()
        with pytest.raises(DocumentNotFoundError, match=r"^Document with id doc-d not found$"):
            await reader.get_document("doc-d")
        assert (await reader.find_by_type(TODO)).results == ["doc-k"]
        assert await reader.get_deletion("doc-d") == deletion
        held = await reader.get_held_document("doc-d")
        assert held.state["document"]["isDeleted"] is True
        assert held.state["global"]["items"] == [
            {"id": "a", "text": "milk", "done": False},
            {"id": "b", "text": "bread", "done": False},
        ]
        async with await SqliteLegacyStorage.open(legacy_path) as legacy:
            comparator = comparator_for(settings, legacy, ours, default_registry().document_types())
            comparison = await comparator.compare_level(10)
    assert comparison.summary() == "compared: 2 documents, 0 divergences"

    # The CLI: compare agrees; doc and export say when the document was deleted (exit 2).
    use_settings(monkeypatch, settings, kafka_bootstrap)
    capsys.readouterr()
    assert await run_cli("compare", "--wait", "5") == 0
    assert capsys.readouterr().out == "compared: 2 documents, 0 divergences\n"
    gone = (
        f"reactor-es: error: document doc-d was deleted at {deletion.deleted_at} "
        "(Document with id doc-d not found)\n"
    )
    for phase in ("5", "6"):  # legacy storage, then the phase-6 adapter over the operation store
        monkeypatch.setenv("REACTOR_ES_PHASE", phase)
        assert await run_cli("doc", "doc-d") == 2
        assert capsys.readouterr() == ("", gone)
        assert await run_cli("export", "doc-d", str(tmp_path / "doc-d.phd")) == 2
        assert capsys.readouterr() == ("", gone)
        assert not (tmp_path / "doc-d.phd").exists()
    monkeypatch.setenv("REACTOR_ES_PHASE", "5")

    # `replay --store legacy` (and the operation store's) rebuilds an equal store.
    for store in ("legacy", "operations"):
        into = tmp_path / f"rebuilt-{store}.db"
        assert await run_cli("replay", "--store", store, "--into", str(into)) == 0
        live = settings.home / f"{store if store == 'legacy' else 'operations'}.db"
        assert capsys.readouterr().out.splitlines()[-1] == (
            f"verified: 2 documents compared, 0 differences against the live store {live}"
        )
    async with await SqliteLegacyStorage.open(tmp_path / "rebuilt-legacy.db") as rebuilt:
        assert await rebuilt.get_deletion("doc-d") == deletion
        assert await rebuilt.exists("doc-d") is False


class StallingOnDeletion(LegacyProjector):
    """Stops inside the transaction that would store a deletion (a crash before its commit)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stalled = asyncio.Event()

    async def _write(self, writer, pending, rejected_jobs, deletions):  # type: ignore[no-untyped-def]
        stored = await super()._write(writer, pending, rejected_jobs, deletions)
        if deletions:
            self.stalled.set()
            await asyncio.Event().wait()
        return stored


class ReplayingProjector(LegacyProjector):
    """A second consumer (own group, own positions) on the same store: re-delivers it all."""

    name = "legacy-replay"


async def test_a_crash_or_a_redelivery_never_brings_a_deleted_document_back(
    settings: Settings, kafka_bootstrap: str
) -> None:
    path = settings.home / "legacy.db"
    registry = default_registry()
    async with (
        running_executor(settings, kafka_bootstrap),
        Reactor(settings, kafka_bootstrap) as reactor,
    ):
        await write(reactor, JobStatus.WRITE_READY)
        async with legacy_runner(settings, kafka_bootstrap) as before:
            await before.wait_caught_up(timeout=30)
        await delete(reactor, JobStatus.WRITE_READY)
    log = await read_operations(settings, kafka_bootstrap, ["doc-d", "doc-k"])
    deletion = expected_deletion(log["doc-d"][-1], {"document": 3, "global": 2})
    async with await SqliteLegacyStorage.open(path) as store:
        positions = await store.get_positions(settings.projector_group("legacy"))

    # Crash inside the batch that deletes: nothing of it is committed, positions included.
    stalling = StallingOnDeletion(settings, kafka_bootstrap, registry)
    first = ProjectorRunner(settings, kafka_bootstrap, stalling)
    await first.start()
    task = asyncio.create_task(first.run())
    await asyncio.wait_for(stalling.stalled.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with await SqliteLegacyStorage.open(path) as store:
        items = (await store.get_document("doc-d")).state["global"]["items"]
        assert [item["id"] for item in items] == ["a", "b"]
        assert await store.get_deletion("doc-d") is None
        assert await store.get_positions(settings.projector_group("legacy")) == positions
    assert stalling.stats.documents_deleted == 0

    # The restart reads the deletion again and stores it once.
    async with legacy_runner(settings, kafka_bootstrap) as second:
        await second.wait_caught_up(timeout=30)
    resumed = second.projector
    assert isinstance(resumed, LegacyProjector)
    assert (resumed.stats.documents_deleted, resumed.stats.rejected) == (1, 0)

    # Every record delivered again to the same store: all skipped as stored, none refused.
    replay = ReplayingProjector(settings, kafka_bootstrap, registry)
    async with ProjectorRunner(settings, kafka_bootstrap, replay) as replayer:
        await replayer.wait_caught_up(timeout=30)
    total = len(log["doc-d"]) + len(log["doc-k"])
    assert (replayer.stats.records, replay.stats.duplicates) == (total, total)
    assert (replay.stats.operations, replay.stats.rejected) == (0, 0)
    assert (replay.stats.documents_created, replay.stats.documents_deleted) == (0, 0)
    async with await SqliteLegacyStorage.open(path) as store:
        assert await store.exists("doc-d") is False
        assert await store.get_deletion("doc-d") == deletion
        assert (await store.find_by_type(TODO)).results == ["doc-k"]
    assert await count_rows(path) == (2, 2)


DRIVE = DocumentDriveModel()


def drive_action(kind: str, payload: dict[str, object], n: int) -> Any:
    return new_action(
        kind, payload, "global", action_id=f"d{n}", timestamp=f"2026-03-01T08:00:{n:02d}.000Z"
    )


async def test_a_drive_deleting_a_file_node_deletes_the_file_document_from_legacy_storage(
    settings: Settings, kafka_bootstrap: str
) -> None:
    genesis = create_document_actions(
        DRIVE, "drive-1", name="Team drive", timestamp="2026-03-01T08:00:00.000Z"
    )
    file_node = {"id": "file-1", "name": "Shopping", "documentType": TODO}
    async with (
        running_executor(settings, kafka_bootstrap),
        legacy_runner(settings, kafka_bootstrap) as runner,
        Reactor(settings, kafka_bootstrap) as reactor,
    ):
        created = await reactor.submit_job(
            "drive-1", genesis, JobKind.CREATE, document_type=DRIVE.document_type
        )
        done = await reactor.wait_for_job(created.id, 30, until=JobStatus.READ_READY)
        assert done.status is JobStatus.READ_READY
        added = await reactor.submit_job(
            "drive-1", [drive_action("ADD_FILE", file_node, 1)], JobKind.MUTATE
        )
        await reactor.wait_for_jobs_tree(added.id, 30, until=JobStatus.READ_READY)
        todo = await reactor.mutate("file-1", ITEMS[:1], document_type=TODO)
        await reactor.wait_for_job(todo.id, 30, until=JobStatus.READ_READY)
        async with await SqliteLegacyStorage.open(settings.home / "legacy.db") as store:
            before = await store.get_document("file-1")
        removed = await reactor.submit_job(
            "drive-1", [drive_action("DELETE_NODE", {"id": "file-1"}, 2)], JobKind.MUTATE
        )
        tree = await reactor.wait_for_jobs_tree(removed.id, 30, until=JobStatus.READ_READY)
        await runner.wait_caught_up(timeout=30)

    assert before.state["global"]["items"] == [{"id": "a", "text": "milk", "done": False}]
    assert [(info.document_id, info.status) for info in tree] == [
        ("drive-1", JobStatus.READ_READY),
        ("file-1", JobStatus.READ_READY),
    ]
    assert [(ref.scope, ref.index) for ref in tree[1].operations] == [("document", 2)]
    log = (await read_operations(settings, kafka_bootstrap, ["file-1"]))["file-1"]
    assert log[-1].operation.action.type == "DELETE_DOCUMENT"
    async with await SqliteLegacyStorage.open(settings.home / "legacy.db") as store:
        with pytest.raises(DocumentNotFoundError, match=r"^Document with id file-1 not found$"):
            await store.get_document("file-1")
        assert await store.exists("file-1") is False
        assert await store.get_deletion("file-1") == expected_deletion(
            log[-1], {"document": 3, "global": 1}
        )
        drive = await store.get_document("drive-1")
        assert drive.state["global"]["nodes"] == []
        assert (await store.find_by_type(TODO)).results == []
        assert (await store.find_by_type(DRIVE.document_type)).results == ["drive-1"]
