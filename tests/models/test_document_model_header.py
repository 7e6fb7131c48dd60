"""Header group: SET_MODEL_* and SET_AUTHOR_* write top-level keys of `global`, as given."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from reactor_es.document.hashing import hash_scope_state
from reactor_es.document.types import JsonDict
from reactor_es.models.document_model import DocumentModelModel
from reactor_es.models.document_model.state import default_global_state

if TYPE_CHECKING:
    from tests.models.conftest import DocumentModelDriver

#: hash(default global state), as recorded by Powerhouse on a no-op first operation
#: (rwa-portfolio.phdm.zip op 0: SET_MODEL_ID with id "").
DEFAULT_GLOBAL_HASH = "Fd20qtObIUDJwJHse6VqFK8ObWY="


def test_model_identity(document_model: DocumentModelModel) -> None:
    assert (document_model.document_type, document_model.version) == (
        "powerhouse/document-model",
        1,
    )
    assert (document_model.name, document_model.extension) == ("DocumentModel", "phdm")
    assert document_model.validates_before_mutating is True


def test_initial_state_is_the_default_model_and_an_empty_local(dm: DocumentModelDriver) -> None:
    state = dm.new_state()
    assert state == {
        "global": {
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
        },
        "local": {},
    }
    assert hash_scope_state(state["global"]) == DEFAULT_GLOBAL_HASH
    # `{}` is truthy in JavaScript: local hashes as SHA-1("{}"), not as SHA-1('""').
    assert hash_scope_state(state["local"]) == "vyGp6PvFo4RvsFtPoIWeCReyIC8="


def test_initial_states_share_nothing(dm: DocumentModelDriver) -> None:
    first, second = dm.new_state(), dm.new_state()
    dm.apply(first, "ADD_MODULE", {"id": "m1", "name": "todos"})
    assert dm.modules(second) == []


def test_powerhouse_hashes_of_set_model_id_then_name(dm: DocumentModelDriver) -> None:
    state = dm.new_state()
    dm.apply(state, "SET_MODEL_ID", {"id": ""}, era="E3")
    assert hash_scope_state(state["global"]) == DEFAULT_GLOBAL_HASH
    dm.apply(state, "SET_MODEL_NAME", {"name": "RwaPortfolio"}, era="E3")
    assert hash_scope_state(state["global"]) == "boL6JFtLaj0kFavk4FkjYbMpZfs="


@pytest.mark.parametrize(
    ("action_type", "field", "key"),
    [
        ("SET_MODEL_NAME", "name", "name"),
        ("SET_MODEL_ID", "id", "id"),
        ("SET_MODEL_EXTENSION", "extension", "extension"),
        ("SET_MODEL_DESCRIPTION", "description", "description"),
    ],
)
def test_model_setters_store_the_raw_value(
    dm: DocumentModelDriver, action_type: str, field: str, key: str
) -> None:
    state = dm.new_state()
    dm.apply(state, action_type, {field: "Größe ✓"})
    expected = default_global_state()
    expected[key] = "Größe ✓"
    assert state["global"] == expected
    # Raw, not `|| ""`-defaulted: an empty string is stored as the empty string.
    dm.apply(state, action_type, {field: ""})
    assert state["global"] == default_global_state()


def test_author_setters_edit_the_existing_author(dm: DocumentModelDriver) -> None:
    state = dm.new_state()
    dm.apply(state, "SET_AUTHOR_NAME", {"authorName": "Powerhouse"})
    dm.apply(state, "SET_AUTHOR_WEBSITE", {"authorWebsite": "https://powerhouse.inc"})
    assert state["global"]["author"] == {"name": "Powerhouse", "website": "https://powerhouse.inc"}


@pytest.mark.parametrize("missing", [None, "absent"])
def test_author_name_bootstraps_a_missing_author_with_null_website(
    dm: DocumentModelDriver, missing: str | None
) -> None:
    state = dm.new_state()
    if missing == "absent":
        del state["global"]["author"]
    else:
        state["global"]["author"] = None
    dm.apply(state, "SET_AUTHOR_NAME", {"authorName": "Ana"})
    assert state["global"]["author"] == {"name": "Ana", "website": None}


def test_author_website_bootstraps_a_missing_author(dm: DocumentModelDriver) -> None:
    state = dm.new_state()
    state["global"]["author"] = None
    dm.apply(state, "SET_AUTHOR_WEBSITE", {"authorWebsite": "https://x.dev"})
    assert state["global"]["author"] == {"name": "", "website": "https://x.dev"}


@pytest.mark.parametrize("era", ["E0", "E3", "E5", "E7"])
def test_header_actions_are_the_same_in_every_era(dm: DocumentModelDriver, era: str) -> None:
    state: JsonDict = dm.new_state()
    dm.apply(state, "SET_MODEL_NAME", {"name": "Todo"}, era=era)
    dm.apply(state, "SET_MODEL_ID", {"id": "powerhouse/todo"}, era=era)
    dm.apply(state, "SET_MODEL_EXTENSION", {"extension": "phtd"}, era=era)
    assert (state["global"]["name"], state["global"]["id"], state["global"]["extension"]) == (
        "Todo",
        "powerhouse/todo",
        "phtd",
    )


def test_handlers_edit_global_whatever_the_action_scope(dm: DocumentModelDriver) -> None:
    """A hand-made action with scope "local" still edits `global` (Powerhouse does too)."""
    state = dm.new_state()
    dm.apply(state, "SET_MODEL_NAME", {"name": "Todo"}, scope="local")
    assert state["global"]["name"] == "Todo"
    assert state["local"] == {}


def test_unknown_action_types_change_nothing(dm: DocumentModelDriver) -> None:
    state = dm.new_state()
    for action_type in ("NOOP", "CREATE_DOCUMENT", "UPGRADE_DOCUMENT", "SET_NAME", "ADD_TODO"):
        dm.apply(state, action_type, {"anything": 1})
    assert state == dm.new_state()
