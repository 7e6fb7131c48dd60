"""The job runner without Kafka: a job is all or nothing, also when what fails it comes after
the reducer has advanced the document (a drive's child document of an unregistered type)."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import pytest

from reactor_es.document.actions import (
    create_document_actions,
    delete_document_action,
    new_action,
)
from reactor_es.document.model import DocumentModel, ReduceContext, action
from reactor_es.document.reducer import apply_action
from reactor_es.document.types import Action, Document, JsonDict
from reactor_es.executor.book import DocumentBook
from reactor_es.executor.exceptions import UnrecoverableJobError
from reactor_es.executor.jobs import JobOutcome, JobRunner
from reactor_es.kafka.records import ActionEnvelope, JobKind
from reactor_es.models.document_drive import DocumentDriveModel
from reactor_es.registry import DocumentModelRegistry, default_registry

DRIVE = DocumentDriveModel()
T0 = "2026-03-01T08:00:00.000Z"
BAD_FILE = {"id": "g1", "name": "bad", "documentType": "acme/nope"}


def drive_action(kind: str, payload: dict[str, Any], n: int) -> Action:
    return new_action(
        kind, payload, "global", action_id=f"d{n}", timestamp=f"2026-03-01T08:00:{n:02d}.000Z"
    )


def job(document_id: str, actions: list[Action], n: int, **fields: Any) -> ActionEnvelope:
    return ActionEnvelope(
        job_id=f"job-{n}",
        document_id=document_id,
        scope=actions[0].scope,
        kind=fields.pop("kind", JobKind.MUTATE),
        actions=actions,
        created_at_utc_iso=T0,
        **fields,
    )


def drive_genesis() -> list[Action]:
    actions = create_document_actions(DRIVE, "drive-1", name="Team", timestamp=T0)
    return [a.model_copy(update={"id": f"g{n}"}) for n, a in enumerate(actions)]


def runner_with_drive(registry: DocumentModelRegistry | None = None) -> JobRunner:
    runner = JobRunner(DocumentBook(registry or default_registry()))
    genesis = drive_genesis()
    created = runner.run(
        job("drive-1", genesis, 0, kind=JobKind.CREATE, document_type=DRIVE.document_type)
    )
    assert created.error is None
    return runner


def as_it_stands(runner: JobRunner, document_id: str) -> Document:
    document = runner.book.document(document_id)
    assert document is not None
    return copy.deepcopy(document)


def global_indexes(*outcomes: JobOutcome) -> list[int]:
    return [record.operation.index for outcome in outcomes for record in outcome.records]


def test_an_unregistered_child_type_fails_the_job_and_uses_no_index() -> None:
    runner = runner_with_drive()
    first = runner.run(
        job("drive-1", [drive_action("ADD_FOLDER", {"id": "f0", "name": "a"}, 1)], 1)
    )
    before = as_it_stands(runner, "drive-1")

    failed = runner.run(job("drive-1", [drive_action("ADD_FILE", BAD_FILE, 2)], 2))

    assert failed.error == "unknown document type 'acme/nope'"
    assert (failed.operations, failed.records, failed.follow_ups) == ((), (), ())
    # Exactly as it was: state, header (revision, lastModified), history, clipboard.
    assert runner.book.document("drive-1") == before
    assert runner.book.applied("drive-1", "d2") is None  # a retry would be applied afresh
    second = runner.run(
        job("drive-1", [drive_action("ADD_FOLDER", {"id": "fo1", "name": "folder"}, 3)], 3)
    )
    good = {"id": "file-1", "name": "list", "documentType": "reactor-es/todo-list"}
    third = runner.run(job("drive-1", [drive_action("ADD_FILE", good, 4)], 4))
    assert global_indexes(first, second, third) == [0, 1, 2]
    assert [child.document_id for child in third.follow_ups] == ["file-1"]

    # The drive is what the pure reducer makes of the actions that were not refused.
    offline: Document | None = None
    genesis = drive_genesis()
    kept = [
        drive_action("ADD_FOLDER", {"id": "f0", "name": "a"}, 1),
        drive_action("ADD_FOLDER", {"id": "fo1", "name": "folder"}, 3),
        drive_action("ADD_FILE", good, 4),
    ]
    for step in [*genesis, *kept]:
        offline = apply_action(offline, step, DRIVE).document
    assert offline is not None
    assert runner.book.document("drive-1") == offline


def test_a_refused_signal_puts_back_every_action_of_the_job() -> None:
    runner = runner_with_drive()
    before = as_it_stands(runner, "drive-1")
    actions = [
        drive_action("ADD_FOLDER", {"id": "f0", "name": "a"}, 1),
        drive_action("ADD_FILE", BAD_FILE, 2),
    ]
    failed = runner.run(job("drive-1", actions, 1))
    assert failed.error == "unknown document type 'acme/nope'"
    assert runner.book.document("drive-1") == before


class _UndeclaredSignals(DocumentModel):
    """Emits a signal without declaring `emits_signals`: nothing to put its document back."""

    document_type: ClassVar[str] = "test/undeclared-signals"

    def initial_state(self) -> JsonDict:
        return {"global": {"n": 0}, "local": {}}

    @action("BUMP")
    def bump(self, state: JsonDict, payload: Any, ctx: ReduceContext) -> None:
        state["n"] += 1
        ctx.emit("CREATE_CHILD_DOCUMENT", id="c1", documentType="acme/nope")


def test_a_model_with_undeclared_signals_fails_the_executor_rather_than_the_job() -> None:
    registry = default_registry(entry_points=False)
    registry.register(_UndeclaredSignals)
    runner = JobRunner(DocumentBook(registry))
    model = registry.get(_UndeclaredSignals.document_type)
    genesis = create_document_actions(model, "doc-1", timestamp=T0)
    created = runner.run(
        job("doc-1", genesis, 0, kind=JobKind.CREATE, document_type=model.document_type)
    )
    assert created.error is None
    # The document changed in place and cannot be put back exactly: the partition must park
    # the job and rebuild from the topics, which it does for anything not a ReactorError.
    with pytest.raises(UnrecoverableJobError, match="without declaring emits_signals"):
        runner.run(job("doc-1", [new_action("BUMP", {}, action_id="b1", timestamp=T0)], 1))


def test_a_file_cannot_take_over_the_drive_or_a_document_of_another_type() -> None:
    runner = runner_with_drive()
    own = {"id": "drive-1", "name": "me", "documentType": "reactor-es/todo-list"}
    before = as_it_stands(runner, "drive-1")
    refused = runner.run(job("drive-1", [drive_action("ADD_FILE", own, 1)], 1))
    assert refused.error == "a file of drive drive-1 cannot have the drive's own id"
    assert runner.book.document("drive-1") == before  # no index used

    # A document of another type under the file's id: the child job fails, naming both.
    todo = default_registry().get("reactor-es/todo-list")
    genesis = create_document_actions(todo, "list-1", timestamp=T0)
    made = runner.run(
        job("list-1", genesis, 2, kind=JobKind.CREATE, document_type="reactor-es/todo-list")
    )
    assert made.error is None
    clash = {"id": "list-1", "name": "clash", "documentType": "powerhouse/document-model"}
    added = runner.run(job("drive-1", [drive_action("ADD_FILE", clash, 3)], 3))
    [child] = added.follow_ups
    taken = runner.run(child)
    assert taken.error == (
        "document list-1 already exists as a reactor-es/todo-list, not a "
        "powerhouse/document-model: a drive file cannot take it over"
    )
    # Deleting that file's node must not delete the document the drive never created.
    removed = runner.run(job("drive-1", [drive_action("DELETE_NODE", {"id": "list-1"}, 4)], 4))
    assert removed.error is None
    [delete] = removed.follow_ups
    assert (delete.kind, delete.document_type) == (JobKind.DELETE, "powerhouse/document-model")
    kept = runner.run(delete)
    assert kept.error == (
        "document list-1 is a reactor-es/todo-list, not the powerhouse/document-model file "
        "its drive deleted: left in place"
    )
    assert kept.records == ()
    survivor = runner.book.document("list-1")
    assert survivor is not None
    assert survivor.state["document"].get("isDeleted") is not True
    # A document of the file's own type is reused, as before (nothing written for it).
    same = {"id": "list-1", "name": "same", "documentType": "reactor-es/todo-list"}
    other = runner_with_drive()
    other.run(job("list-1", genesis, 5, kind=JobKind.CREATE, document_type=todo.document_type))
    [again] = other.run(job("drive-1", [drive_action("ADD_FILE", same, 6)], 6)).follow_ups
    reused = other.run(again)
    assert (reused.error, reused.records) == (None, ())


def test_the_same_job_delivered_again_after_a_restore_publishes_nothing() -> None:
    """A commit whose answer was lost: the rebuilt book holds the job's operations, the
    committed offset may still lag, and the job comes again. Its events are out already."""
    first = runner_with_drive()
    done = first.run(job("drive-1", [drive_action("ADD_FOLDER", {"id": "f0", "name": "a"}, 1)], 1))
    assert [record.operation.index for record in done.records] == [0]

    rebuilt = JobRunner(DocumentBook(default_registry()))
    genesis = job("drive-1", drive_genesis(), 0, kind=JobKind.CREATE,
                  document_type=DRIVE.document_type)  # fmt: skip
    for record in [*JobRunner(DocumentBook(default_registry())).run(genesis).records,
                   *done.records]:  # fmt: skip
        rebuilt.book.restore(record)
    rebuilt.book.finish_restore()

    again = rebuilt.run(
        job("drive-1", [drive_action("ADD_FOLDER", {"id": "f0", "name": "a"}, 1)], 1)
    )
    assert again.redelivered is True
    assert (again.records, again.operations) == ((), ())
    # Another job with the same actions is a client's retry: it is answered.
    retried = rebuilt.run(
        job("drive-1", [drive_action("ADD_FOLDER", {"id": "f0", "name": "a"}, 1)], 7)
    )
    assert retried.redelivered is False
    assert [(r.scope, r.index) for r in retried.operations] == [("global", 0)]


def test_a_deleted_document_id_is_not_created_again() -> None:
    """The log keeps a deleted document (a tombstone): its id is taken for good, whether a
    client creates it again or a drive's ADD_FILE names it; a retry of the first creation
    still reports what it did."""
    runner = runner_with_drive()
    todo = default_registry().get("reactor-es/todo-list")
    genesis = create_document_actions(todo, "list-1", timestamp=T0)
    first = job("list-1", genesis, 1, kind=JobKind.CREATE, document_type=todo.document_type)
    assert runner.run(first).error is None
    deleted = runner.run(
        job("list-1", [delete_document_action("list-1", timestamp=T0)], 2, kind=JobKind.DELETE)
    )
    assert [(r.scope, r.operation.index, r.operation.action.type) for r in deleted.records] == [
        ("document", 2, "DELETE_DOCUMENT")
    ]
    before = as_it_stands(runner, "list-1")

    again = create_document_actions(todo, "list-1", timestamp=T0)
    created = runner.run(
        job("list-1", again, 3, kind=JobKind.CREATE, document_type=todo.document_type)
    )
    assert (created.error, created.records) == (
        "document list-1 is deleted: CREATE_DOCUMENT refused",
        (),
    )
    as_file = {"id": "list-1", "name": "again", "documentType": todo.document_type}
    [child] = runner.run(job("drive-1", [drive_action("ADD_FILE", as_file, 4)], 4)).follow_ups
    refused = runner.run(child)
    assert (refused.error, refused.records) == (
        "document list-1 is deleted: CREATE_DOCUMENT refused",
        (),
    )
    retried = runner.run(first)
    assert (retried.error, list(retried.records)) == (None, [])
    assert [(ref.scope, ref.index) for ref in retried.operations] == [
        ("document", 0),
        ("document", 1),
    ]
    assert as_it_stands(runner, "list-1") == before
