"""Finding modules, operations, errors and examples by id in the latest specification.

Two regimes. Legacy (every era before E7, hence every export so far): an action edits EVERY
item with the id, and no match is a silent no-op. Strict (E7, partly E6): the first match
in module order then list order, or a refusal; error and example setters also refuse an id
that occurs twice, and ADD_* refuse an id that already exists. `target_*` pick the regime.
Ids are compared with plain string equality in both.
"""

from __future__ import annotations

from collections.abc import Iterator

from reactor_es.document.types import JsonDict
from reactor_es.models.document_model.exceptions import (
    SpecTargetDuplicatedError,
    SpecTargetExistsError,
    SpecTargetNotFoundError,
)

__all__ = [
    "MODULE",
    "OPERATION",
    "OPERATION_ERROR",
    "OPERATION_EXAMPLE",
    "assert_id_free",
    "find_module",
    "find_operation",
    "find_unique",
    "modules_with_id",
    "operation_items",
    "operations",
    "operations_with_id",
    "target_items",
    "target_modules",
    "target_operations",
]

MODULE = "Module"
OPERATION = "Operation"
OPERATION_ERROR = "Operation error"
OPERATION_EXAMPLE = "Operation example"
_ITEM_KEYS = {OPERATION_ERROR: "errors", OPERATION_EXAMPLE: "examples"}


def modules_with_id(spec: JsonDict, module_id: str) -> list[JsonDict]:
    return [module for module in spec["modules"] if module["id"] == module_id]


def find_module(spec: JsonDict, module_id: str) -> JsonDict:
    for module in spec["modules"]:
        if module["id"] == module_id:
            module_found: JsonDict = module
            return module_found
    raise SpecTargetNotFoundError(MODULE, module_id)


def target_modules(spec: JsonDict, module_id: str, strict: bool) -> list[JsonDict]:
    """Legacy: every module with the id (maybe none). Strict: the first one, or refuse."""
    if strict:
        return [find_module(spec, module_id)]
    return modules_with_id(spec, module_id)


def operations(spec: JsonDict) -> Iterator[JsonDict]:
    """Every operation of the spec, in module order then list order."""
    for module in spec["modules"]:
        yield from module["operations"]


def operations_with_id(spec: JsonDict, operation_id: str) -> list[JsonDict]:
    return [op for op in operations(spec) if op["id"] == operation_id]


def find_operation(spec: JsonDict, operation_id: str) -> JsonDict:
    for op in operations(spec):
        if op["id"] == operation_id:
            return op
    raise SpecTargetNotFoundError(OPERATION, operation_id)


def target_operations(spec: JsonDict, operation_id: str, strict: bool) -> list[JsonDict]:
    """Legacy: every operation with the id (maybe none). Strict: the first one, or refuse."""
    if strict:
        return [find_operation(spec, operation_id)]
    return operations_with_id(spec, operation_id)


def operation_items(spec: JsonDict, kind: str) -> Iterator[JsonDict]:
    """Every error (or example) of every operation of the spec."""
    key = _ITEM_KEYS[kind]
    for op in operations(spec):
        yield from op[key]


def find_unique(spec: JsonDict, kind: str, item_id: str) -> JsonDict:
    """The one error/example with that id; refuse when there is none or more than one."""
    matches = [item for item in operation_items(spec, kind) if item["id"] == item_id]
    if not matches:
        raise SpecTargetNotFoundError(kind, item_id)
    if len(matches) > 1:
        raise SpecTargetDuplicatedError(kind, item_id)
    return matches[0]


def target_items(spec: JsonDict, kind: str, item_id: str, strict: bool) -> list[JsonDict]:
    """Legacy: every error/example with the id, in any operation. Strict: the unique one."""
    if strict:
        return [find_unique(spec, kind, item_id)]
    return [item for item in operation_items(spec, kind) if item["id"] == item_id]


def assert_id_free(spec: JsonDict, kind: str, item_id: str) -> None:
    """Refuse an ADD_* whose id already exists anywhere in the latest specification."""
    if kind == MODULE:
        taken = any(module["id"] == item_id for module in spec["modules"])
    elif kind == OPERATION:
        taken = any(op["id"] == item_id for op in operations(spec))
    else:
        taken = any(item["id"] == item_id for item in operation_items(spec, kind))
    if taken:
        raise SpecTargetExistsError(kind, item_id)
