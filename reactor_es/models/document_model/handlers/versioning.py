"""Change log (never implemented by Powerhouse) and RELEASE_NEW_VERSION (E4 onwards)."""

from __future__ import annotations

from typing import Any

from reactor_es.document.model import ReduceContext, action
from reactor_es.document.types import JsonDict
from reactor_es.models.document_model.exceptions import (
    EmptyInputExpectedError,
    JsTypeError,
    NullInputError,
    ReducerNotImplementedError,
)
from reactor_es.models.document_model.inputs import (
    AddChangeLogItemInput,
    DeleteChangeLogItemInput,
    ReorderChangeLogItemsInput,
    UpdateChangeLogItemInput,
)
from reactor_es.models.document_model.jsutil import copy_json
from reactor_es.models.document_model.rules import RELEASE_NEW_VERSION
from reactor_es.models.document_model.state import latest_spec

__all__ = ["VersioningHandlers", "check_release_input"]


def check_release_input(raw_input: Any) -> None:
    """RELEASE_NEW_VERSION's input check (it has no schema): `Object.keys(input).length`
    must be 0, and null is a TypeError. The model runs it as the action's input validation,
    so a fresh action with keys is refused (naming the first) instead of recorded."""
    if raw_input is None:
        raise NullInputError("RELEASE_NEW_VERSION")
    if isinstance(raw_input, dict) and raw_input:
        raise EmptyInputExpectedError("RELEASE_NEW_VERSION", str(next(iter(raw_input))))
    if isinstance(raw_input, list | str) and raw_input:
        raise EmptyInputExpectedError("RELEASE_NEW_VERSION")
    # numbers and booleans have no own enumerable keys


class VersioningHandlers:
    """The change-log actions validate their input, then always refuse (so `changeLog` is [])."""

    @action("ADD_CHANGE_LOG_ITEM", AddChangeLogItemInput)
    def add_change_log_item(
        self, state: JsonDict, inp: AddChangeLogItemInput, ctx: ReduceContext
    ) -> None:
        raise ReducerNotImplementedError("addChangeLogItemOperation")

    @action("UPDATE_CHANGE_LOG_ITEM", UpdateChangeLogItemInput)
    def update_change_log_item(
        self, state: JsonDict, inp: UpdateChangeLogItemInput, ctx: ReduceContext
    ) -> None:
        raise ReducerNotImplementedError("updateChangeLogItemOperation")

    @action("DELETE_CHANGE_LOG_ITEM", DeleteChangeLogItemInput)
    def delete_change_log_item(
        self, state: JsonDict, inp: DeleteChangeLogItemInput, ctx: ReduceContext
    ) -> None:
        raise ReducerNotImplementedError("deleteChangeLogItemOperation")

    @action("REORDER_CHANGE_LOG_ITEMS", ReorderChangeLogItemsInput)
    def reorder_change_log_items(
        self, state: JsonDict, inp: ReorderChangeLogItemsInput, ctx: ReduceContext
    ) -> None:
        raise ReducerNotImplementedError("reorderChangeLogItemsOperation")

    @action("RELEASE_NEW_VERSION")
    def release_new_version(self, state: JsonDict, raw_input: Any, ctx: ReduceContext) -> None:
        """Appends a copy of the latest spec with `version + 1` and an empty change log.

        Only the `global` and `local` state definitions are carried over. The new spec
        becomes the latest, so every later edit goes to it and the old one is frozen.
        """
        check_release_input(raw_input)  # done already when the input was validated
        if not ctx.rules.has(RELEASE_NEW_VERSION):
            raise ReducerNotImplementedError("releaseNewVersionOperation")
        latest = latest_spec(state)
        carried = {scope: latest["state"].get(scope) for scope in ("global", "local")}
        if not all(isinstance(definition, dict) for definition in carried.values()):
            raise JsTypeError("Cannot read properties of undefined (reading 'examples')")
        state["specifications"].append(
            {
                "version": latest["version"] + 1,
                "changeLog": [],
                "state": copy_json(carried),
                "modules": copy_json(latest["modules"]),
            }
        )
