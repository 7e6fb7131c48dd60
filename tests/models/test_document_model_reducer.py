"""Every `powerhouse/document-model` action through the real base reducer (`apply_action`).

The other document-model tests call `model.reduce` on a bare state; here each of the 43
action types goes through `apply_action` on a real document (CREATE_DOCUMENT and
UPGRADE_DOCUMENT, then ten setup operations), as the executor applies it. A fresh action
runs under today's rules (E7: strict lookups, `orderBy` reordering).

Expected values are written out from document-model-ops.md §4, not taken from the code:
the state after the setup is a literal (`PREPARED`), each case edits a copy of it by hand,
and the operation's hash is computed here from that expected state with hashlib and
base64 (powerhouse-semantics.md §1.7), its id from the action id (§1.6).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from reactor_es.document.actions import create_document_actions, new_action
from reactor_es.document.exceptions import InvalidActionInputError
from reactor_es.document.reducer import AppliedAction, apply_action, replay_operation
from reactor_es.document.types import Document, JsonDict, Operation
from reactor_es.models.document_model import DocumentModelModel
from reactor_es.models.document_model.exceptions import EmptyInputExpectedError, NullInputError

MODEL = DocumentModelModel()
DOC_ID = "dm-1"
#: After E7 (2026-05-27): the timestamp of every action here.
STAMP = "2026-06-01T10:00:00.000Z"
LATER = "2026-06-01T11:00:00.000Z"

SCHEMA = "input AddTodoInput { text: String! }"

#: The setup: ten operations at global indexes 0..9.
SETUP: list[tuple[str, JsonDict]] = [
    ("ADD_MODULE", {"id": "m1", "name": "todos"}),
    ("ADD_MODULE", {"id": "m2", "name": "misc", "description": "Other things"}),
    (
        "ADD_OPERATION",
        {
            "id": "o1",
            "moduleId": "m1",
            "name": "ADD_TODO",
            "description": "Adds a to-do",
            "schema": SCHEMA,
        },
    ),
    ("ADD_OPERATION", {"id": "o2", "moduleId": "m1", "name": "REMOVE_TODO"}),
    (
        "ADD_OPERATION_ERROR",
        {
            "id": "e1",
            "operationId": "o1",
            "errorCode": "E_EMPTY",
            "errorName": "EmptyText",
            "errorDescription": "text is empty",
        },
    ),
    ("ADD_OPERATION_ERROR", {"id": "e2", "operationId": "o1", "errorName": "TooLong"}),
    ("ADD_OPERATION_EXAMPLE", {"id": "x1", "operationId": "o1", "example": '{"text":"milk"}'}),
    ("ADD_OPERATION_EXAMPLE", {"id": "x2", "operationId": "o1", "example": '{"text":"bread"}'}),
    ("ADD_STATE_EXAMPLE", {"scope": "global", "id": "s1", "example": '{"items":[]}'}),
    ("ADD_STATE_EXAMPLE", {"scope": "global", "id": "s2", "example": '{"items":[1]}'}),
]
#: The index the action under test gets, and the revision of `global` after it.
INDEX = len(SETUP)

E1 = {
    "id": "e1",
    "name": "EmptyText",
    "code": "E_EMPTY",
    "description": "text is empty",
    "template": "",
}
E2 = {"id": "e2", "name": "TooLong", "code": "", "description": "", "template": ""}
X1 = {"id": "x1", "value": '{"text":"milk"}'}
X2 = {"id": "x2", "value": '{"text":"bread"}'}
S1 = {"id": "s1", "value": '{"items":[]}'}
S2 = {"id": "s2", "value": '{"items":[1]}'}

#: `state.global` after SETUP, written out from §1 and §4 (template falls back to the
#: description, missing optional texts become "", new items are appended).
PREPARED: JsonDict = {
    "id": "",
    "name": "",
    "extension": "",
    "description": "",
    "author": {"name": "", "website": ""},
    "specifications": [
        {
            "version": 1,
            "changeLog": [],
            "state": {
                "global": {"schema": "", "initialValue": "", "examples": [S1, S2]},
                "local": {"schema": "", "initialValue": "", "examples": []},
            },
            "modules": [
                {
                    "id": "m1",
                    "name": "todos",
                    "description": "",
                    "operations": [
                        {
                            "id": "o1",
                            "name": "ADD_TODO",
                            "description": "Adds a to-do",
                            "schema": SCHEMA,
                            "template": "Adds a to-do",
                            "reducer": "",
                            "errors": [E1, E2],
                            "examples": [X1, X2],
                            "scope": "global",
                        },
                        {
                            "id": "o2",
                            "name": "REMOVE_TODO",
                            "description": "",
                            "schema": "",
                            "template": "",
                            "reducer": "",
                            "errors": [],
                            "examples": [],
                            "scope": "global",
                        },
                    ],
                },
                {"id": "m2", "name": "misc", "description": "Other things", "operations": []},
            ],
        }
    ],
}

#: hash(default global state) as Powerhouse recorded it (rwa-portfolio.phdm.zip op 0).
DEFAULT_GLOBAL_HASH = "Fd20qtObIUDJwJHse6VqFK8ObWY="


def powerhouse_hash(value: Any) -> str:
    """§1.7 on its own: base64(SHA-1(UTF-8(compact JSON, keys sorted, non-ASCII kept)))."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(hashlib.sha1(text.encode("utf-8")).digest()).decode("ascii")


def operation_id(action_id: str) -> str:
    """§1.6 on its own: the first 32 hex digits of SHA-1("docId:scope:branch:actionId")."""
    return hashlib.sha1(f"{DOC_ID}:global:main:{action_id}".encode()).hexdigest()[:32]


# -- navigating an expected state ---------------------------------------------------------


def spec(state: JsonDict) -> JsonDict:
    latest: JsonDict = state["specifications"][-1]
    return latest


def module(state: JsonDict, module_id: str) -> JsonDict:
    (found,) = [m for m in spec(state)["modules"] if m["id"] == module_id]
    return found


def operation(state: JsonDict, op_id: str) -> JsonDict:
    (found,) = [o for m in spec(state)["modules"] for o in m["operations"] if o["id"] == op_id]
    return found


def error(state: JsonDict, error_id: str) -> JsonDict:
    (found,) = [e for e in operation(state, "o1")["errors"] if e["id"] == error_id]
    return found


def state_examples(state: JsonDict, scope: str) -> list[JsonDict]:
    examples: list[JsonDict] = spec(state)["state"][scope]["examples"]
    return examples


# -- the cases ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One action type: a valid input and its effect, a bad input and what it names."""

    action_type: str
    valid: Any
    #: Edits a copy of PREPARED into the expected state (in place).
    effect: Callable[[JsonDict], None]
    bad: Any
    bad_field: str
    bad_problem: str
    #: The recorded error of a valid action whose handler always refuses.
    error: str | None = None


def unchanged(state: JsonDict) -> None:
    return None


def _set(key: str, value: Any) -> Callable[[JsonDict], None]:
    def effect(state: JsonDict) -> None:
        state[key] = value

    return effect


def _author(key: str, value: str) -> Callable[[JsonDict], None]:
    def effect(state: JsonDict) -> None:
        state["author"][key] = value  # the default author is truthy: no bootstrap

    return effect


def _module_field(module_id: str, key: str, value: str) -> Callable[[JsonDict], None]:
    def effect(state: JsonDict) -> None:
        module(state, module_id)[key] = value

    return effect


def _operation_field(op_id: str, key: str, value: str) -> Callable[[JsonDict], None]:
    def effect(state: JsonDict) -> None:
        operation(state, op_id)[key] = value

    return effect


def _error_field(error_id: str, key: str, value: str) -> Callable[[JsonDict], None]:
    def effect(state: JsonDict) -> None:
        error(state, error_id)[key] = value

    return effect


def add_module(state: JsonDict) -> None:
    spec(state)["modules"].append(
        {"id": "m3", "name": "extras", "description": "", "operations": []}
    )


def delete_module(state: JsonDict) -> None:
    spec(state)["modules"] = [module(state, "m2")]  # o1 and o2 go with m1


def reorder_modules(state: JsonDict) -> None:
    # orderBy: the listed ids first, in order, then the rest as they were.
    spec(state)["modules"] = [module(state, "m2"), module(state, "m1")]


def add_operation(state: JsonDict) -> None:
    module(state, "m2")["operations"].append(
        {
            "id": "o3",
            "name": "ARCHIVE_TODO",
            "description": "Archives a to-do",
            "schema": "",
            "template": "Archives a to-do",  # no template: the description
            "reducer": "",
            "errors": [],
            "examples": [],
            "scope": "global",
        }
    )


def move_operation(state: JsonDict) -> None:
    moved = operation(state, "o1")
    module(state, "m1")["operations"] = [operation(state, "o2")]
    module(state, "m2")["operations"] = [moved]


def delete_operation(state: JsonDict) -> None:
    module(state, "m1")["operations"] = [operation(state, "o2")]


def reorder_module_operations(state: JsonDict) -> None:
    module(state, "m1")["operations"] = [operation(state, "o2"), operation(state, "o1")]


def add_operation_error(state: JsonDict) -> None:
    operation(state, "o2")["errors"].append(
        {
            "id": "e3",
            "name": "NotFound",
            "code": "E_MISSING",
            "description": "",
            "template": "no such to-do",
        }
    )


def delete_operation_error(state: JsonDict) -> None:
    operation(state, "o1")["errors"] = [E2]


def reorder_operation_errors(state: JsonDict) -> None:
    operation(state, "o1")["errors"] = [E2, E1]


def add_operation_example(state: JsonDict) -> None:
    operation(state, "o2")["examples"].append({"id": "x3", "value": '{"id":"t1"}'})


def update_operation_example(state: JsonDict) -> None:
    operation(state, "o1")["examples"][0]["value"] = '{"text":"eggs"}'


def delete_operation_example(state: JsonDict) -> None:
    operation(state, "o1")["examples"] = [X2]


def reorder_operation_examples(state: JsonDict) -> None:
    operation(state, "o1")["examples"] = [X2, X1]


def set_state_schema(state: JsonDict) -> None:
    spec(state)["state"]["global"]["schema"] = "type TodoState { items: [String!]! }"


def set_initial_state(state: JsonDict) -> None:
    spec(state)["state"]["local"]["initialValue"] = '{"filter":"all"}'


def add_state_example(state: JsonDict) -> None:
    state_examples(state, "local").append({"id": "s3", "value": '{"filter":"done"}'})


def update_state_example(state: JsonDict) -> None:
    state_examples(state, "global")[1]["value"] = '{"items":[2]}'


def delete_state_example(state: JsonDict) -> None:
    spec(state)["state"]["global"]["examples"] = [S2]


def reorder_state_examples(state: JsonDict) -> None:
    spec(state)["state"]["global"]["examples"] = [S2, S1]


def release_new_version(state: JsonDict) -> None:
    first = state["specifications"][0]
    state["specifications"].append(
        {
            "version": 2,
            "changeLog": [],
            "state": copy.deepcopy(first["state"]),
            "modules": copy.deepcopy(first["modules"]),
        }
    )


REQUIRED = "Field required"
STRING = "Input should be a valid string"
LIST = "Input should be a valid list"


def not_implemented(handler: str) -> str:
    return f'Reducer "{handler}" not yet implemented'


CASES: list[Case] = [
    # -- header (§4.1) -----------------------------------------------------------------
    Case("SET_MODEL_NAME", {"name": "ToDo List"}, _set("name", "ToDo List"),
         {"name": 5}, "name", STRING),
    Case("SET_MODEL_ID", {"id": "powerhouse/todo"}, _set("id", "powerhouse/todo"),
         {}, "id", REQUIRED),
    Case("SET_MODEL_EXTENSION", {"extension": "phdt"}, _set("extension", "phdt"),
         {"extension": None}, "extension", STRING),
    Case("SET_MODEL_DESCRIPTION", {"description": "Tâches ✓"}, _set("description", "Tâches ✓"),
         {"description": ["x"]}, "description", STRING),
    Case("SET_AUTHOR_NAME", {"authorName": "Powerhouse"}, _author("name", "Powerhouse"),
         {"name": "Powerhouse"}, "authorName", REQUIRED),
    Case("SET_AUTHOR_WEBSITE", {"authorWebsite": "https://powerhouse.inc"},
         _author("website", "https://powerhouse.inc"),
         {"authorWebsite": 1}, "authorWebsite", STRING),
    # -- modules (§4.2) ----------------------------------------------------------------
    Case("ADD_MODULE", {"id": "m3", "name": "extras"}, add_module,
         {"id": "m3"}, "name", REQUIRED),
    Case("SET_MODULE_NAME", {"id": "m2", "name": "various"},
         _module_field("m2", "name", "various"),
         {"name": "various"}, "id", REQUIRED),
    # No description: `|| ""` clears the one m2 had.
    Case("SET_MODULE_DESCRIPTION", {"id": "m2"}, _module_field("m2", "description", ""),
         {"id": "m2", "description": 3}, "description", STRING),
    Case("DELETE_MODULE", {"id": "m1"}, delete_module,
         {"id": 2}, "id", STRING),
    Case("REORDER_MODULES", {"order": ["m2"]}, reorder_modules,
         {"order": "m2"}, "order", LIST),
    # -- operations (§4.3) -------------------------------------------------------------
    Case("ADD_OPERATION",
         {"id": "o3", "moduleId": "m2", "name": "ARCHIVE_TODO", "description": "Archives a to-do"},
         add_operation,
         {"id": "o3", "name": "ARCHIVE_TODO"}, "moduleId", REQUIRED),
    Case("SET_OPERATION_NAME", {"id": "o2", "name": "DELETE_TODO"},
         _operation_field("o2", "name", "DELETE_TODO"),
         {"id": "o2", "name": 1}, "name", STRING),
    Case("SET_OPERATION_SCOPE", {"id": "o2", "scope": "local"},
         _operation_field("o2", "scope", "local"),
         {"id": "o2"}, "scope", REQUIRED),
    Case("SET_OPERATION_SCHEMA", {"id": "o2", "schema": "input RemoveTodoInput { id: ID! }"},
         _operation_field("o2", "schema", "input RemoveTodoInput { id: ID! }"),
         {"id": None, "schema": "x"}, "id", STRING),
    # The template derived from the old description stays.
    Case("SET_OPERATION_DESCRIPTION", {"id": "o1", "description": "Adds an item"},
         _operation_field("o1", "description", "Adds an item"),
         {"description": "x"}, "id", REQUIRED),
    Case("SET_OPERATION_TEMPLATE", {"id": "o2", "template": "Removes a to-do"},
         _operation_field("o2", "template", "Removes a to-do"),
         {"id": "o2", "template": False}, "template", STRING),
    Case("SET_OPERATION_REDUCER", {"id": "o2", "reducer": "state.items = [];"},
         _operation_field("o2", "reducer", "state.items = [];"),
         {"id": "o2", "reducer": {"code": "x"}}, "reducer", STRING),
    Case("MOVE_OPERATION", {"operationId": "o1", "newModuleId": "m2"}, move_operation,
         {"operationId": "o1"}, "newModuleId", REQUIRED),
    Case("DELETE_OPERATION", {"id": "o1"}, delete_operation,
         {}, "id", REQUIRED),
    Case("REORDER_MODULE_OPERATIONS", {"moduleId": "m1", "order": ["o2"]},
         reorder_module_operations,
         {"moduleId": "m1", "order": ["o2", 7]}, "order.1", STRING),
    # -- operation errors (§4.4) -------------------------------------------------------
    Case("ADD_OPERATION_ERROR",
         {"id": "e3", "operationId": "o2", "errorCode": "E_MISSING", "errorName": "NotFound",
          "errorTemplate": "no such to-do"},
         add_operation_error,
         {"id": "e3"}, "operationId", REQUIRED),
    Case("SET_OPERATION_ERROR_CODE", {"id": "e2", "errorCode": "E_LONG"},
         _error_field("e2", "code", "E_LONG"),
         {"id": "e2", "errorCode": 404}, "errorCode", STRING),
    Case("SET_OPERATION_ERROR_NAME", {"id": "e1", "errorName": "BlankText"},
         _error_field("e1", "name", "BlankText"),
         {"errorName": "BlankText"}, "id", REQUIRED),
    Case("SET_OPERATION_ERROR_DESCRIPTION", {"id": "e1"},
         _error_field("e1", "description", ""),
         {"id": 1}, "id", STRING),
    Case("SET_OPERATION_ERROR_TEMPLATE", {"id": "e2", "errorTemplate": "over {max}"},
         _error_field("e2", "template", "over {max}"),
         {"id": "e2", "errorTemplate": []}, "errorTemplate", STRING),
    Case("DELETE_OPERATION_ERROR", {"id": "e1"}, delete_operation_error,
         {"errorId": "e1"}, "id", REQUIRED),
    Case("REORDER_OPERATION_ERRORS", {"operationId": "o1", "order": ["e2"]},
         reorder_operation_errors,
         {"order": ["e2"]}, "operationId", REQUIRED),
    # -- operation examples (§4.5) -----------------------------------------------------
    Case("ADD_OPERATION_EXAMPLE", {"id": "x3", "operationId": "o2", "example": '{"id":"t1"}'},
         add_operation_example,
         {"id": "x3", "operationId": "o2"}, "example", REQUIRED),
    Case("UPDATE_OPERATION_EXAMPLE", {"id": "x1", "example": '{"text":"eggs"}'},
         update_operation_example,
         {"id": "x1", "example": None}, "example", STRING),
    Case("DELETE_OPERATION_EXAMPLE", {"id": "x1"}, delete_operation_example,
         {"id": ["x1"]}, "id", STRING),
    Case("REORDER_OPERATION_EXAMPLES", {"operationId": "o1", "order": ["x2", "x1"]},
         reorder_operation_examples,
         {"operationId": "o1", "order": None}, "order", LIST),
    # -- state schema (§4.6) -----------------------------------------------------------
    Case("SET_STATE_SCHEMA", {"scope": "global", "schema": "type TodoState { items: [String!]! }"},
         set_state_schema,
         {"schema": "x"}, "scope", REQUIRED),
    Case("SET_INITIAL_STATE", {"scope": "local", "initialValue": '{"filter":"all"}'},
         set_initial_state,
         {"scope": "local", "initialValue": {"filter": "all"}}, "initialValue", STRING),
    # `insertBefore` is accepted and ignored: appended all the same.
    Case("ADD_STATE_EXAMPLE",
         {"scope": "local", "id": "s3", "example": '{"filter":"done"}', "insertBefore": "s1"},
         add_state_example,
         {"scope": "global", "example": "{}"}, "id", REQUIRED),
    Case("UPDATE_STATE_EXAMPLE", {"scope": "global", "id": "s2", "newExample": '{"items":[2]}'},
         update_state_example,
         {"scope": "global", "id": "s2", "example": "z"}, "newExample", REQUIRED),
    Case("DELETE_STATE_EXAMPLE", {"scope": "global", "id": "s1"}, delete_state_example,
         {"scope": 1, "id": "s1"}, "scope", STRING),
    Case("REORDER_STATE_EXAMPLES", {"scope": "global", "order": ["s2"]}, reorder_state_examples,
         {"scope": "global"}, "order", REQUIRED),
    # -- versioning (§4.7): the change log validates, then always refuses ---------------
    Case("ADD_CHANGE_LOG_ITEM", {"id": "c1", "content": "first release"}, unchanged,
         {"id": "c1"}, "content", REQUIRED, not_implemented("addChangeLogItemOperation")),
    Case("UPDATE_CHANGE_LOG_ITEM", {"id": "c1", "newContent": "x"}, unchanged,
         {"id": "c1", "content": "x"}, "newContent", REQUIRED,
         not_implemented("updateChangeLogItemOperation")),
    Case("DELETE_CHANGE_LOG_ITEM", {"id": "c1"}, unchanged,
         {"id": 1}, "id", STRING, not_implemented("deleteChangeLogItemOperation")),
    Case("REORDER_CHANGE_LOG_ITEMS", {"order": ["c1"]}, unchanged,
         {"order": [None]}, "order.0", STRING, not_implemented("reorderChangeLogItemsOperation")),
    # Its input must have no keys (it has no schema): the key is the field at fault.
    Case("RELEASE_NEW_VERSION", {}, release_new_version,
         {"version": 2}, "version", "Expected empty input for action RELEASE_NEW_VERSION"),
]  # fmt: skip


def new_document() -> Document:
    """CREATE_DOCUMENT, UPGRADE_DOCUMENT, then SETUP: every action id and time fixed."""
    document: Document | None = None
    for genesis in create_document_actions(MODEL, DOC_ID, timestamp=STAMP):
        document = apply_action(document, genesis, MODEL).document
    assert document is not None
    for number, (action_type, payload) in enumerate(SETUP):
        action = new_action(action_type, payload, action_id=f"setup-{number}", timestamp=STAMP)
        assert apply_action(document, action, MODEL).operation.error is None
    return document


def apply(document: Document, action_type: str, payload: Any) -> AppliedAction:
    action = new_action(action_type, payload, action_id="under-test", timestamp=LATER)
    return apply_action(document, action, MODEL)


def test_the_hash_recipe_here_reproduces_a_hash_powerhouse_recorded() -> None:
    default = {
        "id": "",
        "name": "",
        "extension": "",
        "description": "",
        "author": {"name": "", "website": ""},
        "specifications": [
            {
                "version": 1,
                "changeLog": [],
                "state": {
                    "global": {"schema": "", "initialValue": "", "examples": []},
                    "local": {"schema": "", "initialValue": "", "examples": []},
                },
                "modules": [],
            }
        ],
    }
    assert powerhouse_hash(default) == DEFAULT_GLOBAL_HASH


def test_the_cases_cover_every_action_type_once() -> None:
    types = [case.action_type for case in CASES]
    assert len(types) == len(set(types)) == 43
    assert set(types) == set(MODEL.action_types)


def test_the_prepared_document() -> None:
    document = new_document()
    assert document.state["global"] == PREPARED
    assert document.state["local"] == {}
    assert document.header.revision == {"document": 2, "global": INDEX, "local": 0}
    global_ops = document.operations["global"]
    assert [(op.index, op.skip, op.error) for op in global_ops] == [
        (n, 0, None) for n in range(INDEX)
    ]
    assert global_ops[-1].hash == powerhouse_hash(PREPARED)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.action_type)
def test_a_valid_action_through_the_base_reducer(case: Case) -> None:
    document = new_document()
    expected = copy.deepcopy(PREPARED)
    case.effect(expected)

    result = apply(document, case.action_type, case.valid)

    assert document.state["global"] == expected
    assert document.state["local"] == {}
    op = result.operation
    assert (op.index, op.skip, op.error) == (INDEX, 0, case.error)
    assert op.hash == powerhouse_hash(expected)
    assert op.id == operation_id("under-test")
    assert (op.action.type, op.action.scope, op.timestamp_utc_ms) == (
        case.action_type,
        "global",
        LATER,
    )
    assert document.operations["global"][-1] is op
    assert len(document.operations["global"]) == INDEX + 1
    assert document.header.revision == {"document": 2, "global": INDEX + 1, "local": 0}
    assert document.header.last_modified_at_utc_iso == LATER
    if case.error is None:
        assert expected != PREPARED  # a valid action of these changes the state
    else:
        assert op.hash == document.operations["global"][-2].hash  # an errored op keeps it


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.action_type)
def test_a_bad_input_is_refused_naming_the_field(case: Case) -> None:
    document = new_document()
    before = document.model_dump()

    with pytest.raises(InvalidActionInputError) as refused:
        apply(document, case.action_type, case.bad)

    assert (refused.value.action_type, refused.value.field) == (case.action_type, case.bad_field)
    if case.action_type == "RELEASE_NEW_VERSION":  # Powerhouse's own text, as recorded
        assert str(refused.value) == case.bad_problem
    else:
        assert str(refused.value) == (
            f"invalid input for {case.action_type}: field '{case.bad_field}': {case.bad_problem}"
        )
    assert document.model_dump() == before
    assert len(document.operations["global"]) == INDEX
    assert document.header.revision == {"document": 2, "global": INDEX, "local": 0}
    assert document.state["global"] == PREPARED


@pytest.mark.parametrize(
    ("payload", "refusal", "field", "message"),
    [
        ({"version": 2, "notes": "x"}, EmptyInputExpectedError, "version",
         "Expected empty input for action RELEASE_NEW_VERSION"),
        (["v2"], EmptyInputExpectedError, "input",
         "Expected empty input for action RELEASE_NEW_VERSION"),
        ("v2", EmptyInputExpectedError, "input",
         "Expected empty input for action RELEASE_NEW_VERSION"),
        (None, NullInputError, "input", "Cannot convert undefined or null to object"),
    ],
)  # fmt: skip
def test_release_new_version_with_keys_is_refused_fresh_and_recorded_on_replay(
    payload: Any, refusal: type[InvalidActionInputError], field: str, message: str
) -> None:
    """Fresh: bad input, refused like the others. Replayed (an export's operation): recorded
    with Powerhouse's text and the unchanged state's hash, as Powerhouse recorded it."""
    document = new_document()
    before = document.model_dump()
    fresh = new_action("RELEASE_NEW_VERSION", action_id="fresh", timestamp=LATER)
    with pytest.raises(refusal) as refused:
        apply_action(document, fresh.model_copy(update={"input": payload}), MODEL)
    assert (str(refused.value), refused.value.field) == (message, field)
    assert document.model_dump() == before

    action = new_action("RELEASE_NEW_VERSION", action_id="stored", timestamp=LATER)
    action = action.model_copy(update={"input": payload})
    stored = Operation(
        id=operation_id("stored"), index=INDEX, skip=0, timestamp_utc_ms=LATER, hash="",
        action=action,
    )  # fmt: skip
    replayed = replay_operation(document, stored, MODEL).operation
    assert (replayed.index, replayed.error) == (INDEX, message)
    assert replayed.hash == powerhouse_hash(PREPARED)
    assert document.state["global"] == PREPARED
    assert document.header.revision == {"document": 2, "global": INDEX + 1, "local": 0}
