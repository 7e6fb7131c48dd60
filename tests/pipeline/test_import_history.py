"""Exports whose history has undo markers, skips and gaps import as the exported document.

None of the real exports has a skip; these are written by our own reducer (a user trial
imported an export with an UNDO: the skip was dropped, the undone item came back, and the
import said ok because an undo marker has no hash to compare).
"""

from __future__ import annotations

import json
from pathlib import Path

from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.actions import create_document_actions, new_action
from reactor_es.document.phd import PhdExport, read_phd, write_phd
from reactor_es.document.reducer import ReducerOptions, apply_action
from reactor_es.document.types import Document
from reactor_es.executor.service import JobExecutor
from reactor_es.importer import import_exports
from reactor_es.kafka.operations_log import read_operations
from reactor_es.models.todo import TodoListModel

TODO = TodoListModel()
T0 = "2026-03-01T10:00:00.000Z"


def todo_document(
    document_id: str, steps: list[tuple[str, dict[str, object], int]], *, prune: bool = True
) -> Document:
    document: Document | None = None
    for action in create_document_actions(TODO, document_id, timestamp=T0):
        document = apply_action(document, action, TODO).document
    for n, (kind, payload, skip) in enumerate(steps):
        action = new_action(kind, payload, action_id=f"{document_id}-a{n}", timestamp=T0)
        options = ReducerOptions(skip=skip, prune_on_skip=prune) if skip else None
        document = apply_action(document, action, TODO, options=options).document
    assert document is not None
    return document


def add(n: int) -> tuple[str, dict[str, object], int]:
    return ("ADD_TODO", {"id": f"t{n}", "text": f"item {n}"}, 0)


def items(*numbers: int) -> dict[str, object]:
    return {"items": [{"id": f"t{n}", "text": f"item {n}", "done": False} for n in numbers]}


def export_of(document: Document, tmp_path: Path, name: str) -> PhdExport:
    path = tmp_path / f"{name}.phd"
    write_phd(document, path)
    return read_phd(path)


async def test_an_undo_a_skip_and_a_tampered_state_import_as_recorded(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor, tmp_path: Path
) -> None:
    undone = todo_document("undo-src", [add(1), add(2), ("UNDO", {"count": 1}, 0)])
    assert [(o.index, o.skip) for o in undone.operations["global"]] == [(0, 0), (1, 0), (2, 1)]
    assert undone.operations["global"][2].hash == ""  # a protocol-2 undo marker
    assert undone.state["global"] == items(1)

    skipped = todo_document(
        "skip-src",
        [add(n) for n in range(1, 6)] + [("ADD_TODO", {"id": "t6", "text": "item 6"}, 3)],
    )
    assert skipped.state["global"] == items(1, 2, 6)
    recorded_skipped = [(o.index, o.skip) for o in skipped.operations["global"]]

    # The replaced operations kept in the file: the log gets the history replay sees.
    kept = todo_document(
        "kept-src",
        [add(n) for n in range(1, 6)]
        + [("ADD_TODO", {"id": "t9", "text": "item 9"}, 2), ("UNDO", {"count": 1}, 0)],
        prune=False,
    )
    assert kept.state["global"] == items(1, 2, 3)

    tampered = todo_document("tamper-src", [add(1), add(2), ("UNDO", {"count": 1}, 0)])
    tampered.state["global"] = items(1, 2)  # what the export claims is not what it replays to

    exports = [
        export_of(undone, tmp_path, "undo"),
        export_of(skipped, tmp_path, "skip"),
        export_of(tampered, tmp_path, "tamper"),
        export_of(kept, tmp_path, "kept"),
    ]
    async with Reactor(pipeline_settings, kafka_bootstrap) as reactor:
        results = await import_exports(reactor, exports, timeout=60)
    undo_result, skip_result, tamper_result, kept_result = results
    assert kept_result.ok, kept_result.line()
    assert (kept_result.operations, kept_result.compared) == (9, 6)
    assert undo_result.ok, undo_result.line()
    assert (undo_result.operations, undo_result.compared) == (5, 4)
    assert skip_result.ok, skip_result.line()
    assert tamper_result.mismatches == [
        "scope global: final state differs (export "
        f"{_hash(items(1, 2))}, pipeline {_hash(items(1))})"
    ]

    log = await read_operations(
        pipeline_settings, kafka_bootstrap, ["undo-src", "skip-src", "tamper-src", "kept-src"]
    )
    kept_log = [r for r in log["kept-src"] if r.scope == "global"]
    assert [(r.operation.index, r.operation.skip) for r in kept_log] == [
        (0, 0), (1, 0), (2, 0), (5, 2), (6, 1)
    ]  # fmt: skip
    assert json.loads(kept_log[-1].resulting_state or "null") == items(1, 2, 3)
    for document_id, source in (("undo-src", undone), ("skip-src", skipped)):
        stored = [r for r in log[document_id] if r.scope == "global"]
        assert [(r.operation.index, r.operation.skip) for r in stored] == [
            (o.index, o.skip) for o in source.operations["global"]
        ]
        assert [r.operation.hash for r in stored] == [o.hash for o in source.operations["global"]]
        assert json.loads(stored[-1].resulting_state or "null") == source.state["global"]
    # The skip's history as the reducer left it (pruned: the three skipped are gone).
    assert [(r.operation.index, r.operation.skip) for r in log["skip-src"][2:]] == recorded_skipped


def _hash(state: dict[str, object]) -> str:
    from reactor_es.document.hashing import hash_scope_state

    return hash_scope_state(state)
