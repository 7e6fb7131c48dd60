"""Shape of a drive's state: initial scopes and the node/listener vocabulary.

States stay plain JSON (they are hashed as such). Nodes written by the reducers carry
exactly the keys listed here; copies add `slug`, folders keep extra input keys, and old
exports may hold more (`synchronizationUnits`): all of them are kept, as they are hashed.
"""

from __future__ import annotations

from typing import Any, Final

from reactor_es.document.types import JsonDict
from reactor_es.models.document_drive.exceptions import DriveScopeError

__all__ = [
    "DOCUMENT_TYPE",
    "EXTENSION",
    "FILE",
    "FOLDER",
    "LOCAL_ACTION_TYPES",
    "TRANSMITTER_TYPES",
    "action_scope",
    "collision_kind",
    "initial_global_state",
    "initial_local_state",
    "scope_list",
]

DOCUMENT_TYPE: Final = "powerhouse/document-drive"
EXTENSION: Final = "phdd"

#: Node kinds. `kind` is a free string in the schema; code only tests these two values.
FILE: Final = "file"
FOLDER: Final = "folder"

TRANSMITTER_TYPES: Final = (
    "Internal",
    "SwitchboardPush",
    "PullResponder",
    "SecureConnect",
    "MatrixConnect",
    "RESTWebhook",
)

#: Actions whose creators send them to scope "local" (all others go to "global").
LOCAL_ACTION_TYPES: Final = frozenset(
    {
        "SET_SHARING_TYPE",
        "SET_AVAILABLE_OFFLINE",
        "ADD_LISTENER",
        "REMOVE_LISTENER",
        "ADD_TRIGGER",
        "REMOVE_TRIGGER",
    }
)


def action_scope(action_type: str) -> str:
    """The scope Powerhouse's action creators give a drive action."""
    return "local" if action_type in LOCAL_ACTION_TYPES else "global"


def initial_global_state() -> JsonDict:
    return {"name": "", "nodes": [], "icon": None}


def initial_local_state() -> JsonDict:
    # "private", as the document factory writes it (ph-factories' null is an outlier).
    return {"listeners": [], "triggers": [], "sharingType": "private", "availableOffline": False}


def collision_kind(node: JsonDict) -> str:
    """Names collide within a kind; anything that is not a file counts as a folder."""
    return FILE if node.get("kind") == FILE else FOLDER


def scope_list(scope_state: Any, key: str, action_type: str, scope: str) -> list[JsonDict]:
    """The list a handler edits, or a recorded error when the action hit the wrong scope."""
    value = scope_state.get(key) if isinstance(scope_state, dict) else None
    if not isinstance(value, list):
        raise DriveScopeError(action_type, scope, key)
    return value
