"""Histories with skips on replay and restore: collected first, undo markers rebuilt."""

from __future__ import annotations

import json

import pytest

from reactor_es.document.actions import set_preferred_editor
from reactor_es.document.exceptions import MissingOperationsError, UnsupportedActionError
from reactor_es.document.materialize import DocumentStream, StreamedOperation
from reactor_es.document.phd import read_phd, write_phd
from reactor_es.document.reducer import (
    AppliedAction,
    ReducerOptions,
    apply_action,
    replay_document,
    replay_operation,
)
from reactor_es.document.types import Document, Operation
from reactor_es.document.verify import verify_export

from .counter_model import CounterModel, counter_action, counter_document, layout, run
from .test_history import COUNT_HASH, INC, count, incremented

MODEL = CounterModel()


def stored(index: int, action_type: str = INC, skip: int = 0, hash_: str = "") -> Operation:
    return Operation.model_validate(
        {
            "id": f"op-{index}-{skip}",
            "index": index,
            "skip": skip,
            "timestampUtcMs": f"2026-02-01T10:{index:02d}:00.000Z",
            "hash": hash_,
            "action": {
                "id": f"a-{index}-{skip}",
                "type": action_type,
                "timestampUtcMs": f"2026-02-01T10:{index:02d}:00.000Z",
                "input": {},
                "scope": "global",
            },
        }
    )


def with_history(protocol: int, *operations: Operation) -> Document:
    document = counter_document(protocol)
    document.operations["global"] = list(operations)
    return document


def test_a_v1_history_with_undos_replays_to_the_same_document() -> None:
    document = incremented(1, 5)
    run(document, "UNDO", "UNDO", INC, "UNDO")
    rebuilt = replay_document(document, MODEL, options=ReducerOptions(check_final_hashes=True))
    assert layout(rebuilt.operations["global"]) == [
        (INC, 0, 0),
        (INC, 1, 0),
        (INC, 2, 0),
        ("NOOP", 5, 2),
        ("NOOP", 7, 1),
    ]
    assert rebuilt.state == document.state
    assert rebuilt.operations == document.operations
    assert rebuilt.header == document.header
    assert count(rebuilt) == 3


def test_a_v2_history_with_undos_replays_to_the_same_document() -> None:
    document = incremented(2, 3)
    run(document, "UNDO", "UNDO", INC, INC, "UNDO")
    rebuilt = replay_document(document, MODEL)
    assert rebuilt == document
    assert count(rebuilt) == 2


def test_replay_collects_a_v1_history_first() -> None:
    # The shape an append-only stream keeps: superseded NOOPs and undone operations.
    document = with_history(
        1,
        *(stored(index) for index in range(5)),
        stored(5, "NOOP", skip=1),
        stored(5, "NOOP", skip=2),
    )
    rebuilt = replay_document(document, MODEL)
    assert layout(rebuilt.operations["global"]) == [
        (INC, 0, 0),
        (INC, 1, 0),
        (INC, 2, 0),
        ("NOOP", 5, 2),
    ]
    assert count(rebuilt) == 3
    assert rebuilt.header.revision["global"] == 6


def test_compounded_garbage_collection_on_replay() -> None:
    document = with_history(1, stored(0), stored(1, skip=1), stored(2), stored(3, skip=1))
    rebuilt = replay_document(document, MODEL)
    assert layout(rebuilt.operations["global"]) == [(INC, 1, 1), (INC, 3, 1)]
    assert count(rebuilt) == 2
    assert rebuilt.header.revision["global"] == 4


def test_replay_collects_unpruned_skips_under_protocol_2() -> None:
    document = incremented(2, 6)
    run(document, INC, options=ReducerOptions(skip=4, prune_on_skip=False))
    rebuilt = replay_document(document, MODEL)
    assert layout(rebuilt.operations["global"]) == [(INC, 0, 0), (INC, 1, 0), (INC, 6, 4)]
    assert count(rebuilt) == count(document) == 3


def test_replayed_v2_marker_keeps_its_stored_hash() -> None:
    document = with_history(2)
    for index in range(3):
        replay_operation(document, stored(index), MODEL)
    marker = stored(3, "NOOP", skip=1)
    applied = replay_operation(
        document, marker, MODEL, options=ReducerOptions(recompute_hashes=True)
    )
    assert applied.operation is marker
    assert (applied.operation.hash, applied.computed_hash) == ("", COUNT_HASH[2])
    assert applied.recorded is marker
    assert count(document) == 2
    assert document.header.revision["global"] == 4


def test_consecutive_v2_markers_chain_on_replay() -> None:
    document = with_history(2)
    for operation in (stored(0), stored(1), stored(2), stored(3, "NOOP", 1), stored(4, "NOOP", 1)):
        replay_operation(document, operation, MODEL)
    assert count(document) == 1
    replay_operation(document, stored(5), MODEL)
    assert count(document) == 2


def test_replay_checks_indexes_before_rebuilding() -> None:
    document = with_history(2)
    replay_operation(document, stored(0), MODEL)
    with pytest.raises(MissingOperationsError) as caught:
        replay_operation(document, stored(4, "NOOP", skip=1), MODEL)
    assert str(caught.value) == (
        "Missing operations: expected 1 with skip 0 or equivalent, got index 4 with skip 1"
    )
    assert count(document) == 1


@pytest.mark.parametrize("action_type", ["UNDO", "REDO", "PRUNE"])
def test_stored_history_actions_are_not_replayed(action_type: str) -> None:
    document = with_history(1)
    replay_operation(document, stored(0), MODEL)
    with pytest.raises(UnsupportedActionError) as caught:
        replay_operation(document, stored(1, action_type), MODEL)
    assert str(caught.value) == (
        f"{action_type}: a stored {action_type} cannot be replayed (document counter-1, "
        "scope global, index 1): histories hold the operations it produced"
    )
    assert len(document.operations["global"]) == 1


# -- restoring from the operations stream ---------------------------------------------------


def published(document: Document, result: AppliedAction) -> StreamedOperation:
    """The record the executor publishes: the operation and its scope's state after it."""
    scope = result.operation.action.scope
    return StreamedOperation(
        document_id=document.id,
        document_type=document.document_type,
        operation=result.operation,
        resulting_state=json.dumps(document.state.get(scope), separators=(",", ":")),
        name=document.header.name,
        last_modified_at_utc_iso=document.header.last_modified_at_utc_iso,
    )


def streamed(protocol: int, *steps: str) -> tuple[Document, list[StreamedOperation]]:
    """A document driven by `steps`, and the records an executor would have published."""
    records: list[StreamedOperation] = []
    document = counter_document(protocol)
    for operation in document.operations["document"]:
        records.append(
            StreamedOperation(document.id, document.document_type, operation, None, None, None)
        )
    for step in steps:
        payload = {"count": 1} if step in ("UNDO", "REDO") else {}
        result = apply_action(document, counter_action(step, payload), MODEL)
        records.append(published(document, result))
    return document, records


def restore(records: list[StreamedOperation]) -> Document:
    stream = DocumentStream(model_for=lambda document_type: MODEL)
    for record in records:
        stream.apply(record)
    restored = stream.document(records[0].document_id)
    assert restored is not None
    return restored


def test_undo_records_carry_the_rewound_state() -> None:
    _, records = streamed(1, INC, INC, INC, "UNDO", "UNDO")
    noops = [r for r in records if r.operation.action.type == "NOOP"]
    assert [(r.operation.index, r.operation.skip, r.resulting_state) for r in noops] == [
        (3, 1, '{"count":2}'),
        (3, 2, '{"count":1}'),
    ]


def test_a_restored_v1_document_undoes_like_the_original() -> None:
    original, records = streamed(1, INC, INC, INC, INC, "UNDO", "UNDO", INC)
    restored = restore(records)
    # The stream keeps what the original pruned; collecting at use time reconciles them.
    assert layout(restored.operations["global"]) == [
        (INC, 0, 0),
        (INC, 1, 0),
        (INC, 2, 0),
        (INC, 3, 0),
        ("NOOP", 4, 1),
        ("NOOP", 4, 2),
        (INC, 5, 0),
    ]
    assert restored.state == original.state
    assert restored.header.revision == original.header.revision
    for document in (original, restored):
        run(document, "UNDO", "UNDO")
    assert (
        layout(restored.operations["global"])
        == layout(original.operations["global"])
        == [
            (INC, 0, 0),
            ("NOOP", 6, 5),
        ]
    )
    assert count(restored) == count(original) == 1
    assert layout(restored.clipboard) == layout(original.clipboard) == [(INC, 5, 0), (INC, 1, 0)]


def test_the_v1_clipboard_does_not_survive_a_restore() -> None:
    original, records = streamed(1, INC, INC, INC, "UNDO")
    restored = restore(records)
    assert layout(original.clipboard) == [(INC, 2, 0)]
    assert restored.clipboard == []
    assert restored.state == original.state


def test_a_restored_v2_document_is_the_original() -> None:
    original, records = streamed(2, INC, INC, INC, "UNDO", INC, "UNDO", "UNDO")
    restored = restore(records)
    assert restored.state == original.state
    assert restored.operations == original.operations
    assert restored.header == original.header
    for document in (original, restored):
        run(document, "UNDO")
    assert restored.state == original.state
    assert count(original) == 0
    assert replay_document(restored, MODEL).state == original.state


class _Models:
    """The one model these exports need (verification looks models up by type)."""

    def get(self, document_type: str, version: int | None = None) -> CounterModel:
        return MODEL


@pytest.mark.parametrize("protocol", [1, 2])
def test_an_export_with_undos_verifies(protocol: int) -> None:
    document = incremented(protocol, 4)
    run(document, "UNDO", "UNDO", INC, "UNDO")
    export = read_phd(write_phd(document), models=_Models())
    assert export.document.operations == document.operations
    result = verify_export(export, _Models())
    assert result.ok, result.line()
    markers = 3 if protocol == 2 else 0  # protocol-2 undo markers carry no hash
    assert (result.operations, result.unhashed) == (2 + len(document.operations["global"]), markers)
    assert result.compared == result.operations - markers


def test_undo_in_the_header_scope_reverts_the_preferred_editor() -> None:
    document = counter_document(2)
    for editor in ("first-editor", "second-editor"):
        apply_action(document, set_preferred_editor(editor), MODEL)
    apply_action(document, counter_action("UNDO", {"count": 1}, "header"), MODEL)
    assert document.header.meta == {"preferredEditor": "first-editor"}
    assert layout(document.operations["header"]) == [
        ("SET_PREFERRED_EDITOR", 0, 0),
        ("SET_PREFERRED_EDITOR", 1, 0),
        ("NOOP", 2, 1),
    ]
