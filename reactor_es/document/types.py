"""Powerhouse document types, with the field names Powerhouse writes on the wire.

Python attributes are snake_case; JSON is camelCase (`timestampUtcMs`, `documentType`, ...).
`to_json()` gives the Powerhouse shape (None members dropped, as JavaScript drops
`undefined`), so a document read from an export and written back is the same document.
Scope states stay plain JSON values (dicts, lists, strings, numbers): they are what gets
hashed, and a model reducer mutates them directly.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "BASE_REDUCER",
    "Action",
    "Document",
    "DocumentHeader",
    "JsonDict",
    "Operation",
]

JsonDict = dict[str, Any]

#: Key of the base-reducer protocol in `header.protocolVersions`.
BASE_REDUCER = "base-reducer"


_M = TypeVar("_M", bound=BaseModel)


class _Wire(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        validate_assignment=False,
    )

    def to_json(self) -> JsonDict:
        """The Powerhouse JSON shape of this object."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def _trusted(cls: type[_M], values: dict[str, Any]) -> _M:
    """An instance built from values already known to be right, without validation.

    `model_construct` costs several microseconds (defaults, field bookkeeping); on the
    hot paths (decoding our own records, new operations) every field is given and typed,
    so the instance is assembled directly, in the layout pydantic itself uses.
    """
    instance = cls.__new__(cls)
    object.__setattr__(instance, "__dict__", values)
    object.__setattr__(instance, "__pydantic_fields_set__", set(values))
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


class Action(_Wire):
    """A request to change a document: what the user did, before any index is assigned."""

    id: str
    type: str
    timestamp_utc_ms: str
    input: Any = Field(default_factory=dict)
    scope: str = "global"
    context: JsonDict | None = None

    @classmethod
    def trusted(
        cls,
        id: str,
        type: str,
        timestamp_utc_ms: str,
        input: Any,
        scope: str,
        context: JsonDict | None,
    ) -> Action:
        """An action from values already checked (our own records): no validation."""
        return _trusted(
            cls,
            {
                "id": id,
                "type": type,
                "timestamp_utc_ms": timestamp_utc_ms,
                "input": input,
                "scope": scope,
                "context": context,
            },
        )


class Operation(_Wire):
    """An action applied to a document at an index of its scope, with the resulting hash."""

    id: str
    index: int
    skip: int = 0
    timestamp_utc_ms: str
    hash: str = ""
    error: str | None = None
    denied_reason: str | None = None
    resulting_state: str | None = None
    action: Action

    @classmethod
    def trusted(
        cls,
        *,
        id: str,
        index: int,
        skip: int,
        timestamp_utc_ms: str,
        hash: str,
        action: Action,
        error: str | None = None,
        denied_reason: str | None = None,
        resulting_state: str | None = None,
    ) -> Operation:
        """An operation from values already checked (our own records): no validation."""
        return _trusted(
            cls,
            {
                "id": id,
                "index": index,
                "skip": skip,
                "timestamp_utc_ms": timestamp_utc_ms,
                "hash": hash,
                "error": error,
                "denied_reason": denied_reason,
                "resulting_state": resulting_state,
                "action": action,
            },
        )

    @property
    def type(self) -> str:
        return self.action.type

    @property
    def scope(self) -> str:
        return self.action.scope

    @property
    def input(self) -> Any:
        return self.action.input

    def to_json(self) -> JsonDict:
        data = super().to_json()
        # Powerhouse spreads the action into the operation too (operationFromAction).
        data["type"] = self.action.type
        data["input"] = data["action"].get("input", {})
        data["scope"] = self.action.scope
        if self.action.context is not None:
            data["context"] = data["action"]["context"]
        return data


class DocumentHeader(_Wire):
    """Identity and bookkeeping of a document; `revision[scope]` is the NEXT index."""

    id: str
    sig: JsonDict | None = None
    document_type: str
    created_at_utc_iso: str
    slug: str = ""
    name: str = ""
    branch: str = "main"
    revision: dict[str, int] = Field(default_factory=dict)
    last_modified_at_utc_iso: str = ""
    protocol_versions: dict[str, int] | None = None
    meta: JsonDict | None = None


class Document(_Wire):
    """A Powerhouse document: header, state per scope, history per scope, clipboard."""

    header: DocumentHeader
    state: JsonDict
    initial_state: JsonDict
    operations: dict[str, list[Operation]] = Field(default_factory=dict)
    clipboard: list[Operation] = Field(default_factory=list)

    def to_json(self) -> JsonDict:
        """Powerhouse's shape: operations (and the clipboard) as `Operation.to_json` writes them."""
        data = super().to_json()
        data["operations"] = {
            scope: [operation.to_json() for operation in operations]
            for scope, operations in self.operations.items()
        }
        data["clipboard"] = [operation.to_json() for operation in self.clipboard]
        return data

    @property
    def id(self) -> str:
        return self.header.id

    @property
    def document_type(self) -> str:
        return self.header.document_type

    def scope_operations(self, scope: str) -> list[Operation]:
        """The (mutable) history list of a scope, created empty on first use."""
        return self.operations.setdefault(scope, [])

    def next_index(self, scope: str) -> int:
        """Index the next operation of `scope` gets: last index + 1 (§1.9).

        A scope without operations in memory falls back to `header.revision`, which is
        the next index by definition (and is all a document restored without history has).
        """
        ops = self.operations.get(scope)
        if ops:
            return ops[-1].index + 1
        return self.header.revision.get(scope, 0)
