"""Failures of drive actions; the base reducer records their message on the operation.

The messages that Powerhouse's drive reducer throws are reproduced word for word (tests
and clients match on them); the others are ours and name the node, scope or action.
"""

from __future__ import annotations

from reactor_es.document.exceptions import DocumentError

__all__ = [
    "CircularReferenceError",
    "DriveActionError",
    "DriveScopeError",
    "InvalidNameError",
    "ListenerExistsError",
    "NodeExistsError",
    "NodeNotFoundError",
    "ParentFolderCycleError",
    "TriggerExistsError",
]


class DriveActionError(DocumentError):
    """A drive action refused by the model; state is left as it was."""


class NodeExistsError(DriveActionError):
    """ADD_FILE/ADD_FOLDER (message ends in "!") or COPY_NODE (no "!") reuse an id."""

    def __init__(self, node_id: str, *, exclaim: bool) -> None:
        self.node_id = node_id
        super().__init__(f"Node with id {node_id} already exists{'!' if exclaim else ''}")


class NodeNotFoundError(DriveActionError):
    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        super().__init__(f"Node with id {node_id} not found")


class InvalidNameError(DriveActionError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"Invalid name: '{name}'. Names must not be empty or contain control characters."
        )


class CircularReferenceError(DriveActionError):
    """MOVE_NODE onto itself or under one of its own descendants."""

    TO_ITSELF = "Attempting to move a node to its current parent folder"
    TO_DESCENDANT = "Cannot move a folder to one of its descendants"

    def __init__(self, problem: str) -> None:
        super().__init__(f"Circular Reference Error: {problem}")


class ParentFolderCycleError(DriveActionError):
    """The stored tree loops (`parentFolder` chains back); Powerhouse overflows its stack."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        super().__init__(f"parentFolder chain of node {node_id} loops back to itself")


class ListenerExistsError(DriveActionError):
    def __init__(self, listener_id: str) -> None:
        self.listener_id = listener_id
        super().__init__(f"A listener with Id: {listener_id} already exists")


class TriggerExistsError(DriveActionError):
    def __init__(self, trigger_id: str) -> None:
        self.trigger_id = trigger_id
        super().__init__(f"A trigger with Id: {trigger_id} already exists")


class DriveScopeError(DriveActionError):
    """The action's scope lacks the list it edits (e.g. a node action sent to "local")."""

    def __init__(self, action_type: str, scope: str, key: str) -> None:
        self.action_type = action_type
        self.scope = scope
        self.key = key
        super().__init__(f"{action_type}: scope {scope} has no '{key}' list")
