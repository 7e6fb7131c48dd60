"""Examples of operations (`OperationSpec.examples`: `{id, value}`); no export uses them."""

from __future__ import annotations

from reactor_es.document.model import ReduceContext, action
from reactor_es.document.types import JsonDict
from reactor_es.models.document_model.exceptions import SpecTargetNotFoundError
from reactor_es.models.document_model.inputs import (
    AddOperationExampleInput,
    DeleteOperationExampleInput,
    ReorderOperationExamplesInput,
    UpdateOperationExampleInput,
)
from reactor_es.models.document_model.lookup import (
    OPERATION_EXAMPLE,
    assert_id_free,
    operation_items,
    operations,
    target_items,
    target_operations,
)
from reactor_es.models.document_model.reorder import reorder
from reactor_es.models.document_model.rules import LEGACY_REORDER, STRICT_LOOKUP
from reactor_es.models.document_model.state import latest_spec

__all__ = ["OperationExampleHandlers"]


class OperationExampleHandlers:
    """Example ids are looked up across all operations; values are stored as given."""

    @action("ADD_OPERATION_EXAMPLE", AddOperationExampleInput)
    def add_operation_example(
        self, state: JsonDict, inp: AddOperationExampleInput, ctx: ReduceContext
    ) -> None:
        spec = latest_spec(state)
        strict = ctx.rules.has(STRICT_LOOKUP)
        targets = target_operations(spec, inp.operation_id, strict)
        if strict:
            assert_id_free(spec, OPERATION_EXAMPLE, inp.id)
        for operation in targets:
            operation["examples"].append({"id": inp.id, "value": inp.example})

    @action("UPDATE_OPERATION_EXAMPLE", UpdateOperationExampleInput)
    def update_operation_example(
        self, state: JsonDict, inp: UpdateOperationExampleInput, ctx: ReduceContext
    ) -> None:
        strict = ctx.rules.has(STRICT_LOOKUP)
        for example in target_items(latest_spec(state), OPERATION_EXAMPLE, inp.id, strict):
            example["value"] = inp.example

    @action("DELETE_OPERATION_EXAMPLE", DeleteOperationExampleInput)
    def delete_operation_example(
        self, state: JsonDict, inp: DeleteOperationExampleInput, ctx: ReduceContext
    ) -> None:
        """Removes every copy; E7 refuses only an absent id."""
        spec = latest_spec(state)
        if ctx.rules.has(STRICT_LOOKUP) and not any(
            example["id"] == inp.id for example in operation_items(spec, OPERATION_EXAMPLE)
        ):
            raise SpecTargetNotFoundError(OPERATION_EXAMPLE, inp.id)
        for operation in operations(spec):
            kept = [example for example in operation["examples"] if example["id"] != inp.id]
            if len(kept) != len(operation["examples"]):
                operation["examples"] = kept

    @action("REORDER_OPERATION_EXAMPLES", ReorderOperationExamplesInput)
    def reorder_operation_examples(
        self, state: JsonDict, inp: ReorderOperationExamplesInput, ctx: ReduceContext
    ) -> None:
        rules = ctx.rules
        spec = latest_spec(state)
        for operation in target_operations(spec, inp.operation_id, rules.has(STRICT_LOOKUP)):
            reorder(operation, "examples", inp.order, rules.has(LEGACY_REORDER))
