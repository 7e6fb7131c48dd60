"""Walking the folder tree that `parentFolder` links describe.

Nothing keeps that tree well-formed (parents need not exist or be folders), so the walks
take it as found. Descendants come in Powerhouse's order, which signals and copy plans
follow: a node's children in list order, then the descendants of its first child, then
of its second, and so on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from reactor_es.document.types import JsonDict
from reactor_es.models.document_drive.exceptions import NodeNotFoundError, ParentFolderCycleError

__all__ = ["descendants", "generate_nodes_copy"]


def descendants(node: JsonDict, nodes: Sequence[JsonDict]) -> list[JsonDict]:
    """All nodes below `node`; `ParentFolderCycleError` if the links loop back.

    Powerhouse recurses without a guard and dies of stack overflow on a loop; we raise
    our own error instead (the action is recorded as failed either way).
    """
    children: defaultdict[str, list[JsonDict]] = defaultdict(list)
    for item in nodes:
        parent = item.get("parentFolder")
        if isinstance(parent, str):
            children[parent].append(item)
    found: list[JsonDict] = []
    path: list[str] = []  # ids being expanded, from `node` down to the current one
    on_path: set[str] = set()
    stack: list[tuple[str, int]] = [(node["id"], 0)]
    while stack:
        node_id, depth = stack.pop()
        while len(path) > depth:
            on_path.discard(path.pop())
        if node_id in on_path:
            raise ParentFolderCycleError(node["id"])
        path.append(node_id)
        on_path.add(node_id)
        kids = children.get(node_id, [])
        found.extend(kids)
        stack.extend((kid["id"], depth + 1) for kid in reversed(kids))
    return found


def generate_nodes_copy(
    src_id: str,
    new_id: Callable[[JsonDict], str],
    nodes: Sequence[JsonDict],
    *,
    target_name: str | None = None,
    target_parent_folder: str | None = None,
) -> list[JsonDict]:
    """COPY_NODE inputs that copy a node and its whole subtree (a client-side plan).

    The reducer copies one node per COPY_NODE, so a client plans one action per node: the
    root first (renamed to `target_name` and placed under `target_parent_folder`, empty
    meaning "keep the name" / "root"), then each descendant under its parent's new id.
    `new_id` is called once per copied node, with the node as it will be copied.
    """
    root = next((item for item in nodes if item.get("id") == src_id), None)
    if root is None:
        raise NodeNotFoundError(src_id)
    to_copy = [
        {
            **root,
            "name": target_name or root.get("name"),
            "parentFolder": target_parent_folder or None,
        },
        *descendants(root, nodes),
    ]
    # Old id -> new id. The target folder maps to itself, so a copy placed in it (or a
    # descendant that IS the target, in a self-copy) is not given a new id.
    new_ids: dict[str, str] = {}
    if target_parent_folder:
        new_ids[target_parent_folder] = target_parent_folder

    def new_id_of(item: JsonDict) -> str:
        assigned = new_ids.get(item["id"])
        if not assigned:
            assigned = new_id(item)
            new_ids[item["id"]] = assigned
        return assigned

    plan: list[JsonDict] = []
    for item in to_copy:
        target_id = new_id_of(item)
        parent = item.get("parentFolder")
        plan.append(
            {
                "srcId": item["id"],
                "targetId": target_id,
                "targetName": item.get("name"),
                "targetParentFolder": new_ids.get(parent) if parent else None,
            }
        )
    return plan
