"""Fixtures for the built-in document models: apply actions under a chosen era, check refusals."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest

from reactor_es.document.model import ReduceContext
from reactor_es.document.types import Action, JsonDict
from reactor_es.models.document_model import ERAS, DocumentModelModel
from reactor_es.models.document_model.state import latest_spec

#: A timestamp inside each era, for actions that carry one.
ERA_TIMESTAMPS = {
    "E0": "2023-07-20T10:00:00.000Z",
    "E1": "2023-09-01T10:00:00.000Z",
    "E2": "2023-12-01T10:00:00.000Z",
    "E3": "2024-06-01T10:00:00.000Z",
    "E3z": "2025-09-01T10:00:00.000Z",
    "E4": "2025-12-25T10:00:00.000Z",
    "E5": "2026-02-01T10:00:00.000Z",
    "E5a": "2026-05-13T10:00:00.000Z",
    "E6": "2026-05-20T10:00:00.000Z",
    "E6a": "2026-05-26T10:00:00.000Z",
    "E7": "2026-06-01T10:00:00.000Z",
}


@dataclass
class DocumentModelDriver:
    """Applies actions to a state with `DocumentModelModel`, as replay or a fresh action would."""

    model: DocumentModelModel

    def new_state(self) -> JsonDict:
        return self.model.initial_state()

    def action(
        self, action_type: str, input: Any, era: str = "E7", scope: str = "global"
    ) -> Action:
        return Action(
            id=f"action-{action_type.lower()}",
            type=action_type,
            timestamp_utc_ms=ERA_TIMESTAMPS[era],
            input=input,
            scope=scope,
        )

    def apply(
        self,
        state: JsonDict,
        action_type: str,
        input: Any,
        *,
        era: str = "E7",
        scope: str = "global",
    ) -> JsonDict:
        """Reduce one action under `era`'s rules; returns `state` (changed in place)."""
        action = self.action(action_type, input, era, scope)
        self.model.reduce(state, action, ReduceContext(action, rules=ERAS[era], replaying=True))
        return state

    def refuse(
        self,
        state: JsonDict,
        action_type: str,
        input: Any,
        error: type[Exception],
        message: str,
        *,
        era: str = "E7",
    ) -> Exception:
        """Assert the action is refused with exactly `message` and changes nothing."""
        before = copy.deepcopy(state)
        with pytest.raises(error) as caught:
            self.apply(state, action_type, input, era=era)
        assert str(caught.value) == message
        assert state == before
        return caught.value

    def spec(self, state: JsonDict) -> JsonDict:
        return latest_spec(state["global"])

    def modules(self, state: JsonDict) -> list[JsonDict]:
        modules: list[JsonDict] = self.spec(state)["modules"]
        return modules

    @staticmethod
    def operation(
        op_id: str,
        name: str,
        *,
        description: str = "",
        schema: str = "",
        template: str = "",
        reducer: str = "",
        errors: list[JsonDict] | None = None,
        examples: list[JsonDict] | None = None,
        scope: str | None = "global",
    ) -> JsonDict:
        """An OperationSpec as the reducer stores it (for expected values)."""
        spec: JsonDict = {
            "id": op_id,
            "name": name,
            "description": description,
            "schema": schema,
            "template": template,
            "reducer": reducer,
            "errors": errors or [],
            "examples": examples or [],
        }
        if scope is not None:
            spec["scope"] = scope
        return spec

    @staticmethod
    def module(module_id: str, name: str, *ops: JsonDict, description: str = "") -> JsonDict:
        """A module as the reducer stores it (for expected values)."""
        return {"id": module_id, "name": name, "description": description, "operations": list(ops)}


@pytest.fixture(scope="session")
def document_model() -> DocumentModelModel:
    return DocumentModelModel()


@pytest.fixture
def dm(document_model: DocumentModelModel) -> DocumentModelDriver:
    return DocumentModelDriver(document_model)


@pytest.fixture
def todo_state(dm: DocumentModelDriver) -> JsonDict:
    """Module `m1` "todos" with ADD_TODO (o1) and REMOVE_TODO (o2); module `m2` "misc" empty."""
    state = dm.new_state()
    dm.apply(state, "ADD_MODULE", {"id": "m1", "name": "todos"})
    dm.apply(state, "ADD_MODULE", {"id": "m2", "name": "misc"})
    dm.apply(state, "ADD_OPERATION", {"id": "o1", "moduleId": "m1", "name": "ADD_TODO"})
    dm.apply(state, "ADD_OPERATION", {"id": "o2", "moduleId": "m1", "name": "REMOVE_TODO"})
    return state
