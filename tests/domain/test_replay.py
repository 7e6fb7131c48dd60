"""Replaying stored operations: indexes kept, hashes reused, eras, Missing operations."""

from __future__ import annotations

import copy
from typing import ClassVar

import pytest

from reactor_es.document.actions import create_document_actions, new_action
from reactor_es.document.exceptions import (
    HashMismatchError,
    MissingOperationsError,
    ProtocolVersionMissingError,
)
from reactor_es.document.hashing import hash_scope_state
from reactor_es.document.model import (
    ActionInput,
    DocumentModel,
    ReduceContext,
    RuleVersion,
    action,
)
from reactor_es.document.reducer import (
    AppliedAction,
    ReducerOptions,
    apply_action,
    replay_document,
    replay_operation,
    replay_order,
)
from reactor_es.document.state import base_state
from reactor_es.document.types import Document, JsonDict, Operation
from reactor_es.models.todo import TodoListModel

from .conftest import DOC_ID, new_todo_document
from .test_reducer import S1, S2, S3, add, at

RECOMPUTE = ReducerOptions(recompute_hashes=True)


def todo_history(model: TodoListModel) -> Document:
    document = new_todo_document(model)
    apply_action(document, add("t1", "buy milk", minute=1), model)
    apply_action(document, new_action("TOGGLE_TODO", {"id": "t1"}, timestamp=at(2)), model)
    apply_action(document, new_action("TOGGLE_TODO", {"id": "nope"}, timestamp=at(3)), model)
    apply_action(document, add("t2", "café ☕", minute=4), model)
    return document


def stored(index: int, action_type: str, payload: object, **fields: object) -> Operation:
    """A stored global operation as it would come from an export or the operations topic."""
    data: dict[str, object] = {
        "id": f"op-{index}",
        "index": index,
        "skip": 0,
        "timestampUtcMs": at(index),
        "hash": "",
        "action": {
            "id": f"a-{index}",
            "type": action_type,
            "timestampUtcMs": at(index),
            "input": payload,
            "scope": "global",
        },
    }
    data.update(fields)
    return Operation.model_validate(data)


def test_replaying_a_history_gives_the_same_document(todo: TodoListModel) -> None:
    original = todo_history(todo)
    for options in (None, RECOMPUTE):
        rebuilt = replay_document(original, todo, options=options)
        assert rebuilt == original
        assert rebuilt is not original
        assert rebuilt.state is not original.state


def test_recomputed_hashes_are_reported(todo: TodoListModel) -> None:
    original = todo_history(todo)
    seen: list[tuple[str, int, str | None, str | None]] = []
    replay_document(
        original,
        todo,
        options=RECOMPUTE,
        observer=lambda r: seen.append(
            (r.operation.scope, r.operation.index, r.computed_hash, r.operation.error)
        ),
    )
    assert [entry for entry in seen if entry[0] == "global"] == [
        ("global", 0, S1, None),
        ("global", 1, S2, None),
        ("global", 2, S2, "no to-do 'nope' in the list"),
        ("global", 3, S3, None),
    ]
    # Document scope first, then the others (§1.14: scope by scope, not interleaved).
    assert [entry[0] for entry in seen] == ["document"] * 2 + ["global"] * 4


def test_stored_hashes_are_reused_not_recomputed(todo: TodoListModel) -> None:
    original = todo_history(todo)
    forged = original.operations["global"][0].model_copy(update={"hash": "forged="})
    original.operations["global"][0] = forged

    results: list[AppliedAction] = []
    rebuilt = replay_document(original, todo, observer=results.append)
    assert rebuilt.operations["global"][0].hash == "forged="
    assert all(r.computed_hash is None for r in results)

    checked: list[AppliedAction] = []
    replay_document(original, todo, options=RECOMPUTE, observer=checked.append)
    first_global = next(r for r in checked if r.operation.scope == "global")
    assert (first_global.operation.hash, first_global.computed_hash) == ("forged=", S1)
    assert first_global.recorded is forged


def test_final_hash_check_catches_a_wrong_last_hash(todo: TodoListModel) -> None:
    original = todo_history(todo)
    original.operations["global"][-1] = original.operations["global"][-1].model_copy(
        update={"hash": "forged="}
    )
    with pytest.raises(HashMismatchError) as caught:
        replay_document(original, todo, options=ReducerOptions(check_final_hashes=True))
    assert str(caught.value) == (
        f"hash mismatch in document {DOC_ID} scope global index 3: recorded forged=, computed {S3}"
    )


def test_missing_operations_are_refused_with_powerhouse_text(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    replay_operation(document, stored(0, "ADD_TODO", {"id": "t1", "text": "buy milk"}), todo)
    gap = stored(5, "ADD_TODO", {"id": "t2", "text": "x"})

    with pytest.raises(MissingOperationsError) as caught:
        replay_operation(document, gap, todo)
    assert str(caught.value) == (
        "Missing operations: expected 1 with skip 0 or equivalent, got index 5 with skip 0"
    )
    assert (caught.value.document_id, caught.value.scope) == (DOC_ID, "global")
    assert len(document.operations["global"]) == 1

    # index - skip bridges the gap (a garbage-collected history): accepted.
    bridged = stored(5, "ADD_TODO", {"id": "t2", "text": "x"}, skip=4)
    replay_operation(document, bridged, todo)
    assert [op.index for op in document.operations["global"]] == [0, 5]
    assert document.header.revision["global"] == 6
    # ... as is anything when index validation is off.
    replay_operation(
        document,
        stored(9, "ADD_TODO", {"id": "t3", "text": "y"}),
        todo,
        options=ReducerOptions(skip_index_validation=True),
    )
    assert document.header.revision["global"] == 10


def test_garbage_collected_history_replays_in_order(todo: TodoListModel) -> None:
    # The shape document-model-ops.md §8.5 describes: index 66 with skip 2 after 63.
    document = new_todo_document(todo)
    for index in range(64):
        replay_operation(document, stored(index, "NOOP", {}), todo)
    replay_operation(document, stored(66, "ADD_TODO", {"id": "t1", "text": "x"}, skip=2), todo)
    assert document.state["global"]["items"] == [{"id": "t1", "text": "x", "done": False}]
    assert document.header.revision["global"] == 67


def test_invalid_input_on_replay_is_recorded_not_raised(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    applied = replay_operation(document, stored(0, "ADD_TODO", {"id": "t1"}), todo)
    assert applied.operation.error == "invalid input for ADD_TODO: field 'text': Field required"
    assert applied.computed_hash == applied.operation.hash == "F6g7sByJuuOcYYkgTnzj94yg+ZE="
    assert document.state["global"] == {"items": []}


def test_replay_keeps_stored_ids_indexes_and_timestamps(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    op = stored(0, "ADD_TODO", {"id": "t1", "text": "buy milk"}, hash=S1)
    op = op.model_copy(update={"timestamp_utc_ms": "2026-02-01T00:00:00.000Z"})
    applied = replay_operation(document, op, todo)
    assert applied.operation is op  # nothing to change: the stored object is kept
    assert document.header.last_modified_at_utc_iso == "2026-02-01T00:00:00.000Z"


def test_replay_requires_a_protocol_version(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    document.header.protocol_versions = {}
    op = stored(0, "ADD_TODO", {"id": "t1", "text": "buy milk"})
    with pytest.raises(ProtocolVersionMissingError):
        replay_operation(document, op, todo)
    replay_operation(document, op, todo, options=ReducerOptions(protocol_version=1))
    assert document.state["global"]["items"][0]["id"] == "t1"


def test_denied_operations_take_their_index_unapplied(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    denied = stored(0, "ADD_TODO", {"id": "t1", "text": "x"}, deniedReason="not allowed")
    applied = replay_operation(document, denied, todo)
    assert applied.operation is denied
    assert document.state["global"] == {"items": []}
    assert document.header.revision["global"] == 1


def test_v2_undo_markers_rebuild_the_scope(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    replay_operation(document, stored(0, "ADD_TODO", {"id": "t1", "text": "x"}), todo)
    undo = stored(1, "NOOP", {}, skip=1)
    applied = replay_operation(document, undo, todo)
    assert applied.operation is undo
    assert document.state["global"] == {"items": []}
    assert document.header.revision["global"] == 2
    # Protocol 1 replays garbage-collected histories: the skip is not processed again.
    legacy = new_todo_document(todo)
    replay_operation(legacy, stored(0, "ADD_TODO", {"id": "t1", "text": "x"}), todo)
    replay_operation(legacy, undo, todo, options=ReducerOptions(protocol_version=1))
    assert [item["id"] for item in legacy.state["global"]["items"]] == ["t1"]
    assert legacy.header.revision["global"] == 2


def test_legacy_set_name_input_replays(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    replay_operation(document, stored(0, "SET_NAME", "RwaPortfolio"), todo)
    assert document.header.name == "RwaPortfolio"


def test_a_document_restores_from_its_operations_alone(todo: TodoListModel) -> None:
    # How the executor restores: no document yet, then every operation in stream order.
    original = todo_history(todo)
    restored: Document | None = None
    for op in sorted(
        (op for ops in original.operations.values() for op in ops),
        key=lambda op: op.timestamp_utc_ms,
    ):
        restored = replay_operation(restored, op, todo).document
    assert restored is not None
    assert restored.state == original.state
    assert restored.operations == original.operations
    assert restored.header == original.header
    assert restored.initial_state == original.initial_state


class _By(ActionInput):
    by: int


class EraModel(DocumentModel):
    """Doubling became the rule on 2025-01-01; an old operation must replay the old way."""

    document_type: ClassVar[str] = "test/era"
    rule_versions: ClassVar[tuple[RuleVersion, ...]] = (
        RuleVersion("old", "2020-01-01T00:00:00.000Z"),
        RuleVersion("new", "2025-01-01T00:00:00.000Z", frozenset({"double"})),
    )

    def initial_state(self) -> JsonDict:
        return {"global": {"total": 0, "log": []}, "local": {}}

    @action("ADD", _By)
    def add(self, state: JsonDict, payload: _By, ctx: ReduceContext) -> None:
        state["log"].append(payload.by)
        if payload.by < 0:
            raise ValueError("negative")
        state["total"] += payload.by * (2 if ctx.rules.has("double") else 1)


def era_op(index: int, by: int, stamp: str, **fields: object) -> Operation:
    op = stored(index, "ADD", {"by": by}, **fields)
    return op.model_copy(update={"timestamp_utc_ms": stamp})


def era_document() -> Document:
    from reactor_es.document.actions import create_document_actions

    model = EraModel()
    document: Document | None = None
    for genesis in create_document_actions(model, "e-1", timestamp="2024-06-01T00:00:00.000Z"):
        document = apply_action(document, genesis, model).document
    assert document is not None
    return document


def test_each_operation_replays_under_the_rules_of_its_era() -> None:
    model, document = EraModel(), era_document()
    replay_operation(document, era_op(0, 5, "2024-06-01T00:00:00.000Z"), model)
    replay_operation(document, era_op(1, 5, "2025-06-01T00:00:00.000Z"), model)
    assert document.state["global"]["total"] == 5 + 10
    # A fresh action always follows the latest rules, whatever its timestamp says.
    apply_action(
        document, new_action("ADD", {"by": 1}, timestamp="2021-01-01T00:00:00.000Z"), model
    )
    assert document.state["global"]["total"] == 17


def test_an_unexpected_failure_rebuilds_the_state_from_history() -> None:
    # Replay snapshots only operations recorded as failed; when one recorded as fine fails
    # here (after mutating), the state must still come back exactly.
    model, document = EraModel(), era_document()
    replay_operation(document, era_op(0, 3, "2024-06-01T00:00:00.000Z"), model)
    applied = replay_operation(document, era_op(1, -1, "2024-06-02T00:00:00.000Z"), model)
    assert applied.operation.error == "negative"
    assert document.state["global"] == {"total": 3, "log": [3]}
    # ... and one recorded as failed is rolled back from its snapshot.
    failed = era_op(2, -2, "2024-06-03T00:00:00.000Z", error="negative")
    replay_operation(document, failed, model)
    assert document.state["global"] == {"total": 3, "log": [3]}


def test_replay_order_puts_the_document_scope_first() -> None:
    ops = {
        "global": [stored(0, "NOOP", {})],
        "document": [stored(0, "NOOP", {}).model_copy(update={"id": "doc-0"})],
    }
    assert [op.id for op in replay_order(ops)] == ["doc-0", "op-0"]


def test_create_document_replays_over_the_state_it_created(todo: TodoListModel) -> None:
    """An initial state with a `document` scope of its own (many legacy exports have one)
    is installed by UPGRADE_DOCUMENT: CREATE_DOCUMENT's hash was computed before it, over
    the new document's base scope, and a replay that recomputes hashes must agree."""
    initial = {
        "document": {"version": "1.0.0", "hash": {"algorithm": "sha1", "encoding": "base64"}},
        "global": {"items": []},
        "local": {},
    }
    create, upgrade = create_document_actions(
        todo, DOC_ID, initial_state=copy.deepcopy(initial), timestamp=at(0)
    )
    document = apply_action(None, create, todo).document
    apply_action(document, upgrade, todo)
    apply_action(document, add("t1", "milk", minute=1), todo)
    created, upgraded = document.operations["document"]
    assert created.hash == hash_scope_state(base_state()["document"])
    assert upgraded.hash == hash_scope_state(initial["document"])

    checked: list[tuple[str, str | None]] = []
    replayed = replay_document(
        document,
        todo,
        options=RECOMPUTE,
        observer=lambda applied: checked.append((applied.operation.hash, applied.computed_hash)),
    )
    assert [computed for _, computed in checked] == [stored for stored, _ in checked]
    assert replayed.state == document.state
    assert replayed.initial_state == document.initial_state == {"auth": {}, **initial}


def test_a_history_without_its_creation_replays_from_the_initial_state(
    todo: TodoListModel,
) -> None:
    """Legacy exports have no document-scope operations: their replay starts from the file's
    initial state, as before."""
    document = new_todo_document(todo)
    apply_action(document, add("t1", "milk", minute=1), todo)
    legacy = document.model_copy(
        update={"operations": {"global": list(document.operations["global"])}}
    )
    replayed = replay_document(legacy, todo, options=RECOMPUTE)
    assert replayed.state["global"] == document.state["global"]
