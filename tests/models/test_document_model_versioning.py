"""Versioning group: change-log actions (never implemented) and RELEASE_NEW_VERSION."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest

from reactor_es.document.exceptions import InvalidActionInputError
from reactor_es.document.hashing import hash_scope_state
from reactor_es.document.types import JsonDict
from reactor_es.models.document_model import DocumentModelModel
from reactor_es.models.document_model.exceptions import (
    EmptyInputExpectedError,
    JsTypeError,
    ReducerNotImplementedError,
)

if TYPE_CHECKING:
    from tests.models.conftest import DocumentModelDriver


@pytest.mark.parametrize(
    ("action_type", "payload", "handler"),
    [
        ("ADD_CHANGE_LOG_ITEM", {"id": "c1", "content": "x"}, "addChangeLogItemOperation"),
        ("UPDATE_CHANGE_LOG_ITEM", {"id": "c1", "newContent": "x"}, "updateChangeLogItemOperation"),
        ("DELETE_CHANGE_LOG_ITEM", {"id": "c1"}, "deleteChangeLogItemOperation"),
        ("REORDER_CHANGE_LOG_ITEMS", {"order": ["c1"]}, "reorderChangeLogItemsOperation"),
    ],
)
@pytest.mark.parametrize("era", ["E0", "E3", "E7"])
def test_change_log_actions_validate_then_always_refuse(
    dm: DocumentModelDriver, action_type: str, payload: JsonDict, handler: str, era: str
) -> None:
    state = dm.new_state()
    hash_before = hash_scope_state(state["global"])
    dm.refuse(
        state,
        action_type,
        payload,
        ReducerNotImplementedError,
        f'Reducer "{handler}" not yet implemented',
        era=era,
    )
    assert hash_scope_state(state["global"]) == hash_before  # an errored op keeps the hash
    with pytest.raises(InvalidActionInputError):  # validation comes first
        dm.apply(state, action_type, {}, era=era)


def test_release_new_version_copies_the_latest_spec(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    dm.apply(todo_state, "SET_STATE_SCHEMA", {"scope": "global", "schema": "type S { a: Int }"})
    dm.apply(todo_state, "ADD_STATE_EXAMPLE", {"scope": "local", "id": "x", "example": "{}"})
    latest = dm.spec(todo_state)
    latest["changeLog"] = ["not carried over"]
    latest["state"]["document"] = {"schema": "", "initialValue": "", "examples": []}
    v1 = copy.deepcopy(latest)
    dm.apply(todo_state, "RELEASE_NEW_VERSION", {})
    specs = todo_state["global"]["specifications"]
    assert specs[0] == v1
    assert specs[1] == {
        "version": 2,
        "changeLog": [],
        "state": {"global": v1["state"]["global"], "local": v1["state"]["local"]},
        "modules": v1["modules"],
    }
    # A deep copy: later edits go to version 2 only, version 1 is frozen history.
    dm.apply(todo_state, "SET_OPERATION_NAME", {"id": "o1", "name": "CREATE_TODO"})
    dm.apply(todo_state, "ADD_STATE_EXAMPLE", {"scope": "local", "id": "y", "example": "{}"})
    dm.apply(todo_state, "RELEASE_NEW_VERSION", {})
    assert specs[0] == v1
    assert [s["version"] for s in specs] == [1, 2, 3]
    assert specs[2]["modules"][0]["operations"][0]["name"] == "CREATE_TODO"
    assert [e["id"] for e in specs[2]["state"]["local"]["examples"]] == ["x", "y"]


def test_release_new_version_bumps_the_last_spec_not_the_highest(dm: DocumentModelDriver) -> None:
    state = dm.new_state()
    state["global"]["specifications"] = [
        {**dm.spec(state), "version": 7},
        {**copy.deepcopy(dm.spec(state)), "version": 3},
    ]
    dm.apply(state, "RELEASE_NEW_VERSION", {})
    assert [s["version"] for s in state["global"]["specifications"]] == [7, 3, 4]


@pytest.mark.parametrize("era", ["E3", "E3z"])
def test_release_new_version_refused_before_e4(dm: DocumentModelDriver, era: str) -> None:
    dm.refuse(
        dm.new_state(),
        "RELEASE_NEW_VERSION",
        {},
        ReducerNotImplementedError,
        'Reducer "releaseNewVersionOperation" not yet implemented',
        era=era,
    )


@pytest.mark.parametrize("era", ["E3", "E4", "E7"])
@pytest.mark.parametrize("payload", [{"version": 2}, [1], "x"])
def test_release_new_version_wants_an_empty_input(
    dm: DocumentModelDriver, era: str, payload: Any
) -> None:
    dm.refuse(
        dm.new_state(),
        "RELEASE_NEW_VERSION",
        payload,
        EmptyInputExpectedError,
        "Expected empty input for action RELEASE_NEW_VERSION",
        era=era,
    )


def test_release_new_version_with_null_input_is_a_type_error(dm: DocumentModelDriver) -> None:
    dm.refuse(
        dm.new_state(),
        "RELEASE_NEW_VERSION",
        None,
        JsTypeError,
        "Cannot convert undefined or null to object",
    )


@pytest.mark.parametrize("payload", [[], "", 0, True])
def test_release_new_version_accepts_what_has_no_keys_in_javascript(
    dm: DocumentModelDriver, payload: Any
) -> None:
    state = dm.new_state()
    dm.apply(state, "RELEASE_NEW_VERSION", payload)
    assert len(state["global"]["specifications"]) == 2


def test_release_new_version_on_an_unscoped_state_is_a_type_error(
    dm: DocumentModelDriver, document_model: DocumentModelModel
) -> None:
    state = document_model.initial_state()
    dm.spec(state)["state"] = {"schema": "", "initialValue": "", "examples": []}
    dm.refuse(
        state,
        "RELEASE_NEW_VERSION",
        {},
        JsTypeError,
        "Cannot read properties of undefined (reading 'examples')",
    )
