"""The base scopes every document carries besides its model's: `auth` and `document`.

Powerhouse keeps deletion and hashing settings in `state.document` and access rules in
`state.auth`. The exports we replay (2023 to 2026) write `auth` as `{}`; later Powerhouse
versions fill it with `{version: 0, grants: []}`. We follow the exports, our oracle.
"""

from __future__ import annotations

from typing import Any

from reactor_es.document.types import JsonDict

__all__ = [
    "AUTH_SCOPE",
    "BASE_SCOPES",
    "DOCUMENT_SCOPE",
    "backfill_base_state",
    "base_state",
    "is_deleted",
]

AUTH_SCOPE = "auth"
DOCUMENT_SCOPE = "document"
BASE_SCOPES = (AUTH_SCOPE, DOCUMENT_SCOPE)


def base_state() -> JsonDict:
    """The `auth` and `document` scopes of a new document."""
    return {
        AUTH_SCOPE: {},
        DOCUMENT_SCOPE: {"version": 0, "hash": {"algorithm": "sha1", "encoding": "base64"}},
    }


def backfill_base_state(state: JsonDict) -> JsonDict:
    """`state` with any missing base scope added (legacy exports have only model scopes)."""
    missing = [scope for scope in BASE_SCOPES if scope not in state]
    if not missing:
        return state
    defaults = base_state()
    filled = {scope: defaults[scope] for scope in missing}
    filled.update(state)
    return filled


def is_deleted(state: JsonDict) -> bool:
    """True once DELETE_DOCUMENT has been applied."""
    document_scope: Any = state.get(DOCUMENT_SCOPE)
    return isinstance(document_scope, dict) and document_scope.get("isDeleted") is True
