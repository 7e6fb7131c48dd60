"""PRUNE and LOAD_STATE (unmaintained in Powerhouse, kept to their described shape), and
SET_PREFERRED_EDITOR in the `header` scope."""

from __future__ import annotations

import pytest

from reactor_es.document.actions import set_preferred_editor
from reactor_es.document.exceptions import InvalidActionError, InvalidActionInputError
from reactor_es.document.ids import derive_operation_id
from reactor_es.document.reducer import ReducerOptions, apply_action, replay_document
from reactor_es.document.types import Document, JsonDict

from .counter_model import CounterModel, counter_action, counter_document, layout, run
from .test_history import COUNT_HASH, INC, count, snapshot

MODEL = CounterModel()
PRUNING = ReducerOptions(allow_prune=True)


def named_history() -> Document:
    """INC, SET_NAME "Document", INC, INC, INC: Powerhouse's prune.test.ts history."""
    document = counter_document(1)
    run(document, INC)
    apply_action(document, counter_action("SET_NAME", {"name": "Document"}), MODEL)
    run(document, INC, INC, INC)
    return document


def test_prune_folds_a_range_into_load_state() -> None:
    document = named_history()
    moved_id = document.operations["global"][4].id
    prune = counter_action("PRUNE", {"start": 2, "end": 4})

    applied = apply_action(document, prune, MODEL, options=PRUNING)

    ops = document.operations["global"]
    assert layout(ops) == [(INC, 0, 0), ("SET_NAME", 1, 0), ("LOAD_STATE", 2, 0), (INC, 3, 0)]
    load = applied.operation
    assert load is ops[2]
    assert load.input == {
        "state": {"name": "Document", "data": {"global": {"count": 3}}},
        "operations": 2,
    }
    assert load.id == derive_operation_id("counter-1", "global", "main", prune.id)
    assert load.hash == COUNT_HASH[3]
    assert (ops[3].id, ops[3].hash) == (moved_id, COUNT_HASH[4])  # re-indexed, same op
    assert count(document) == 4
    assert document.header.name == "Document"
    assert document.header.revision["global"] == 4
    assert replay_document(document, MODEL).state == document.state


def test_prune_without_bounds_folds_everything() -> None:
    document = named_history()
    apply_action(document, counter_action("PRUNE", {}), MODEL, options=PRUNING)
    assert layout(document.operations["global"]) == [("LOAD_STATE", 0, 0)]
    assert document.operations["global"][0].input["operations"] == 5
    assert count(document) == 4
    assert document.header.revision["global"] == 1


@pytest.mark.parametrize(
    ("bounds", "field", "problem"),
    [
        ({"start": 3, "end": 2}, "start", "range [3, 2) is not within the 5 operations"),
        ({"start": 1, "end": 9}, "end", "range [1, 9) is not within the 5 operations"),
        ({"start": -1}, "start", "Input should be greater than or equal to 0"),
    ],
)
def test_prune_refuses_a_bad_range(bounds: JsonDict, field: str, problem: str) -> None:
    document = named_history()
    before = snapshot(document)
    with pytest.raises(InvalidActionInputError) as caught:
        apply_action(document, counter_action("PRUNE", bounds), MODEL, options=PRUNING)
    assert caught.value.field == field
    assert problem in str(caught.value)
    assert snapshot(document) == before


def test_prune_acts_on_the_global_scope_only() -> None:
    document = named_history()
    with pytest.raises(InvalidActionError, match="field 'scope': must be 'global', got 'local'"):
        apply_action(document, counter_action("PRUNE", {}, "local"), MODEL, options=PRUNING)


def test_load_state_replaces_model_scopes_and_the_name() -> None:
    document = counter_document(2)
    run(document, INC)
    base_scopes = {scope: document.state[scope] for scope in ("auth", "document")}
    data = {
        "global": {"count": 42},
        "auth": {"grants": ["everyone"]},
        "document": {"isDeleted": True},
    }
    load = counter_action(
        "LOAD_STATE", {"state": {"name": "Loaded", "data": data}, "operations": 3}
    )

    applied = apply_action(document, load, MODEL)

    assert document.state["global"] == {"count": 42}
    assert {scope: document.state[scope] for scope in ("auth", "document")} == base_scopes
    assert document.header.name == "Loaded"
    assert (applied.operation.index, applied.operation.action.type) == (1, "LOAD_STATE")
    assert applied.operation.hash == "sX2Q2wB2z8LuksX4e23CJiVWcKw="  # {"count":42}, node
    run(document, INC)
    assert load.input["state"]["data"]["global"] == {"count": 42}  # the input was copied
    assert replay_document(document, MODEL).state == document.state
    assert count(document) == 43


def test_load_state_input_is_validated() -> None:
    document = counter_document(2)
    before = snapshot(document)
    with pytest.raises(InvalidActionInputError) as caught:
        apply_action(
            document, counter_action("LOAD_STATE", {"state": {"name": "x"}, "operations": 1}), MODEL
        )
    assert str(caught.value) == ("invalid input for LOAD_STATE: field 'state.data': Field required")
    assert snapshot(document) == before


def test_set_preferred_editor_lives_in_the_header_scope() -> None:
    document = counter_document(2)
    apply_action(document, set_preferred_editor("counter-editor"), MODEL)
    assert document.header.meta == {"preferredEditor": "counter-editor"}
    applied = apply_action(document, set_preferred_editor(""), MODEL)  # "" clears, as null does
    assert document.header.meta == {}
    assert (applied.operation.scope, applied.operation.index) == ("header", 1)
    with pytest.raises(InvalidActionError, match="field 'scope': must be 'header', got 'global'"):
        apply_action(
            document,
            counter_action("SET_PREFERRED_EDITOR", {"preferredEditor": "x"}, "global"),
            MODEL,
        )
