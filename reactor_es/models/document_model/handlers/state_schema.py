"""The state definition of the latest specification: `spec.state[scope]` (E3+) or
`spec.state` itself (E0-E2, unscoped)."""

from __future__ import annotations

from reactor_es.document.model import ReduceContext, RuleVersion, action
from reactor_es.document.types import JsonDict
from reactor_es.models.document_model.exceptions import (
    InvalidScopeError,
    StateExampleNotFoundError,
)
from reactor_es.models.document_model.inputs import (
    AddStateExampleInput,
    DeleteStateExampleInput,
    ReorderStateExamplesInput,
    SetInitialStateInput,
    SetStateSchemaInput,
    UpdateStateExampleInput,
)
from reactor_es.models.document_model.reorder import reorder
from reactor_es.models.document_model.rules import LEGACY_REORDER, STRICT_LOOKUP, UNSCOPED_LAYOUT
from reactor_es.models.document_model.state import latest_spec

__all__ = ["StateSchemaHandlers"]


def _state_spec(global_state: JsonDict, scope: str, rules: RuleVersion) -> JsonDict:
    """The StateSpec to edit; refuses a scope that is not a key of the spec's `state`."""
    spec_state: JsonDict = latest_spec(global_state)["state"]
    if rules.has(UNSCOPED_LAYOUT):
        return spec_state
    if scope not in spec_state:
        raise InvalidScopeError(scope)
    scoped: JsonDict = spec_state[scope]
    return scoped


class StateSchemaHandlers:
    """Every action checks the scope before any change, in every era since E3."""

    @action("SET_STATE_SCHEMA", SetStateSchemaInput)
    def set_state_schema(
        self, state: JsonDict, inp: SetStateSchemaInput, ctx: ReduceContext
    ) -> None:
        _state_spec(state, inp.scope, ctx.rules)["schema"] = inp.schema_

    @action("SET_INITIAL_STATE", SetInitialStateInput)
    def set_initial_state(
        self, state: JsonDict, inp: SetInitialStateInput, ctx: ReduceContext
    ) -> None:
        """Stores the JSON text as given; it is never parsed."""
        _state_spec(state, inp.scope, ctx.rules)["initialValue"] = inp.initial_value

    @action("ADD_STATE_EXAMPLE", AddStateExampleInput)
    def add_state_example(
        self, state: JsonDict, inp: AddStateExampleInput, ctx: ReduceContext
    ) -> None:
        """Appended (`insertBefore` is ignored); no era checks that the id is new."""
        examples = _state_spec(state, inp.scope, ctx.rules)["examples"]
        examples.append({"id": inp.id, "value": inp.example})

    @action("UPDATE_STATE_EXAMPLE", UpdateStateExampleInput)
    def update_state_example(
        self, state: JsonDict, inp: UpdateStateExampleInput, ctx: ReduceContext
    ) -> None:
        examples = _state_spec(state, inp.scope, ctx.rules)["examples"]
        matches = [example for example in examples if example["id"] == inp.id]
        if ctx.rules.has(STRICT_LOOKUP):
            if not matches:
                raise StateExampleNotFoundError(inp.id, inp.scope)
            matches = matches[:1]
        for example in matches:
            example["value"] = inp.new_example

    @action("DELETE_STATE_EXAMPLE", DeleteStateExampleInput)
    def delete_state_example(
        self, state: JsonDict, inp: DeleteStateExampleInput, ctx: ReduceContext
    ) -> None:
        state_spec = _state_spec(state, inp.scope, ctx.rules)
        kept = [example for example in state_spec["examples"] if example["id"] != inp.id]
        if ctx.rules.has(STRICT_LOOKUP) and len(kept) == len(state_spec["examples"]):
            raise StateExampleNotFoundError(inp.id, inp.scope)
        state_spec["examples"] = kept

    @action("REORDER_STATE_EXAMPLES", ReorderStateExamplesInput)
    def reorder_state_examples(
        self, state: JsonDict, inp: ReorderStateExamplesInput, ctx: ReduceContext
    ) -> None:
        state_spec = _state_spec(state, inp.scope, ctx.rules)
        reorder(state_spec, "examples", inp.order, ctx.rules.has(LEGACY_REORDER))
