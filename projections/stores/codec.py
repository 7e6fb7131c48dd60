"""How stores turn documents and operations into text and back.

The in-memory stores keep the same text the SQLite stores write, so both give back exactly
the same values (a tuple in an input comes back a list in both) and a caller mutating a
document after storing it cannot change what was stored.
"""

from __future__ import annotations

import json
from typing import Any

from reactor_es.document.types import DocumentHeader, Operation

__all__ = [
    "dump_header",
    "dump_json",
    "dump_operation",
    "dump_operations",
    "load_header",
    "load_json",
    "load_operation",
    "load_operations",
]


def dump_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def load_json(text: str) -> Any:
    return json.loads(text)


def dump_operation(operation: Operation, *, resulting_state: bool = True) -> str:
    """The operation in Powerhouse's nested shape (the action's copies are derived on read).

    The operation store leaves `resultingState` out, as Powerhouse's operation rows do.
    """
    exclude = None if resulting_state else {"resulting_state"}
    return operation.model_dump_json(by_alias=True, exclude_none=True, exclude=exclude)


def load_operation(text: str) -> Operation:
    return Operation.model_validate_json(text)


def dump_operations(operations: list[Operation]) -> str:
    return "[" + ",".join(dump_operation(op) for op in operations) + "]"


def load_operations(text: str) -> list[Operation]:
    return [Operation.model_validate(item) for item in json.loads(text)]


def dump_header(header: DocumentHeader) -> str:
    return header.model_dump_json(by_alias=True, exclude_none=True)


def load_header(text: str) -> DocumentHeader:
    return DocumentHeader.model_validate_json(text)
