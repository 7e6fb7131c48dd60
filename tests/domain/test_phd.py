""".phd read and write: every record shape of the corpus, clear errors, exact round trips."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from reactor_es.document.actions import new_action
from reactor_es.document.exceptions import PhdFormatError
from reactor_es.document.phd import PHD_MEMBERS, read_phd, write_phd
from reactor_es.document.reducer import apply_action
from reactor_es.models.todo import TodoListModel

from .conftest import new_todo_document

MODEL_STATE: dict[str, Any] = {"global": {"items": []}, "local": {}}
BASE = {
    "auth": {},
    "document": {"version": 0, "hash": {"algorithm": "sha1", "encoding": "base64"}},
}
HEADER = {
    "id": "doc-1",
    "sig": {"publicKey": {}, "nonce": ""},
    "documentType": "reactor-es/todo-list",
    "createdAtUtcIso": "2025-01-01T00:00:00.000Z",
    "slug": "doc-1",
    "name": "Shopping",
    "branch": "main",
    "revision": {"global": 2, "local": 0},
    "lastModifiedAtUtcIso": "2025-01-02T00:00:00.000Z",
    "meta": {},
}


def make_phd(**members: Any) -> bytes:
    """A zip whose members are given as JSON values (or raw bytes); `_` stands for `-`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, value in members.items():
            member = name.replace("_", "-").replace("-json", ".json")
            archive.writestr(member, value if isinstance(value, bytes) else json.dumps(value))
    return buffer.getvalue()


def nested(index: int, action_type: str, payload: Any, scope: str = "global") -> dict[str, Any]:
    stamp = f"2025-01-01T00:00:0{index}.000Z"
    return {
        "id": f"op-{index}",
        "index": index,
        "skip": 0,
        "timestampUtcMs": stamp,
        "hash": f"h{index}",
        "action": {
            "id": f"a-{index}",
            "type": action_type,
            "timestampUtcMs": stamp,
            "input": payload,
            "scope": scope,
        },
    }


def test_today_s_layout() -> None:
    ops = {"global": [nested(0, "ADD_TODO", {"id": "t1", "text": "x"})], "local": []}
    export = read_phd(
        make_phd(
            header_json=HEADER,
            state_json={**BASE, **MODEL_STATE},
            current_state_json={**BASE, "global": {"items": ["x"]}, "local": {}},
            operations_json=ops,
        )
    )
    document = export.document
    assert export.source == "<bytes>"
    assert (document.id, document.header.name) == ("doc-1", "Shopping")
    # The file has no protocolVersions: it predates them, so the legacy protocol is assumed.
    assert document.header.protocol_versions == {"base-reducer": 1}
    [op] = document.operations["global"]
    assert (op.id, op.index, op.hash, op.type, op.action.id) == ("op-0", 0, "h0", "ADD_TODO", "a-0")
    assert document.operations["local"] == []
    assert document.initial_state == {**BASE, **MODEL_STATE}
    assert (
        document.state == export.current_state == {**BASE, "global": {"items": ["x"]}, "local": {}}
    )
    assert export.operation_count == 1


def test_flat_v4_records_and_legacy_header() -> None:
    legacy_header = {
        "name": "",
        "revision": 2,
        "documentType": "reactor-es/todo-list",
        "created": "2023-12-21T12:43:22.132Z",
        "lastModified": "2023-12-21T12:50:46.717Z",
    }
    flat = [
        {  # no id, no skip, `timestamp`, SET_NAME with the bare-string input of that time
            "type": "SET_NAME",
            "input": "Groceries",
            "scope": "global",
            "index": 1,
            "timestamp": "2023-12-21T12:43:23.000Z",
            "hash": "h1",
        },
        {
            "id": "0a1b",
            "type": "ADD_TODO",
            "input": {"id": "t1", "text": "x"},
            "index": 0,
            "timestamp": "2023-12-21T12:43:22.176Z",
            "hash": "h0",
            "skip": 0,
        },
    ]
    state_json = {"name": "", "documentType": "x", "revision": 0, "state": MODEL_STATE}
    export = read_phd(
        make_phd(header_json=legacy_header, state_json=state_json, operations_json={"global": flat})
    )
    header = export.document.header
    assert (header.id, header.created_at_utc_iso) == ("", "2023-12-21T12:43:22.132Z")
    assert header.last_modified_at_utc_iso == "2023-12-21T12:50:46.717Z"
    assert header.revision == {"global": 2}
    first, second = export.document.operations["global"]  # sorted by index
    assert (first.index, first.id, first.action.id, first.scope) == (0, "0a1b", "0a1b", "global")
    assert first.timestamp_utc_ms == first.action.timestamp_utc_ms == "2023-12-21T12:43:22.176Z"
    assert (second.index, second.skip, second.id, second.input) == (1, 0, "", "Groceries")
    # state.json was a whole legacy document; the base scopes are filled in.
    assert export.document.initial_state == {**BASE, **MODEL_STATE}
    assert export.current_state is None
    assert export.document.state == export.document.initial_state


def test_operations_regroup_by_their_action_scope_and_sort() -> None:
    # Drive-sync exports put document-scope operations under `global`.
    upgrade = nested(
        1,
        "UPGRADE_DOCUMENT",
        {
            "model": "m",
            "fromVersion": 0,
            "toVersion": 1,
            "documentId": "doc-1",
            "initialState": {**BASE, "global": {"items": ["seed"]}, "local": {}},
        },
        "document",
    )
    create = nested(
        0, "CREATE_DOCUMENT", {"model": "m", "version": 0, "documentId": "doc-1"}, "document"
    )
    later = nested(3, "ADD_TODO", {"id": "t2", "text": "y"})
    skipped = {**nested(3, "ADD_TODO", {"id": "t3", "text": "z"}), "skip": 1, "id": "op-3s"}
    earlier = nested(2, "ADD_TODO", {"id": "t1", "text": "x"})
    export = read_phd(
        make_phd(
            header_json=HEADER,
            state_json={**BASE, **MODEL_STATE},
            operations_json={"global": [upgrade, later, skipped, create, earlier]},
        )
    )
    ops = export.document.operations
    assert [(op.index, op.skip) for op in ops["global"]] == [(2, 0), (3, 0), (3, 1)]
    assert [op.type for op in ops["document"]] == ["CREATE_DOCUMENT", "UPGRADE_DOCUMENT"]
    # The initial state comes from UPGRADE_DOCUMENT, not from state.json.
    assert export.document.initial_state["global"] == {"items": ["seed"]}


def test_a_bare_list_of_operations() -> None:
    export = read_phd(
        make_phd(
            header_json=HEADER,
            state_json=MODEL_STATE,
            operations_json=[nested(0, "ADD_TODO", {"id": "t1", "text": "x"}, "local")],
        )
    )
    assert list(export.document.operations) == ["local"]


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"header_json": HEADER, "state_json": MODEL_STATE}, "<bytes>: operations.json is missing"),
        (
            {"header_json": HEADER, "state_json": MODEL_STATE, "operations_json": b"{nope"},
            "<bytes>: operations.json is not valid JSON (Expecting property name enclosed "
            "in double quotes: line 1 column 2 (char 1))",
        ),
        (
            {"header_json": [], "state_json": MODEL_STATE, "operations_json": {}},
            "<bytes>: header.json is not an object",
        ),
        (
            {"header_json": {"id": "x"}, "state_json": MODEL_STATE, "operations_json": {}},
            "<bytes>: header.json: field 'documentType': Field required",
        ),
        (
            {
                "header_json": HEADER,
                "state_json": MODEL_STATE,
                "operations_json": {"global": [{"type": "X", "index": "7"}]},
            },
            "<bytes>: operations.json global[0]: 'index' must be an integer, got '7'",
        ),
        (
            {
                "header_json": HEADER,
                "state_json": MODEL_STATE,
                "operations_json": {"global": [{"index": 0, "hash": ""}]},
            },
            "<bytes>: operations.json global[0]: no action type",
        ),
        (
            {"header_json": HEADER, "state_json": MODEL_STATE, "operations_json": {"global": 3}},
            "<bytes>: operations.json: 'global' is not a list",
        ),
        (
            {
                "header_json": HEADER,
                "state_json": {"specifications": [], "name": ""},
                "operations_json": {},
            },
            "<bytes>: state.json has no 'global' scope (the unscoped 2023 layout is not supported)",
        ),
    ],
)
def test_unreadable_exports_name_the_part(members: dict[str, Any], message: str) -> None:
    with pytest.raises(PhdFormatError) as caught:
        read_phd(make_phd(**members))
    assert str(caught.value) == message


def test_not_a_zip_and_no_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.phd"
    junk.write_text("hello")
    with pytest.raises(PhdFormatError, match=r"junk\.phd: not a readable zip archive"):
        read_phd(junk)
    with pytest.raises(PhdFormatError) as caught:
        read_phd(tmp_path / "absent.phd")
    assert str(caught.value) == f"{tmp_path / 'absent.phd'}: no such file"


def test_written_file_has_today_s_layout(tmp_path: Path, todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    apply_action(document, new_action("ADD_TODO", {"id": "t1", "text": "café"}), todo)
    target = tmp_path / "todo.phd"
    data = write_phd(document, target)

    assert target.read_bytes() == data
    with zipfile.ZipFile(target) as archive:
        assert tuple(archive.namelist()) == PHD_MEMBERS
        header = json.loads(archive.read("header.json"))
        operations = json.loads(archive.read("operations.json"))
        current = json.loads(archive.read("current-state.json"))
        initial = json.loads(archive.read("state.json"))
    assert (header["id"], header["protocolVersions"]) == ("todo-1", {"base-reducer": 2})
    assert list(operations) == ["document", "global", "local"]
    [op] = operations["global"]
    # The action nested, and spread onto the operation as Powerhouse writes it.
    assert op["action"]["type"] == op["type"] == "ADD_TODO"
    assert op["input"] == {"id": "t1", "text": "café"}
    assert current["global"]["items"][0]["text"] == "café"
    assert initial["global"] == {"items": []}

    again = read_phd(target)
    assert again.document == document
    assert write_phd(again.document) == data  # same document, same bytes


def test_every_fixture_round_trips(phd_files: list[Path]) -> None:
    for path in phd_files:
        export = read_phd(path)
        data = write_phd(export.document)
        back = read_phd(data)
        assert back.document == export.document, path.name
        assert back.current_state == export.document.state, path.name
        assert write_phd(back.document) == data, path.name


class _Registry:
    """Just enough of a registry: one model whose `import_state` reads the unscoped layout."""

    class Model(TodoListModel):
        def import_state(self, state: dict[str, Any]) -> dict[str, Any]:
            return state if "global" in state else {"global": state, "local": {}}

    def get(self, document_type: str, version: int | None = None) -> TodoListModel:
        assert document_type == "reactor-es/todo-list"
        return self.Model()


def test_models_can_import_layouts_they_have_left() -> None:
    unscoped = {"items": ["old"]}
    members = {
        "header_json": HEADER,
        "state_json": {"name": "", "state": unscoped},
        "current_state_json": {"items": ["old", "new"]},
        "operations_json": [nested(0, "ADD_TODO", {"id": "t1", "text": "x"})],
    }
    with pytest.raises(PhdFormatError, match="unscoped 2023 layout is not supported"):
        read_phd(make_phd(**members))
    export = read_phd(make_phd(**members), models=_Registry())
    assert export.document.initial_state == {**BASE, "global": unscoped, "local": {}}
    assert export.current_state == {**BASE, "global": {"items": ["old", "new"]}, "local": {}}
