"""The drive model through the real base reducer: errored operations, signals, replay."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reactor_es.document.actions import create_document_actions, new_action
from reactor_es.document.exceptions import InvalidActionInputError
from reactor_es.document.hashing import hash_scope_state
from reactor_es.document.model import Signal
from reactor_es.document.reducer import (
    AppliedAction,
    ReducerOptions,
    apply_action,
    replay_document,
)
from reactor_es.document.types import Document
from reactor_es.models.document_drive import DocumentDriveModel, action_scope

MODEL = DocumentDriveModel()
STAMP = "2026-06-01T12:00:00.000Z"


class DriveDocument:
    def __init__(self) -> None:
        document: Document | None = None
        for action in create_document_actions(MODEL, "drive-1", timestamp=STAMP):
            document = apply_action(document, action, MODEL).document
        assert document is not None
        self.document = document
        self._count = 0

    def apply(self, action_type: str, payload: Any, scope: str | None = None) -> AppliedAction:
        self._count += 1
        action = new_action(
            action_type,
            payload,
            scope or action_scope(action_type),
            action_id=f"action-{self._count}",
            timestamp=STAMP,
        )
        return apply_action(self.document, action, MODEL)


def test_new_drive_document_has_the_model_state() -> None:
    drive = DriveDocument()
    assert drive.document.state["global"] == {"name": "", "nodes": [], "icon": None}
    assert drive.document.state["local"]["sharingType"] == "private"
    assert drive.document.header.revision == {"document": 2, "global": 0, "local": 0}


def test_errored_operation_keeps_index_and_previous_hash() -> None:
    drive = DriveDocument()
    first = drive.apply("ADD_FOLDER", {"id": "1", "name": "one"}).operation
    state_before = copy.deepcopy(drive.document.state)
    failed = drive.apply("ADD_FOLDER", {"id": "1", "name": "again"})
    assert failed.operation.error == "Node with id 1 already exists!"
    assert (failed.operation.index, failed.operation.skip) == (1, 0)
    assert failed.operation.hash == first.hash
    assert failed.signals == []
    assert drive.document.state == state_before
    ok = drive.apply("ADD_FOLDER", {"id": "2", "name": "two"}).operation
    assert (ok.index, ok.error) == (2, None)
    assert ok.hash == hash_scope_state(drive.document.state["global"])
    assert drive.document.header.revision["global"] == 3


def test_signals_come_back_on_the_result() -> None:
    drive = DriveDocument()
    added = drive.apply("ADD_FILE", {"id": "f", "name": "doc", "documentType": "t"})
    assert added.signals == [Signal("CREATE_CHILD_DOCUMENT", {"id": "f", "documentType": "t"})]
    copied = drive.apply("COPY_NODE", {"srcId": "f", "targetId": "g"})
    assert copied.signals == [Signal("COPY_CHILD_DOCUMENT", {"id": "f", "newId": "g"})]
    deleted = drive.apply("DELETE_NODE", {"id": "g"})
    assert deleted.signals == [Signal("DELETE_CHILD_DOCUMENT", {"id": "g"})]
    assert [op.index for op in drive.document.operations["global"]] == [0, 1, 2]


def test_local_and_global_scopes_count_separately() -> None:
    drive = DriveDocument()
    listener = {"listenerId": "l1", "block": False, "system": True, "filter": {}}
    op = drive.apply("ADD_LISTENER", {"listener": listener}).operation
    assert (op.scope, op.index, op.error) == ("local", 0, None)
    assert drive.document.operations["global"] == []
    wrong = drive.apply("ADD_FILE", {"id": "f", "name": "d", "documentType": "t"}, scope="local")
    assert (wrong.operation.index, wrong.operation.error) == (
        1,
        "ADD_FILE: scope local has no 'nodes' list",
    )
    assert wrong.operation.hash == op.hash


def test_bad_input_is_refused_without_an_operation() -> None:
    drive = DriveDocument()
    before = drive.document.model_copy(deep=True)
    with pytest.raises(InvalidActionInputError) as info:
        drive.apply("MOVE_NODE", {"targetParentFolder": "x"})
    assert str(info.value) == "invalid input for MOVE_NODE: field 'srcFolder': Field required"
    assert drive.document == before


def test_replay_reproduces_every_hash() -> None:
    drive = DriveDocument()
    drive.apply("SET_DRIVE_NAME", {"name": "Ops"})
    drive.apply("ADD_FOLDER", {"id": "B", "name": "x"})
    drive.apply("ADD_FOLDER", {"id": "a_b", "name": "x"})
    drive.apply("ADD_FILE", {"id": "a", "name": "x", "documentType": "t", "parentFolder": "B"})
    drive.apply("MOVE_NODE", {"srcFolder": "a", "targetParentFolder": "a_b"})
    drive.apply("MOVE_NODE", {"srcFolder": "B", "targetParentFolder": "B"})  # errored
    drive.apply("UPDATE_NODE", {"id": "a", "parentFolder": None})
    drive.apply("SET_AVAILABLE_OFFLINE", {"availableOffline": True})
    computed: list[tuple[str | None, str]] = []
    rebuilt = replay_document(
        drive.document,
        MODEL,
        options=ReducerOptions(recompute_hashes=True, check_final_hashes=True),
        observer=lambda result: computed.append((result.computed_hash, result.operation.hash)),
    )
    assert rebuilt.state == drive.document.state
    assert [node["id"] for node in rebuilt.state["global"]["nodes"]] == ["a", "a_b", "B"]
    assert [op.error for op in rebuilt.operations["global"]][-2] == (
        "Circular Reference Error: Attempting to move a node to its current parent folder"
    )
    model_ops = [pair for pair in computed if pair[0] is not None][2:]  # skip document scope
    assert len(model_ops) == 8
    assert all(recomputed == stored for recomputed, stored in model_ops)
