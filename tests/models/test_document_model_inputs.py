"""Input validation of every action: required/optional/list fields, errors that name the field."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest

from reactor_es.document.exceptions import InvalidActionInputError
from reactor_es.document.types import Action
from reactor_es.models.document_model import ERAS, DocumentModelModel
from reactor_es.models.document_model.inputs import INPUT_MODELS

if TYPE_CHECKING:
    from tests.models.conftest import DocumentModelDriver

#: (required strings, optional strings, string lists) per action type, from the spec's tables.
FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "SET_MODEL_NAME": (("name",), (), ()),
    "SET_MODEL_ID": (("id",), (), ()),
    "SET_MODEL_EXTENSION": (("extension",), (), ()),
    "SET_MODEL_DESCRIPTION": (("description",), (), ()),
    "SET_AUTHOR_NAME": (("authorName",), (), ()),
    "SET_AUTHOR_WEBSITE": (("authorWebsite",), (), ()),
    "ADD_MODULE": (("id", "name"), ("description",), ()),
    "SET_MODULE_NAME": (("id",), ("name",), ()),
    "SET_MODULE_DESCRIPTION": (("id",), ("description",), ()),
    "DELETE_MODULE": (("id",), (), ()),
    "REORDER_MODULES": ((), (), ("order",)),
    "ADD_OPERATION": (
        ("id", "moduleId", "name"),
        ("description", "schema", "template", "reducer", "scope"),
        (),
    ),
    "SET_OPERATION_NAME": (("id",), ("name",), ()),
    "SET_OPERATION_SCOPE": (("id", "scope"), (), ()),
    "SET_OPERATION_SCHEMA": (("id",), ("schema",), ()),
    "SET_OPERATION_DESCRIPTION": (("id",), ("description",), ()),
    "SET_OPERATION_TEMPLATE": (("id",), ("template",), ()),
    "SET_OPERATION_REDUCER": (("id",), ("reducer",), ()),
    "MOVE_OPERATION": (("operationId", "newModuleId"), (), ()),
    "DELETE_OPERATION": (("id",), (), ()),
    "REORDER_MODULE_OPERATIONS": (("moduleId",), (), ("order",)),
    "ADD_OPERATION_ERROR": (
        ("id", "operationId"),
        ("errorCode", "errorName", "errorDescription", "errorTemplate"),
        (),
    ),
    "SET_OPERATION_ERROR_CODE": (("id",), ("errorCode",), ()),
    "SET_OPERATION_ERROR_NAME": (("id",), ("errorName",), ()),
    "SET_OPERATION_ERROR_DESCRIPTION": (("id",), ("errorDescription",), ()),
    "SET_OPERATION_ERROR_TEMPLATE": (("id",), ("errorTemplate",), ()),
    "DELETE_OPERATION_ERROR": (("id",), (), ()),
    "REORDER_OPERATION_ERRORS": (("operationId",), (), ("order",)),
    "ADD_OPERATION_EXAMPLE": (("id", "operationId", "example"), (), ()),
    "UPDATE_OPERATION_EXAMPLE": (("id", "example"), (), ()),
    "DELETE_OPERATION_EXAMPLE": (("id",), (), ()),
    "REORDER_OPERATION_EXAMPLES": (("operationId",), (), ("order",)),
    "SET_STATE_SCHEMA": (("scope", "schema"), (), ()),
    "SET_INITIAL_STATE": (("scope", "initialValue"), (), ()),
    "ADD_STATE_EXAMPLE": (("scope", "id", "example"), ("insertBefore",), ()),
    "UPDATE_STATE_EXAMPLE": (("scope", "id", "newExample"), (), ()),
    "DELETE_STATE_EXAMPLE": (("scope", "id"), (), ()),
    "REORDER_STATE_EXAMPLES": (("scope",), (), ("order",)),
    "ADD_CHANGE_LOG_ITEM": (("id", "content"), ("insertBefore",), ()),
    "UPDATE_CHANGE_LOG_ITEM": (("id", "newContent"), (), ()),
    "DELETE_CHANGE_LOG_ITEM": (("id",), (), ()),
    "REORDER_CHANGE_LOG_ITEMS": ((), (), ("order",)),
}

E7 = ERAS["E7"]


def _valid(action_type: str) -> dict[str, Any]:
    required, _, lists = FIELDS[action_type]
    payload: dict[str, Any] = {name: "global" if name == "scope" else "v" for name in required}
    payload.update({name: ["a", "b"] for name in lists})
    return payload


def _validate(model: DocumentModelModel, action_type: str, payload: Any) -> Any:
    action = Action(
        id="a", type=action_type, timestamp_utc_ms="2026-06-01T00:00:00.000Z", input=payload
    )
    return model.validate_input(action, E7)


def _cases(kind: int) -> list[tuple[str, str]]:
    return [(t, f) for t, fields in FIELDS.items() for f in fields[kind]]


def test_the_model_handles_the_43_action_types(document_model: DocumentModelModel) -> None:
    assert sorted(document_model.action_types) == sorted([*FIELDS, "RELEASE_NEW_VERSION"])
    assert len(document_model.action_types) == 43
    for action_type, schema in INPUT_MODELS.items():
        assert document_model.input_model(action_type, E7) is schema
        required, optional, lists = FIELDS[action_type]
        aliases = {
            info.alias or name: info.is_required() for name, info in schema.model_fields.items()
        }
        assert aliases == {
            **dict.fromkeys((*required, *lists), True),
            **dict.fromkeys(optional, False),
        }


@pytest.mark.parametrize("action_type", sorted(FIELDS))
def test_a_complete_input_passes_and_extra_keys_are_ignored(
    document_model: DocumentModelModel, action_type: str
) -> None:
    validated = _validate(document_model, action_type, {**_valid(action_type), "extra": 1})
    assert "extra" not in validated.model_dump(by_alias=True)


@pytest.mark.parametrize(("action_type", "field"), _cases(0))
@pytest.mark.parametrize("bad", ["missing", None, 5, ["v"], True])
def test_required_strings(
    document_model: DocumentModelModel, action_type: str, field: str, bad: Any
) -> None:
    payload = _valid(action_type)
    if bad == "missing":
        del payload[field]
    else:
        payload[field] = bad
    with pytest.raises(InvalidActionInputError) as caught:
        _validate(document_model, action_type, payload)
    assert (caught.value.action_type, caught.value.field) == (action_type, field)
    assert str(caught.value).startswith(f"invalid input for {action_type}: field '{field}': ")


@pytest.mark.parametrize(("action_type", "field"), _cases(1))
def test_optional_strings(document_model: DocumentModelModel, action_type: str, field: str) -> None:
    for ok in ("", "text", None):
        _validate(document_model, action_type, {**_valid(action_type), field: ok})
    for bad in (0, 1.5, {"a": "b"}):
        with pytest.raises(InvalidActionInputError) as caught:
            _validate(document_model, action_type, {**_valid(action_type), field: bad})
        assert caught.value.field == field


@pytest.mark.parametrize(("action_type", "field"), _cases(2))
def test_string_lists(document_model: DocumentModelModel, action_type: str, field: str) -> None:
    _validate(document_model, action_type, {**_valid(action_type), field: []})
    for bad, where in ((None, field), ("ab", field), (["a", 2], f"{field}.1")):
        with pytest.raises(InvalidActionInputError) as caught:
            _validate(document_model, action_type, {**_valid(action_type), field: bad})
        assert caught.value.field == where


def test_snake_case_keys_are_not_the_fields(document_model: DocumentModelModel) -> None:
    with pytest.raises(InvalidActionInputError) as caught:
        _validate(document_model, "ADD_OPERATION", {"id": "o", "module_id": "m", "name": "X"})
    assert str(caught.value) == "invalid input for ADD_OPERATION: field 'moduleId': Field required"


@pytest.mark.parametrize("payload", [None, "text", ["id"], 3])
def test_input_must_be_an_object(document_model: DocumentModelModel, payload: Any) -> None:
    with pytest.raises(InvalidActionInputError) as caught:
        _validate(document_model, "DELETE_MODULE", payload)
    assert str(caught.value) == "invalid input for DELETE_MODULE: field 'input': must be an object"


def test_bad_input_changes_nothing(dm: DocumentModelDriver, todo_state: dict[str, Any]) -> None:
    before = copy.deepcopy(todo_state)
    with pytest.raises(InvalidActionInputError) as caught:
        dm.apply(todo_state, "ADD_OPERATION", {"id": "o3", "moduleId": None, "name": "GO"})
    assert str(caught.value) == (
        "invalid input for ADD_OPERATION: field 'moduleId': Input should be a valid string"
    )
    assert todo_state == before
