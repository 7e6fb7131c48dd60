"""Action creators: the base actions, and `new_action` for any model action.

Each creator stamps a fresh id and the current time unless given them, as Powerhouse's
`createAction` does; pass both to get a reproducible action (tests, fixtures).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reactor_es.document.ids import new_id, utc_now_iso
from reactor_es.document.state import DOCUMENT_SCOPE, backfill_base_state
from reactor_es.document.types import Action, JsonDict

if TYPE_CHECKING:
    from reactor_es.document.model import DocumentModel

__all__ = [
    "create_document_action",
    "create_document_actions",
    "delete_document_action",
    "new_action",
    "noop",
    "set_name",
    "set_preferred_editor",
    "upgrade_document_action",
]


def new_action(
    action_type: str,
    payload: Any = None,
    scope: str = "global",
    *,
    action_id: str | None = None,
    timestamp: str | None = None,
    context: JsonDict | None = None,
) -> Action:
    """An action of `action_type` with input `payload` (default `{}`) in `scope`."""
    return Action(
        id=action_id or new_id(),
        type=action_type,
        timestamp_utc_ms=timestamp or utc_now_iso(),
        input={} if payload is None else payload,
        scope=scope,
        context=context,
    )


def set_name(name: str, scope: str = "global", **stamp: Any) -> Action:
    """SET_NAME: renames the document (header); recorded in `scope`, "global" by default."""
    return new_action("SET_NAME", {"name": name}, scope, **stamp)


def set_preferred_editor(editor: str | None, **stamp: Any) -> Action:
    """SET_PREFERRED_EDITOR: sets (or, with None, clears) `header.meta.preferredEditor`."""
    return new_action("SET_PREFERRED_EDITOR", {"preferredEditor": editor}, "header", **stamp)


def noop(scope: str = "global", **stamp: Any) -> Action:
    """NOOP: changes nothing; with a skip it marks an undo (history step)."""
    return new_action("NOOP", {}, scope, **stamp)


def create_document_action(
    document_type: str,
    document_id: str,
    *,
    name: str | None = None,
    slug: str | None = None,
    branch: str | None = None,
    meta: JsonDict | None = None,
    protocol_versions: dict[str, int] | None = None,
    **stamp: Any,
) -> Action:
    """CREATE_DOCUMENT: the first operation of every document (scope "document", index 0)."""
    payload: JsonDict = {"model": document_type, "version": 0, "documentId": document_id}
    optional = {
        "name": name,
        "slug": slug,
        "branch": branch,
        "meta": meta,
        "protocolVersions": protocol_versions,
    }
    payload.update({key: value for key, value in optional.items() if value is not None})
    return new_action("CREATE_DOCUMENT", payload, DOCUMENT_SCOPE, **stamp)


def upgrade_document_action(
    document_type: str,
    document_id: str,
    from_version: int,
    to_version: int,
    initial_state: JsonDict | None = None,
    **stamp: Any,
) -> Action:
    """UPGRADE_DOCUMENT: from version 0 it installs the model's initial state."""
    payload: JsonDict = {
        "model": document_type,
        "fromVersion": from_version,
        "toVersion": to_version,
        "documentId": document_id,
    }
    if initial_state is not None:
        payload["initialState"] = initial_state
    return new_action("UPGRADE_DOCUMENT", payload, DOCUMENT_SCOPE, **stamp)


def delete_document_action(
    document_id: str, *, propagate: str | None = None, **stamp: Any
) -> Action:
    """DELETE_DOCUMENT: marks the document deleted; it takes no actions afterwards."""
    payload: JsonDict = {"documentId": document_id}
    if propagate is not None:
        payload["propagate"] = propagate
    return new_action("DELETE_DOCUMENT", payload, DOCUMENT_SCOPE, **stamp)


def create_document_actions(
    model: DocumentModel,
    document_id: str | None = None,
    *,
    name: str | None = None,
    slug: str | None = None,
    initial_state: JsonDict | None = None,
    timestamp: str | None = None,
) -> list[Action]:
    """CREATE_DOCUMENT then UPGRADE_DOCUMENT (0 -> model version), as Powerhouse's reactor.

    Applied in order to "no document yet" they build the document; its initial state is
    `initial_state` (default: the model's) with the base scopes added.
    """
    document_id = document_id or new_id()
    timestamp = timestamp or utc_now_iso()
    state = backfill_base_state(initial_state or model.initial_state())
    return [
        create_document_action(
            model.document_type, document_id, name=name, slug=slug, timestamp=timestamp
        ),
        upgrade_document_action(
            model.document_type, document_id, 0, model.version, state, timestamp=timestamp
        ),
    ]
