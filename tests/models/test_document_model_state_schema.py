"""State-schema group: `state[scope]` of the latest spec (schema, initial value, examples)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import pytest

from reactor_es.document.exceptions import InvalidActionInputError
from reactor_es.document.hashing import hash_scope_state
from reactor_es.document.types import JsonDict
from reactor_es.models.document_model.exceptions import (
    InvalidScopeError,
    StateExampleNotFoundError,
    UnknownReorderIdError,
)

if TYPE_CHECKING:
    from tests.models.conftest import DocumentModelDriver

EMPTY = {"schema": "", "initialValue": "", "examples": []}


def _scopes(dm: DocumentModelDriver, state: JsonDict) -> JsonDict:
    scopes: JsonDict = dm.spec(state)["state"]
    return scopes


def test_set_state_schema_and_initial_state_per_scope(dm: DocumentModelDriver) -> None:
    state = dm.new_state()
    dm.apply(state, "SET_STATE_SCHEMA", {"scope": "global", "schema": "type TodoState { n: Int }"})
    dm.apply(state, "SET_INITIAL_STATE", {"scope": "local", "initialValue": '{"n": 0}'})
    assert _scopes(dm, state) == {
        "global": {"schema": "type TodoState { n: Int }", "initialValue": "", "examples": []},
        "local": {"schema": "", "initialValue": '{"n": 0}', "examples": []},
    }
    dm.apply(state, "SET_INITIAL_STATE", {"scope": "local", "initialValue": "not json"})
    assert _scopes(dm, state)["local"]["initialValue"] == "not json"  # never parsed


@pytest.mark.parametrize(
    ("action_type", "payload"),
    [
        ("SET_STATE_SCHEMA", {"schema": "s"}),
        ("SET_INITIAL_STATE", {"initialValue": "{}"}),
        ("ADD_STATE_EXAMPLE", {"id": "x", "example": "{}"}),
        ("UPDATE_STATE_EXAMPLE", {"id": "x", "newExample": "{}"}),
        ("DELETE_STATE_EXAMPLE", {"id": "x"}),
        ("REORDER_STATE_EXAMPLES", {"order": []}),
    ],
)
@pytest.mark.parametrize("era", ["E3", "E5", "E7"])
def test_state_actions_refuse_an_unknown_scope_in_every_scoped_era(
    dm: DocumentModelDriver, action_type: str, payload: JsonDict, era: str
) -> None:
    state = dm.new_state()
    dm.refuse(
        state,
        action_type,
        {**payload, "scope": "document"},
        InvalidScopeError,
        "Invalid scope: document",
        era=era,
    )
    with pytest.raises(InvalidActionInputError) as caught:
        dm.apply(state, action_type, payload, era=era)
    assert caught.value.field == "scope"
    assert state == dm.new_state()


def test_state_examples_add_update_delete(dm: DocumentModelDriver) -> None:
    state = dm.new_state()
    for example_id in ("a", "b", "a"):  # no era checks uniqueness
        dm.apply(
            state,
            "ADD_STATE_EXAMPLE",
            {
                "scope": "global",
                "id": example_id,
                "example": f"{{{example_id}}}",
                "insertBefore": "a",
            },
        )
    assert _scopes(dm, state)["global"]["examples"] == [
        {"id": "a", "value": "{a}"},
        {"id": "b", "value": "{b}"},
        {"id": "a", "value": "{a}"},
    ]
    legacy = copy.deepcopy(state)
    dm.apply(
        legacy, "UPDATE_STATE_EXAMPLE", {"scope": "global", "id": "a", "newExample": "L"}, era="E6a"
    )
    assert [e["value"] for e in _scopes(dm, legacy)["global"]["examples"]] == ["L", "{b}", "L"]
    dm.apply(state, "UPDATE_STATE_EXAMPLE", {"scope": "global", "id": "a", "newExample": "H"})
    assert [e["value"] for e in _scopes(dm, state)["global"]["examples"]] == ["H", "{b}", "{a}"]
    dm.apply(state, "DELETE_STATE_EXAMPLE", {"scope": "global", "id": "a"})
    assert _scopes(dm, state) == {
        "global": {**EMPTY, "examples": [{"id": "b", "value": "{b}"}]},
        "local": EMPTY,
    }


@pytest.mark.parametrize("action_type", ["UPDATE_STATE_EXAMPLE", "DELETE_STATE_EXAMPLE"])
def test_unknown_state_example_legacy_noop_e7_refuses(
    dm: DocumentModelDriver, action_type: str
) -> None:
    state = dm.new_state()
    dm.apply(state, "ADD_STATE_EXAMPLE", {"scope": "local", "id": "a", "example": "{}"})
    payload = {"scope": "global", "id": "a", "newExample": "x"}  # "a" lives in local only
    before = hash_scope_state(state["global"])
    dm.apply(state, action_type, payload, era="E6a")
    assert hash_scope_state(state["global"]) == before
    dm.refuse(
        state,
        action_type,
        payload,
        StateExampleNotFoundError,
        'State example "a" not found in scope "global"',
    )


def test_reorder_state_examples(dm: DocumentModelDriver) -> None:
    state = dm.new_state()
    for example_id in "ABCD":
        dm.apply(state, "ADD_STATE_EXAMPLE", {"scope": "local", "id": example_id, "example": ""})
    legacy = copy.deepcopy(state)
    dm.apply(legacy, "REORDER_STATE_EXAMPLES", {"scope": "local", "order": ["B", "A"]}, era="E3")
    assert [e["id"] for e in _scopes(dm, legacy)["local"]["examples"]] == list("BCDA")
    dm.apply(state, "REORDER_STATE_EXAMPLES", {"scope": "local", "order": ["B", "A"]})
    assert [e["id"] for e in _scopes(dm, state)["local"]["examples"]] == list("BACD")
    dm.refuse(
        state,
        "REORDER_STATE_EXAMPLES",
        {"scope": "local", "order": ["E"]},
        UnknownReorderIdError,
        'Cannot reorder: unknown id "E"',
    )


def test_state_actions_edit_the_latest_specification_only(dm: DocumentModelDriver) -> None:
    state = dm.new_state()
    dm.apply(state, "SET_STATE_SCHEMA", {"scope": "global", "schema": "v1"})
    dm.apply(state, "RELEASE_NEW_VERSION", {})
    dm.apply(state, "SET_STATE_SCHEMA", {"scope": "global", "schema": "v2"})
    specs = state["global"]["specifications"]
    assert [spec["state"]["global"]["schema"] for spec in specs] == ["v1", "v2"]
