"""Module group: ADD/SET/DELETE/REORDER modules of the latest specification."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from reactor_es.document.hashing import hash_scope_state
from reactor_es.document.types import JsonDict
from reactor_es.models.document_model.exceptions import (
    SpecTargetExistsError,
    SpecTargetNotFoundError,
    UnknownReorderIdError,
)

if TYPE_CHECKING:
    from tests.models.conftest import DocumentModelDriver


def _ids(items: list[JsonDict]) -> list[str]:
    return [item["id"] for item in items]


def test_add_module_appends_with_empty_description(dm: DocumentModelDriver) -> None:
    state = dm.new_state()
    dm.apply(state, "ADD_MODULE", {"id": "m1", "name": "todos"})
    dm.apply(state, "ADD_MODULE", {"id": "m2", "name": "misc", "description": "Other"})
    dm.apply(state, "ADD_MODULE", {"id": "m3", "name": "x", "description": None})
    assert dm.modules(state) == [
        dm.module("m1", "todos"),
        dm.module("m2", "misc", description="Other"),
        dm.module("m3", "x"),
    ]


def test_add_module_duplicate_id_legacy_appends_e7_refuses(dm: DocumentModelDriver) -> None:
    state = dm.new_state()
    dm.apply(state, "ADD_MODULE", {"id": "m1", "name": "a"}, era="E6a")
    dm.apply(state, "ADD_MODULE", {"id": "m1", "name": "b"}, era="E6a")
    assert _ids(dm.modules(state)) == ["m1", "m1"]
    dm.refuse(
        state,
        "ADD_MODULE",
        {"id": "m1", "name": "c"},
        SpecTargetExistsError,
        'Module "m1" already exists in the latest specification',
    )


def test_set_module_name_and_description(dm: DocumentModelDriver, todo_state: JsonDict) -> None:
    dm.apply(todo_state, "SET_MODULE_NAME", {"id": "m2", "name": "extras"})
    dm.apply(todo_state, "SET_MODULE_DESCRIPTION", {"id": "m2", "description": "More"})
    assert dm.modules(todo_state)[1] == dm.module("m2", "extras", description="More")
    # `|| ""`: null and a missing field both store "".
    dm.apply(todo_state, "SET_MODULE_NAME", {"id": "m2", "name": None})
    dm.apply(todo_state, "SET_MODULE_DESCRIPTION", {"id": "m2"})
    assert dm.modules(todo_state)[1] == dm.module("m2", "")


def test_module_setters_legacy_edit_every_match_e7_the_first(dm: DocumentModelDriver) -> None:
    state = dm.new_state()
    for name in ("a", "b"):
        dm.apply(state, "ADD_MODULE", {"id": "dup", "name": name}, era="E5")
    dm.apply(state, "SET_MODULE_NAME", {"id": "dup", "name": "legacy"}, era="E5")
    assert [m["name"] for m in dm.modules(state)] == ["legacy", "legacy"]
    dm.apply(state, "SET_MODULE_DESCRIPTION", {"id": "dup", "description": "d"}, era="E7")
    dm.apply(state, "SET_MODULE_NAME", {"id": "dup", "name": "head"}, era="E7")
    assert [(m["name"], m["description"]) for m in dm.modules(state)] == [
        ("head", "d"),
        ("legacy", ""),
    ]


@pytest.mark.parametrize(
    ("action_type", "payload"),
    [
        ("SET_MODULE_NAME", {"id": "nope", "name": "x"}),
        ("SET_MODULE_DESCRIPTION", {"id": "nope", "description": "x"}),
        ("DELETE_MODULE", {"id": "nope"}),
    ],
)
def test_module_actions_on_unknown_id(
    dm: DocumentModelDriver, todo_state: JsonDict, action_type: str, payload: JsonDict
) -> None:
    before = hash_scope_state(todo_state["global"])
    dm.apply(todo_state, action_type, payload, era="E6a")  # legacy: silent no-op
    assert hash_scope_state(todo_state["global"]) == before
    dm.refuse(
        todo_state,
        action_type,
        payload,
        SpecTargetNotFoundError,
        'Module "nope" not found in the latest specification',
    )


def test_delete_module_removes_it_with_its_operations(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    dm.apply(todo_state, "DELETE_MODULE", {"id": "m1"})
    assert dm.modules(todo_state) == [dm.module("m2", "misc")]


@pytest.mark.parametrize("era", ["E5", "E7"])
def test_delete_module_removes_every_copy(dm: DocumentModelDriver, era: str) -> None:
    state = dm.new_state()
    for module_id in ("dup", "keep", "dup"):
        dm.apply(state, "ADD_MODULE", {"id": module_id, "name": module_id}, era="E5")
    dm.apply(state, "DELETE_MODULE", {"id": "dup"}, era=era)
    assert _ids(dm.modules(state)) == ["keep"]


def _modules(dm: DocumentModelDriver, ids: str) -> JsonDict:
    state = dm.new_state()
    for module_id in ids:
        dm.apply(state, "ADD_MODULE", {"id": module_id, "name": module_id.lower()}, era="E5")
    return state


@pytest.mark.parametrize(
    ("items", "order", "legacy", "head"),
    [
        # The spec's node-checked examples of the legacy comparator (rank 0 is falsy).
        ("ABC", "ABC", "ACB", "ABC"),
        ("ABC", "CBA", "CAB", "CBA"),
        ("ABCD", "BA", "BCDA", "BACD"),
        ("ABCDE", "EDCBA", "EABCD", "EDCBA"),
        ("ABC", "", "ABC", "ABC"),
        # A repeated id keeps its last position (C=2, A=1).
        ("ABC", "CAC", "BCA", "ACB"),
    ],
)
def test_reorder_modules_legacy_comparator_and_order_by(
    dm: DocumentModelDriver, items: str, order: str, legacy: str, head: str
) -> None:
    old = _modules(dm, items)
    dm.apply(old, "REORDER_MODULES", {"order": list(order)}, era="E6a")
    assert "".join(_ids(dm.modules(old))) == legacy
    new = _modules(dm, items)
    dm.apply(new, "REORDER_MODULES", {"order": list(order)}, era="E7")
    assert "".join(_ids(dm.modules(new))) == head


def test_reorder_modules_legacy_ignores_unknown_ids_e7_refuses(dm: DocumentModelDriver) -> None:
    state = _modules(dm, "ABC")
    dm.apply(state, "REORDER_MODULES", {"order": ["Z", "C", "B"]}, era="E3")
    # Keys: A unlisted 999999, B 2, C 1; descending: A, B, C. "Z" is simply never matched.
    assert _ids(dm.modules(state)) == ["A", "B", "C"]
    dm.refuse(
        state,
        "REORDER_MODULES",
        {"order": ["C", "Z", "Y"]},
        UnknownReorderIdError,
        'Cannot reorder: unknown id "Z"',
    )


def test_reorder_modules_keeps_module_contents(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    dm.apply(todo_state, "REORDER_MODULES", {"order": ["m2", "m1"]})
    assert dm.modules(todo_state) == [
        dm.module("m2", "misc"),
        dm.module("m1", "todos", dm.operation("o1", "ADD_TODO"), dm.operation("o2", "REMOVE_TODO")),
    ]
