"""Operations of the latest specification's modules: add, edit, move, delete, reorder."""

from __future__ import annotations

from reactor_es.document.model import ReduceContext, RuleVersion, action
from reactor_es.document.types import JsonDict
from reactor_es.models.document_model.exceptions import (
    InvalidScopeError,
    SpecTargetDuplicatedError,
    SpecTargetNotFoundError,
)
from reactor_es.models.document_model.inputs import (
    AddOperationInput,
    DeleteOperationInput,
    MoveOperationInput,
    ReorderModuleOperationsInput,
    SetOperationDescriptionInput,
    SetOperationNameInput,
    SetOperationReducerInput,
    SetOperationSchemaInput,
    SetOperationScopeInput,
    SetOperationTemplateInput,
)
from reactor_es.models.document_model.jsutil import copy_json, js_or
from reactor_es.models.document_model.lookup import (
    OPERATION,
    assert_id_free,
    find_module,
    find_operation,
    modules_with_id,
    operations_with_id,
    target_modules,
    target_operations,
)
from reactor_es.models.document_model.naming import check_operation_name
from reactor_es.models.document_model.reorder import reorder
from reactor_es.models.document_model.rules import (
    LEGACY_REORDER,
    NAME_VALIDATION,
    OPERATION_SCOPE,
    STRICT_LOOKUP,
    STRICT_TARGET,
)
from reactor_es.models.document_model.state import latest_spec

__all__ = ["OperationHandlers"]


def _new_operation(inp: AddOperationInput, rules: RuleVersion) -> JsonDict:
    operation: JsonDict = {
        "id": inp.id,
        "name": inp.name,
        "description": js_or(inp.description, ""),
        "schema": js_or(inp.schema_, ""),
        # An empty template falls back to the description (711 corpus operations rely on it).
        "template": js_or(inp.template, js_or(inp.description, "")),
        "reducer": js_or(inp.reducer, ""),
        "errors": [],
        "examples": [],
    }
    if rules.has(OPERATION_SCOPE):
        operation["scope"] = js_or(inp.scope, "global")
    return operation


def _set_field(
    state: JsonDict, operation_id: str, key: str, value: str, ctx: ReduceContext
) -> None:
    strict = ctx.rules.has(STRICT_LOOKUP)
    for operation in target_operations(latest_spec(state), operation_id, strict):
        operation[key] = value


class OperationHandlers:
    """Legacy: every operation with the id, in any module. E6/E7: see each action."""

    @action("ADD_OPERATION", AddOperationInput)
    def add_operation(self, state: JsonDict, inp: AddOperationInput, ctx: ReduceContext) -> None:
        """Appended to every module with `moduleId` (legacy) or to the first one (E6+)."""
        rules = ctx.rules
        if rules.has(NAME_VALIDATION):
            check_operation_name(state, inp.name, rules)
        spec = latest_spec(state)
        if rules.has(STRICT_LOOKUP):
            assert_id_free(spec, OPERATION, inp.id)
        for module in target_modules(spec, inp.module_id, rules.has(STRICT_TARGET)):
            module["operations"].append(_new_operation(inp, rules))

    @action("SET_OPERATION_NAME", SetOperationNameInput)
    def set_operation_name(
        self, state: JsonDict, inp: SetOperationNameInput, ctx: ReduceContext
    ) -> None:
        if inp.name and ctx.rules.has(NAME_VALIDATION):
            check_operation_name(state, inp.name, ctx.rules, exclude_id=inp.id)
        _set_field(state, inp.id, "name", js_or(inp.name, ""), ctx)

    @action("SET_OPERATION_SCOPE", SetOperationScopeInput, requires=OPERATION_SCOPE)
    def set_operation_scope(
        self, state: JsonDict, inp: SetOperationScopeInput, ctx: ReduceContext
    ) -> None:
        """E6+: the operation must exist and the scope be a key of the spec's `state`."""
        spec = latest_spec(state)
        if ctx.rules.has(STRICT_TARGET):
            targets = [find_operation(spec, inp.id)]
            if inp.scope and inp.scope not in spec["state"]:
                raise InvalidScopeError(inp.scope)
        else:
            targets = operations_with_id(spec, inp.id)
        for operation in targets:
            operation["scope"] = js_or(inp.scope, "global")

    @action("SET_OPERATION_SCHEMA", SetOperationSchemaInput)
    def set_operation_schema(
        self, state: JsonDict, inp: SetOperationSchemaInput, ctx: ReduceContext
    ) -> None:
        _set_field(state, inp.id, "schema", js_or(inp.schema_, ""), ctx)

    @action("SET_OPERATION_DESCRIPTION", SetOperationDescriptionInput)
    def set_operation_description(
        self, state: JsonDict, inp: SetOperationDescriptionInput, ctx: ReduceContext
    ) -> None:
        """Leaves `template` alone, even when it was derived from the old description."""
        _set_field(state, inp.id, "description", js_or(inp.description, ""), ctx)

    @action("SET_OPERATION_TEMPLATE", SetOperationTemplateInput)
    def set_operation_template(
        self, state: JsonDict, inp: SetOperationTemplateInput, ctx: ReduceContext
    ) -> None:
        _set_field(state, inp.id, "template", js_or(inp.template, ""), ctx)

    @action("SET_OPERATION_REDUCER", SetOperationReducerInput)
    def set_operation_reducer(
        self, state: JsonDict, inp: SetOperationReducerInput, ctx: ReduceContext
    ) -> None:
        _set_field(state, inp.id, "reducer", js_or(inp.reducer, ""), ctx)

    @action("MOVE_OPERATION", MoveOperationInput)
    def move_operation(self, state: JsonDict, inp: MoveOperationInput, ctx: ReduceContext) -> None:
        """Removed from everywhere, appended at the end of the destination.

        Legacy: an unknown destination silently loses the operation, and several
        destinations each receive a copy. E7: both ends are resolved before any change.
        """
        spec = latest_spec(state)
        strict = ctx.rules.has(STRICT_LOOKUP)
        if strict:
            destinations = [find_module(spec, inp.new_module_id)]
            matches = operations_with_id(spec, inp.operation_id)
            if not matches:
                raise SpecTargetNotFoundError(OPERATION, inp.operation_id)
            if len(matches) > 1:
                raise SpecTargetDuplicatedError(OPERATION, inp.operation_id)
        else:
            destinations = modules_with_id(spec, inp.new_module_id)
        moved: list[JsonDict] = []
        for module in spec["modules"]:
            kept = [op for op in module["operations"] if op["id"] != inp.operation_id]
            if len(kept) != len(module["operations"]):
                moved.extend(op for op in module["operations"] if op["id"] == inp.operation_id)
                module["operations"] = kept
        for position, module in enumerate(destinations):
            module["operations"].extend(moved if position == 0 else copy_json(moved))

    @action("DELETE_OPERATION", DeleteOperationInput)
    def delete_operation(
        self, state: JsonDict, inp: DeleteOperationInput, ctx: ReduceContext
    ) -> None:
        spec = latest_spec(state)
        if ctx.rules.has(STRICT_LOOKUP):
            find_operation(spec, inp.id)
        for module in spec["modules"]:
            kept = [op for op in module["operations"] if op["id"] != inp.id]
            if len(kept) != len(module["operations"]):
                module["operations"] = kept

    @action("REORDER_MODULE_OPERATIONS", ReorderModuleOperationsInput)
    def reorder_module_operations(
        self, state: JsonDict, inp: ReorderModuleOperationsInput, ctx: ReduceContext
    ) -> None:
        rules = ctx.rules
        spec = latest_spec(state)
        for module in target_modules(spec, inp.module_id, rules.has(STRICT_LOOKUP)):
            reorder(module, "operations", inp.order, rules.has(LEGACY_REORDER))
