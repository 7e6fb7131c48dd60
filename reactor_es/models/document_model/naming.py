"""Operation-name rules of ADD_OPERATION and SET_OPERATION_NAME (E5 onwards).

An operation's name becomes an action type in generated code, so Powerhouse refuses names
of base-reducer actions and names used twice (both case-insensitive), and since May 2026
anything that is not SCREAMING_SNAKE_CASE.
"""

from __future__ import annotations

import re

from reactor_es.document.model import RuleVersion
from reactor_es.document.types import JsonDict
from reactor_es.models.document_model.exceptions import (
    OperationNameFormatError,
    OperationNameTakenError,
    ReservedOperationNameError,
)
from reactor_es.models.document_model.jsutil import constant_case
from reactor_es.models.document_model.lookup import operations
from reactor_es.models.document_model.rules import NAME_FORMAT, RESERVED_PREFERRED_EDITOR
from reactor_es.models.document_model.state import latest_spec

__all__ = ["RESERVED_NAMES", "check_operation_name"]

_NAME_PATTERN = re.compile(r"[A-Z][A-Z0-9_]*")
#: Base-reducer action types; SET_PREFERRED_EDITOR joined on 2026-05-12.
RESERVED_NAMES = frozenset({"UNDO", "REDO", "PRUNE", "LOAD_STATE", "SET_NAME", "NOOP"})


def _suggestion(name: str) -> str | None:
    candidate = constant_case(name)
    if candidate and candidate != name and _NAME_PATTERN.fullmatch(candidate):
        return candidate
    return None


def check_operation_name(
    global_state: JsonDict, name: str, rules: RuleVersion, exclude_id: str | None = None
) -> None:
    """Refuse a bad name: format (if in force), then reserved, then already used.

    An empty name is not checked. `exclude_id` is the operation being renamed, whose own
    name does not count as a duplicate.
    """
    if not name:
        return
    if rules.has(NAME_FORMAT) and not _NAME_PATTERN.fullmatch(name):
        raise OperationNameFormatError(name, _suggestion(name))
    upper = name.upper()
    if upper in RESERVED_NAMES or (
        upper == "SET_PREFERRED_EDITOR" and rules.has(RESERVED_PREFERRED_EDITOR)
    ):
        raise ReservedOperationNameError(name)
    for op in operations(latest_spec(global_state)):
        if exclude_id and op["id"] == exclude_id:
            continue
        if op["name"] and op["name"].upper() == upper:
            raise OperationNameTakenError(name)
