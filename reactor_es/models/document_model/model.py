"""`DocumentModelModel`: the model whose documents define other document models."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel

from reactor_es.document.model import DocumentModel, RuleVersion
from reactor_es.document.types import Action, JsonDict
from reactor_es.models.document_model.handlers import (
    HeaderHandlers,
    ModuleHandlers,
    OperationErrorHandlers,
    OperationExampleHandlers,
    OperationHandlers,
    StateSchemaHandlers,
    VersioningHandlers,
)
from reactor_es.models.document_model.handlers.versioning import check_release_input
from reactor_es.models.document_model.inputs import era_input_model
from reactor_es.models.document_model.rules import RULE_VERSIONS
from reactor_es.models.document_model.state import default_global_state, is_unscoped_state

__all__ = ["DocumentModelModel"]


class DocumentModelModel(
    HeaderHandlers,
    ModuleHandlers,
    OperationHandlers,
    OperationErrorHandlers,
    OperationExampleHandlers,
    StateSchemaHandlers,
    VersioningHandlers,
    DocumentModel,
):
    """`powerhouse/document-model`: 43 action types over `state.global`, in eras E0..E7.

    Handlers always edit `state["global"]`, whatever the action's scope says (Powerhouse
    does the same, then hashes the action's scope). Documents from before Dec 2023 had no
    scopes; `import_state` puts such a state under `global`, whose hash is then the hash
    of the whole old state, as Powerhouse computed it then.
    """

    document_type: ClassVar[str] = "powerhouse/document-model"
    version: ClassVar[int] = 1
    name: ClassVar[str] = "DocumentModel"
    extension: ClassVar[str] = "phdm"
    rule_versions: ClassVar[tuple[RuleVersion, ...]] = RULE_VERSIONS
    validates_before_mutating: ClassVar[bool] = True

    def initial_state(self) -> JsonDict:
        return {"global": default_global_state(), "local": {}}

    def import_state(self, state: JsonDict) -> JsonDict:
        """An unscoped (E0-E2) state becomes `{"global": <it>, "local": {}}`; others as is."""
        if is_unscoped_state(state):
            return {"global": state, "local": {}}
        return state

    def scope_state(self, state: JsonDict, action: Action) -> Any:
        return state["global"]

    def validate_input(self, action: Action, rules: RuleVersion) -> Any:
        """As every model, plus RELEASE_NEW_VERSION's check that its input has no keys.

        It has no schema, but that check is its validation (Powerhouse runs it where it
        runs the others' zod schemas): a fresh action failing it is refused like any bad
        input, and a replayed one is recorded with Powerhouse's text.
        """
        if action.type == "RELEASE_NEW_VERSION":
            check_release_input(action.input)
        return super().validate_input(action, rules)

    def input_model(self, action_type: str, rules: RuleVersion) -> type[BaseModel] | None:
        today = super().input_model(action_type, rules)
        if today is None:
            return None
        return era_input_model(action_type, rules) or today
