"""Hand-built documents and operations with predictable ids, hashes and timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from reactor_es.document.ids import derive_operation_id
from reactor_es.document.types import Action, Document, DocumentHeader, Operation

__all__ = [
    "DOCUMENT_MODEL",
    "Clock",
    "deleted_document",
    "document",
    "operation",
    "operations",
    "timestamp",
]

DOCUMENT_MODEL = "powerhouse/document-model"
_BASE = datetime(2024, 1, 1, tzinfo=UTC)


def timestamp(seconds: int) -> str:
    """`2024-01-01T00:00:00.000Z` plus `seconds`, as JavaScript writes instants."""
    moment = _BASE + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def operation(
    index: int,
    *,
    document_id: str = "doc-1",
    scope: str = "global",
    branch: str = "main",
    skip: int = 0,
    type: str = "SET_MODEL_NAME",
    input: Any = None,
    at: str | None = None,
    hash: str | None = None,
    action_id: str | None = None,
    error: str | None = None,
    tag: str = "",
) -> Operation:
    """An operation whose ids and hash follow from its coordinates (and `tag`, to vary them)."""
    action_id = action_id or f"act-{document_id}-{scope}-{index}-{skip}{tag}"
    when = at or timestamp(index)
    return Operation(
        id=derive_operation_id(document_id, scope, branch, action_id),
        index=index,
        skip=skip,
        timestamp_utc_ms=when,
        hash=hash if hash is not None else f"hash-{scope}-{index}{tag}",
        error=error,
        action=Action(
            id=action_id,
            type=type,
            timestamp_utc_ms=when,
            input={"name": f"{scope} {index}{tag}"} if input is None else input,
            scope=scope,
        ),
    )


def operations(*indexes: int, **kwargs: Any) -> list[Operation]:
    return [operation(index, **kwargs) for index in indexes]


def document(
    document_id: str = "doc-1",
    *,
    document_type: str = DOCUMENT_MODEL,
    slug: str = "",
    name: str = "",
    ops: dict[str, list[Operation]] | None = None,
    revision: dict[str, int] | None = None,
    state_note: str = "",
    clipboard: list[Operation] | None = None,
) -> Document:
    """A document as the base reducer would hand it over: base scopes, model scopes, history."""
    ops = {"global": [], "local": []} if ops is None else ops
    if revision is None:
        revision = {
            scope: (history[-1].index + 1 if history else 0) for scope, history in ops.items()
        }
    initial = {
        "auth": {},
        "document": {"hash": {"algorithm": "sha1", "encoding": "base64"}, "version": 0},
        "global": {"name": "", "notes": []},
        "local": {},
    }
    state = {
        "auth": {},
        "document": {"hash": {"algorithm": "sha1", "encoding": "base64"}, "version": 0},
        "global": {"name": name, "notes": [state_note] if state_note else [], "n": 1.5},
        "local": {"open": None},
    }
    return Document(
        header=DocumentHeader(
            id=document_id,
            document_type=document_type,
            created_at_utc_iso="2024-01-01T00:00:00.000Z",
            slug=slug,
            name=name,
            revision=revision,
            last_modified_at_utc_iso="2024-01-01T00:00:00.000Z",
            protocol_versions={"base-reducer": 2},
            meta={},
        ),
        state=state,
        initial_state=initial,
        operations=ops,
        clipboard=clipboard or [],
    )


def deleted_document(
    document_id: str = "doc-1", *, slug: str = "", at: str = "2024-01-01T00:01:00.000Z"
) -> Document:
    """A document created, given global [0, 1], then deleted: document scope CREATE_DOCUMENT
    (0), DELETE_DOCUMENT (1), its state marked deleted at `at`, as the base reducer leaves it."""
    doc = document(
        document_id,
        slug=slug,
        ops={
            "document": [
                operation(0, document_id=document_id, scope="document", type="CREATE_DOCUMENT"),
                operation(
                    1,
                    document_id=document_id,
                    scope="document",
                    type="DELETE_DOCUMENT",
                    input={"documentId": document_id},
                    at=at,
                ),
            ],
            "global": operations(0, 1, document_id=document_id),
            "local": [],
        },
    )
    doc.state["document"].update(isDeleted=True, deletedAtUtcIso=at)
    return doc


class Clock:
    """Write timestamps 2025-01-01T00:00:00.001Z, .002Z, ... so tests can tell writes apart."""

    def __init__(self) -> None:
        self._ticks = count(1)

    def __call__(self) -> str:
        return f"2025-01-01T00:00:00.{next(self._ticks):03d}Z"
