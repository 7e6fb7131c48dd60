"""The counter Powerhouse's own history tests run against, as a model of ours.

INCREMENT and DECREMENT change `global.count`, ERROR always raises, SET_LOCAL_NAME edits
the `local` scope. Helpers build documents and actions with fixed ids and timestamps, so
every operation id and hash in a test is reproducible.
"""

from __future__ import annotations

from typing import Any, ClassVar

from reactor_es.document.actions import create_document_actions, new_action
from reactor_es.document.model import ActionInput, DocumentModel, ReduceContext, action
from reactor_es.document.reducer import AppliedAction, ReducerOptions, apply_action
from reactor_es.document.types import Action, Document, JsonDict, Operation

__all__ = [
    "CounterModel",
    "LocalName",
    "counter_action",
    "counter_document",
    "layout",
    "run",
]

T0 = "2026-02-01T09:00:00.000Z"


class LocalName(ActionInput):
    name: str


class CounterModel(DocumentModel):
    document_type: ClassVar[str] = "test/counter"

    def initial_state(self) -> JsonDict:
        return {"global": {"count": 0}, "local": {"name": ""}}

    @action("INCREMENT")
    def increment(self, state: JsonDict, payload: Any, ctx: ReduceContext) -> None:
        state["count"] += 1

    @action("DECREMENT")
    def decrement(self, state: JsonDict, payload: Any, ctx: ReduceContext) -> None:
        state["count"] -= 1

    @action("ERROR")
    def error(self, state: JsonDict, payload: Any, ctx: ReduceContext) -> None:
        state["count"] += 100  # changed before it fails: the reducer must roll it back
        raise ValueError("Error action")

    @action("SET_LOCAL_NAME", LocalName)
    def set_local_name(self, state: JsonDict, payload: LocalName, ctx: ReduceContext) -> None:
        state["name"] = payload.name


class _Clock:
    """Minutes after T0, one per action, so timestamps order the actions."""

    def __init__(self) -> None:
        self.tick = 0

    def next(self) -> str:
        self.tick += 1
        hours, minutes = divmod(self.tick, 60)
        return f"2026-02-01T{9 + hours:02d}:{minutes:02d}:00.000Z"


_clock = _Clock()


def counter_action(action_type: str, payload: Any = None, scope: str = "global") -> Action:
    """An action with an id and a timestamp that follow the previous ones."""
    stamp = _clock.next()
    return new_action(
        action_type, payload, scope, action_id=f"a-{_clock.tick:04d}", timestamp=stamp
    )


def counter_document(protocol: int, document_id: str = "counter-1") -> Document:
    """A counter document (CREATE_DOCUMENT + UPGRADE_DOCUMENT) under base-reducer `protocol`."""
    model = CounterModel()
    create, upgrade = create_document_actions(model, document_id, timestamp=T0)
    create.input["protocolVersions"] = {"base-reducer": protocol}
    document = apply_action(None, create.model_copy(update={"id": "a-create"}), model).document
    apply_action(document, upgrade.model_copy(update={"id": "a-upgrade"}), model)
    return document


def run(
    document: Document,
    *steps: str,
    skip: int = 0,
    scope: str = "global",
    options: ReducerOptions | None = None,
) -> AppliedAction:
    """Apply each step (`"INCREMENT"`, `"UNDO"`, `"REDO"`, ...); `skip` goes with the last."""
    model = CounterModel()
    result: AppliedAction | None = None
    for position, step in enumerate(steps):
        payload: Any = {"count": 1} if step in ("UNDO", "REDO") else {}
        last = position == len(steps) - 1
        opts = options
        if last and skip:
            opts = ReducerOptions(skip=skip)
        result = apply_action(document, counter_action(step, payload, scope), model, options=opts)
    assert result is not None
    return result


def layout(operations: list[Operation]) -> list[tuple[str, int, int]]:
    """(type, index, skip) of each operation: what Powerhouse's tests match on."""
    return [(op.action.type, op.index, op.skip) for op in operations]
