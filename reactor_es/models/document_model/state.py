"""Default state of a `powerhouse/document-model` document and access to its latest spec.

The state is plain JSON (it is what gets hashed). `global` holds the whole model
definition; `local` stays `{}`. Specifications are history: every edit goes to the LAST one.
"""

from __future__ import annotations

from typing import Any

from reactor_es.document.types import JsonDict

__all__ = [
    "default_global_state",
    "default_specification",
    "default_state_spec",
    "is_unscoped_state",
    "latest_spec",
]


def default_state_spec() -> JsonDict:
    """One scope's state definition: GraphQL schema, initial value (a JSON string), examples."""
    return {"schema": "", "initialValue": "", "examples": []}


def default_specification() -> JsonDict:
    return {
        "version": 1,
        "changeLog": [],
        "state": {"global": default_state_spec(), "local": default_state_spec()},
        "modules": [],
    }


def default_global_state() -> JsonDict:
    """`DocumentModelGlobalState` of a new document (Powerhouse `constants.ts`)."""
    return {
        "id": "",
        "name": "",
        "extension": "",
        "description": "",
        "author": {"name": "", "website": ""},
        "specifications": [default_specification()],
    }


def latest_spec(global_state: JsonDict) -> JsonDict:
    """The last specification (not the highest `version`): the only one actions edit."""
    spec: JsonDict = global_state["specifications"][-1]
    return spec


def is_unscoped_state(state: Any) -> bool:
    """True for a pre-Dec-2023 state: the model object itself, with no `global` level."""
    return isinstance(state, dict) and "global" not in state and "specifications" in state
