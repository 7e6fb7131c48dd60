"""Handlers of the Node module: the file/folder tree in the global scope.

Every handler checks everything first and then replaces `nodes` with a new list in one
assignment, so a refused action has changed nothing. Node dicts are never edited in
place (an updated node is a new dict), so earlier lists stay valid. After every action
except DELETE_NODE the list is re-sorted by id, ICU-style.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from reactor_es.document.model import ReduceContext, action
from reactor_es.document.types import JsonDict
from reactor_es.models.document_drive.collation import sort_nodes_by_id
from reactor_es.models.document_drive.exceptions import (
    CircularReferenceError,
    NodeExistsError,
    NodeNotFoundError,
)
from reactor_es.models.document_drive.inputs import (
    AddFileInput,
    AddFolderInput,
    CopyNodeInput,
    DeleteNodeInput,
    MoveNodeInput,
    UpdateFileInput,
    UpdateNodeInput,
)
from reactor_es.models.document_drive.names import check_name, resolve_name
from reactor_es.models.document_drive.state import FILE, FOLDER, collision_kind, scope_list
from reactor_es.models.document_drive.tree import descendants

__all__ = ["NodeActions"]

_ABSENT: Any = object()


def _nodes(scope_state: JsonDict, ctx: ReduceContext) -> list[JsonDict]:
    return scope_list(scope_state, "nodes", ctx.action.type, ctx.action.scope)


def _find(nodes: Sequence[JsonDict], node_id: str) -> JsonDict | None:
    for node in nodes:
        if node.get("id") == node_id:
            return node
    return None


def _check_new_name(name: str | None) -> None:
    """UPDATE_* validate only a non-empty new name: "" is stored as it is."""
    if name:
        check_name(name)


class NodeActions:
    """ADD_FILE, ADD_FOLDER, DELETE_NODE, UPDATE_FILE, UPDATE_NODE, COPY_NODE, MOVE_NODE."""

    @action("ADD_FILE", AddFileInput)
    def add_file(self, state: JsonDict, inp: AddFileInput, ctx: ReduceContext) -> None:
        nodes = _nodes(state, ctx)
        if _find(nodes, inp.id) is not None:
            raise NodeExistsError(inp.id, exclaim=True)
        check_name(inp.name)
        node = {
            "id": inp.id,
            # "" collides at the root but is stored as "" (a parent that does not exist).
            "name": resolve_name(nodes, inp.parent_folder or None, inp.name, FILE),
            "kind": FILE,
            "parentFolder": inp.parent_folder,
            "documentType": inp.document_type,
        }
        state["nodes"] = sort_nodes_by_id([*nodes, node])
        ctx.emit("CREATE_CHILD_DOCUMENT", id=inp.id, documentType=inp.document_type)

    @action("ADD_FOLDER", AddFolderInput)
    def add_folder(self, state: JsonDict, inp: AddFolderInput, ctx: ReduceContext) -> None:
        nodes = _nodes(state, ctx)
        if _find(nodes, inp.id) is not None:
            raise NodeExistsError(inp.id, exclaim=True)
        check_name(inp.name)
        # Powerhouse spreads the raw input into the folder: unknown keys are stored too.
        node = {
            **copy.deepcopy(ctx.action.input),
            "name": resolve_name(nodes, inp.parent_folder or None, inp.name, FOLDER),
            "kind": FOLDER,
            "parentFolder": inp.parent_folder,
        }
        state["nodes"] = sort_nodes_by_id([*nodes, node])

    @action("DELETE_NODE", DeleteNodeInput)
    def delete_node(self, state: JsonDict, inp: DeleteNodeInput, ctx: ReduceContext) -> None:
        nodes = _nodes(state, ctx)
        node = _find(nodes, inp.id)
        if node is None:
            raise NodeNotFoundError(inp.id)
        below = descendants(node, nodes)
        gone = {inp.id, *(item["id"] for item in below)}
        # Filter only: the relative order is kept, no re-sort.
        state["nodes"] = [item for item in nodes if item.get("id") not in gone]
        for item in (node, *below):
            if item.get("kind") == FILE:
                ctx.emit("DELETE_CHILD_DOCUMENT", id=item["id"])

    @action("UPDATE_FILE", UpdateFileInput)
    def update_file(self, state: JsonDict, inp: UpdateFileInput, ctx: ReduceContext) -> None:
        _check_new_name(inp.name)
        nodes = _nodes(state, ctx)
        others = [item for item in nodes if item.get("id") != inp.id]
        updated: list[JsonDict] = []
        for node in nodes:
            if node.get("id") != inp.id:
                updated.append(node)
                continue
            # `parentFolder` only steers the collision check; the file does not move.
            target = (
                inp.parent_folder if inp.parent_folder is not None else node.get("parentFolder")
            )
            name = inp.name if inp.name is not None else node["name"]
            # Always checked as a file, even when the node is a folder.
            changed = {**node, "name": resolve_name(others, target, name, FILE)}
            document_type = (
                inp.document_type
                if inp.document_type is not None
                else node.get("documentType", _ABSENT)
            )
            if document_type is not _ABSENT:
                changed["documentType"] = document_type
            updated.append(changed)
        state["nodes"] = sort_nodes_by_id(updated)

    @action("UPDATE_NODE", UpdateNodeInput)
    def update_node(self, state: JsonDict, inp: UpdateNodeInput, ctx: ReduceContext) -> None:
        _check_new_name(inp.name)
        nodes = _nodes(state, ctx)
        # Only an explicit null moves the node (to the root); a folder id does not move it.
        to_root = "parent_folder" in inp.model_fields_set and inp.parent_folder is None
        others = [item for item in nodes if item.get("id") != inp.id]
        updated: list[JsonDict] = []
        for node in nodes:
            if node.get("id") != inp.id:
                updated.append(node)
                continue
            # With parentFolder null the check runs against the OLD parent (Powerhouse's
            # `??`), so the node may land at the root next to a namesake.
            target = (
                inp.parent_folder if inp.parent_folder is not None else node.get("parentFolder")
            )
            name = inp.name if inp.name is not None else node["name"]
            changed = {**node, "name": resolve_name(others, target, name, collision_kind(node))}
            if to_root:
                changed["parentFolder"] = None
            updated.append(changed)
        state["nodes"] = sort_nodes_by_id(updated)

    @action("COPY_NODE", CopyNodeInput)
    def copy_node(self, state: JsonDict, inp: CopyNodeInput, ctx: ReduceContext) -> None:
        nodes = _nodes(state, ctx)
        source = _find(nodes, inp.src_id)
        if source is None:
            raise NodeNotFoundError(inp.src_id)
        if _find(nodes, inp.target_id) is not None:
            raise NodeExistsError(inp.target_id, exclaim=False)
        # Empty strings count as absent: keep the source's name, copy to the root.
        parent = inp.target_parent_folder or None
        name = inp.target_name or source["name"]
        node = {
            **copy.deepcopy(source),
            "id": inp.target_id,
            "slug": inp.target_id,
            "name": resolve_name(nodes, parent, name, collision_kind(source)),
            "parentFolder": parent,
        }
        state["nodes"] = sort_nodes_by_id([*nodes, node])
        if node.get("kind") == FILE:
            ctx.emit("COPY_CHILD_DOCUMENT", id=inp.src_id, newId=inp.target_id)

    @action("MOVE_NODE", MoveNodeInput)
    def move_node(self, state: JsonDict, inp: MoveNodeInput, ctx: ReduceContext) -> None:
        if inp.src_folder == inp.target_parent_folder:
            raise CircularReferenceError(CircularReferenceError.TO_ITSELF)
        nodes = _nodes(state, ctx)
        node = _find(nodes, inp.src_folder)
        if node is None:
            raise NodeNotFoundError(inp.src_folder)
        parent = inp.target_parent_folder or None
        # All nodes count, the moved one included: moving a node to the folder it is
        # already in renames it "<name> (copy) 1".
        name = resolve_name(nodes, parent, node["name"], collision_kind(node))
        if node.get("kind") == FOLDER:
            below = descendants(node, nodes)
            target = inp.target_parent_folder
            if target is not None and any(item.get("id") == target for item in below):
                raise CircularReferenceError(CircularReferenceError.TO_DESCENDANT)
        state["nodes"] = sort_nodes_by_id(
            {**item, "name": name, "parentFolder": parent}
            if item.get("id") == inp.src_folder
            else item
            for item in nodes
        )
