"""How a document model is written: state, actions, reducer, dated rule versions.

A model is a class. It declares its type, its initial state per scope and one handler per
action type; each handler names a pydantic input model, so bad input is refused with an
error that names the field before anything changes. The base reducer (`reducer.py`) wraps
the model: it owns indexes, hashes, errors and history; the model only edits state.

Models whose rules changed over time (Powerhouse's own did) declare `rule_versions`: each
operation replayed from history is reduced under the version in force at its timestamp,
while new actions always get the latest rules.
"""

from __future__ import annotations

import bisect
import functools
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from reactor_es.document.exceptions import (
    InvalidActionInputError,
    UnknownActionTypeError,
    UnknownScopeError,
    WrongActionScopeError,
)
from reactor_es.document.state import BASE_SCOPES
from reactor_es.document.types import Action, JsonDict

__all__ = [
    "NOT_VALIDATED",
    "ActionInput",
    "DocumentModel",
    "ReduceContext",
    "RuleVersion",
    "Signal",
    "StrictInput",
    "action",
    "parse_instant",
]


class ActionInput(BaseModel):
    """Base for action inputs: strict types (a string field refuses numbers and null).

    Unknown fields are kept, as Powerhouse's zod schemas let them through (some of its
    reducers even store them): its models must replay their recorded inputs unchanged.
    """

    model_config = ConfigDict(strict=True, extra="allow", populate_by_name=True)


class StrictInput(ActionInput):
    """Base for the inputs of new models: strict types, and an unknown field is refused
    (a misspelt optional field would otherwise be silently ignored)."""

    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True)


InputT = TypeVar("InputT", bound=BaseModel)


@dataclass(frozen=True)
class RuleVersion:
    """A dated version of a model's rules; `flags` say what differs from the others."""

    name: str
    since: str  # ISO-8601 instant from which operations follow these rules
    flags: frozenset[str] = frozenset()

    def has(self, flag: str) -> bool:
        return flag in self.flags


LATEST = RuleVersion(name="latest", since="1970-01-01T00:00:00.000Z")


@dataclass(frozen=True)
class Signal:
    """A side effect a reducer asks for (e.g. create a child document), returned as data."""

    type: str
    input: JsonDict


#: Marks `ReduceContext.validated_input` as "not validated yet".
NOT_VALIDATED: Any = object()


@dataclass
class ReduceContext:
    """What a handler may know besides state and input."""

    action: Action
    rules: RuleVersion = LATEST
    replaying: bool = False
    signals: list[Signal] = field(default_factory=list)
    #: The input as the base reducer already validated it, so `reduce` need not do it twice.
    validated_input: Any = NOT_VALIDATED

    def emit(self, signal_type: str, **payload: Any) -> None:
        self.signals.append(Signal(signal_type, dict(payload)))


Handler = Callable[[Any, Any, Any, ReduceContext], None]


@dataclass(frozen=True)
class _ActionSpec:
    action_type: str
    input_model: type[BaseModel] | None
    method_name: str
    requires: str | None = None
    scope: str | None = None


def action(
    action_type: str,
    input_model: type[InputT] | None = None,
    *,
    requires: str | None = None,
    scope: str | None = None,
) -> Callable[[Any], Any]:
    """Register a model method as the handler of `action_type`.

    The method receives `(self, scope_state, input, ctx)`: the state of the action's scope
    (to mutate in place), the validated input (an instance of `input_model`, or the raw
    JSON when there is none) and the `ReduceContext`. With `requires`, the action exists
    only under rule versions that have that flag; under older rules it is an unknown type.
    With `scope`, the action acts on that scope only: elsewhere it is refused by the client
    and, if published anyway, recorded as an errored operation naming the scope.
    """

    def decorate(method: Any) -> Any:
        method.__reactor_action__ = _ActionSpec(
            action_type, input_model, method.__name__, requires, scope
        )
        return method

    return decorate


def parse_instant(text: str) -> datetime:
    """Parse an ISO-8601 timestamp as Powerhouse writes it (`...Z`, ms or not)."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    return datetime.fromisoformat(value)


class DocumentModel:
    """Base class of every document model. Subclass, set the class attributes, add handlers."""

    document_type: ClassVar[str]
    version: ClassVar[int] = 1
    name: ClassVar[str] = ""
    extension: ClassVar[str] = ""
    #: Dated rule versions, oldest first; empty means one timeless set of rules.
    rule_versions: ClassVar[tuple[RuleVersion, ...]] = ()
    #: True when every handler raises before its first change: a refused action then leaves
    #: the state untouched, and the base reducer may skip the rollback snapshot.
    validates_before_mutating: ClassVar[bool] = False
    #: True when handlers may `ctx.emit` signals (a drive's child documents). Whoever carries
    #: them out may still refuse the action afterwards (a child of an unregistered type), when
    #: the reducer has already advanced the document: the executor then keeps a copy to put
    #: back, which models without signals need not pay for.
    emits_signals: ClassVar[bool] = False

    _actions: ClassVar[dict[str, _ActionSpec]]
    _rule_starts_cache: ClassVar[list[datetime]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        specs: dict[str, _ActionSpec] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                spec = getattr(attr, "__reactor_action__", None)
                if isinstance(spec, _ActionSpec):
                    specs[spec.action_type] = spec
        cls._actions = specs

    # -- state ---------------------------------------------------------------------------

    def initial_state(self) -> JsonDict:
        """Model scopes of a new document, e.g. `{"global": {...}, "local": {...}}`."""
        return {"global": {}, "local": {}}

    def import_state(self, state: JsonDict) -> JsonDict:
        """A state read from an export, in the layout the handlers and hashes expect.

        Override when old exports stored the state in a layout the model has since left
        (Powerhouse's own model was unscoped before Dec 2023); the default keeps it as is.
        """
        return state

    # -- actions -------------------------------------------------------------------------

    @property
    def action_types(self) -> tuple[str, ...]:
        return tuple(self._actions)

    def handles(self, action_type: str) -> bool:
        return action_type in self._actions

    @functools.cached_property
    def scopes(self) -> list[str]:
        """Every scope a document of this model has (the initial state is built once)."""
        return sorted({*BASE_SCOPES, "header", *self.initial_state()})

    def check_scope(self, action: Action) -> None:
        """Refuse (for clients) a scope this model's documents do not have: an action there
        would add the scope to the document for good (any action, NOOP included)."""
        if action.scope not in self.scopes:
            raise UnknownScopeError(action.type, self.document_type, action.scope, self.scopes)

    def check_action(self, action: Action) -> None:
        """Refuse what the model cannot mean: an unknown type or a scope its handler avoids.

        For clients, before publishing: the reducer itself stays lenient, because
        Powerhouse records unknown types as no-ops and stored history must replay as is.
        """
        spec = self._actions.get(action.type)
        if spec is None:
            raise UnknownActionTypeError(action.type, self.document_type, self.action_types)
        if spec.scope is not None and action.scope != spec.scope:
            raise WrongActionScopeError(action.type, self.document_type, action.scope, spec.scope)

    def rules_at(self, timestamp: str | None) -> RuleVersion:
        """The rules in force at `timestamp`; the latest ones when it is None.

        Before the first version's `since` the first version applies (it is the oldest
        known behaviour). Called once per replayed operation, so the starts are parsed once.
        """
        if not self.rule_versions:
            return LATEST
        if timestamp is None:
            return self.rule_versions[-1]
        starts = self._rule_starts()
        position = bisect.bisect_right(starts, parse_instant(timestamp)) - 1
        return self.rule_versions[max(position, 0)]

    @classmethod
    def _rule_starts(cls) -> list[datetime]:
        cached: list[datetime] | None = cls.__dict__.get("_rule_starts_cache")
        if cached is None:
            cached = [parse_instant(version.since) for version in cls.rule_versions]
            cls._rule_starts_cache = cached
        return cached

    def effective_rules(self, rules: RuleVersion) -> RuleVersion:
        """`rules`, except that the timeless `LATEST` means this model's newest version."""
        if rules is LATEST and self.rule_versions:
            return self.rule_versions[-1]
        return rules

    def input_model(self, action_type: str, rules: RuleVersion) -> type[BaseModel] | None:
        """The input schema of an action under `rules` (override when schemas changed).

        None when the action has no schema, or does not exist yet under `rules`.
        """
        spec = self._actions.get(action_type)
        if spec is None or (spec.requires is not None and not rules.has(spec.requires)):
            return None
        return spec.input_model

    def validate_input(self, action: Action, rules: RuleVersion) -> Any:
        """Validated input, or `InvalidActionInputError` naming the first bad field."""
        schema = self.input_model(action.type, self.effective_rules(rules))
        if schema is None:
            return action.input
        if not isinstance(action.input, Mapping):
            raise InvalidActionInputError(action.type, "input", "must be an object")
        try:
            return schema.model_validate(action.input)
        except ValidationError as exc:
            first = exc.errors()[0]
            field_name = ".".join(str(part) for part in first["loc"]) or "input"
            raise InvalidActionInputError(action.type, field_name, first["msg"]) from None

    def scope_state(self, state: JsonDict, action: Action) -> Any:
        """The part of the document state a handler edits (by default the action's scope)."""
        return state[action.scope]

    def reduce(self, state: JsonDict, action: Action, ctx: ReduceContext) -> None:
        """Apply `action` to `state` (all scopes) in place; raise to record an error.

        Unknown action types leave the state unchanged, as Powerhouse's generated reducers do.
        """
        spec = self._actions.get(action.type)
        if spec is None:
            return
        ctx.rules = self.effective_rules(ctx.rules)
        if spec.requires is not None and not ctx.rules.has(spec.requires):
            return  # the action did not exist yet under these rules
        if spec.scope is not None and action.scope != spec.scope:
            raise WrongActionScopeError(action.type, self.document_type, action.scope, spec.scope)
        validated = ctx.validated_input
        if validated is NOT_VALIDATED:
            validated = self.validate_input(action, ctx.rules)
        handler = getattr(self, spec.method_name)
        handler(self.scope_state(state, action), validated, ctx)

    def copy_state(self, state: JsonDict) -> JsonDict:
        """Deep copy used to roll back a failed action (override for faster snapshots).

        States are plain JSON values, for which a pickle round trip is an exact copy and
        about five times faster than `copy.deepcopy`.
        """
        copied: JsonDict = pickle.loads(pickle.dumps(state, pickle.HIGHEST_PROTOCOL))  # noqa: S301
        return copied
