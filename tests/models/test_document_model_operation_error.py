"""Operation-error group: errors live in `OperationSpec.errors`, ids looked up across ALL ops."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import pytest

from reactor_es.document.hashing import hash_scope_state
from reactor_es.document.types import JsonDict
from reactor_es.models.document_model.exceptions import (
    SpecTargetDuplicatedError,
    SpecTargetExistsError,
    SpecTargetNotFoundError,
    UnknownReorderIdError,
)

if TYPE_CHECKING:
    from tests.models.conftest import DocumentModelDriver


def _error(error_id: str, name: str = "", code: str = "", description: str = "") -> JsonDict:
    return {"id": error_id, "name": name, "code": code, "description": description, "template": ""}


def _errors(dm: DocumentModelDriver, state: JsonDict, op: int = 0) -> list[JsonDict]:
    errors: list[JsonDict] = dm.modules(state)[0]["operations"][op]["errors"]
    return errors


def test_add_operation_error_renames_input_keys(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    dm.apply(
        todo_state,
        "ADD_OPERATION_ERROR",
        {
            "id": "e1",
            "operationId": "o1",
            "errorCode": "EMPTY",
            "errorName": "EmptyTitle",
            "errorDescription": "The title is empty",
            "errorTemplate": "Tpl",
        },
    )
    dm.apply(todo_state, "ADD_OPERATION_ERROR", {"id": "e2", "operationId": "o1"})
    assert _errors(dm, todo_state) == [
        {
            "id": "e1",
            "name": "EmptyTitle",
            "code": "EMPTY",
            "description": "The title is empty",
            "template": "Tpl",
        },
        _error("e2"),
    ]
    assert _errors(dm, todo_state, 1) == []


def test_add_operation_error_with_state_key_names_stores_empty_fields(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    """GnosispayAnalytics op 94 sent {code, name, description}: all four fields are ""."""
    dm.apply(
        todo_state,
        "ADD_OPERATION_ERROR",
        {"id": "e1", "operationId": "o1", "code": "C", "name": "N", "description": "D"},
    )
    assert _errors(dm, todo_state) == [_error("e1")]


def test_add_operation_error_unknown_operation(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    payload = {"id": "e1", "operationId": "nope"}
    before = hash_scope_state(todo_state["global"])
    dm.apply(todo_state, "ADD_OPERATION_ERROR", payload, era="E5a")
    assert hash_scope_state(todo_state["global"]) == before
    for era in ("E6", "E7"):
        dm.refuse(
            todo_state,
            "ADD_OPERATION_ERROR",
            payload,
            SpecTargetNotFoundError,
            'Operation "nope" not found in the latest specification',
            era=era,
        )


def test_add_operation_error_e7_refuses_an_existing_error_id_anywhere(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    dm.apply(todo_state, "ADD_OPERATION_ERROR", {"id": "e1", "operationId": "o1"})
    legacy = copy.deepcopy(todo_state)
    dm.apply(legacy, "ADD_OPERATION_ERROR", {"id": "e1", "operationId": "o2"}, era="E6a")
    assert _errors(dm, legacy, 1) == [_error("e1")]
    dm.refuse(
        todo_state,
        "ADD_OPERATION_ERROR",
        {"id": "e1", "operationId": "o2"},
        SpecTargetExistsError,
        'Operation error "e1" already exists in the latest specification',
    )
    # The operation is looked up first.
    dm.refuse(
        todo_state,
        "ADD_OPERATION_ERROR",
        {"id": "e1", "operationId": "nope"},
        SpecTargetNotFoundError,
        'Operation "nope" not found in the latest specification',
    )


@pytest.mark.parametrize(
    ("action_type", "field", "key"),
    [
        ("SET_OPERATION_ERROR_CODE", "errorCode", "code"),
        ("SET_OPERATION_ERROR_NAME", "errorName", "name"),
        ("SET_OPERATION_ERROR_DESCRIPTION", "errorDescription", "description"),
        ("SET_OPERATION_ERROR_TEMPLATE", "errorTemplate", "template"),
    ],
)
def test_error_setters(
    dm: DocumentModelDriver, todo_state: JsonDict, action_type: str, field: str, key: str
) -> None:
    dm.apply(todo_state, "ADD_OPERATION_ERROR", {"id": "e1", "operationId": "o1"})
    dm.apply(todo_state, "ADD_OPERATION_ERROR", {"id": "e2", "operationId": "o2"})
    dm.apply(todo_state, action_type, {"id": "e2", field: "VALUE"})
    assert _errors(dm, todo_state) == [_error("e1")]
    assert _errors(dm, todo_state, 1) == [{**_error("e2"), key: "VALUE"}]
    dm.apply(todo_state, action_type, {"id": "e2", field: None})
    assert _errors(dm, todo_state, 1) == [_error("e2")]

    # Legacy: every error with the id, in any operation; unknown id: no-op.
    dm.apply(todo_state, "ADD_OPERATION_ERROR", {"id": "e2", "operationId": "o1"}, era="E5")
    dm.apply(todo_state, action_type, {"id": "e2", field: "BOTH"}, era="E5")
    assert [e[key] for e in _errors(dm, todo_state) + _errors(dm, todo_state, 1)] == [
        "",
        "BOTH",
        "BOTH",
    ]
    before = hash_scope_state(todo_state["global"])
    dm.apply(todo_state, action_type, {"id": "zz", field: "X"}, era="E6a")
    assert hash_scope_state(todo_state["global"]) == before

    # E7: the id must exist exactly once.
    dm.refuse(
        todo_state,
        action_type,
        {"id": "e2", field: "X"},
        SpecTargetDuplicatedError,
        'Operation error "e2" is duplicated in the latest specification',
    )
    dm.refuse(
        todo_state,
        action_type,
        {"id": "zz", field: "X"},
        SpecTargetNotFoundError,
        'Operation error "zz" not found in the latest specification',
    )


@pytest.mark.parametrize("era", ["E3", "E7"])
def test_delete_operation_error_removes_every_copy(
    dm: DocumentModelDriver, todo_state: JsonDict, era: str
) -> None:
    for error_id, op_id in (("e1", "o1"), ("keep", "o1"), ("e1", "o2")):
        dm.apply(
            todo_state, "ADD_OPERATION_ERROR", {"id": error_id, "operationId": op_id}, era="E5"
        )
    dm.apply(todo_state, "DELETE_OPERATION_ERROR", {"id": "e1"}, era=era)
    assert _errors(dm, todo_state) == [_error("keep")]
    assert _errors(dm, todo_state, 1) == []


def test_delete_operation_error_unknown_legacy_noop_e7_refuses(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    before = hash_scope_state(todo_state["global"])
    dm.apply(todo_state, "DELETE_OPERATION_ERROR", {"id": "zz"}, era="E6a")
    assert hash_scope_state(todo_state["global"]) == before
    dm.refuse(
        todo_state,
        "DELETE_OPERATION_ERROR",
        {"id": "zz"},
        SpecTargetNotFoundError,
        'Operation error "zz" not found in the latest specification',
    )


def test_reorder_operation_errors(dm: DocumentModelDriver, todo_state: JsonDict) -> None:
    for error_id in "ABC":
        dm.apply(todo_state, "ADD_OPERATION_ERROR", {"id": error_id, "operationId": "o1"})
    legacy = copy.deepcopy(todo_state)
    dm.apply(
        legacy, "REORDER_OPERATION_ERRORS", {"operationId": "o1", "order": list("ABC")}, era="E6"
    )
    assert [e["id"] for e in _errors(dm, legacy)] == ["A", "C", "B"]
    dm.apply(todo_state, "REORDER_OPERATION_ERRORS", {"operationId": "o1", "order": ["C"]})
    assert [e["id"] for e in _errors(dm, todo_state)] == ["C", "A", "B"]
    dm.refuse(
        todo_state,
        "REORDER_OPERATION_ERRORS",
        {"operationId": "o1", "order": ["A", "nope"]},
        UnknownReorderIdError,
        'Cannot reorder: unknown id "nope"',
    )
    dm.refuse(
        todo_state,
        "REORDER_OPERATION_ERRORS",
        {"operationId": "zz", "order": []},
        SpecTargetNotFoundError,
        'Operation "zz" not found in the latest specification',
    )
    before = hash_scope_state(legacy["global"])
    dm.apply(legacy, "REORDER_OPERATION_ERRORS", {"operationId": "zz", "order": []}, era="E6")
    assert hash_scope_state(legacy["global"]) == before
