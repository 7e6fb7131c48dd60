"""Operation group: add, set fields, scope, move, delete and reorder operations."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import pytest

from reactor_es.document.exceptions import InvalidActionInputError
from reactor_es.document.hashing import hash_scope_state
from reactor_es.document.types import JsonDict
from reactor_es.models.document_model.exceptions import (
    InvalidScopeError,
    OperationNameTakenError,
    ReservedOperationNameError,
    SpecTargetDuplicatedError,
    SpecTargetExistsError,
    SpecTargetNotFoundError,
    UnknownReorderIdError,
)

if TYPE_CHECKING:
    from tests.models.conftest import DocumentModelDriver


def _ids(items: list[JsonDict]) -> list[str]:
    return [item["id"] for item in items]


def _ops(dm: DocumentModelDriver, state: JsonDict, position: int = 0) -> list[JsonDict]:
    ops: list[JsonDict] = dm.modules(state)[position]["operations"]
    return ops


# -- ADD_OPERATION --------------------------------------------------------------------------


def test_add_operation_worked_example(dm: DocumentModelDriver) -> None:
    """document-model-ops.md §5 (versioned-todo.zip ops 8-9)."""
    state = dm.new_state()
    dm.apply(state, "ADD_MODULE", {"id": "M", "name": "todo_operations"}, era="E4")
    dm.apply(state, "ADD_OPERATION", {"moduleId": "M", "id": "O", "name": "ADD_TODO"}, era="E4")
    assert dm.modules(state) == [
        {
            "id": "M",
            "name": "todo_operations",
            "description": "",
            "operations": [
                {
                    "id": "O",
                    "name": "ADD_TODO",
                    "description": "",
                    "schema": "",
                    "template": "",
                    "reducer": "",
                    "errors": [],
                    "examples": [],
                    "scope": "global",
                }
            ],
        }
    ]


def test_add_operation_stores_fields_and_falls_back_template_to_description(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    full = {
        "id": "o3",
        "moduleId": "m2",
        "name": "RENAME",
        "description": "Renames",
        "schema": "input RenameInput { name: String! }",
        "template": "Template",
        "reducer": "state.name = action.input.name;",
        "scope": "local",
    }
    dm.apply(todo_state, "ADD_OPERATION", full)
    dm.apply(
        todo_state,
        "ADD_OPERATION",
        {"id": "o4", "moduleId": "m2", "name": "CLEAR", "description": "Clears", "template": ""},
    )
    dm.apply(
        todo_state,
        "ADD_OPERATION",
        {"id": "o5", "moduleId": "m2", "name": "", "description": None, "scope": ""},
    )
    assert _ops(dm, todo_state, 1) == [
        dm.operation(
            "o3",
            "RENAME",
            description="Renames",
            schema="input RenameInput { name: String! }",
            template="Template",
            reducer="state.name = action.input.name;",
            scope="local",
        ),
        dm.operation("o4", "CLEAR", description="Clears", template="Clears"),
        dm.operation("o5", ""),
    ]


def test_add_operation_legacy_adds_a_separate_copy_to_every_module_with_the_id(
    dm: DocumentModelDriver,
) -> None:
    state = dm.new_state()
    for _ in range(2):
        dm.apply(state, "ADD_MODULE", {"id": "dup", "name": "twin"}, era="E5")
    dm.apply(state, "ADD_OPERATION", {"id": "o1", "moduleId": "dup", "name": "GO"}, era="E5")
    assert _ops(dm, state, 0) == _ops(dm, state, 1) == [dm.operation("o1", "GO")]
    assert _ops(dm, state, 0)[0] is not _ops(dm, state, 1)[0]
    dm.apply(state, "ADD_OPERATION_ERROR", {"id": "e1", "operationId": "o1"}, era="E5")
    assert [len(_ops(dm, state, i)[0]["errors"]) for i in (0, 1)] == [1, 1]


def test_add_operation_unknown_module_legacy_noop_e6_refuses(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    payload = {"id": "o9", "moduleId": "nope", "name": "GO"}
    before = hash_scope_state(todo_state["global"])
    dm.apply(todo_state, "ADD_OPERATION", payload, era="E5a")
    assert hash_scope_state(todo_state["global"]) == before
    for era in ("E6", "E7"):
        dm.refuse(
            todo_state,
            "ADD_OPERATION",
            payload,
            SpecTargetNotFoundError,
            'Module "nope" not found in the latest specification',
            era=era,
        )


def test_add_operation_e7_refuses_an_existing_operation_id(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    payload = {"id": "o1", "moduleId": "m2", "name": "OTHER"}
    e6_state = copy.deepcopy(todo_state)
    dm.apply(e6_state, "ADD_OPERATION", payload, era="E6")
    assert _ids(_ops(dm, e6_state, 1)) == ["o1"]  # E6 still accepted a duplicate id
    dm.refuse(
        todo_state,
        "ADD_OPERATION",
        payload,
        SpecTargetExistsError,
        'Operation "o1" already exists in the latest specification',
    )


def test_add_operation_e7_check_order_name_then_id_then_module(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    dm.refuse(
        todo_state,
        "ADD_OPERATION",
        {"id": "o1", "moduleId": "nope", "name": "UNDO"},
        ReservedOperationNameError,
        'Operation name "UNDO" is reserved. Please use a different name.',
    )
    dm.refuse(
        todo_state,
        "ADD_OPERATION",
        {"id": "o1", "moduleId": "nope", "name": "FRESH"},
        SpecTargetExistsError,
        'Operation "o1" already exists in the latest specification',
    )


def test_add_operation_name_must_be_unique_across_modules_from_e5(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    payload = {"id": "o3", "moduleId": "m2", "name": "add_todo"}
    dm.refuse(
        todo_state,
        "ADD_OPERATION",
        payload,
        OperationNameTakenError,
        'Operation name "add_todo" is already used by another operation. '
        "Operation names must be unique across all modules.",
        era="E5",
    )
    dm.apply(todo_state, "ADD_OPERATION", payload, era="E4")
    assert _ids(_ops(dm, todo_state, 1)) == ["o3"]


# -- setters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action_type", "field", "key"),
    [
        ("SET_OPERATION_SCHEMA", "schema", "schema"),
        ("SET_OPERATION_DESCRIPTION", "description", "description"),
        ("SET_OPERATION_TEMPLATE", "template", "template"),
        ("SET_OPERATION_REDUCER", "reducer", "reducer"),
        ("SET_OPERATION_NAME", "name", "name"),
    ],
)
def test_operation_setters(
    dm: DocumentModelDriver, todo_state: JsonDict, action_type: str, field: str, key: str
) -> None:
    dm.apply(todo_state, action_type, {"id": "o2", field: "NEW_VALUE"})
    assert _ops(dm, todo_state)[1][key] == "NEW_VALUE"
    assert _ops(dm, todo_state)[0] == dm.operation("o1", "ADD_TODO")
    dm.apply(todo_state, action_type, {"id": "o2", field: None})
    assert _ops(dm, todo_state)[1][key] == ""
    dm.apply(todo_state, action_type, {"id": "o2"})
    assert _ops(dm, todo_state)[1][key] == ""


def test_set_operation_description_leaves_the_template_alone(dm: DocumentModelDriver) -> None:
    state = dm.new_state()
    dm.apply(state, "ADD_MODULE", {"id": "m", "name": "m"})
    dm.apply(state, "ADD_OPERATION", {"id": "o", "moduleId": "m", "name": "GO", "description": "a"})
    dm.apply(state, "SET_OPERATION_DESCRIPTION", {"id": "o", "description": "b"})
    assert _ops(dm, state) == [dm.operation("o", "GO", description="b", template="a")]


def test_set_operation_reducer_ignores_extra_keys(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    """AccountTransactions.phd ops 24-25 sent `code` instead of `reducer`: stored ""."""
    dm.apply(todo_state, "SET_OPERATION_REDUCER", {"id": "o1", "reducer": "x"})
    dm.apply(todo_state, "SET_OPERATION_REDUCER", {"id": "o1", "code": "return state;"})
    assert _ops(dm, todo_state)[0]["reducer"] == ""
    assert "code" not in _ops(dm, todo_state)[0]


@pytest.mark.parametrize(
    "action_type",
    [
        "SET_OPERATION_SCHEMA",
        "SET_OPERATION_DESCRIPTION",
        "SET_OPERATION_TEMPLATE",
        "SET_OPERATION_REDUCER",
        "SET_OPERATION_NAME",
    ],
)
def test_operation_setters_legacy_every_match_e7_first_or_refuse(
    dm: DocumentModelDriver, action_type: str
) -> None:
    state = dm.new_state()
    dm.apply(state, "ADD_MODULE", {"id": "a", "name": "a"}, era="E4")
    dm.apply(state, "ADD_MODULE", {"id": "b", "name": "b"}, era="E4")
    for module_id in ("a", "b"):
        dm.apply(state, "ADD_OPERATION", {"id": "o", "moduleId": module_id, "name": ""}, era="E4")
    field = action_type.removeprefix("SET_OPERATION_").lower()
    dm.apply(state, action_type, {"id": "o", field: "LEGACY"}, era="E4")
    assert [_ops(dm, state, i)[0][field] for i in (0, 1)] == ["LEGACY", "LEGACY"]
    dm.apply(state, action_type, {"id": "o", field: "HEAD"}, era="E7")
    assert [_ops(dm, state, i)[0][field] for i in (0, 1)] == ["HEAD", "LEGACY"]
    before = hash_scope_state(state["global"])
    dm.apply(state, action_type, {"id": "zz", field: "X"}, era="E6a")
    assert hash_scope_state(state["global"]) == before
    dm.refuse(
        state,
        action_type,
        {"id": "zz", field: "X"},
        SpecTargetNotFoundError,
        'Operation "zz" not found in the latest specification',
    )


def test_set_operation_name_validates_before_lookup_and_excludes_itself(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    # E5: reserved is refused even for an unknown id (name check comes first).
    dm.refuse(
        todo_state,
        "SET_OPERATION_NAME",
        {"id": "nope", "name": "Prune"},
        ReservedOperationNameError,
        'Operation name "Prune" is reserved. Please use a different name.',
        era="E5",
    )
    dm.refuse(
        todo_state,
        "SET_OPERATION_NAME",
        {"id": "o2", "name": "Add_Todo"},
        OperationNameTakenError,
        'Operation name "Add_Todo" is already used by another operation. '
        "Operation names must be unique across all modules.",
        era="E5",
    )
    # Its own name in another letter case is not a duplicate.
    dm.apply(todo_state, "SET_OPERATION_NAME", {"id": "o1", "name": "Add_Todo"}, era="E5")
    assert _ops(dm, todo_state)[0]["name"] == "Add_Todo"
    # Before E5 none of this was checked.
    dm.apply(todo_state, "SET_OPERATION_NAME", {"id": "o2", "name": "undo"}, era="E4")
    assert _ops(dm, todo_state)[1]["name"] == "undo"


# -- SET_OPERATION_SCOPE --------------------------------------------------------------------


def test_set_operation_scope(dm: DocumentModelDriver, todo_state: JsonDict) -> None:
    dm.apply(todo_state, "SET_OPERATION_SCOPE", {"id": "o1", "scope": "local"})
    assert _ops(dm, todo_state)[0]["scope"] == "local"
    dm.apply(todo_state, "SET_OPERATION_SCOPE", {"id": "o1", "scope": ""})
    assert _ops(dm, todo_state)[0]["scope"] == "global"


def test_set_operation_scope_legacy_every_match_and_any_scope(dm: DocumentModelDriver) -> None:
    state = dm.new_state()
    dm.apply(state, "ADD_MODULE", {"id": "a", "name": "a"}, era="E3z")
    for _ in range(2):
        dm.apply(state, "ADD_OPERATION", {"id": "o", "moduleId": "a", "name": "X"}, era="E3z")
    dm.apply(state, "SET_OPERATION_SCOPE", {"id": "o", "scope": "custom"}, era="E3z")
    assert [op["scope"] for op in _ops(dm, state)] == ["custom", "custom"]
    dm.apply(state, "SET_OPERATION_SCOPE", {"id": "nope", "scope": "local"}, era="E5")
    assert [op["scope"] for op in _ops(dm, state)] == ["custom", "custom"]


def test_set_operation_scope_e6_refuses_unknown_operation_then_scope(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    for era in ("E6", "E7"):
        dm.refuse(
            todo_state,
            "SET_OPERATION_SCOPE",
            {"id": "nope", "scope": "bogus"},
            SpecTargetNotFoundError,
            'Operation "nope" not found in the latest specification',
            era=era,
        )
        dm.refuse(
            todo_state,
            "SET_OPERATION_SCOPE",
            {"id": "o1", "scope": "bogus"},
            InvalidScopeError,
            "Invalid scope: bogus",
            era=era,
        )


def test_set_operation_scope_was_a_literal_before_e3z(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    with pytest.raises(InvalidActionInputError) as caught:
        dm.apply(todo_state, "SET_OPERATION_SCOPE", {"id": "o1", "scope": "custom"}, era="E3")
    assert (caught.value.action_type, caught.value.field) == ("SET_OPERATION_SCOPE", "scope")
    dm.apply(todo_state, "SET_OPERATION_SCOPE", {"id": "o1", "scope": "custom"}, era="E3z")
    assert _ops(dm, todo_state)[0]["scope"] == "custom"


# -- MOVE_OPERATION -------------------------------------------------------------------------


@pytest.mark.parametrize("era", ["E3", "E7"])
def test_move_operation_appends_to_the_destination(
    dm: DocumentModelDriver, todo_state: JsonDict, era: str
) -> None:
    dm.apply(todo_state, "MOVE_OPERATION", {"operationId": "o1", "newModuleId": "m2"}, era=era)
    assert dm.modules(todo_state) == [
        dm.module("m1", "todos", dm.operation("o2", "REMOVE_TODO")),
        dm.module("m2", "misc", dm.operation("o1", "ADD_TODO")),
    ]


@pytest.mark.parametrize("era", ["E3", "E7"])
def test_move_operation_within_its_module_moves_it_to_the_end(
    dm: DocumentModelDriver, todo_state: JsonDict, era: str
) -> None:
    dm.apply(todo_state, "MOVE_OPERATION", {"operationId": "o1", "newModuleId": "m1"}, era=era)
    assert _ids(_ops(dm, todo_state)) == ["o2", "o1"]


def test_move_operation_legacy_loses_it_when_the_destination_is_unknown(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    dm.apply(todo_state, "MOVE_OPERATION", {"operationId": "o1", "newModuleId": "zz"}, era="E6a")
    assert _ids(_ops(dm, todo_state)) == ["o2"]
    assert _ops(dm, todo_state, 1) == []
    before = hash_scope_state(todo_state["global"])
    dm.apply(todo_state, "MOVE_OPERATION", {"operationId": "zz", "newModuleId": "m2"}, era="E6a")
    assert hash_scope_state(todo_state["global"]) == before


def test_move_operation_legacy_moves_every_copy_to_every_destination(
    dm: DocumentModelDriver,
) -> None:
    state = dm.new_state()
    for module_id in ("src", "dst", "src2", "dst"):
        dm.apply(state, "ADD_MODULE", {"id": module_id, "name": module_id}, era="E5")
    dm.apply(state, "ADD_OPERATION", {"id": "o", "moduleId": "src", "name": "A"}, era="E5")
    dm.apply(state, "ADD_OPERATION", {"id": "o", "moduleId": "src2", "name": "B"}, era="E5")
    dm.apply(state, "MOVE_OPERATION", {"operationId": "o", "newModuleId": "dst"}, era="E5")
    moved = [dm.operation("o", "A"), dm.operation("o", "B")]
    assert dm.modules(state) == [
        dm.module("src", "src"),
        dm.module("dst", "dst", *moved),
        dm.module("src2", "src2"),
        dm.module("dst", "dst", *moved),
    ]
    assert _ops(dm, state, 1)[0] is not _ops(dm, state, 3)[0]  # two destinations, two copies


def test_move_operation_e7_resolves_both_ends_first(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    dm.refuse(
        todo_state,
        "MOVE_OPERATION",
        {"operationId": "zz", "newModuleId": "nope"},
        SpecTargetNotFoundError,
        'Module "nope" not found in the latest specification',
    )
    dm.refuse(
        todo_state,
        "MOVE_OPERATION",
        {"operationId": "zz", "newModuleId": "m2"},
        SpecTargetNotFoundError,
        'Operation "zz" not found in the latest specification',
    )
    dm.apply(todo_state, "ADD_OPERATION", {"id": "o1", "moduleId": "m2", "name": "X"}, era="E4")
    dm.refuse(
        todo_state,
        "MOVE_OPERATION",
        {"operationId": "o1", "newModuleId": "m2"},
        SpecTargetDuplicatedError,
        'Operation "o1" is duplicated in the latest specification',
    )


# -- DELETE_OPERATION -----------------------------------------------------------------------


@pytest.mark.parametrize("era", ["E3", "E7"])
def test_delete_operation_removes_every_copy_everywhere(dm: DocumentModelDriver, era: str) -> None:
    state = dm.new_state()
    dm.apply(state, "ADD_MODULE", {"id": "a", "name": "a"}, era="E4")
    dm.apply(state, "ADD_MODULE", {"id": "b", "name": "b"}, era="E4")
    for module_id, op_id in (("a", "x"), ("a", "keep"), ("b", "x")):
        dm.apply(state, "ADD_OPERATION", {"id": op_id, "moduleId": module_id, "name": ""}, era="E4")
    dm.apply(state, "DELETE_OPERATION", {"id": "x"}, era=era)
    assert dm.modules(state) == [dm.module("a", "a", dm.operation("keep", "")), dm.module("b", "b")]


def test_delete_operation_unknown_legacy_noop_e7_refuses(
    dm: DocumentModelDriver, todo_state: JsonDict
) -> None:
    before = hash_scope_state(todo_state["global"])
    dm.apply(todo_state, "DELETE_OPERATION", {"id": "zz"}, era="E6a")
    assert hash_scope_state(todo_state["global"]) == before
    dm.refuse(
        todo_state,
        "DELETE_OPERATION",
        {"id": "zz"},
        SpecTargetNotFoundError,
        'Operation "zz" not found in the latest specification',
    )


# -- REORDER_MODULE_OPERATIONS --------------------------------------------------------------


def _module_with_ops(dm: DocumentModelDriver, ids: str, copies: int = 1) -> JsonDict:
    state = dm.new_state()
    for _ in range(copies):
        dm.apply(state, "ADD_MODULE", {"id": "m", "name": "m"}, era="E5")
    for op_id in ids:
        dm.apply(state, "ADD_OPERATION", {"id": op_id, "moduleId": "m", "name": ""}, era="E5")
    return state


def test_reorder_module_operations_legacy_in_every_module_with_the_id(
    dm: DocumentModelDriver,
) -> None:
    state = _module_with_ops(dm, "ABCD", copies=2)
    dm.apply(state, "REORDER_MODULE_OPERATIONS", {"moduleId": "m", "order": ["B", "A"]}, era="E5")
    assert ["".join(_ids(m["operations"])) for m in dm.modules(state)] == ["BCDA", "BCDA"]


def test_reorder_module_operations_e7_first_module_order_by(dm: DocumentModelDriver) -> None:
    state = _module_with_ops(dm, "ABCD", copies=2)
    dm.apply(state, "REORDER_MODULE_OPERATIONS", {"moduleId": "m", "order": ["B", "A"]})
    assert ["".join(_ids(m["operations"])) for m in dm.modules(state)] == ["BACD", "ABCD"]
    dm.refuse(
        state,
        "REORDER_MODULE_OPERATIONS",
        {"moduleId": "m", "order": ["D", "Q"]},
        UnknownReorderIdError,
        'Cannot reorder: unknown id "Q"',
    )
    dm.refuse(
        state,
        "REORDER_MODULE_OPERATIONS",
        {"moduleId": "zz", "order": []},
        SpecTargetNotFoundError,
        'Module "zz" not found in the latest specification',
    )
