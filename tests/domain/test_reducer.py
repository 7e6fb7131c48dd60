"""The base reducer on fresh actions: built-ins, indexes, errors, refusals.

Expected hashes and operation ids were computed by node, not by our code (see test_hashing).
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from reactor_es.document.actions import (
    create_document_actions,
    delete_document_action,
    new_action,
    noop,
    set_name,
    set_preferred_editor,
    upgrade_document_action,
)
from reactor_es.document.exceptions import (
    DocumentDeletedError,
    DocumentExistsError,
    DocumentNotFoundError,
    DocumentTypeMismatchError,
    InvalidActionError,
    InvalidActionInputError,
    ProtocolVersionMissingError,
    UnsupportedActionError,
)
from reactor_es.document.model import ActionInput, DocumentModel, ReduceContext, action
from reactor_es.document.reducer import apply_action
from reactor_es.document.types import Action, Document, JsonDict
from reactor_es.models.todo import TodoListModel

from .conftest import DOC_ID, T0, new_todo_document

DOCUMENT_SCOPE_HASH = "VvgF7poGN062epgZkBsMoQl+Ufc="
EMPTY_LIST_HASH = "F6g7sByJuuOcYYkgTnzj94yg+ZE="  # {"items": []}
S1 = "VhCbyOW0J+zv6axsiAQDiy6Qx5Y="  # t1 "buy milk"
S2 = "l4hGa+7RavrDaUpSY6moURQX4zg="  # t1 done
S3 = "Y00+1PYAiSHTCJgj6LlWR/wcXlU="  # t1 done, t2 "café ☕"
S4 = "0UnwgvZnNJ+hZNZB39iIVGo2DTY="  # t2 only
EMPTY_OBJECT_HASH = "vyGp6PvFo4RvsFtPoIWeCReyIC8="
T1 = "2026-01-05T10:01:00.000Z"

MILK = {"id": "t1", "text": "buy milk", "done": False}
CAFE = {"id": "t2", "text": "café ☕", "done": False}


def at(minute: int) -> str:
    return f"2026-01-05T10:{minute:02d}:00.000Z"


def add(item_id: str, text: str, action_id: str = "", minute: int = 1) -> Action:
    return new_action(
        "ADD_TODO", {"id": item_id, "text": text}, action_id=action_id or None, timestamp=at(minute)
    )


def snapshot(document: Document) -> JsonDict:
    return document.model_dump()


# -- creating a document -----------------------------------------------------------------


def test_create_then_upgrade_builds_the_document(todo: TodoListModel) -> None:
    document = new_todo_document(todo)

    assert [op.index for op in document.operations["document"]] == [0, 1]
    create, upgrade = document.operations["document"]
    assert (create.type, upgrade.type) == ("CREATE_DOCUMENT", "UPGRADE_DOCUMENT")
    assert create.id == "d7cac949fd240ba209cb97080a78c6de"
    assert upgrade.id == "db0e3d61f9688a5d8cdff52b30c3c93c"
    # As in every export of the corpus: both carry the hash of the new `document` scope.
    assert create.hash == upgrade.hash == DOCUMENT_SCOPE_HASH
    assert create.timestamp_utc_ms == upgrade.timestamp_utc_ms == T0
    assert upgrade.input["initialState"]["global"] == {"items": []}

    header = document.header
    assert header.id == header.slug == DOC_ID
    assert header.document_type == "reactor-es/todo-list"
    assert header.created_at_utc_iso == header.last_modified_at_utc_iso == T0
    assert (header.name, header.branch) == ("", "main")
    assert header.protocol_versions == {"base-reducer": 2}
    assert header.revision == {"document": 2, "global": 0, "local": 0}
    assert document.state == {
        "auth": {},
        "document": {"version": 0, "hash": {"algorithm": "sha1", "encoding": "base64"}},
        "global": {"items": []},
        "local": {},
    }
    assert document.initial_state == document.state
    assert document.operations == {"document": [create, upgrade], "global": [], "local": []}


def test_create_document_options_reach_the_header(todo: TodoListModel) -> None:
    create, _ = create_document_actions(todo, "doc-x", name="Groceries", slug="groceries")
    document = apply_action(None, create, todo).document
    assert (document.header.name, document.header.slug) == ("Groceries", "groceries")
    assert document.header.revision == {"document": 1}


def test_only_create_document_starts_a_document(todo: TodoListModel) -> None:
    with pytest.raises(DocumentNotFoundError) as caught:
        apply_action(None, add("t1", "x", "a-1"), todo)
    assert str(caught.value) == (
        "no document for ADD_TODO (a-1): a document starts with CREATE_DOCUMENT"
    )


def test_create_document_refuses_another_model_type(todo: TodoListModel) -> None:
    create = new_action(
        "CREATE_DOCUMENT",
        {"model": "x/other", "version": 0, "documentId": "d"},
        "document",
    )
    with pytest.raises(InvalidActionInputError) as caught:
        apply_action(None, create, todo)
    assert caught.value.field == "model"
    assert str(caught.value) == (
        "invalid input for CREATE_DOCUMENT: field 'model': "
        "'x/other' is not the type of model 'reactor-es/todo-list'"
    )


def test_create_document_input_is_validated(todo: TodoListModel) -> None:
    create = new_action("CREATE_DOCUMENT", {"model": todo.document_type, "version": 0}, "document")
    with pytest.raises(InvalidActionInputError) as caught:
        apply_action(None, create, todo)
    assert str(caught.value) == (
        "invalid input for CREATE_DOCUMENT: field 'documentId': Field required"
    )


def test_create_document_must_be_in_the_document_scope(todo: TodoListModel) -> None:
    create, _ = create_document_actions(todo, "d")
    with pytest.raises(InvalidActionError, match="field 'scope': must be 'document'"):
        apply_action(None, create.model_copy(update={"scope": "global"}), todo)


def test_create_document_twice_is_refused(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    before = snapshot(document)
    create, _ = create_document_actions(todo, DOC_ID)
    with pytest.raises(DocumentExistsError, match=f"^document {DOC_ID} already exists$"):
        apply_action(document, create, todo)
    assert snapshot(document) == before


def test_upgrade_twice_is_refused(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    apply_action(document, add("t1", "buy milk"), todo)
    before = snapshot(document)
    again = upgrade_document_action(todo.document_type, DOC_ID, 0, 1, {"global": {"items": []}})
    with pytest.raises(InvalidActionInputError) as caught:
        apply_action(document, again, todo)
    assert str(caught.value) == (
        "invalid input for UPGRADE_DOCUMENT: field 'fromVersion': "
        "document todo-1 is already initialised"
    )
    assert snapshot(document) == before


def test_upgrade_to_the_same_version_changes_nothing(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    applied = apply_action(
        document, upgrade_document_action(todo.document_type, DOC_ID, 1, 1, timestamp=T1), todo
    )
    assert (applied.operation.index, applied.operation.hash) == (2, DOCUMENT_SCOPE_HASH)
    assert document.state["global"] == {"items": []}


def test_upgrade_between_versions_is_not_supported_yet(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    with pytest.raises(UnsupportedActionError) as caught:
        apply_action(document, upgrade_document_action(todo.document_type, DOC_ID, 2, 1), todo)
    assert str(caught.value) == "UPGRADE_DOCUMENT: no upgrade path from version 2"
    assert document.header.revision["document"] == 2


def test_upgrade_must_target_the_document(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    with pytest.raises(InvalidActionInputError) as caught:
        apply_action(document, upgrade_document_action(todo.document_type, "other", 1, 1), todo)
    assert str(caught.value) == (
        "invalid input for UPGRADE_DOCUMENT: field 'documentId': 'other' is not document todo-1"
    )


# -- model actions -----------------------------------------------------------------------


def test_model_actions_get_per_scope_indexes_and_hashes(todo: TodoListModel) -> None:
    document = new_todo_document(todo)

    first = apply_action(document, add("t1", "buy milk", "a-add-1", minute=1), todo)
    assert first.document is document
    op = first.operation
    assert (op.index, op.skip, op.hash, op.error) == (0, 0, S1, None)
    assert op.id == "018146107029a442bf36a4572bd4462b"
    assert op.timestamp_utc_ms == at(1)  # operation timestamp = action timestamp
    assert first.computed_hash == S1
    assert document.state["global"] == {"items": [MILK]}

    toggle = new_action("TOGGLE_TODO", {"id": "t1"}, timestamp=at(2))
    second = apply_action(document, toggle, todo)
    third = apply_action(document, add("t2", "café ☕", minute=3), todo)
    remove = new_action("REMOVE_TODO", {"id": "t1"}, timestamp=at(4))
    fourth = apply_action(document, remove, todo)

    assert [r.operation.index for r in (second, third, fourth)] == [1, 2, 3]
    assert [r.operation.hash for r in (second, third, fourth)] == [S2, S3, S4]
    assert document.state["global"] == {"items": [CAFE]}
    assert document.header.revision == {"document": 2, "global": 4, "local": 0}
    assert document.header.last_modified_at_utc_iso == at(4)
    assert [op.index for op in document.operations["global"]] == [0, 1, 2, 3]


def test_bad_input_is_refused_and_changes_nothing(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    apply_action(document, add("t1", "buy milk"), todo)
    before = snapshot(document)

    missing = new_action("ADD_TODO", {"id": "t2"})
    with pytest.raises(InvalidActionInputError) as caught:
        apply_action(document, missing, todo)
    assert (caught.value.action_type, caught.value.field) == ("ADD_TODO", "text")
    assert str(caught.value) == "invalid input for ADD_TODO: field 'text': Field required"

    wrong_type = new_action("ADD_TODO", {"id": "t2", "text": 7})
    with pytest.raises(InvalidActionInputError) as caught:
        apply_action(document, wrong_type, todo)
    assert str(caught.value) == (
        "invalid input for ADD_TODO: field 'text': Input should be a valid string"
    )

    not_an_object = new_action("ADD_TODO", ["t2"])
    with pytest.raises(InvalidActionInputError, match="field 'input': must be an object"):
        apply_action(document, not_an_object, todo)

    assert snapshot(document) == before
    assert document.header.revision["global"] == 1


def test_a_failing_handler_records_an_errored_operation(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    apply_action(document, add("t1", "buy milk", minute=1), todo)
    state_before = snapshot(document)["state"]

    failed = apply_action(document, new_action("TOGGLE_TODO", {"id": "zz"}, timestamp=at(2)), todo)

    op = failed.operation
    assert op.error == "no to-do 'zz' in the list"
    assert (op.index, op.skip) == (1, 0)  # the index is consumed
    assert op.hash == S1 == document.operations["global"][0].hash  # the unchanged state's hash
    assert document.state == state_before
    assert document.header.revision["global"] == 2
    assert len(document.operations["global"]) == 2


class _Counter(ActionInput):
    by: int


class CarelessModel(DocumentModel):
    """Mutates before it checks: the reducer must still roll the change back."""

    document_type: ClassVar[str] = "test/careless"

    def initial_state(self) -> JsonDict:
        return {"global": {"count": 0, "log": []}, "local": {}}

    @action("BUMP", _Counter)
    def bump(self, state: JsonDict, payload: _Counter, ctx: ReduceContext) -> None:
        state["count"] += payload.by
        state["log"].append(payload.by)
        if state["count"] > 10:
            raise ValueError(f"count {state['count']} is over 10")
        ctx.emit("BUMPED", count=state["count"])


def careless_document(model: CarelessModel) -> Document:
    document: Document | None = None
    for genesis in create_document_actions(model, "c-1", timestamp=T0):
        document = apply_action(document, genesis, model).document
    assert document is not None
    return document


def test_mutations_before_a_failure_are_rolled_back() -> None:
    model = CarelessModel()
    document = careless_document(model)
    ok = apply_action(document, new_action("BUMP", {"by": 4}), model)
    assert [(s.type, s.input) for s in ok.signals] == [("BUMPED", {"count": 4})]

    failed = apply_action(document, new_action("BUMP", {"by": 9}), model)

    assert failed.operation.error == "count 13 is over 10"
    assert failed.signals == []
    assert document.state["global"] == {"count": 4, "log": [4]}
    assert failed.operation.hash == ok.operation.hash


class ExitingModel(CarelessModel):
    """A handler that calls sys.exit: still just a failed action, not the end of the process."""

    document_type: ClassVar[str] = "test/exiting"

    @action("EXIT", _Counter)
    def leave(self, state: JsonDict, payload: _Counter, ctx: ReduceContext) -> None:
        state["count"] += payload.by
        raise SystemExit(payload.by)


def test_a_handler_raising_system_exit_records_an_errored_operation() -> None:
    model = ExitingModel()
    document = careless_document(model)
    ok = apply_action(document, new_action("BUMP", {"by": 2}), model)

    failed = apply_action(document, new_action("EXIT", {"by": 3}), model)

    assert failed.operation.error == "SystemExit: 3"
    assert (failed.operation.index, failed.operation.skip) == (1, 0)
    assert document.state["global"] == {"count": 2, "log": [2]}
    assert failed.operation.hash == ok.operation.hash


def test_unknown_action_types_are_recorded_without_effect(todo: TodoListModel) -> None:
    # Powerhouse's generated reducers fall through to `default` and keep the state.
    document = new_todo_document(todo)
    applied = apply_action(document, new_action("PAINT_IT_BLACK", {"x": 1}), todo)
    assert (applied.operation.index, applied.operation.error) == (0, None)
    assert applied.operation.hash == EMPTY_LIST_HASH


def test_action_in_a_scope_the_document_lacks_is_refused(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    stray = new_action("ADD_TODO", {"id": "t1", "text": "x"}, "drafts", action_id="a-9")
    with pytest.raises(InvalidActionError) as caught:
        apply_action(document, stray, todo)
    assert str(caught.value) == (
        "invalid action ADD_TODO (a-9): document todo-1 has no scope 'drafts'"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"type": ""}, "invalid action ? (a-1): field 'type': must be a non-empty string"),
        ({"id": ""}, "invalid action ADD_TODO (no id): field 'id': must be a non-empty string"),
        ({"scope": "my scope"}, "field 'scope': 'my scope' is not a scope name"),
        (
            {"timestamp_utc_ms": "yesterday"},
            "field 'timestampUtcMs': 'yesterday' is not an ISO-8601 instant",
        ),
        (
            {"timestamp_utc_ms": "2026-13-01T00:00:00.000Z"},
            "field 'timestampUtcMs': '2026-13-01T00:00:00.000Z' is not a valid date and time",
        ),
    ],
)
def test_malformed_actions_are_refused(
    todo: TodoListModel, changes: dict[str, Any], message: str
) -> None:
    document = new_todo_document(todo)
    before = snapshot(document)
    bad = add("t1", "buy milk", "a-1").model_copy(update=changes)
    with pytest.raises(InvalidActionError) as caught:
        apply_action(document, bad, todo)
    assert message in str(caught.value)
    assert snapshot(document) == before


def test_document_of_another_type_is_refused(todo: TodoListModel) -> None:
    document = careless_document(CarelessModel())
    with pytest.raises(DocumentTypeMismatchError) as caught:
        apply_action(document, add("t1", "x"), todo)
    assert str(caught.value) == (
        "document c-1 is of type 'test/careless', not 'reactor-es/todo-list'"
    )


def test_protocol_version_is_required(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    document.header.protocol_versions = None
    with pytest.raises(ProtocolVersionMissingError) as caught:
        apply_action(document, add("t1", "x"), todo)
    assert str(caught.value) == 'document todo-1 has no header.protocolVersions["base-reducer"]'


# -- base actions ------------------------------------------------------------------------


def test_set_name_edits_the_header_and_is_recorded_in_its_scope(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    applied = apply_action(document, set_name("Groceries", action_id="a-name", timestamp=T1), todo)
    op = applied.operation
    assert document.header.name == "Groceries"
    assert (op.index, op.scope, op.type) == (0, "global", "SET_NAME")
    assert op.id == "ff7bf17ef7537a1db9ab789c59076d82"
    assert op.hash == EMPTY_LIST_HASH  # the global state did not change
    assert document.state["global"] == {"items": []}
    assert document.header.revision["global"] == 1


def test_set_name_input_is_validated(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    before = snapshot(document)
    with pytest.raises(InvalidActionInputError) as caught:
        apply_action(document, new_action("SET_NAME", {"name": 5}), todo)
    assert str(caught.value) == (
        "invalid input for SET_NAME: field 'name': Input should be a valid string"
    )
    with pytest.raises(InvalidActionInputError, match="field 'input': must be an object"):
        apply_action(document, new_action("SET_NAME", "bare name"), todo)  # legacy shape
    assert snapshot(document) == before


def test_noop_changes_nothing_but_takes_an_index(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    applied = apply_action(document, noop("local", action_id="a-noop", timestamp=T1), todo)
    op = applied.operation
    assert (op.index, op.scope, op.hash) == (0, "local", EMPTY_OBJECT_HASH)
    assert op.id == "35cdc1928c9c4282809ca685d1776bc0"
    assert document.header.revision["local"] == 1
    assert document.state["local"] == {}


def test_set_preferred_editor_edits_header_meta(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    apply_action(document, set_preferred_editor("todo-editor"), todo)
    assert document.header.meta == {"preferredEditor": "todo-editor"}
    applied = apply_action(document, set_preferred_editor(None), todo)
    assert document.header.meta == {}
    assert (applied.operation.scope, applied.operation.index) == ("header", 1)


def test_delete_document_marks_it_deleted_and_refuses_more(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    deleted_at = "2026-01-05T10:05:00.000Z"
    applied = apply_action(
        document,
        delete_document_action(DOC_ID, action_id="a-delete", timestamp=deleted_at),
        todo,
    )
    op = applied.operation
    assert (op.index, op.scope, op.id) == (2, "document", "37d7f4610fb27cc6775038a483a0aeb5")
    assert document.state["document"] == {
        "version": 0,
        "hash": {"algorithm": "sha1", "encoding": "base64"},
        "isDeleted": True,
        "deletedAtUtcIso": deleted_at,
    }
    assert op.hash == "o5PmXUGWZyRgBsvCCfsKhPBE54U="

    before = snapshot(document)
    with pytest.raises(DocumentDeletedError) as caught:
        apply_action(document, add("t1", "x"), todo)
    assert str(caught.value) == "document todo-1 is deleted: ADD_TODO refused"
    with pytest.raises(DocumentDeletedError):
        apply_action(document, delete_document_action(DOC_ID), todo)
    assert snapshot(document) == before


def test_delete_document_must_name_the_document(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    with pytest.raises(InvalidActionInputError) as caught:
        apply_action(document, delete_document_action("someone-else"), todo)
    assert caught.value.field == "documentId"
    assert "isDeleted" not in document.state["document"]
    with pytest.raises(InvalidActionInputError, match="field 'propagate'"):
        apply_action(document, delete_document_action(DOC_ID, propagate="sideways"), todo)


def test_prune_is_refused_unless_allowed(todo: TodoListModel) -> None:
    # Undo history itself is covered by test_history*.py.
    document = new_todo_document(todo)
    apply_action(document, add("t1", "buy milk"), todo)
    before = snapshot(document)
    with pytest.raises(UnsupportedActionError) as caught:
        apply_action(document, new_action("PRUNE", {"start": 0}), todo)
    assert str(caught.value) == (
        "PRUNE: it re-indexes document todo-1 scope global, which an append-only history "
        "cannot follow (ReducerOptions.allow_prune is off)"
    )
    assert snapshot(document) == before


# -- header bookkeeping ------------------------------------------------------------------


def test_last_modified_is_the_maximum_by_string_order(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    apply_action(document, add("t1", "x", minute=30), todo)
    apply_action(document, add("t2", "y", minute=10), todo)  # an older timestamp
    assert document.header.last_modified_at_utc_iso == at(30)
    assert [op.timestamp_utc_ms for op in document.operations["global"]] == [at(30), at(10)]


def test_any_action_clears_the_clipboard(todo: TodoListModel) -> None:
    document = new_todo_document(todo)
    apply_action(document, add("t1", "x"), todo)
    document.clipboard = list(document.operations["global"])
    apply_action(document, add("t2", "y"), todo)
    assert document.clipboard == []


def test_branch_option_changes_the_operation_id(todo: TodoListModel) -> None:
    from reactor_es.document.reducer import ReducerOptions

    document = new_todo_document(todo)
    applied = apply_action(
        document, add("t1", "x", "a-add-1"), todo, options=ReducerOptions(branch="feature")
    )
    assert applied.operation.id == "fb647e1c6fd9a228fcc6a943b6094786"


class TrustedModel(CarelessModel):
    """Declares that its handlers check first: the reducer takes no snapshot for it."""

    document_type: ClassVar[str] = "test/trusted"
    validates_before_mutating: ClassVar[bool] = True
    copies: ClassVar[int] = 0

    def copy_state(self, state: JsonDict) -> JsonDict:
        type(self).copies += 1
        return super().copy_state(state)


def test_models_that_validate_first_skip_the_rollback_snapshot() -> None:
    model = TrustedModel()
    document = careless_document(model)
    copies = TrustedModel.copies
    apply_action(document, new_action("BUMP", {"by": 4}), model)
    assert TrustedModel.copies == copies
    # (This model does not keep its promise: the half-made change stays, as promised.)
    failed = apply_action(document, new_action("BUMP", {"by": 9}), model)
    assert failed.operation.error == "count 13 is over 10"
    assert document.state["global"] == {"count": 13, "log": [4, 9]}
    assert TrustedModel.copies == copies
