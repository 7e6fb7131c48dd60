"""The dated rule versions: which era applies when, and what changes between eras."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from reactor_es.document.exceptions import InvalidActionInputError
from reactor_es.document.hashing import hash_scope_state
from reactor_es.document.model import ReduceContext
from reactor_es.document.types import Action, JsonDict
from reactor_es.models.document_model import RULE_VERSIONS, DocumentModelModel
from reactor_es.models.document_model.exceptions import (
    InvalidScopeError,
    OperationNameFormatError,
    ReservedOperationNameError,
    SpecTargetExistsError,
)
from reactor_es.models.document_model.inputs import AddOperationInputE1, SetStateSchemaInput

if TYPE_CHECKING:
    from tests.models.conftest import DocumentModelDriver


def test_the_era_table() -> None:
    assert [(v.name, v.since, sorted(v.flags)) for v in RULE_VERSIONS] == [
        (
            "E0",
            "2023-07-01T00:00:00.000Z",
            ["legacy_reorder", "literal_operation_scope", "minted_ids", "unscoped_layout"],
        ),
        (
            "E1",
            "2023-08-02T00:00:00.000Z",
            ["legacy_reorder", "literal_operation_scope", "unscoped_layout"],
        ),
        (
            "E2",
            "2023-11-16T00:00:00.000Z",
            ["legacy_reorder", "literal_operation_scope", "operation_scope", "unscoped_layout"],
        ),
        (
            "E3",
            "2023-12-14T00:00:00.000Z",
            ["legacy_reorder", "literal_operation_scope", "operation_scope"],
        ),
        ("E3z", "2025-07-30T00:00:00.000Z", ["legacy_reorder", "operation_scope"]),
        (
            "E4",
            "2025-12-23T00:00:00.000Z",
            ["legacy_reorder", "operation_scope", "release_new_version"],
        ),
        (
            "E5",
            "2025-12-30T00:00:00.000Z",
            ["legacy_reorder", "name_validation", "operation_scope", "release_new_version"],
        ),
        (
            "E5a",
            "2026-05-12T00:00:00.000Z",
            [
                "legacy_reorder",
                "name_validation",
                "operation_scope",
                "release_new_version",
                "reserved_preferred_editor",
            ],
        ),
        (
            "E6",
            "2026-05-14T00:00:00.000Z",
            [
                "legacy_reorder",
                "name_validation",
                "operation_scope",
                "release_new_version",
                "reserved_preferred_editor",
                "strict_target",
            ],
        ),
        (
            "E6a",
            "2026-05-25T00:00:00.000Z",
            [
                "legacy_reorder",
                "name_format",
                "name_validation",
                "operation_scope",
                "release_new_version",
                "reserved_preferred_editor",
                "strict_target",
            ],
        ),
        (
            "E7",
            "2026-05-27T00:00:00.000Z",
            [
                "name_format",
                "name_validation",
                "operation_scope",
                "release_new_version",
                "reserved_preferred_editor",
                "strict_lookup",
                "strict_target",
            ],
        ),
    ]


@pytest.mark.parametrize(
    ("timestamp", "era"),
    [
        ("2020-01-01T00:00:00.000Z", "E0"),  # older than anything known: the oldest rules
        ("2023-08-01T23:59:59.999Z", "E0"),
        ("2023-08-02T00:00:00.000Z", "E1"),
        ("2023-12-21T12:43:22.176Z", "E3"),  # rwa-portfolio.phdm.zip, first op
        ("2025-07-29T23:59:59.999Z", "E3"),
        ("2025-07-30T00:00:00Z", "E3z"),
        ("2025-12-23T15:43:16.710Z", "E4"),  # versioned-todo.zip
        ("2025-12-30T00:00:00.000Z", "E5"),
        ("2026-05-12T08:00:00.000+00:00", "E5a"),
        ("2026-05-14T00:00:00.001Z", "E6"),
        ("2026-05-26T23:59:59.999Z", "E6a"),
        ("2026-05-27T00:00:00.000Z", "E7"),
        ("2031-01-01T00:00:00.000Z", "E7"),
    ],
)
def test_rules_at(document_model: DocumentModelModel, timestamp: str, era: str) -> None:
    assert document_model.rules_at(timestamp).name == era


def test_fresh_actions_get_the_latest_rules(document_model: DocumentModelModel) -> None:
    assert document_model.rules_at(None).name == "E7"
    state = document_model.initial_state()
    for _ in range(2):
        action = Action(
            id="a",
            type="ADD_MODULE",
            timestamp_utc_ms="2024-01-01T00:00:00.000Z",
            input={"id": "m", "name": "m"},
        )
        ctx = ReduceContext(action)  # no rules given: the model's newest apply
        if state["global"]["specifications"][0]["modules"]:
            with pytest.raises(SpecTargetExistsError):
                document_model.reduce(state, action, ctx)
        else:
            document_model.reduce(state, action, ctx)
        assert ctx.rules.name == "E7"
    assert len(state["global"]["specifications"][0]["modules"]) == 1


def _with_op_named(dm: DocumentModelDriver, name: str, era: str) -> JsonDict:
    state = dm.new_state()
    dm.apply(state, "ADD_MODULE", {"id": "m", "name": "m"}, era=era)
    dm.apply(state, "ADD_OPERATION", {"id": "o", "moduleId": "m", "name": name}, era=era)
    return state


@pytest.mark.parametrize("era", ["E3", "E3z", "E4"])
def test_an_operation_named_set_name_is_accepted_before_e5(
    dm: DocumentModelDriver, era: str
) -> None:
    state = _with_op_named(dm, "SET_NAME", era)
    assert dm.modules(state)[0]["operations"][0]["name"] == "SET_NAME"


@pytest.mark.parametrize("name", ["SET_NAME", "set_name", "Noop", "LOAD_STATE", "redo"])
def test_reserved_names_are_refused_from_e5(dm: DocumentModelDriver, name: str) -> None:
    state = _with_op_named(dm, "", "E5")
    dm.refuse(
        state,
        "ADD_OPERATION",
        {"id": "o2", "moduleId": "m", "name": name},
        ReservedOperationNameError,
        f'Operation name "{name}" is reserved. Please use a different name.',
        era="E5",
    )


def test_set_preferred_editor_is_reserved_from_2026_05_12(dm: DocumentModelDriver) -> None:
    state = _with_op_named(dm, "SET_PREFERRED_EDITOR", "E5")
    assert dm.modules(state)[0]["operations"][0]["name"] == "SET_PREFERRED_EDITOR"
    dm.refuse(
        _with_op_named(dm, "", "E5a"),
        "ADD_OPERATION",
        {"id": "o2", "moduleId": "m", "name": "SET_PREFERRED_EDITOR"},
        ReservedOperationNameError,
        'Operation name "SET_PREFERRED_EDITOR" is reserved. Please use a different name.',
        era="E5a",
    )


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("addTodo", ' Did you mean "ADD_TODO"?'),
        ("set_name", ' Did you mean "SET_NAME"?'),  # the format check comes first
        ("Add todo-item", ' Did you mean "ADD_TODO_ITEM"?'),
        ("XMLHttpRequest2", ' Did you mean "XML_HTTP_REQUEST2"?'),
        ("_PRIVATE", ' Did you mean "PRIVATE"?'),
        ("9LIVES", ""),  # "9LIVES" itself does not start with a letter
        ("été", ""),  # "ÉTÉ" does not match ^[A-Z][A-Z0-9_]*$ either: no suggestion
        ("---", ""),
    ],
)
def test_name_format_from_2026_05_25(dm: DocumentModelDriver, name: str, hint: str) -> None:
    state = _with_op_named(dm, "", "E6a")
    dm.refuse(
        state,
        "ADD_OPERATION",
        {"id": "o2", "moduleId": "m", "name": name},
        OperationNameFormatError,
        f'Operation name "{name}" is invalid. Names must be SCREAMING_SNAKE_CASE '
        f"(matching ^[A-Z][A-Z0-9_]*$).{hint}",
        era="E6a",
    )
    # The same name was only checked for reserved/duplicate the day before.
    ok = _with_op_named(dm, "", "E6")
    if name != "set_name":
        dm.apply(ok, "ADD_OPERATION", {"id": "o2", "moduleId": "m", "name": name}, era="E6")
        assert dm.modules(ok)[0]["operations"][1]["name"] == name


def test_empty_names_are_never_checked(dm: DocumentModelDriver) -> None:
    state = _with_op_named(dm, "", "E7")
    dm.apply(state, "ADD_OPERATION", {"id": "o2", "moduleId": "m", "name": ""})
    dm.apply(state, "SET_OPERATION_NAME", {"id": "o2", "name": ""})
    assert [op["name"] for op in dm.modules(state)[0]["operations"]] == ["", ""]


# -- E0-E2: unscoped layout, minted ids, no operation scope -------------------------------


def _unscoped_state() -> JsonDict:
    """A 2023 document-model state: the model object itself, `spec.state` unscoped."""
    return {
        "id": "",
        "name": "",
        "extension": "",
        "description": "",
        "author": {"name": "", "website": ""},
        "specifications": [
            {
                "version": 1,
                "changeLog": [],
                "state": {"schema": "", "initialValue": "", "examples": []},
                "modules": [],
            }
        ],
    }


def test_import_state_puts_an_unscoped_state_under_global(
    document_model: DocumentModelModel,
) -> None:
    old = _unscoped_state()
    imported = document_model.import_state(old)
    assert imported == {"global": old, "local": {}}
    # The hash of `global` is the hash of the whole old state, as Powerhouse recorded it.
    assert hash_scope_state(imported["global"]) == hash_scope_state(old)
    scoped = document_model.initial_state()
    assert document_model.import_state(scoped) is scoped


@pytest.mark.parametrize("era", ["E0", "E1", "E2"])
def test_unscoped_state_actions_edit_the_single_state_spec(
    dm: DocumentModelDriver, document_model: DocumentModelModel, era: str
) -> None:
    state = document_model.import_state(_unscoped_state())
    dm.apply(state, "SET_STATE_SCHEMA", {"schema": "type S { a: Int }"}, era=era)
    dm.apply(state, "SET_INITIAL_STATE", {"initialValue": '{"a": 1}', "scope": 5}, era=era)
    dm.apply(state, "ADD_STATE_EXAMPLE", {"id": "x1", "example": "{}"}, era=era)
    dm.apply(state, "ADD_STATE_EXAMPLE", {"id": "x2", "example": "{}"}, era=era)
    dm.apply(state, "UPDATE_STATE_EXAMPLE", {"id": "x2", "newExample": "[]"}, era=era)
    # Legacy comparator: x2 (rank 0, falsy) sorts with the unlisted, x1 (rank 1) last.
    dm.apply(state, "REORDER_STATE_EXAMPLES", {"order": ["x2", "x1"]}, era=era)
    dm.apply(state, "DELETE_STATE_EXAMPLE", {"id": "zz"}, era=era)
    spec_state = dm.spec(state)["state"]
    if era == "E0":  # example ids were minted by the reducer: 28-char base64 SHA-1
        assert [len(e["id"]) for e in spec_state["examples"]] == [28, 28]
        assert spec_state["examples"][0]["id"] != "x1"
        assert [e["value"] for e in spec_state["examples"]] == ["{}", "{}"]
    else:
        assert spec_state == {
            "schema": "type S { a: Int }",
            "initialValue": '{"a": 1}',
            "examples": [{"id": "x2", "value": "[]"}, {"id": "x1", "value": "{}"}],
        }
    assert spec_state["schema"] == "type S { a: Int }"


def test_scoped_rules_on_an_unscoped_state_refuse_the_scope(
    dm: DocumentModelDriver, document_model: DocumentModelModel
) -> None:
    state = document_model.import_state(_unscoped_state())
    dm.refuse(
        state,
        "SET_STATE_SCHEMA",
        {"scope": "global", "schema": "s"},
        InvalidScopeError,
        "Invalid scope: global",
        era="E3",
    )


@pytest.mark.parametrize(
    ("action_type", "payload"),
    [
        ("ADD_MODULE", {"id": "given", "name": "m2"}),
        ("ADD_OPERATION", {"id": "given", "moduleId": "m", "name": "GO"}),
        ("ADD_OPERATION_ERROR", {"id": "given", "operationId": "o"}),
        ("ADD_OPERATION_EXAMPLE", {"id": "given", "operationId": "o", "example": "{}"}),
        ("ADD_STATE_EXAMPLE", {"id": "given", "example": "{}"}),
    ],
)
def test_e0_mints_every_new_id(
    dm: DocumentModelDriver, document_model: DocumentModelModel, action_type: str, payload: JsonDict
) -> None:
    state = document_model.import_state(_unscoped_state())
    dm.apply(state, "ADD_MODULE", {"id": "m", "name": "m"}, era="E1")
    dm.apply(state, "ADD_OPERATION", {"id": "o", "moduleId": "m", "name": "X"}, era="E1")
    before = repr(state)
    dm.apply(state, action_type, payload, era="E0")
    assert "given" not in repr(state)
    assert repr(state) != before
    # Without the id, E1 refuses the same input and names the field.
    without_id = {k: v for k, v in payload.items() if k != "id"}
    with pytest.raises(InvalidActionInputError) as caught:
        dm.apply(state, action_type, without_id, era="E1")
    assert caught.value.field == "id"


def test_operations_have_no_scope_before_e2(
    dm: DocumentModelDriver, document_model: DocumentModelModel
) -> None:
    state = document_model.import_state(_unscoped_state())
    dm.apply(state, "ADD_MODULE", {"id": "m", "name": "m"}, era="E1")
    # Before E2 `scope` was no field at all: any value passes and nothing is stored.
    dm.apply(
        state, "ADD_OPERATION", {"id": "o", "moduleId": "m", "name": "X", "scope": 7}, era="E1"
    )
    assert "scope" not in dm.modules(state)[0]["operations"][0]
    # SET_OPERATION_SCOPE did not exist: an unknown type, whatever its input.
    dm.apply(state, "SET_OPERATION_SCOPE", {"id": "o", "scope": None}, era="E1")
    assert "scope" not in dm.modules(state)[0]["operations"][0]
    assert document_model.input_model("SET_OPERATION_SCOPE", RULE_VERSIONS[1]) is None
    assert document_model.input_model("ADD_OPERATION", RULE_VERSIONS[1]) is AddOperationInputE1
    dm.apply(state, "SET_OPERATION_SCOPE", {"id": "o", "scope": "local"}, era="E2")
    assert dm.modules(state)[0]["operations"][0]["scope"] == "local"


@pytest.mark.parametrize(
    ("era", "accepted"), [("E2", False), ("E3", False), ("E3z", True), ("E7", True)]
)
def test_add_operation_scope_literal_until_e3z(
    dm: DocumentModelDriver, era: str, accepted: bool
) -> None:
    state = _with_op_named(dm, "", "E3")
    payload = {"id": "o2", "moduleId": "m", "name": "", "scope": "custom"}
    if accepted:
        dm.apply(state, "ADD_OPERATION", payload, era=era)
        assert dm.modules(state)[0]["operations"][1]["scope"] == "custom"
    else:
        with pytest.raises(InvalidActionInputError) as caught:
            dm.apply(state, "ADD_OPERATION", payload, era=era)
        assert (caught.value.field, caught.value.problem) == (
            "scope",
            "Input should be 'global' or 'local'",
        )


def test_latest_rules_use_todays_schemas(document_model: DocumentModelModel) -> None:
    assert document_model.input_model("SET_STATE_SCHEMA", RULE_VERSIONS[-1]) is SetStateSchemaInput
    assert document_model.input_model("RELEASE_NEW_VERSION", RULE_VERSIONS[-1]) is None
    assert document_model.input_model("NOT_AN_ACTION", RULE_VERSIONS[-1]) is None
