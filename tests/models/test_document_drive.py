"""The `powerhouse/document-drive` model, driven directly (no base reducer).

`Drive` mimics what the base reducer does around the model: snapshot, run, on a model
error check that nothing changed, restore, record the message on a per-scope operation
log with the previous hash. Refused input (schema errors) raises and records nothing,
as `apply_action` refuses fresh actions. The numbered tests are the spec's §9 cases.
"""

from __future__ import annotations

import copy
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest

from reactor_es.document.exceptions import InvalidActionInputError
from reactor_es.document.hashing import hash_scope_state
from reactor_es.document.model import ReduceContext, Signal
from reactor_es.document.state import base_state
from reactor_es.document.types import Action, JsonDict
from reactor_es.errors import ReactorError
from reactor_es.models.document_drive import (
    LOCAL_ACTION_TYPES,
    DocumentDriveModel,
    action_scope,
)

MODEL = DocumentDriveModel()
STAMP = "2026-06-01T12:00:00.000Z"
INVALID = "Names must not be empty or contain control characters."


@dataclass(frozen=True)
class Op:
    index: int
    type: str
    error: str | None
    hash: str
    signals: tuple[Signal, ...]


class Drive:
    """A drive state plus the operation log the base reducer would keep for it."""

    def __init__(self, nodes: list[JsonDict] | None = None) -> None:
        self.state: JsonDict = {**base_state(), **MODEL.initial_state()}
        if nodes is not None:
            self.state["global"]["nodes"] = nodes
        self.ops: defaultdict[str, list[Op]] = defaultdict(list)
        self._count = 0

    def _action(self, action_type: str, payload: Any, scope: str | None) -> Action:
        self._count += 1
        return Action(
            id=f"action-{self._count}",
            type=action_type,
            timestamp_utc_ms=STAMP,
            input=payload,
            scope=scope or action_scope(action_type),
        )

    def apply(self, action_type: str, payload: Any, scope: str | None = None) -> Op:
        action = self._action(action_type, payload, scope)
        ctx = ReduceContext(action)
        snapshot = MODEL.copy_state(self.state)
        error: str | None = None
        try:
            MODEL.reduce(self.state, action, ctx)
        except InvalidActionInputError:
            raise  # refused, as apply_action refuses bad input of a fresh action
        except ReactorError as exc:
            assert self.state == snapshot, f"{action_type} changed the state, then raised"
            self.state.clear()
            self.state.update(snapshot)
            error = str(exc)
        history = self.ops[action.scope]
        op = Op(
            index=len(history),
            type=action_type,
            error=error,
            hash=hash_scope_state(self.state.get(action.scope)),
            signals=() if error else tuple(ctx.signals),
        )
        history.append(op)
        return op

    def refuse(self, action_type: str, payload: Any, scope: str | None = None) -> str:
        """Apply input that must be refused; return the message, check nothing changed."""
        before = copy.deepcopy(self.state)
        action = self._action(action_type, payload, scope)
        with pytest.raises(InvalidActionInputError) as info:
            MODEL.reduce(self.state, action, ReduceContext(action))
        assert self.state == before
        return str(info.value)

    @property
    def nodes(self) -> list[JsonDict]:
        nodes: list[JsonDict] = self.state["global"]["nodes"]
        return nodes

    @property
    def ids(self) -> list[str]:
        return [node["id"] for node in self.nodes]

    def node(self, node_id: str) -> JsonDict:
        (found,) = [node for node in self.nodes if node["id"] == node_id]
        return found

    @property
    def local(self) -> JsonDict:
        local: JsonDict = self.state["local"]
        return local

    def global_hash(self) -> str:
        return hash_scope_state(self.state["global"])


def folder(node_id: str, name: str | None = None, parent: str | None = None) -> JsonDict:
    return {
        "id": node_id,
        "name": name or f"folder {node_id}",
        "kind": "folder",
        "parentFolder": parent,
    }


def file(node_id: str, name: str | None = None, parent: str | None = None) -> JsonDict:
    return {
        "id": node_id,
        "name": name or f"file {node_id}",
        "kind": "file",
        "parentFolder": parent,
        "documentType": "t",
    }


def add_file(node_id: str, name: str, parent: Any = ..., document_type: str = "t") -> JsonDict:
    payload: JsonDict = {"id": node_id, "name": name, "documentType": document_type}
    if parent is not ...:
        payload["parentFolder"] = parent
    return payload


def signal(signal_type: str, **payload: Any) -> Signal:
    return Signal(signal_type, payload)


# -- the model itself --------------------------------------------------------------------


def test_model_identity_and_initial_state() -> None:
    assert MODEL.document_type == "powerhouse/document-drive"
    assert (MODEL.version, MODEL.extension, MODEL.name) == (1, "phdd", "DocumentDrive")
    assert MODEL.initial_state() == {
        "global": {"name": "", "nodes": [], "icon": None},
        "local": {
            "listeners": [],
            "triggers": [],
            "sharingType": "private",
            "availableOffline": False,
        },
    }
    assert MODEL.initial_state() is not MODEL.initial_state()
    assert sorted(MODEL.action_types) == [
        "ADD_FILE",
        "ADD_FOLDER",
        "ADD_LISTENER",
        "ADD_TRIGGER",
        "COPY_NODE",
        "DELETE_NODE",
        "MOVE_NODE",
        "REMOVE_LISTENER",
        "REMOVE_TRIGGER",
        "SET_AVAILABLE_OFFLINE",
        "SET_DRIVE_ICON",
        "SET_DRIVE_NAME",
        "SET_SHARING_TYPE",
        "UPDATE_FILE",
        "UPDATE_NODE",
    ]
    assert sorted(LOCAL_ACTION_TYPES) == [
        "ADD_LISTENER",
        "ADD_TRIGGER",
        "REMOVE_LISTENER",
        "REMOVE_TRIGGER",
        "SET_AVAILABLE_OFFLINE",
        "SET_SHARING_TYPE",
    ]
    assert (action_scope("ADD_FILE"), action_scope("SET_DRIVE_NAME")) == ("global", "global")
    # Pinned hashes here and below were computed independently with Node (sha1 of sorted JSON).
    assert hash_scope_state(MODEL.initial_state()["global"]) == "ufp4PcsrsEbXLBqwQAW6BLAg338="
    assert hash_scope_state(MODEL.initial_state()["local"]) == "OihutisKoog21ID8Kzk19+BOOms="


def test_unknown_and_base_action_types_change_nothing() -> None:
    drive = Drive()
    before = copy.deepcopy(drive.state)
    for action_type in ("SOMETHING_ELSE", "SET_NAME", "NOOP"):
        op = drive.apply(action_type, {"name": "x"})
        assert op.error is None
        assert op.signals == ()
    assert drive.state == before


# -- §9 test cases -----------------------------------------------------------------------


def test_case_1_collision_numbering() -> None:
    drive = Drive()
    drive.apply("ADD_FILE", add_file("node-1", "test"))
    drive.apply("ADD_FILE", add_file("node-2", "test"))
    drive.apply("ADD_FILE", add_file("node-3", "test (copy) 1"))
    drive.apply("ADD_FILE", add_file("node-4", "test"))
    drive.apply("ADD_FOLDER", {"id": "node-5", "name": "test"})
    assert [(node["id"], node["name"], node["kind"]) for node in drive.nodes] == [
        ("node-1", "test", "file"),
        ("node-2", "test (copy) 1", "file"),
        ("node-3", "test (copy) 1 (copy) 1", "file"),
        ("node-4", "test (copy) 2", "file"),
        ("node-5", "test", "folder"),
    ]
    assert [(op.index, op.error) for op in drive.ops["global"]] == [(i, None) for i in range(5)]
    assert "local" not in drive.ops
    assert drive.global_hash() == "aSWL45U6DHGQoOJjBcwvhUJcR2M="


def test_case_2_kinds_do_not_collide_and_copy() -> None:
    drive = Drive([folder("a", "Reports"), file("s", "Reports")])
    op = drive.apply(
        "COPY_NODE",
        {"srcId": "s", "targetId": "c", "targetName": "Reports", "targetParentFolder": None},
    )
    assert op.error is None
    assert drive.node("c") == {
        "id": "c",
        "slug": "c",
        "name": "Reports (copy) 1",
        "kind": "file",
        "documentType": "t",
        "parentFolder": None,
    }
    assert op.signals == (signal("COPY_CHILD_DOCUMENT", id="s", newId="c"),)
    assert drive.ids == ["a", "c", "s"]

    state_before, hash_before = copy.deepcopy(drive.state), op.hash
    again = drive.apply(
        "COPY_NODE",
        {"srcId": "s", "targetId": "c", "targetName": "Reports", "targetParentFolder": None},
    )
    assert again.error == "Node with id c already exists"
    assert (again.index, again.hash, again.signals) == (1, hash_before, ())
    assert drive.state == state_before

    folder_copy = drive.apply("COPY_NODE", {"srcId": "a", "targetId": "d", "targetName": ""})
    assert folder_copy.error is None
    assert folder_copy.signals == ()
    assert drive.node("d") == {
        "id": "d",
        "slug": "d",
        "name": "Reports (copy) 1",
        "kind": "folder",
        "parentFolder": None,
    }
    assert drive.ids == ["a", "c", "d", "s"]


def test_case_3_id_sort_uses_icu_collation() -> None:
    drive = Drive()
    for node_id in ("b", "a", "B", "a_b", "a1"):
        drive.apply("ADD_FOLDER", {"id": node_id, "name": f"name {node_id}"})
    assert drive.ids == ["a", "a_b", "a1", "b", "B"]
    assert all(op.error is None for op in drive.ops["global"])


def test_case_4_delete_keeps_order_other_node_actions_sort() -> None:
    drive = Drive([folder("z"), folder("m"), folder("a")])
    assert drive.apply("DELETE_NODE", {"id": "m"}).error is None
    assert drive.ids == ["z", "a"]
    op = drive.apply("UPDATE_NODE", {"id": "nope", "name": "q"})
    assert op.error is None
    assert drive.ids == ["a", "z"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"srcFolder": "1", "targetParentFolder": "3"},
            "Circular Reference Error: Cannot move a folder to one of its descendants",
        ),
        (
            {"srcFolder": "1", "targetParentFolder": "1"},
            "Circular Reference Error: Attempting to move a node to its current parent folder",
        ),
        ({"srcFolder": "invalid", "targetParentFolder": "1"}, "Node with id invalid not found"),
    ],
)
def test_case_5_move_node_errors(payload: JsonDict, message: str) -> None:
    nodes = [folder("1", "Root"), folder("2", "Child", "1"), folder("3", "Subchild", "2")]
    drive = Drive(copy.deepcopy(nodes))
    op = drive.apply("MOVE_NODE", payload)
    assert op.error == message
    assert op.signals == ()
    assert drive.nodes == nodes
    assert op.hash == hash_scope_state({"name": "", "nodes": nodes, "icon": None})


def test_case_5_move_node_without_target_goes_to_root() -> None:
    drive = Drive([folder("1", "Root"), folder("2", "Child", "1"), folder("3", "Subchild", "2")])
    op = drive.apply("MOVE_NODE", {"srcFolder": "2"})
    assert op.error is None
    assert drive.node("2") == folder("2", "Child", None)
    assert drive.node("3") == folder("3", "Subchild", "2")


def test_case_6_move_to_current_parent_renames() -> None:
    drive = Drive([file("a", "Doc")])
    op = drive.apply("MOVE_NODE", {"srcFolder": "a"})
    assert op.error is None
    assert drive.nodes == [file("a", "Doc (copy) 1")]


def test_case_7_update_node_parent_and_name_rules() -> None:
    drive = Drive([folder("f", "reports"), file("x", "budget", "f"), file("r", "my-doc")])
    drive.apply("UPDATE_NODE", {"id": "x", "name": "my-doc"})
    assert drive.node("x") == file("x", "my-doc", "f")
    drive.apply("UPDATE_NODE", {"id": "x", "parentFolder": "zzz"})
    assert drive.node("x") == file("x", "my-doc", "f")
    drive.apply("UPDATE_NODE", {"id": "x", "parentFolder": None})
    assert drive.node("x") == file("x", "my-doc", None)
    assert [n["name"] for n in drive.nodes if n["parentFolder"] is None] == [
        "reports",
        "my-doc",
        "my-doc",
    ]
    drive.apply("UPDATE_NODE", {"id": "r", "name": ""})
    assert drive.node("r")["name"] == ""
    op = drive.apply("UPDATE_NODE", {"id": "r", "name": "   "})
    assert op.error == f"Invalid name: '   '. {INVALID}"
    assert drive.node("r")["name"] == ""
    assert [op.error is None for op in drive.ops["global"]] == [True, True, True, True, False]


def test_case_8_cascade_delete_and_signal_order() -> None:
    drive = Drive(
        [
            folder("1"),
            folder("1.1", parent="1"),
            file("f1", parent="1.1"),
            file("f2", parent="1"),
            file("g"),
        ]
    )
    op = drive.apply("DELETE_NODE", {"id": "1"})
    assert op.error is None
    assert drive.nodes == [file("g")]
    assert op.signals == (
        signal("DELETE_CHILD_DOCUMENT", id="f2"),
        signal("DELETE_CHILD_DOCUMENT", id="f1"),
    )
    again = drive.apply("DELETE_NODE", {"id": "1"})
    assert again.error == "Node with id 1 not found"
    assert again.hash == op.hash


@pytest.mark.parametrize(
    "name", ["", "   ", "bad\u0007name", "line1\nline2", "\ufeff", "tab\there"]
)
def test_case_9_add_rejects_invalid_names(name: str) -> None:
    drive = Drive()
    op = drive.apply("ADD_FILE", add_file("n", name))
    assert op.error == f"Invalid name: '{name}'. {INVALID}"
    assert drive.nodes == []
    assert op.signals == ()
    folder_op = drive.apply("ADD_FOLDER", {"id": "n", "name": name})
    assert folder_op.error == op.error
    assert drive.nodes == []


def test_case_9_add_accepts_unicode_and_any_parent() -> None:
    drive = Drive()
    assert drive.apply("ADD_FILE", add_file("u1", "Résumé café")).error is None
    assert drive.apply("ADD_FILE", add_file("u2", "予算レポート")).error is None
    assert drive.apply("ADD_FILE", add_file("u3", "\u0085 next-line")).error is None
    assert drive.apply("ADD_FOLDER", {"id": "1", "name": "one"}).error is None
    duplicate = drive.apply("ADD_FOLDER", {"id": "1", "name": "other"})
    assert duplicate.error == "Node with id 1 already exists!"
    assert drive.apply("ADD_FILE", add_file("1", "other")).error == "Node with id 1 already exists!"
    assert drive.apply("ADD_FILE", add_file("ghosted", "g", "ghost")).error is None
    assert drive.node("ghosted")["parentFolder"] == "ghost"
    assert drive.apply("ADD_FILE", add_file("empty", "e", "")).error is None
    assert drive.node("empty")["parentFolder"] == ""
    assert [n["name"] for n in drive.nodes] == [
        "one",
        "e",
        "g",
        "Résumé café",
        "予算レポート",
        "\u0085 next-line",
    ]


def test_case_10_local_scope() -> None:
    fresh = Drive()
    assert fresh.local["sharingType"] == "private"
    assert fresh.local["availableOffline"] is False

    drive = Drive()
    listener = {"listenerId": "l1", "block": False, "system": True, "filter": {}}
    op = drive.apply("ADD_LISTENER", {"listener": listener})
    assert drive.local["listeners"] == [
        {
            "listenerId": "l1",
            "label": None,
            "block": False,
            "system": True,
            "filter": {"documentType": None, "documentId": None, "scope": None, "branch": None},
            "callInfo": None,
        }
    ]
    assert (op.index, op.error) == (0, None)
    assert drive.ops["global"] == []
    again = drive.apply("ADD_LISTENER", {"listener": listener})
    assert again.error == "A listener with Id: l1 already exists"
    assert again.hash == op.hash
    before = copy.deepcopy(drive.local)
    assert drive.apply("REMOVE_LISTENER", {"listenerId": "x"}).error is None
    assert drive.local == before
    drive.apply("ADD_TRIGGER", {"trigger": {"id": "t1", "type": "PullResponder"}})
    assert drive.local["triggers"] == [{"id": "t1", "type": "PullResponder", "data": None}]
    drive.apply("SET_SHARING_TYPE", {"type": "public"})
    assert drive.local["sharingType"] == "public"
    assert [op.index for op in drive.ops["local"]] == [0, 1, 2, 3, 4]
    assert drive.ops["global"] == []
    assert drive.state["global"] == MODEL.initial_state()["global"]


# -- node module: each action ------------------------------------------------------------


def test_add_file_stores_exactly_five_keys_and_signals() -> None:
    drive = Drive()
    op = drive.apply("ADD_FILE", {**add_file("f", "Budget", "p", "powerhouse/budget"), "x": 1})
    assert drive.nodes == [
        {
            "id": "f",
            "name": "Budget",
            "kind": "file",
            "parentFolder": "p",
            "documentType": "powerhouse/budget",
        }
    ]
    assert op.signals == (
        signal("CREATE_CHILD_DOCUMENT", id="f", documentType="powerhouse/budget"),
    )
    drive.apply("ADD_FILE", add_file("g", "Budget", None))
    assert drive.node("g")["parentFolder"] is None
    assert drive.node("g")["name"] == "Budget"  # other folder than "f": no collision


def test_add_file_with_empty_parent_collides_at_root() -> None:
    drive = Drive([file("a", "doc")])
    drive.apply("ADD_FILE", add_file("b", "doc", ""))
    assert drive.node("b") == {**file("b", "doc (copy) 1"), "parentFolder": ""}


def test_add_folder_keeps_extra_input_keys() -> None:
    drive = Drive()
    payload: JsonDict = {"id": "f", "name": "Docs", "kind": "file", "color": {"hex": "#fff"}}
    op = drive.apply("ADD_FOLDER", payload)
    assert op.signals == ()
    assert drive.nodes == [
        {
            "id": "f",
            "name": "Docs",
            "kind": "folder",
            "parentFolder": None,
            "color": {"hex": "#fff"},
        }
    ]
    payload["color"]["hex"] = "#000"  # the stored node does not alias the action's input
    assert drive.node("f")["color"] == {"hex": "#fff"}
    drive.apply("ADD_FOLDER", {"id": "g", "name": "Docs", "parentFolder": None})
    assert drive.node("g") == folder("g", "Docs (copy) 1")


def test_delete_file_and_unknown_kind_children() -> None:
    drive = Drive(
        [
            file("a"),
            folder("b"),
            file("c", parent="a"),
            {"id": "d", "name": "odd", "kind": "link", "parentFolder": None},
        ]
    )
    op = drive.apply("DELETE_NODE", {"id": "a"})
    assert op.signals == (
        signal("DELETE_CHILD_DOCUMENT", id="a"),
        signal("DELETE_CHILD_DOCUMENT", id="c"),
    )
    assert drive.ids == ["b", "d"]
    op = drive.apply("DELETE_NODE", {"id": "d"})
    assert (op.error, op.signals, drive.ids) == (None, (), ["b"])


def test_delete_node_in_a_loop_fails_cleanly() -> None:
    drive = Drive([folder("a", parent="b"), folder("b", parent="a"), file("c")])
    op = drive.apply("DELETE_NODE", {"id": "a"})
    assert op.error == "parentFolder chain of node a loops back to itself"
    assert drive.ids == ["a", "b", "c"]


def test_update_file_renames_without_moving() -> None:
    drive = Drive(
        [folder("f", "docs"), file("a", "plan", "f"), file("b", "plan"), file("c", "memo")]
    )
    # Its own name does not collide with itself.
    drive.apply("UPDATE_FILE", {"id": "c", "name": "memo"})
    assert drive.node("c")["name"] == "memo"
    # parentFolder steers the collision check only.
    drive.apply("UPDATE_FILE", {"id": "a", "parentFolder": ""})
    assert drive.node("a") == file("a", "plan (copy) 1", "f")
    drive.apply("UPDATE_FILE", {"id": "c", "name": "plan", "documentType": "powerhouse/budget"})
    assert drive.node("c") == {**file("c", "plan (copy) 1"), "documentType": "powerhouse/budget"}
    drive.apply(
        "UPDATE_FILE", {"id": "c", "name": None, "documentType": None, "parentFolder": None}
    )
    assert drive.node("c") == {**file("c", "plan (copy) 1"), "documentType": "powerhouse/budget"}
    drive.apply("UPDATE_FILE", {"id": "c", "name": ""})
    assert drive.node("c")["name"] == ""
    op = drive.apply("UPDATE_FILE", {"id": "c", "name": "a\x7f"})
    assert op.error == f"Invalid name: 'a\x7f'. {INVALID}"
    assert drive.node("c")["name"] == ""


def test_update_file_on_folder_quirks() -> None:
    drive = Drive([folder("f", "plan"), file("g", "plan"), folder("h", "other")])
    drive.apply("UPDATE_FILE", {"id": "h", "name": "plan"})
    # Checked as a file: collides with the file "plan", not the folder.
    assert drive.node("h") == folder("h", "plan (copy) 1")  # no documentType key added
    drive.apply("UPDATE_FILE", {"id": "h", "documentType": "x"})
    assert drive.node("h") == {**folder("h", "plan (copy) 1"), "documentType": "x"}


def test_update_file_missing_id_is_a_sorting_no_op() -> None:
    drive = Drive([file("b"), file("a")])
    op = drive.apply("UPDATE_FILE", {"id": "zz", "name": "q"})
    assert (op.error, drive.ids) == (None, ["a", "b"])


def test_update_node_collides_within_kind() -> None:
    drive = Drive([folder("f", "Q"), file("g", "Q"), folder("h", "old")])
    drive.apply("UPDATE_NODE", {"id": "h", "name": "Q"})
    assert drive.node("h")["name"] == "Q (copy) 1"
    op = drive.apply("UPDATE_NODE", {"id": "g", "name": "line\nbreak"})
    assert op.error == f"Invalid name: 'line\nbreak'. {INVALID}"


def test_copy_node_to_folder_keeps_extra_keys() -> None:
    legacy = {**file("s", "Sheet"), "synchronizationUnits": [{"syncId": "1", "scope": "global"}]}
    drive = Drive([folder("f", "dest"), legacy, file("x", "Sheet", "f")])
    op = drive.apply("COPY_NODE", {"srcId": "s", "targetId": "t", "targetParentFolder": "f"})
    assert op.error is None
    assert drive.node("t") == {
        **legacy,
        "id": "t",
        "slug": "t",
        "name": "Sheet (copy) 1",
        "parentFolder": "f",
    }
    assert drive.node("t")["synchronizationUnits"] is not legacy["synchronizationUnits"]
    assert drive.ids == ["f", "s", "t", "x"]
    missing = drive.apply("COPY_NODE", {"srcId": "nope", "targetId": "t"})
    assert missing.error == "Node with id nope not found"
    # targetParentFolder "" means the root, targetName "" the source's name.
    drive.apply(
        "COPY_NODE", {"srcId": "x", "targetId": "y", "targetName": "", "targetParentFolder": ""}
    )
    assert drive.node("y")["parentFolder"] is None
    assert drive.node("y")["name"] == "Sheet (copy) 1"


def test_copy_node_does_not_validate_target_name() -> None:
    drive = Drive([file("s", "ok")])
    op = drive.apply("COPY_NODE", {"srcId": "s", "targetId": "t", "targetName": "bad\nname"})
    assert op.error is None
    assert drive.node("t")["name"] == "bad\nname"


def test_move_node_into_folder_and_odd_targets() -> None:
    drive = Drive(
        [folder("f", "dest"), file("a", "doc"), file("b", "doc", "f"), file("c", "other")]
    )
    drive.apply("MOVE_NODE", {"srcFolder": "a", "targetParentFolder": "f"})
    assert drive.node("a") == file("a", "doc (copy) 1", "f")
    # No check that the target exists or is a folder.
    assert drive.apply("MOVE_NODE", {"srcFolder": "c", "targetParentFolder": "b"}).error is None
    assert drive.node("c")["parentFolder"] == "b"
    assert (
        drive.apply("MOVE_NODE", {"srcFolder": "c", "targetParentFolder": "nowhere"}).error is None
    )
    assert drive.node("c")["parentFolder"] == "nowhere"
    # "" means the root.
    drive.apply("MOVE_NODE", {"srcFolder": "c", "targetParentFolder": ""})
    assert drive.node("c") == file("c", "other")
    assert drive.ids == ["a", "b", "c", "f"]


def test_move_folder_to_grandchild_is_circular_but_file_is_not() -> None:
    drive = Drive(
        [folder("1"), folder("2", parent="1"), file("3", parent="2"), file("4", parent="1")]
    )
    op = drive.apply("MOVE_NODE", {"srcFolder": "1", "targetParentFolder": "3"})
    assert op.error == "Circular Reference Error: Cannot move a folder to one of its descendants"
    # A file's "descendants" are not checked.
    drive.nodes.append(file("5", parent="4"))
    assert drive.apply("MOVE_NODE", {"srcFolder": "4", "targetParentFolder": "5"}).error is None


# -- drive module ------------------------------------------------------------------------


def test_drive_name_and_icon() -> None:
    drive = Drive()
    drive.apply("SET_DRIVE_NAME", {"name": "Team drive"})
    drive.apply("SET_DRIVE_ICON", {"icon": "https://example.com/i.png"})
    assert drive.state["global"] == {
        "name": "Team drive",
        "nodes": [],
        "icon": "https://example.com/i.png",
    }
    assert drive.global_hash() == "EJeW79awVyiPEuckV3AXsKWpy3M="
    drive.apply("SET_DRIVE_NAME", {"name": ""})
    assert drive.state["global"]["name"] == ""
    message = drive.refuse("SET_DRIVE_ICON", {"icon": None})
    assert (
        message == "invalid input for SET_DRIVE_ICON: field 'icon': Input should be a valid string"
    )


def test_sharing_type_and_available_offline() -> None:
    drive = Drive()
    drive.apply("SET_SHARING_TYPE", {"type": "LOCAL"})
    drive.apply("SET_AVAILABLE_OFFLINE", {"availableOffline": True})
    assert (drive.local["sharingType"], drive.local["availableOffline"]) == ("LOCAL", True)
    message = drive.refuse("SET_AVAILABLE_OFFLINE", {"availableOffline": 1})
    assert "field 'availableOffline'" in message
    message = drive.refuse("SET_SHARING_TYPE", {"sharingType": "public"})
    assert message == "invalid input for SET_SHARING_TYPE: field 'type': Field required"


def test_add_listener_normalises_every_field() -> None:
    drive = Drive()
    listener = {
        "listenerId": "l2",
        "label": "",
        "block": True,
        "system": False,
        "filter": {"documentType": ["*"], "scope": ["global"], "branch": None},
        "callInfo": {"transmitterType": "SwitchboardPush", "data": "https://x/graphql", "y": 1},
        "extra": "dropped",
    }
    drive.apply("ADD_LISTENER", {"listener": listener})
    assert drive.local["listeners"] == [
        {
            "listenerId": "l2",
            "label": "",
            "block": True,
            "system": False,
            "filter": {
                "documentType": ["*"],
                "documentId": None,
                "scope": ["global"],
                "branch": None,
            },
            "callInfo": {
                "transmitterType": "SwitchboardPush",
                "name": None,
                "data": "https://x/graphql",
            },
        }
    ]
    assert hash_scope_state(drive.local) == "+ouBhtXG7JZoQLj4yGIn+x6x5G8="
    drive.apply("ADD_LISTENER", {"listener": {**listener, "listenerId": "l3", "callInfo": None}})
    assert drive.local["listeners"][1]["callInfo"] is None
    drive.apply("REMOVE_LISTENER", {"listenerId": "l2"})
    assert [item["listenerId"] for item in drive.local["listeners"]] == ["l3"]


def test_add_listener_refuses_bad_listener() -> None:
    drive = Drive()
    bad_type = {
        "listenerId": "l",
        "block": False,
        "system": False,
        "filter": {},
        "callInfo": {"transmitterType": "Carrier pigeon"},
    }
    message = drive.refuse("ADD_LISTENER", {"listener": bad_type})
    assert message.startswith(
        "invalid input for ADD_LISTENER: field 'listener.callInfo.transmitterType': Input should be"
    )
    message = drive.refuse(
        "ADD_LISTENER", {"listener": {"listenerId": "l", "block": False, "system": False}}
    )
    assert message == "invalid input for ADD_LISTENER: field 'listener.filter': Field required"
    message = drive.refuse(
        "ADD_LISTENER",
        {
            "listener": {
                "listenerId": "l",
                "block": False,
                "system": False,
                "filter": {"scope": [1]},
            }
        },
    )
    assert message == (
        "invalid input for ADD_LISTENER: field 'listener.filter.scope.0': "
        "Input should be a valid string"
    )


def test_triggers() -> None:
    drive = Drive()
    data = {"listenerId": "l", "url": "https://remote/d/1", "interval": "", "driveId": "1"}
    drive.apply("ADD_TRIGGER", {"trigger": {"id": "t1", "type": "PullResponder", "data": data}})
    assert drive.local["triggers"] == [{"id": "t1", "type": "PullResponder", "data": data}]
    assert drive.local["triggers"][0]["data"] is not data
    op = drive.apply("ADD_TRIGGER", {"trigger": {"id": "t1", "type": "PullResponder"}})
    assert op.error == "A trigger with Id: t1 already exists"
    message = drive.refuse("ADD_TRIGGER", {"trigger": {"id": "t2", "type": "Push"}})
    assert (
        message
        == "invalid input for ADD_TRIGGER: field 'trigger.type': Input should be 'PullResponder'"
    )
    message = drive.refuse(
        "ADD_TRIGGER", {"trigger": {"id": "t2", "type": "PullResponder", "data": {"url": "u"}}}
    )
    assert (
        message == "invalid input for ADD_TRIGGER: field 'trigger.data.listenerId': Field required"
    )
    assert drive.apply("REMOVE_TRIGGER", {"triggerId": "zz"}).error is None
    drive.apply("REMOVE_TRIGGER", {"triggerId": "t1"})
    assert drive.local["triggers"] == []


# -- scopes ------------------------------------------------------------------------------


def test_node_action_in_local_scope_is_recorded_as_failed() -> None:
    drive = Drive()
    op = drive.apply("ADD_FILE", add_file("f", "doc"), scope="local")
    assert op.error == "ADD_FILE: scope local has no 'nodes' list"
    assert (op.index, op.signals) == (0, ())
    assert op.hash == hash_scope_state(MODEL.initial_state()["local"])
    assert drive.ops["global"] == []
    assert drive.state == Drive().state


def test_local_actions_in_global_scope_behave_as_powerhouse() -> None:
    drive = Drive()
    op = drive.apply(
        "ADD_LISTENER",
        {"listener": {"listenerId": "l", "block": False, "system": False, "filter": {}}},
        scope="global",
    )
    assert op.error == "ADD_LISTENER: scope global has no 'listeners' list"
    assert drive.apply("REMOVE_TRIGGER", {"triggerId": "t"}, scope="global").error == (
        "REMOVE_TRIGGER: scope global has no 'triggers' list"
    )
    # Setters write wherever they are sent, as Powerhouse's do.
    assert drive.apply("SET_SHARING_TYPE", {"type": "public"}, scope="global").error is None
    assert drive.state["global"]["sharingType"] == "public"
    assert drive.local["sharingType"] == "private"


# -- bad input: every action names the field and changes nothing -------------------------

REFUSED = [
    ("ADD_FILE", {"id": "a", "name": "n"}, "documentType", "Field required"),
    (
        "ADD_FILE",
        {"id": "a", "name": 3, "documentType": "t"},
        "name",
        "Input should be a valid string",
    ),
    (
        "ADD_FILE",
        {"id": "a", "name": "n", "documentType": "t", "parentFolder": 1},
        "parentFolder",
        "Input should be a valid string",
    ),
    ("ADD_FOLDER", {"name": "n"}, "id", "Field required"),
    ("DELETE_NODE", {"id": None}, "id", "Input should be a valid string"),
    ("UPDATE_FILE", {"name": "n"}, "id", "Field required"),
    ("UPDATE_NODE", {"id": "a", "name": ["n"]}, "name", "Input should be a valid string"),
    ("COPY_NODE", {"srcId": "a"}, "targetId", "Field required"),
    ("MOVE_NODE", {"targetParentFolder": "a"}, "srcFolder", "Field required"),
    ("SET_DRIVE_NAME", {"name": None}, "name", "Input should be a valid string"),
    ("SET_DRIVE_ICON", {}, "icon", "Field required"),
    ("SET_SHARING_TYPE", {"type": 2}, "type", "Input should be a valid string"),
    (
        "SET_AVAILABLE_OFFLINE",
        {"availableOffline": "yes"},
        "availableOffline",
        "Input should be a valid boolean",
    ),
    ("ADD_LISTENER", {}, "listener", "Field required"),
    ("REMOVE_LISTENER", {"listenerId": 7}, "listenerId", "Input should be a valid string"),
    (
        "ADD_TRIGGER",
        {"trigger": None},
        "trigger",
        "Input should be a valid dictionary or instance of TriggerInput",
    ),
    ("REMOVE_TRIGGER", {}, "triggerId", "Field required"),
]


@pytest.mark.parametrize(("action_type", "payload", "field", "problem"), REFUSED)
def test_bad_input_is_refused_naming_the_field(
    action_type: str, payload: JsonDict, field: str, problem: str
) -> None:
    drive = Drive([folder("a"), file("b", parent="a")])
    message = drive.refuse(action_type, payload)
    assert message == f"invalid input for {action_type}: field '{field}': {problem}"
    assert drive.ops == {}


def test_every_action_has_a_refused_case() -> None:
    assert {case[0] for case in REFUSED} == set(MODEL.action_types)


def test_non_object_input_is_refused() -> None:
    drive = Drive()
    assert (
        drive.refuse("ADD_FILE", ["a"])
        == "invalid input for ADD_FILE: field 'input': must be an object"
    )


def test_snake_case_keys_are_not_accepted() -> None:
    message = Drive().refuse("ADD_FILE", {"id": "a", "name": "n", "document_type": "t"})
    assert message == "invalid input for ADD_FILE: field 'documentType': Field required"


# -- a longer history, pinned ------------------------------------------------------------


def test_mixed_history_end_state_and_hash() -> None:
    drive = Drive()
    drive.apply("SET_DRIVE_NAME", {"name": "Ops"})
    drive.apply("ADD_FOLDER", {"id": "f-2", "name": "Reports"})
    drive.apply("ADD_FOLDER", {"id": "f-1", "name": "Archive"})
    drive.apply("ADD_FILE", add_file("d-1", "Q1", "f-2", "powerhouse/budget"))
    drive.apply("ADD_FILE", add_file("d-2", "Q1", "f-2", "powerhouse/budget"))
    drive.apply("COPY_NODE", {"srcId": "d-1", "targetId": "d-3", "targetParentFolder": "f-1"})
    drive.apply("MOVE_NODE", {"srcFolder": "d-2", "targetParentFolder": "f-1"})
    drive.apply("UPDATE_NODE", {"id": "f-1", "name": "Old"})
    drive.apply("DELETE_NODE", {"id": "f-2"})
    signals = [s for op in drive.ops["global"] for s in op.signals]
    assert signals == [
        signal("CREATE_CHILD_DOCUMENT", id="d-1", documentType="powerhouse/budget"),
        signal("CREATE_CHILD_DOCUMENT", id="d-2", documentType="powerhouse/budget"),
        signal("COPY_CHILD_DOCUMENT", id="d-1", newId="d-3"),
        signal("DELETE_CHILD_DOCUMENT", id="d-1"),
    ]
    assert drive.state["global"] == {
        "name": "Ops",
        "icon": None,
        "nodes": [
            {
                "id": "d-2",
                "name": "Q1 (copy) 1",
                "kind": "file",
                "parentFolder": "f-1",
                "documentType": "powerhouse/budget",
            },
            {
                "id": "d-3",
                "slug": "d-3",
                "name": "Q1",
                "kind": "file",
                "parentFolder": "f-1",
                "documentType": "powerhouse/budget",
            },
            {"id": "f-1", "name": "Old", "kind": "folder", "parentFolder": None},
        ],
    }
    assert [op.error for op in drive.ops["global"]] == [None] * 9
    assert drive.global_hash() == "pQMVl0WoXLBeMjPN3m0ZQCch++U="


def test_handlers_never_edit_nodes_in_place() -> None:
    """Earlier node lists stay valid: every change builds new node dicts."""
    drive = Drive([folder("f"), file("a", parent="f"), file("b")])
    history: list[tuple[list[JsonDict], list[JsonDict]]] = []
    actions = [
        ("UPDATE_FILE", {"id": "a", "name": "renamed", "documentType": "x"}),
        ("UPDATE_NODE", {"id": "b", "name": "renamed", "parentFolder": None}),
        ("MOVE_NODE", {"srcFolder": "b", "targetParentFolder": "f"}),
        ("COPY_NODE", {"srcId": "a", "targetId": "c"}),
        ("DELETE_NODE", {"id": "f"}),
    ]
    for action_type, payload in actions:
        history.append((drive.nodes, copy.deepcopy(drive.nodes)))
        assert drive.apply(action_type, payload).error is None
    for shared, snapshot in history:
        assert shared == snapshot


# -- performance -------------------------------------------------------------------------


def test_two_thousand_add_files_stay_fast_and_sorted() -> None:
    drive_state = {**base_state(), **MODEL.initial_state()}
    ids = [f"{(i * 7919) % 2000:04d}-{i}" for i in range(2000)]
    started = time.perf_counter()
    for i, node_id in enumerate(ids):
        action = Action(
            id=f"a{i}",
            type="ADD_FILE",
            timestamp_utc_ms=STAMP,
            input={"id": node_id, "name": "report", "documentType": "t"},
        )
        MODEL.reduce(drive_state, action, ReduceContext(action))
    elapsed = time.perf_counter() - started
    nodes = drive_state["global"]["nodes"]
    assert len(nodes) == 2000
    assert [node["id"] for node in nodes] == sorted(ids)  # [0-9-] ids: code-point order
    assert {node["name"] for node in nodes} == {"report"} | {
        f"report (copy) {n}" for n in range(1, 2000)
    }
    assert elapsed < 10.0, f"2,000 ADD_FILE took {elapsed:.2f}s"
