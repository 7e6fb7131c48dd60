"""ADD/SET/DELETE/REORDER of modules in the latest specification."""

from __future__ import annotations

from reactor_es.document.model import ReduceContext, action
from reactor_es.document.types import JsonDict
from reactor_es.models.document_model.inputs import (
    AddModuleInput,
    DeleteModuleInput,
    ReorderModulesInput,
    SetModuleDescriptionInput,
    SetModuleNameInput,
)
from reactor_es.models.document_model.jsutil import js_or
from reactor_es.models.document_model.lookup import (
    MODULE,
    assert_id_free,
    find_module,
    target_modules,
)
from reactor_es.models.document_model.reorder import reorder
from reactor_es.models.document_model.rules import LEGACY_REORDER, STRICT_LOOKUP
from reactor_es.models.document_model.state import latest_spec

__all__ = ["ModuleHandlers"]


class ModuleHandlers:
    """Legacy: act on every module with the id, none is a no-op. E7: first match or refuse."""

    @action("ADD_MODULE", AddModuleInput)
    def add_module(self, state: JsonDict, inp: AddModuleInput, ctx: ReduceContext) -> None:
        spec = latest_spec(state)
        if ctx.rules.has(STRICT_LOOKUP):
            assert_id_free(spec, MODULE, inp.id)
        spec["modules"].append(
            {
                "id": inp.id,
                "name": inp.name,
                "description": js_or(inp.description, ""),
                "operations": [],
            }
        )

    @action("SET_MODULE_NAME", SetModuleNameInput)
    def set_module_name(self, state: JsonDict, inp: SetModuleNameInput, ctx: ReduceContext) -> None:
        name = js_or(inp.name, "")
        for module in target_modules(latest_spec(state), inp.id, ctx.rules.has(STRICT_LOOKUP)):
            module["name"] = name

    @action("SET_MODULE_DESCRIPTION", SetModuleDescriptionInput)
    def set_module_description(
        self, state: JsonDict, inp: SetModuleDescriptionInput, ctx: ReduceContext
    ) -> None:
        description = js_or(inp.description, "")
        for module in target_modules(latest_spec(state), inp.id, ctx.rules.has(STRICT_LOOKUP)):
            module["description"] = description

    @action("DELETE_MODULE", DeleteModuleInput)
    def delete_module(self, state: JsonDict, inp: DeleteModuleInput, ctx: ReduceContext) -> None:
        """Removes every module with the id, and their operations with them."""
        spec = latest_spec(state)
        if ctx.rules.has(STRICT_LOOKUP):
            find_module(spec, inp.id)
        spec["modules"] = [module for module in spec["modules"] if module["id"] != inp.id]

    @action("REORDER_MODULES", ReorderModulesInput)
    def reorder_modules(
        self, state: JsonDict, inp: ReorderModulesInput, ctx: ReduceContext
    ) -> None:
        reorder(latest_spec(state), "modules", inp.order, ctx.rules.has(LEGACY_REORDER))
