"""SET_MODEL_* and SET_AUTHOR_*: top-level keys of `global`, stored exactly as given."""

from __future__ import annotations

from reactor_es.document.hashing import is_js_falsy
from reactor_es.document.model import ReduceContext, action
from reactor_es.document.types import JsonDict
from reactor_es.models.document_model.inputs import (
    SetAuthorNameInput,
    SetAuthorWebsiteInput,
    SetModelDescriptionInput,
    SetModelExtensionInput,
    SetModelIdInput,
    SetModelNameInput,
)

__all__ = ["HeaderHandlers"]


def _author(state: JsonDict) -> JsonDict:
    """The author object, created as `{name: "", website: null}` when missing (note null)."""
    if is_js_falsy(state.get("author")):
        state["author"] = {"name": "", "website": None}
    author: JsonDict = state["author"]
    return author


class HeaderHandlers:
    """No lookup and no refusal besides input validation; identical in every era."""

    @action("SET_MODEL_NAME", SetModelNameInput)
    def set_model_name(self, state: JsonDict, inp: SetModelNameInput, ctx: ReduceContext) -> None:
        state["name"] = inp.name

    @action("SET_MODEL_ID", SetModelIdInput)
    def set_model_id(self, state: JsonDict, inp: SetModelIdInput, ctx: ReduceContext) -> None:
        state["id"] = inp.id

    @action("SET_MODEL_EXTENSION", SetModelExtensionInput)
    def set_model_extension(
        self, state: JsonDict, inp: SetModelExtensionInput, ctx: ReduceContext
    ) -> None:
        state["extension"] = inp.extension

    @action("SET_MODEL_DESCRIPTION", SetModelDescriptionInput)
    def set_model_description(
        self, state: JsonDict, inp: SetModelDescriptionInput, ctx: ReduceContext
    ) -> None:
        state["description"] = inp.description

    @action("SET_AUTHOR_NAME", SetAuthorNameInput)
    def set_author_name(self, state: JsonDict, inp: SetAuthorNameInput, ctx: ReduceContext) -> None:
        _author(state)["name"] = inp.author_name

    @action("SET_AUTHOR_WEBSITE", SetAuthorWebsiteInput)
    def set_author_website(
        self, state: JsonDict, inp: SetAuthorWebsiteInput, ctx: ReduceContext
    ) -> None:
        _author(state)["website"] = inp.author_website
