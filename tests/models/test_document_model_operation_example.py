"""Operation-example group (no export uses it): `{id, value}` items of `OperationSpec.examples`."""

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


def _examples(dm: DocumentModelDriver, state: JsonDict, op: int = 0) -> list[JsonDict]:
    examples: list[JsonDict] = dm.modules(state)[0]["operations"][op]["examples"]
    return examples


def _add(dm: DocumentModelDriver, state: JsonDict, ex: str, op: str, era: str = "E7") -> None:
    payload = {"id": ex, "operationId": op, "example": f"value {ex}"}
    dm.apply(state, "ADD_OPERATION_EXAMPLE", payload, era=era)


def test_add_operation_example(dm: DocumentModelDriver, todo_state: JsonDict) -> None:
    _add(dm, todo_state, "x1", "o2")
    assert _examples(dm, todo_state, 1) == [{"id": "x1", "value": "value x1"}]
    assert _examples(dm, todo_state) == []


def test_add_operation_example_legacy_every_match_or_nothing(dm: DocumentModelDriver) -> None:
    state = dm.new_state()
    dm.apply(state, "ADD_MODULE", {"id": "m", "name": "m"}, era="E5")
    for _ in range(2):
        dm.apply(state, "ADD_OPERATION", {"id": "o", "moduleId": "m", "name": ""}, era="E5")
    _add(dm, state, "x1", "o", era="E6a")
    assert _examples(dm, state) == _examples(dm, state, 1) == [{"id": "x1", "value": "value x1"}]
    before = hash_scope_state(state["global"])
    _add(dm, state, "x2", "nope", era="E6a")  # E6 did not touch examples: still a no-op
    assert hash_scope_state(state["global"]) == before


def test_add_operation_example_e7_refusals(dm: DocumentModelDriver, todo_state: JsonDict) -> None:
    _add(dm, todo_state, "x1", "o1")
    dm.refuse(
        todo_state,
        "ADD_OPERATION_EXAMPLE",
        {"id": "x1", "operationId": "nope", "example": "v"},
        SpecTargetNotFoundError,
        'Operation "nope" not found in the latest specification',
    )
    dm.refuse(
        todo_state,
        "ADD_OPERATION_EXAMPLE",
        {"id": "x1", "operationId": "o2", "example": "v"},
        SpecTargetExistsError,
        'Operation example "x1" already exists in the latest specification',
    )


def test_update_operation_example(dm: DocumentModelDriver, todo_state: JsonDict) -> None:
    _add(dm, todo_state, "x1", "o1")
    _add(dm, todo_state, "x2", "o1")
    dm.apply(todo_state, "UPDATE_OPERATION_EXAMPLE", {"id": "x2", "example": ""})
    assert _examples(dm, todo_state) == [
        {"id": "x1", "value": "value x1"},
        {"id": "x2", "value": ""},  # raw, no `||` default
    ]
    _add(dm, todo_state, "x1", "o2", era="E5")
    dm.apply(todo_state, "UPDATE_OPERATION_EXAMPLE", {"id": "x1", "example": "both"}, era="E5")
    assert [e["value"] for e in _examples(dm, todo_state) + _examples(dm, todo_state, 1)] == [
        "both",
        "",
        "both",
    ]
    dm.refuse(
        todo_state,
        "UPDATE_OPERATION_EXAMPLE",
        {"id": "x1", "example": "v"},
        SpecTargetDuplicatedError,
        'Operation example "x1" is duplicated in the latest specification',
    )
    dm.refuse(
        todo_state,
        "UPDATE_OPERATION_EXAMPLE",
        {"id": "zz", "example": "v"},
        SpecTargetNotFoundError,
        'Operation example "zz" not found in the latest specification',
    )


@pytest.mark.parametrize("era", ["E3", "E7"])
def test_delete_operation_example_removes_every_copy(
    dm: DocumentModelDriver, todo_state: JsonDict, era: str
) -> None:
    _add(dm, todo_state, "x1", "o1", era="E5")
    _add(dm, todo_state, "keep", "o1", era="E5")
    _add(dm, todo_state, "x1", "o2", era="E5")
    dm.apply(todo_state, "DELETE_OPERATION_EXAMPLE", {"id": "x1"}, era=era)
    assert _examples(dm, todo_state) == [{"id": "keep", "value": "value keep"}]
    assert _examples(dm, todo_state, 1) == []


def test_delete_operation_example_unknown(dm: DocumentModelDriver, todo_state: JsonDict) -> None:
    before = hash_scope_state(todo_state["global"])
    dm.apply(todo_state, "DELETE_OPERATION_EXAMPLE", {"id": "zz"}, era="E6a")
    assert hash_scope_state(todo_state["global"]) == before
    dm.refuse(
        todo_state,
        "DELETE_OPERATION_EXAMPLE",
        {"id": "zz"},
        SpecTargetNotFoundError,
        'Operation example "zz" not found in the latest specification',
    )


def test_reorder_operation_examples(dm: DocumentModelDriver, todo_state: JsonDict) -> None:
    for example_id in "ABCDE":
        _add(dm, todo_state, example_id, "o1")
    legacy = copy.deepcopy(todo_state)
    payload = {"operationId": "o1", "order": list("EDCBA")}
    dm.apply(legacy, "REORDER_OPERATION_EXAMPLES", payload, era="E6a")
    assert "".join(e["id"] for e in _examples(dm, legacy)) == "EABCD"
    dm.apply(todo_state, "REORDER_OPERATION_EXAMPLES", payload)
    assert "".join(e["id"] for e in _examples(dm, todo_state)) == "EDCBA"
    dm.refuse(
        todo_state,
        "REORDER_OPERATION_EXAMPLES",
        {"operationId": "o1", "order": ["F"]},
        UnknownReorderIdError,
        'Cannot reorder: unknown id "F"',
    )
    dm.refuse(
        todo_state,
        "REORDER_OPERATION_EXAMPLES",
        {"operationId": "zz", "order": []},
        SpecTargetNotFoundError,
        'Operation "zz" not found in the latest specification',
    )
