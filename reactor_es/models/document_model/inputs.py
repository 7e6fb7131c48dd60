"""Input schemas of the 43 `powerhouse/document-model` actions, per era where they changed.

Field kinds follow Powerhouse's zod schemas: required string (null, a number or a missing
key fail), optional string (string, null or missing) and list of strings. Keys are the
camelCase wire names; extra keys are ignored, as zod's parse result is discarded upstream.

The classes without a suffix are today's (HEAD) schemas. Older eras differ in a few
places, declared as subclasses so a handler sees the same attributes whatever the era:
- E0 minted the id of every new item itself (`*InputE0`),
- E0-E2 had no scopes, so the state-schema actions took no `scope` (`*InputUnscoped`),
- before E2 ADD_OPERATION had no `scope` (`AddOperationInputE1`),
- before E3z an operation scope had to be "global" or "local" (`*InputE2`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from reactor_es.document.hashing import hash_text
from reactor_es.document.ids import utc_now_iso
from reactor_es.document.model import ActionInput, RuleVersion
from reactor_es.models.document_model.rules import (
    LITERAL_OPERATION_SCOPE,
    MINTED_IDS,
    OPERATION_SCOPE,
    UNSCOPED_LAYOUT,
)

__all__ = [
    "INPUT_MODELS",
    "AddChangeLogItemInput",
    "AddModuleInput",
    "AddOperationErrorInput",
    "AddOperationExampleInput",
    "AddOperationInput",
    "AddStateExampleInput",
    "DeleteChangeLogItemInput",
    "DeleteModuleInput",
    "DeleteOperationErrorInput",
    "DeleteOperationExampleInput",
    "DeleteOperationInput",
    "DeleteStateExampleInput",
    "ModelInput",
    "MoveOperationInput",
    "ReorderChangeLogItemsInput",
    "ReorderModuleOperationsInput",
    "ReorderModulesInput",
    "ReorderOperationErrorsInput",
    "ReorderOperationExamplesInput",
    "ReorderStateExamplesInput",
    "SetAuthorNameInput",
    "SetAuthorWebsiteInput",
    "SetInitialStateInput",
    "SetModelDescriptionInput",
    "SetModelExtensionInput",
    "SetModelIdInput",
    "SetModelNameInput",
    "SetModuleDescriptionInput",
    "SetModuleNameInput",
    "SetOperationDescriptionInput",
    "SetOperationErrorCodeInput",
    "SetOperationErrorDescriptionInput",
    "SetOperationErrorNameInput",
    "SetOperationErrorTemplateInput",
    "SetOperationNameInput",
    "SetOperationReducerInput",
    "SetOperationSchemaInput",
    "SetOperationScopeInput",
    "SetOperationTemplateInput",
    "SetStateSchemaInput",
    "UpdateChangeLogItemInput",
    "UpdateOperationExampleInput",
    "UpdateStateExampleInput",
    "era_input_model",
    "minted_id",
]


class ModelInput(ActionInput):
    """Strict, camelCase on the wire only (a snake_case key is not the field), extras ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=False, validate_by_alias=True, extra="ignore"
    )


class _OlderSchema(ModelInput):
    """A schema of an older era: `absent_keys` did not exist then, so they are not checked."""

    absent_keys: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _forget_absent_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {key: value for key, value in data.items() if key not in cls.absent_keys}
        return data


def minted_id() -> str:
    """An id as the E0 reducer minted it: base64(sha1(ISO time + random)); not reproducible."""
    return hash_text(utc_now_iso() + repr(random.random()))


# -- header -----------------------------------------------------------------------------


class SetModelNameInput(ModelInput):
    name: str


class SetModelIdInput(ModelInput):
    id: str


class SetModelExtensionInput(ModelInput):
    extension: str


class SetModelDescriptionInput(ModelInput):
    description: str


class SetAuthorNameInput(ModelInput):
    author_name: str


class SetAuthorWebsiteInput(ModelInput):
    author_website: str


# -- modules ----------------------------------------------------------------------------


class AddModuleInput(ModelInput):
    id: str
    name: str
    description: str | None = None


class SetModuleNameInput(ModelInput):
    id: str
    name: str | None = None


class SetModuleDescriptionInput(ModelInput):
    id: str
    description: str | None = None


class DeleteModuleInput(ModelInput):
    id: str


class ReorderModulesInput(ModelInput):
    order: list[str]


# -- operations -------------------------------------------------------------------------


class AddOperationInput(ModelInput):
    id: str
    module_id: str
    name: str
    description: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    template: str | None = None
    reducer: str | None = None
    scope: str | None = None


class SetOperationNameInput(ModelInput):
    id: str
    name: str | None = None


class SetOperationScopeInput(ModelInput):
    id: str
    scope: str


class SetOperationSchemaInput(ModelInput):
    id: str
    schema_: str | None = Field(default=None, alias="schema")


class SetOperationDescriptionInput(ModelInput):
    id: str
    description: str | None = None


class SetOperationTemplateInput(ModelInput):
    id: str
    template: str | None = None


class SetOperationReducerInput(ModelInput):
    id: str
    reducer: str | None = None


class MoveOperationInput(ModelInput):
    operation_id: str
    new_module_id: str


class DeleteOperationInput(ModelInput):
    id: str


class ReorderModuleOperationsInput(ModelInput):
    module_id: str
    order: list[str]


# -- operation errors -------------------------------------------------------------------


class AddOperationErrorInput(ModelInput):
    id: str
    operation_id: str
    error_code: str | None = None
    error_name: str | None = None
    error_description: str | None = None
    error_template: str | None = None


class SetOperationErrorCodeInput(ModelInput):
    id: str
    error_code: str | None = None


class SetOperationErrorNameInput(ModelInput):
    id: str
    error_name: str | None = None


class SetOperationErrorDescriptionInput(ModelInput):
    id: str
    error_description: str | None = None


class SetOperationErrorTemplateInput(ModelInput):
    id: str
    error_template: str | None = None


class DeleteOperationErrorInput(ModelInput):
    id: str


class ReorderOperationErrorsInput(ModelInput):
    operation_id: str
    order: list[str]


# -- operation examples -----------------------------------------------------------------


class AddOperationExampleInput(ModelInput):
    id: str
    operation_id: str
    example: str


class UpdateOperationExampleInput(ModelInput):
    id: str
    example: str


class DeleteOperationExampleInput(ModelInput):
    id: str


class ReorderOperationExamplesInput(ModelInput):
    operation_id: str
    order: list[str]


# -- state schema -----------------------------------------------------------------------


class SetStateSchemaInput(ModelInput):
    scope: str
    schema_: str = Field(alias="schema")


class SetInitialStateInput(ModelInput):
    scope: str
    initial_value: str


class AddStateExampleInput(ModelInput):
    scope: str
    id: str
    example: str
    insert_before: str | None = None  # accepted, never used by any era


class UpdateStateExampleInput(ModelInput):
    scope: str
    id: str
    new_example: str


class DeleteStateExampleInput(ModelInput):
    scope: str
    id: str


class ReorderStateExamplesInput(ModelInput):
    scope: str
    order: list[str]


# -- versioning -------------------------------------------------------------------------


class AddChangeLogItemInput(ModelInput):
    id: str
    content: str
    insert_before: str | None = None


class UpdateChangeLogItemInput(ModelInput):
    id: str
    new_content: str


class DeleteChangeLogItemInput(ModelInput):
    id: str


class ReorderChangeLogItemsInput(ModelInput):
    order: list[str]


#: Today's schema of every action type that has one (RELEASE_NEW_VERSION has none).
INPUT_MODELS: dict[str, type[ModelInput]] = {
    "SET_MODEL_NAME": SetModelNameInput,
    "SET_MODEL_ID": SetModelIdInput,
    "SET_MODEL_EXTENSION": SetModelExtensionInput,
    "SET_MODEL_DESCRIPTION": SetModelDescriptionInput,
    "SET_AUTHOR_NAME": SetAuthorNameInput,
    "SET_AUTHOR_WEBSITE": SetAuthorWebsiteInput,
    "ADD_MODULE": AddModuleInput,
    "SET_MODULE_NAME": SetModuleNameInput,
    "SET_MODULE_DESCRIPTION": SetModuleDescriptionInput,
    "DELETE_MODULE": DeleteModuleInput,
    "REORDER_MODULES": ReorderModulesInput,
    "ADD_OPERATION": AddOperationInput,
    "SET_OPERATION_NAME": SetOperationNameInput,
    "SET_OPERATION_SCOPE": SetOperationScopeInput,
    "SET_OPERATION_SCHEMA": SetOperationSchemaInput,
    "SET_OPERATION_DESCRIPTION": SetOperationDescriptionInput,
    "SET_OPERATION_TEMPLATE": SetOperationTemplateInput,
    "SET_OPERATION_REDUCER": SetOperationReducerInput,
    "MOVE_OPERATION": MoveOperationInput,
    "DELETE_OPERATION": DeleteOperationInput,
    "REORDER_MODULE_OPERATIONS": ReorderModuleOperationsInput,
    "ADD_OPERATION_ERROR": AddOperationErrorInput,
    "SET_OPERATION_ERROR_CODE": SetOperationErrorCodeInput,
    "SET_OPERATION_ERROR_NAME": SetOperationErrorNameInput,
    "SET_OPERATION_ERROR_DESCRIPTION": SetOperationErrorDescriptionInput,
    "SET_OPERATION_ERROR_TEMPLATE": SetOperationErrorTemplateInput,
    "DELETE_OPERATION_ERROR": DeleteOperationErrorInput,
    "REORDER_OPERATION_ERRORS": ReorderOperationErrorsInput,
    "ADD_OPERATION_EXAMPLE": AddOperationExampleInput,
    "UPDATE_OPERATION_EXAMPLE": UpdateOperationExampleInput,
    "DELETE_OPERATION_EXAMPLE": DeleteOperationExampleInput,
    "REORDER_OPERATION_EXAMPLES": ReorderOperationExamplesInput,
    "SET_STATE_SCHEMA": SetStateSchemaInput,
    "SET_INITIAL_STATE": SetInitialStateInput,
    "ADD_STATE_EXAMPLE": AddStateExampleInput,
    "UPDATE_STATE_EXAMPLE": UpdateStateExampleInput,
    "DELETE_STATE_EXAMPLE": DeleteStateExampleInput,
    "REORDER_STATE_EXAMPLES": ReorderStateExamplesInput,
    "ADD_CHANGE_LOG_ITEM": AddChangeLogItemInput,
    "UPDATE_CHANGE_LOG_ITEM": UpdateChangeLogItemInput,
    "DELETE_CHANGE_LOG_ITEM": DeleteChangeLogItemInput,
    "REORDER_CHANGE_LOG_ITEMS": ReorderChangeLogItemsInput,
}


# -- older eras -------------------------------------------------------------------------


class AddOperationInputE2(AddOperationInput):
    scope: Literal["global", "local"] | None = None


class SetOperationScopeInputE2(SetOperationScopeInput):
    scope: Literal["global", "local"]


class AddOperationInputE1(_OlderSchema, AddOperationInput):
    absent_keys = frozenset({"scope"})


class SetStateSchemaInputUnscoped(_OlderSchema, SetStateSchemaInput):
    absent_keys = frozenset({"scope"})
    scope: str = ""


class SetInitialStateInputUnscoped(_OlderSchema, SetInitialStateInput):
    absent_keys = frozenset({"scope"})
    scope: str = ""


class AddStateExampleInputUnscoped(_OlderSchema, AddStateExampleInput):
    absent_keys = frozenset({"scope"})
    scope: str = ""


class UpdateStateExampleInputUnscoped(_OlderSchema, UpdateStateExampleInput):
    absent_keys = frozenset({"scope"})
    scope: str = ""


class DeleteStateExampleInputUnscoped(_OlderSchema, DeleteStateExampleInput):
    absent_keys = frozenset({"scope"})
    scope: str = ""


class ReorderStateExamplesInputUnscoped(_OlderSchema, ReorderStateExamplesInput):
    absent_keys = frozenset({"scope"})
    scope: str = ""


class AddModuleInputE0(_OlderSchema, AddModuleInput):
    absent_keys = frozenset({"id"})
    id: str = Field(default_factory=minted_id)


class AddOperationInputE0(_OlderSchema, AddOperationInput):
    absent_keys = frozenset({"id", "scope"})
    id: str = Field(default_factory=minted_id)


class AddOperationErrorInputE0(_OlderSchema, AddOperationErrorInput):
    absent_keys = frozenset({"id"})
    id: str = Field(default_factory=minted_id)


class AddOperationExampleInputE0(_OlderSchema, AddOperationExampleInput):
    absent_keys = frozenset({"id"})
    id: str = Field(default_factory=minted_id)


class AddStateExampleInputE0(_OlderSchema, AddStateExampleInput):
    absent_keys = frozenset({"id", "scope"})
    id: str = Field(default_factory=minted_id)
    scope: str = ""


_MINTED_ID_INPUTS: dict[str, type[ModelInput]] = {
    "ADD_MODULE": AddModuleInputE0,
    "ADD_OPERATION": AddOperationInputE0,
    "ADD_OPERATION_ERROR": AddOperationErrorInputE0,
    "ADD_OPERATION_EXAMPLE": AddOperationExampleInputE0,
    "ADD_STATE_EXAMPLE": AddStateExampleInputE0,
}
_UNSCOPED_INPUTS: dict[str, type[ModelInput]] = {
    "SET_STATE_SCHEMA": SetStateSchemaInputUnscoped,
    "SET_INITIAL_STATE": SetInitialStateInputUnscoped,
    "ADD_STATE_EXAMPLE": AddStateExampleInputUnscoped,
    "UPDATE_STATE_EXAMPLE": UpdateStateExampleInputUnscoped,
    "DELETE_STATE_EXAMPLE": DeleteStateExampleInputUnscoped,
    "REORDER_STATE_EXAMPLES": ReorderStateExamplesInputUnscoped,
}
_LITERAL_SCOPE_INPUTS: dict[str, type[ModelInput]] = {
    "ADD_OPERATION": AddOperationInputE2,
    "SET_OPERATION_SCOPE": SetOperationScopeInputE2,
}


def era_input_model(action_type: str, rules: RuleVersion) -> type[ModelInput] | None:
    """The schema of `action_type` under `rules` when it differs from today's, else None."""
    if rules.has(MINTED_IDS) and action_type in _MINTED_ID_INPUTS:
        return _MINTED_ID_INPUTS[action_type]
    if rules.has(UNSCOPED_LAYOUT) and action_type in _UNSCOPED_INPUTS:
        return _UNSCOPED_INPUTS[action_type]
    if action_type == "ADD_OPERATION" and not rules.has(OPERATION_SCOPE):
        return AddOperationInputE1
    if rules.has(LITERAL_OPERATION_SCOPE) and action_type in _LITERAL_SCOPE_INPUTS:
        return _LITERAL_SCOPE_INPUTS[action_type]
    return None
