"""Testing a document model without Kafka: the to-do list example.

Pattern: build the document from its genesis actions, apply actions with `apply_action`,
then assert the exact state, the operation (index, error) and the hash Powerhouse would
record. The hashes below were computed by node, independently of our code.
"""

from __future__ import annotations

import pytest

from reactor_es.document.actions import create_document_actions, new_action
from reactor_es.document.exceptions import (
    InvalidActionInputError,
    UnknownActionTypeError,
    UnknownScopeError,
    WrongActionScopeError,
)
from reactor_es.document.reducer import apply_action, replay_document
from reactor_es.document.types import Document, Operation
from reactor_es.models.todo import TodoListModel

MODEL = TodoListModel()
T0 = "2026-01-05T10:00:00.000Z"


def new_list() -> Document:
    document = None
    for genesis in create_document_actions(MODEL, "groceries", timestamp=T0):
        document = apply_action(document, genesis, MODEL).document
    assert document is not None
    return document


def do(document: Document, action_type: str, **payload: str) -> Operation:
    return apply_action(document, new_action(action_type, payload), MODEL).operation


def test_a_new_list_is_empty() -> None:
    document = new_list()
    assert document.document_type == "reactor-es/todo-list"
    assert document.state["global"] == {"items": []}
    assert document.state["local"] == {}


def test_add_toggle_remove() -> None:
    document = new_list()

    added = do(document, "ADD_TODO", id="t1", text="buy milk")
    assert document.state["global"] == {"items": [{"id": "t1", "text": "buy milk", "done": False}]}
    assert (added.index, added.hash) == (0, "VhCbyOW0J+zv6axsiAQDiy6Qx5Y=")

    toggled = do(document, "TOGGLE_TODO", id="t1")
    assert document.state["global"]["items"][0]["done"] is True
    assert (toggled.index, toggled.hash) == (1, "l4hGa+7RavrDaUpSY6moURQX4zg=")

    do(document, "ADD_TODO", id="t2", text="café ☕")
    removed = do(document, "REMOVE_TODO", id="t1")
    assert document.state["global"] == {"items": [{"id": "t2", "text": "café ☕", "done": False}]}
    assert (removed.index, removed.hash) == (3, "0UnwgvZnNJ+hZNZB39iIVGo2DTY=")


def test_an_unknown_id_becomes_an_errored_operation() -> None:
    document = new_list()
    do(document, "ADD_TODO", id="t1", text="buy milk")

    failed = do(document, "REMOVE_TODO", id="t9")

    assert failed.error == "no to-do 't9' in the list"
    assert failed.index == 1  # recorded: the index is used up
    assert failed.hash == "VhCbyOW0J+zv6axsiAQDiy6Qx5Y="  # the state did not change
    assert len(document.state["global"]["items"]) == 1


def test_a_duplicate_id_becomes_an_errored_operation() -> None:
    document = new_list()
    do(document, "ADD_TODO", id="t1", text="buy milk")
    failed = do(document, "ADD_TODO", id="t1", text="again")
    assert failed.error == "to-do 't1' already exists"
    assert [item["text"] for item in document.state["global"]["items"]] == ["buy milk"]


def test_bad_input_is_refused_before_anything_changes() -> None:
    document = new_list()
    with pytest.raises(InvalidActionInputError) as caught:
        do(document, "ADD_TODO", id="t1")  # no text
    assert str(caught.value) == "invalid input for ADD_TODO: field 'text': Field required"
    assert document.operations["global"] == []
    assert document.header.revision["global"] == 0


def test_an_action_in_the_wrong_scope_is_an_errored_operation_naming_the_scope() -> None:
    """Published anyway (bypassing the client), it is recorded like any raising action."""
    document = new_list()
    for scope in ("local", "document"):
        action = new_action("ADD_TODO", {"id": "t1", "text": "x"}, scope)
        failed = apply_action(document, action, MODEL).operation
        assert failed.error == (
            f"ADD_TODO of reactor-es/todo-list acts on the 'global' scope, not '{scope}'"
        )
        assert failed.index == document.operations[scope][-1].index
    assert document.state["global"] == {"items": []}
    assert document.state["local"] == {}
    assert document.operations["global"] == []


def test_the_model_tells_clients_what_it_cannot_mean() -> None:
    MODEL.check_action(new_action("ADD_TODO", {"id": "t1", "text": "x"}))
    with pytest.raises(UnknownActionTypeError) as unknown:
        MODEL.check_action(new_action("ADD_TDOO", {}))
    assert str(unknown.value) == (
        "unknown action type 'ADD_TDOO' for reactor-es/todo-list (its actions: ADD_TODO, "
        "TOGGLE_TODO, REMOVE_TODO; or a base action such as NOOP, UNDO, SET_NAME)"
    )
    MODEL.check_scope(new_action("NOOP", {}, "local"))
    with pytest.raises(UnknownScopeError) as bogus:
        MODEL.check_scope(new_action("NOOP", {}, "bogus"))
    assert str(bogus.value) == (
        "NOOP: scope 'bogus' is not a scope of reactor-es/todo-list "
        "(its scopes: auth, document, global, header, local)"
    )
    with pytest.raises(WrongActionScopeError) as scoped:
        MODEL.check_action(new_action("TOGGLE_TODO", {"id": "t1"}, "local"))
    assert str(scoped.value) == (
        "TOGGLE_TODO of reactor-es/todo-list acts on the 'global' scope, not 'local'"
    )


def test_an_unknown_action_type_is_a_no_op_operation_as_in_powerhouse() -> None:
    """Stored history replays as is: the reducer records a type it does not know."""
    document = new_list()
    do(document, "ADD_TODO", id="t1", text="buy milk")
    noop = do(document, "ADD_TDOO", id="t2")
    assert (noop.index, noop.error, noop.hash) == (1, None, "VhCbyOW0J+zv6axsiAQDiy6Qx5Y=")


def test_replaying_the_history_gives_the_same_list() -> None:
    document = new_list()
    do(document, "ADD_TODO", id="t1", text="buy milk")
    do(document, "TOGGLE_TODO", id="t1")
    do(document, "TOGGLE_TODO", id="t9")
    assert replay_document(document, MODEL) == document


def test_an_unknown_input_field_is_refused_naming_it() -> None:
    document = new_list()
    before = document.model_dump()
    with pytest.raises(InvalidActionInputError) as refused:
        apply_action(
            document, new_action("ADD_TODO", {"id": "t1", "text": "milk", "txet": "typo"}), MODEL
        )
    assert str(refused.value) == (
        "invalid input for ADD_TODO: field 'txet': Extra inputs are not permitted"
    )
    assert document.model_dump() == before
