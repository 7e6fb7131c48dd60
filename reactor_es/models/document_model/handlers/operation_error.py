"""Errors declared by operations (`OperationSpec.errors`), looked up across ALL operations."""

from __future__ import annotations

from reactor_es.document.model import ReduceContext, action
from reactor_es.document.types import JsonDict
from reactor_es.models.document_model.exceptions import SpecTargetNotFoundError
from reactor_es.models.document_model.inputs import (
    AddOperationErrorInput,
    DeleteOperationErrorInput,
    ReorderOperationErrorsInput,
    SetOperationErrorCodeInput,
    SetOperationErrorDescriptionInput,
    SetOperationErrorNameInput,
    SetOperationErrorTemplateInput,
)
from reactor_es.models.document_model.jsutil import js_or
from reactor_es.models.document_model.lookup import (
    OPERATION_ERROR,
    assert_id_free,
    operation_items,
    operations,
    target_items,
    target_operations,
)
from reactor_es.models.document_model.reorder import reorder
from reactor_es.models.document_model.rules import LEGACY_REORDER, STRICT_LOOKUP, STRICT_TARGET
from reactor_es.models.document_model.state import latest_spec

__all__ = ["OperationErrorHandlers"]


def _set_field(state: JsonDict, error_id: str, key: str, value: str, ctx: ReduceContext) -> None:
    strict = ctx.rules.has(STRICT_LOOKUP)
    for error in target_items(latest_spec(state), OPERATION_ERROR, error_id, strict):
        error[key] = value


class OperationErrorHandlers:
    """Input keys are renamed in the state: `errorName` -> `name`, `errorCode` -> `code`, ..."""

    @action("ADD_OPERATION_ERROR", AddOperationErrorInput)
    def add_operation_error(
        self, state: JsonDict, inp: AddOperationErrorInput, ctx: ReduceContext
    ) -> None:
        """Legacy: appended to every operation with `operationId`; E6+: the first, or refuse."""
        spec = latest_spec(state)
        targets = target_operations(spec, inp.operation_id, ctx.rules.has(STRICT_TARGET))
        if ctx.rules.has(STRICT_LOOKUP):
            assert_id_free(spec, OPERATION_ERROR, inp.id)
        for operation in targets:
            operation["errors"].append(
                {
                    "id": inp.id,
                    "name": js_or(inp.error_name, ""),
                    "code": js_or(inp.error_code, ""),
                    "description": js_or(inp.error_description, ""),
                    "template": js_or(inp.error_template, ""),
                }
            )

    @action("SET_OPERATION_ERROR_CODE", SetOperationErrorCodeInput)
    def set_operation_error_code(
        self, state: JsonDict, inp: SetOperationErrorCodeInput, ctx: ReduceContext
    ) -> None:
        _set_field(state, inp.id, "code", js_or(inp.error_code, ""), ctx)

    @action("SET_OPERATION_ERROR_NAME", SetOperationErrorNameInput)
    def set_operation_error_name(
        self, state: JsonDict, inp: SetOperationErrorNameInput, ctx: ReduceContext
    ) -> None:
        _set_field(state, inp.id, "name", js_or(inp.error_name, ""), ctx)

    @action("SET_OPERATION_ERROR_DESCRIPTION", SetOperationErrorDescriptionInput)
    def set_operation_error_description(
        self, state: JsonDict, inp: SetOperationErrorDescriptionInput, ctx: ReduceContext
    ) -> None:
        _set_field(state, inp.id, "description", js_or(inp.error_description, ""), ctx)

    @action("SET_OPERATION_ERROR_TEMPLATE", SetOperationErrorTemplateInput)
    def set_operation_error_template(
        self, state: JsonDict, inp: SetOperationErrorTemplateInput, ctx: ReduceContext
    ) -> None:
        _set_field(state, inp.id, "template", js_or(inp.error_template, ""), ctx)

    @action("DELETE_OPERATION_ERROR", DeleteOperationErrorInput)
    def delete_operation_error(
        self, state: JsonDict, inp: DeleteOperationErrorInput, ctx: ReduceContext
    ) -> None:
        """Removes every copy; E7 refuses only an absent id, so duplicates can be cleaned up."""
        spec = latest_spec(state)
        if ctx.rules.has(STRICT_LOOKUP) and not any(
            error["id"] == inp.id for error in operation_items(spec, OPERATION_ERROR)
        ):
            raise SpecTargetNotFoundError(OPERATION_ERROR, inp.id)
        for operation in operations(spec):
            kept = [error for error in operation["errors"] if error["id"] != inp.id]
            if len(kept) != len(operation["errors"]):
                operation["errors"] = kept

    @action("REORDER_OPERATION_ERRORS", ReorderOperationErrorsInput)
    def reorder_operation_errors(
        self, state: JsonDict, inp: ReorderOperationErrorsInput, ctx: ReduceContext
    ) -> None:
        rules = ctx.rules
        spec = latest_spec(state)
        for operation in target_operations(spec, inp.operation_id, rules.has(STRICT_LOOKUP)):
            reorder(operation, "errors", inp.order, rules.has(LEGACY_REORDER))
