"""A to-do list: the smallest complete document model, to copy when you write your own.

A model is a class: its type, its initial state per scope, and one handler per action.
Each handler names a pydantic input model, so bad input (a wrong type, a missing or an
unknown field) is refused, with the field named, before anything changes. A handler edits
the state of its scope in place; when it raises, the base reducer records the operation
with `error` and keeps the old state, so check before you mutate. Indexes, hashes and
history are the base reducer's business.
"""

from __future__ import annotations

from typing import Any, ClassVar

from reactor_es.document.model import DocumentModel, ReduceContext, StrictInput, action
from reactor_es.document.types import JsonDict
from reactor_es.errors import ReactorError

__all__ = ["AddTodo", "TodoListModel", "TodoRef", "UnknownTodoError"]


class AddTodo(StrictInput):
    id: str
    text: str


class TodoRef(StrictInput):
    id: str


class UnknownTodoError(ReactorError):
    """The action names a to-do item the list does not have."""


class TodoListModel(DocumentModel):
    document_type: ClassVar[str] = "reactor-es/todo-list"
    name: ClassVar[str] = "To-do list"
    extension: ClassVar[str] = "todo"

    def initial_state(self) -> JsonDict:
        return {"global": {"items": []}, "local": {}}

    @action("ADD_TODO", AddTodo, scope="global")
    def add_todo(self, state: JsonDict, item: AddTodo, ctx: ReduceContext) -> None:
        if any(existing["id"] == item.id for existing in state["items"]):
            raise ValueError(f"to-do '{item.id}' already exists")
        state["items"].append({"id": item.id, "text": item.text, "done": False})

    @action("TOGGLE_TODO", TodoRef, scope="global")
    def toggle_todo(self, state: JsonDict, ref: TodoRef, ctx: ReduceContext) -> None:
        found = _find(state, ref.id)
        found["done"] = not found["done"]

    @action("REMOVE_TODO", TodoRef, scope="global")
    def remove_todo(self, state: JsonDict, ref: TodoRef, ctx: ReduceContext) -> None:
        state["items"].remove(_find(state, ref.id))


def _find(state: JsonDict, item_id: str) -> Any:
    for item in state["items"]:
        if item["id"] == item_id:
            return item
    raise UnknownTodoError(f"no to-do '{item_id}' in the list")
