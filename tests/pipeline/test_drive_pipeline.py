"""A drive through Kafka: its files are real documents, created, copied and deleted by the
drive's operations exactly as the legacy server did, and its state equals the pure reducer's."""

from __future__ import annotations

import json

from projections.legacy_projector import LEGACY_STORE_FILE
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.actions import create_document_actions, new_action
from reactor_es.document.reducer import apply_action
from reactor_es.document.types import Action, Document
from reactor_es.executor.service import JobExecutor
from reactor_es.kafka.operations_log import read_operations
from reactor_es.kafka.records import JobKind, JobStatus
from reactor_es.models.document_drive import DocumentDriveModel
from reactor_es.models.todo import TodoListModel
from tests.projections.pipeline import legacy_runner

DRIVE = DocumentDriveModel()
T0 = "2026-03-01T08:00:00.000Z"


def drive_action(kind: str, payload: dict[str, object], n: int, scope: str = "global") -> Action:
    return new_action(
        kind, payload, scope, action_id=f"d{n}", timestamp=f"2026-03-01T08:00:{n:02d}.000Z"
    )


STEPS = [
    drive_action("ADD_FOLDER", {"id": "f-docs", "name": "Docs"}, 1),
    drive_action(
        "ADD_FILE",
        {
            "id": "file-1",
            "name": "Shopping",
            "documentType": "reactor-es/todo-list",
            "parentFolder": "f-docs",
        },
        2,
    ),
    drive_action(
        "COPY_NODE",
        {
            "srcId": "file-1",
            "targetId": "file-2",
            "targetName": "Shopping",
            "targetParentFolder": None,
        },
        4,
    ),
    drive_action("DELETE_NODE", {"id": "f-docs"}, 5),
    drive_action("UNDO", {"count": 1}, 6),
]


async def test_drive_files_are_real_documents(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor
) -> None:
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    genesis = create_document_actions(DRIVE, "drive-1", name="Team drive", timestamp=T0)
    offline: Document | None = None
    for action in [*genesis, *STEPS]:
        offline = apply_action(offline, action, DRIVE).document
    assert offline is not None

    async with Reactor(settings, bootstrap) as reactor:
        created = await reactor.submit_job(
            "drive-1", genesis, JobKind.CREATE, document_type=DRIVE.document_type
        )
        assert (await reactor.wait_for_job(created.id, 30)).status is JobStatus.WRITE_READY
        children: dict[str, list[str]] = {}
        for step in STEPS[:2]:
            job = await reactor.submit_job("drive-1", [step], JobKind.MUTATE)
            infos = await reactor.wait_for_jobs_tree(job.id, 30)
            assert all(i.status is not JobStatus.FAILED for i in infos), infos
            children[step.type] = [i.document_id for i in infos[1:]]
        # The file's document exists: give it some content before it is copied.
        todo = await reactor.mutate(
            "file-1", [{"type": "ADD_TODO", "input": {"id": "t1", "text": "milk"}}]
        )
        assert (await reactor.wait_for_job(todo.id, 30)).status is JobStatus.WRITE_READY
        for step in STEPS[2:]:
            job = await reactor.submit_job("drive-1", [step], JobKind.MUTATE)
            infos = await reactor.wait_for_jobs_tree(job.id, 30)
            # Jobs that write nothing (the copy request to the source) are READ_READY at once.
            assert all(i.status is not JobStatus.FAILED for i in infos), infos
            children[step.type] = [i.document_id for i in infos[1:]]

    assert children == {
        "ADD_FOLDER": [],
        "ADD_FILE": ["file-1"],
        "COPY_NODE": ["file-1", "file-2"],  # the copy asks the source, which creates file-2
        "DELETE_NODE": ["file-1"],
        "UNDO": [],
    }
    log = await read_operations(settings, bootstrap, ["drive-1", "file-1", "file-2"])
    drive_ops = [r.operation for r in log["drive-1"] if r.scope == "global"]
    assert [(op.action.type, op.index, op.skip, op.hash) for op in drive_ops] == [
        (op.action.type, op.index, op.skip, op.hash) for op in offline.operations["global"]
    ]
    assert json.loads(log["drive-1"][-1].resulting_state or "null") == offline.state["global"]
    # The undo brought the folder and the file node back; the file's document stays deleted,
    # as in the legacy server (signals come from handlers, an undo replays none).
    assert [n["id"] for n in offline.state["global"]["nodes"]] == ["f-docs", "file-1", "file-2"]

    file_1 = [(r.scope, r.operation.action.type) for r in log["file-1"]]
    assert file_1 == [
        ("document", "CREATE_DOCUMENT"),
        ("document", "UPGRADE_DOCUMENT"),
        ("global", "ADD_TODO"),
        ("document", "DELETE_DOCUMENT"),
    ]
    assert log["file-1"][0].header is not None
    assert log["file-1"][0].header.name == "Shopping"
    file_2 = log["file-2"]
    assert [r.operation.action.type for r in file_2] == ["CREATE_DOCUMENT", "UPGRADE_DOCUMENT"]
    upgrade_input = file_2[1].operation.action.input
    assert upgrade_input["initialState"]["global"] == {
        "items": [{"id": "t1", "text": "milk", "done": False}]
    }
    assert file_2[1].header is not None
    assert file_2[1].header.name == "Shopping"  # copied to the root: no name collision
    assert TodoListModel.document_type == file_2[0].document_type


async def test_a_file_of_an_unregistered_type_fails_its_job_and_uses_no_index(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor
) -> None:
    """The user trial's gap: ADD_FILE whose documentType no model serves fails, writes
    nothing, consumes no index; the drive's next operations take indexes 1 and 2."""
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    genesis = [
        action.model_copy(update={"id": f"genesis-{n}"})
        for n, action in enumerate(
            create_document_actions(DRIVE, "drive-2", name="Trial drive", timestamp=T0)
        )
    ]
    good_file: dict[str, object] = {
        "id": "file-ok",
        "name": "list",
        "documentType": TodoListModel.document_type,
    }
    steps = [
        drive_action("ADD_FOLDER", {"id": "f0", "name": "first"}, 11),
        drive_action("ADD_FILE", {"id": "g1", "name": "bad", "documentType": "acme/nope"}, 12),
        drive_action("ADD_FOLDER", {"id": "fo1", "name": "folder"}, 13),
        drive_action("ADD_FILE", good_file, 14),
    ]
    async with (
        legacy_runner(settings, bootstrap) as projector,
        Reactor(settings, bootstrap) as reactor,
    ):
        created = await reactor.submit_job(
            "drive-2", genesis, JobKind.CREATE, document_type=DRIVE.document_type
        )
        assert (await reactor.wait_for_job(created.id, 30)).status is JobStatus.WRITE_READY
        outcomes = []
        for step in steps:
            job = await reactor.submit_job("drive-2", [step], JobKind.MUTATE)
            outcomes.append(
                await reactor.wait_for_jobs_tree(job.id, 30, until=JobStatus.READ_READY)
            )
        await projector.wait_caught_up(timeout=30)
        async with await SqliteLegacyStorage.open(settings.home / LEGACY_STORE_FILE) as store:
            projected = await store.get_document("drive-2")

    failed = outcomes[1][0]
    assert (failed.status, failed.error) == (JobStatus.FAILED, "unknown document type 'acme/nope'")
    assert (list(failed.operations), list(failed.children)) == ([], [])
    assert [[info.status for info in tree] for tree in outcomes] == [
        [JobStatus.READ_READY],
        [JobStatus.FAILED],
        [JobStatus.READ_READY],
        [JobStatus.READ_READY, JobStatus.READ_READY],  # the drive's job, then file-ok's
    ]
    assert [info.document_id for info in outcomes[3]] == ["drive-2", "file-ok"]

    log = await read_operations(settings, bootstrap, ["drive-2", "file-ok"])
    stored = [(r.scope, r.operation.index, r.operation.action.type) for r in log["drive-2"]]
    assert stored == [
        ("document", 0, "CREATE_DOCUMENT"),
        ("document", 1, "UPGRADE_DOCUMENT"),
        ("global", 0, "ADD_FOLDER"),
        ("global", 1, "ADD_FOLDER"),
        ("global", 2, "ADD_FILE"),
    ]
    assert [r.operation.action.type for r in log["file-ok"]] == [
        "CREATE_DOCUMENT",
        "UPGRADE_DOCUMENT",
    ]
    # What the legacy store projected is what the pure reducer makes of the kept actions.
    offline: Document | None = None
    for action in [*genesis, steps[0], *steps[2:]]:
        offline = apply_action(offline, action, DRIVE).document
    assert offline is not None
    assert projected.header == offline.header
    assert projected.state == offline.state
    assert projected.initial_state == offline.initial_state
    assert projected.operations == offline.operations
