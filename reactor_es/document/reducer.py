"""The base reducer: it wraps a model's reducer and turns an action into an operation.

The model only edits state. Everything else Powerhouse's base reducer does lives here:
checking the action, the per-scope index (§1.9), the operation id (§1.6), the base
actions (SET_NAME, NOOP, CREATE/UPGRADE/DELETE_DOCUMENT), recording a failing handler
as an errored operation (§1.12), the state hash (§1.7) and the header revision (§1.13).

Two entry points share one pipeline:

- `apply_action` takes a FRESH action: bad actions and bad input raise before anything
  changes; the operation gets the next index of its scope.
- `replay_operation` takes a STORED operation: its index, id and timestamp are kept, the
  model runs under the rules of the operation's era, the stored hash is reused, and a
  failing input validation is recorded as an error, as Powerhouse's reducer did.

The steps follow the numbering of powerhouse-semantics.md §1.8. History (§1.10-§1.12)
takes a separate path, so the common case pays one test for it: a fresh action with a
skip (`ReducerOptions.skip`) rewinds its scope first; UNDO becomes a NOOP (protocol 1:
growing skip, index reuse, clipboard; protocol 2: skip 1, chain rule); REDO re-applies
the last clipboard entry of its scope; PRUNE folds a range into a LOAD_STATE. On replay
a protocol-2 NOOP with a skip rebuilds its scope, and `replay_document` garbage collects
first. `history.py` holds the list algorithms; here they meet the replays they select.

Where we part from Powerhouse, on purpose:
- The NOOP an UNDO becomes, and the action a REDO re-applies, keep the UNDO's or REDO's
  id, timestamp and context (Powerhouse mints a new NOOP action, and sends REDO's
  without id or timestamp): operation ids stay deterministic and retries recognisable.
- Rebuilds replay the document scope and the action's scope only, and take that scope's
  state (Powerhouse replays every scope to the same result, as each scope's reducer
  edits its own scope). They keep the other operations as recorded, hashes included.
- After a protocol-2 UNDO `header.revision[scope]` is the NOOP's index + 1, as after any
  operation (Powerhouse's document reducer leaves the rebuilt scope's revision there;
  its reactor then writes index + 1, as we do).
- A model handler that raises without a skip leaves no trace in the state (Powerhouse
  keeps what it changed before raising); with a skip, both restore the state before.
- PRUNE re-indexes a scope, which no append-only history can follow: it is refused
  unless `ReducerOptions.allow_prune` is set. Its LOAD_STATE holds the pruned scope only,
  and LOAD_STATE replaces the model scopes its snapshot holds (never `auth` or
  `document`), so other scopes keep replaying onto their own states.
- UNDO, REDO, PRUNE and skips are refused on the `document` scope as well as on `auth`;
  a skip may not be negative or reach past the scope's first operation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from reactor_es.document.exceptions import (
    DocumentDeletedError,
    DocumentExistsError,
    DocumentNotFoundError,
    DocumentTypeMismatchError,
    HashMismatchError,
    HistoryActionNotAllowedError,
    InvalidActionError,
    InvalidActionInputError,
    MissingOperationsError,
    ProtocolVersionMissingError,
    UnsupportedActionError,
)
from reactor_es.document.hashing import hash_scope_state, hash_scope_state_and_json
from reactor_es.document.history import (
    NOOP,
    clipboard_after_undo,
    effective_history,
    garbage_collect,
    is_undo_marker,
    live_operations,
    plan_undo_v1,
    plan_undo_v2,
    skip_header_operations,
    sort_operations,
    take_redo,
)
from reactor_es.document.ids import derive_operation_id
from reactor_es.document.model import (
    NOT_VALIDATED,
    DocumentModel,
    ReduceContext,
    Signal,
    parse_instant,
)
from reactor_es.document.state import (
    BASE_SCOPES,
    DOCUMENT_SCOPE,
    backfill_base_state,
    is_deleted,
)
from reactor_es.document.types import (
    BASE_REDUCER,
    Action,
    Document,
    DocumentHeader,
    JsonDict,
    Operation,
)

__all__ = [
    "BASE_ACTIONS",
    "DEFAULT_PROTOCOL_VERSION",
    "AppliedAction",
    "BaseAction",
    "ReducerOptions",
    "apply_action",
    "check_base_input",
    "protocol_version",
    "replay_document",
    "replay_operation",
    "replay_order",
    "validate_action",
]

#: `protocolVersions["base-reducer"]` of new documents (2 = reactor, monotonic indexes).
DEFAULT_PROTOCOL_VERSION = 2


@dataclass(frozen=True)
class ReducerOptions:
    """How to reduce; the defaults are Powerhouse's."""

    #: Branch for operation ids; default the header's.
    branch: str | None = None
    #: Base-reducer protocol; default `header.protocolVersions["base-reducer"]`.
    protocol_version: int | None = None
    #: Replay: accept operations whose `index - skip` jumps past the next index.
    skip_index_validation: bool = False
    #: Replay: compute every hash (returned as `AppliedAction.computed_hash`) even when the
    #: stored operation has one; the operation keeps the stored hash either way.
    recompute_hashes: bool = False
    #: `replay_document`: compare each scope's last hash with its final state at the end and
    #: raise `HashMismatchError` (Powerhouse's `checkHashes: false`); cheap integrity check.
    check_final_hashes: bool = False
    #: Fresh action: before it, discard the effect of the operations its index - skip
    #: leaves behind (§1.10). A protocol-2 NOOP with a skip is an undo marker instead.
    skip: int = 0
    #: With a skip: drop the discarded operations from the history, as Powerhouse does by
    #: default; False keeps them (every reader garbage collects at use time).
    prune_on_skip: bool = True
    #: PRUNE re-indexes a scope, which append-only histories (the operations topic, the
    #: stores) cannot follow; only a caller that owns the whole document may allow it.
    allow_prune: bool = False


_DEFAULTS = ReducerOptions()


@dataclass(frozen=True)
class AppliedAction:
    """The outcome of one action, fresh or replayed: the operation now last in its scope."""

    document: Document
    #: The operation appended (for a protocol-1 UNDO that reuses an index, the NOOP that
    #: superseded the previous one; for PRUNE, the LOAD_STATE that replaced the range).
    operation: Operation
    signals: list[Signal] = field(default_factory=list)
    #: The hash we computed, when we computed one (for every fresh action but a protocol-2
    #: undo marker, whose hash Powerhouse leaves empty).
    computed_hash: str | None = None
    #: Replay: the stored operation as it was given (its recorded hash and error).
    recorded: Operation | None = None
    #: JSON text of the scope's state after the operation, when the hash was computed (the
    #: same serialisation, so callers that publish the state need not serialise it again).
    state_json: str | None = None


# -- base actions ------------------------------------------------------------------------


class _BaseInput(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", alias_generator=to_camel)


class SetNameInput(_BaseInput):
    name: str


class SetPreferredEditorInput(_BaseInput):
    preferred_editor: str | None


class NoopInput(_BaseInput):
    pass


class UndoInput(_BaseInput):
    # Powerhouse reads no count: one UNDO undoes one operation, whatever it says.
    count: int = Field(ge=1)


class RedoInput(_BaseInput):
    pass  # checked by `take_redo`, which also takes Powerhouse's legacy bare number


class PruneInput(_BaseInput):
    start: int | None = Field(default=None, ge=0)
    end: int | None = Field(default=None, ge=0)


class LoadStateSnapshot(_BaseInput):
    name: str
    data: JsonDict


class LoadStateInput(_BaseInput):
    state: LoadStateSnapshot
    operations: int


class CreateDocumentInput(_BaseInput):
    model: str
    version: Literal[0]
    document_id: str
    slug: str | None = None
    name: str | None = None
    branch: str | None = None
    meta: JsonDict | None = None
    protocol_versions: dict[str, int] | None = None
    signing: JsonDict | None = None


class UpgradeDocumentInput(_BaseInput):
    model: str
    from_version: int
    to_version: int
    document_id: str
    initial_state: JsonDict | None = None


class DeleteDocumentInput(_BaseInput):
    document_id: str
    propagate: Literal["none", "cascade"] | None = None


@dataclass
class _Step:
    """What a base-action handler may know."""

    model: DocumentModel
    replaying: bool
    protocol: int


#: handler(document, action, validated input, step): edits header/state in place.
BaseHandler = Callable[[Document, Action, Any, _Step], None]


@dataclass(frozen=True)
class BaseAction:
    """An action the base reducer handles itself instead of the model."""

    input_model: type[BaseModel]
    handler: BaseHandler
    #: The scope the action must be sent in, when it is fixed.
    scope: str | None = None
    #: Replay only: turns an older input shape into today's before validation.
    legacy_input: Callable[[Any], Any] | None = None


def _set_name(document: Document, action: Action, payload: Any, step: _Step) -> None:
    document.header.name = payload.name


def _set_preferred_editor(document: Document, action: Action, payload: Any, step: _Step) -> None:
    meta = dict(document.header.meta or {})
    if not payload.preferred_editor:  # null and "" both clear it
        meta.pop("preferredEditor", None)
    else:
        meta["preferredEditor"] = payload.preferred_editor
    document.header.meta = meta


def _noop(document: Document, action: Action, payload: Any, step: _Step) -> None:
    return None


def _create_existing(document: Document, action: Action, payload: Any, step: _Step) -> None:
    # Replay keeps the genesis operation but not its effect: the header is already built.
    if not step.replaying:
        raise DocumentExistsError(document.id)


def _check_target(document: Document, action: Action, payload: Any) -> None:
    if payload.document_id != document.id:
        raise InvalidActionInputError(
            action.type, "documentId", f"'{payload.document_id}' is not document {document.id}"
        )


def _upgrade(
    document: Document, action: Action, payload: UpgradeDocumentInput, step: _Step
) -> None:
    _check_target(document, action, payload)
    if payload.model != document.document_type:
        raise InvalidActionInputError(
            action.type, "model", f"'{payload.model}' is not the document's type"
        )
    if payload.to_version != step.model.version:
        raise InvalidActionInputError(
            action.type,
            "toVersion",
            f"{payload.to_version} is not the model's version {step.model.version}",
        )
    if payload.from_version == payload.to_version:
        return
    if payload.from_version != 0:
        # Upgrade reducers between model versions come with the registry's manifests.
        raise UnsupportedActionError(
            action.type, f"no upgrade path from version {payload.from_version}"
        )
    if not step.replaying and any(
        ops for scope, ops in document.operations.items() if scope != DOCUMENT_SCOPE
    ):
        raise InvalidActionInputError(
            action.type, "fromVersion", f"document {document.id} is already initialised"
        )
    initial = backfill_base_state(payload.initial_state or step.model.initial_state())
    document.state.clear()
    document.state.update(step.model.copy_state(initial))
    document.initial_state = step.model.copy_state(initial)
    for scope in document.state:
        if scope not in (DOCUMENT_SCOPE, "auth"):
            document.operations.setdefault(scope, [])
            document.header.revision.setdefault(scope, 0)


def _delete(document: Document, action: Action, payload: Any, step: _Step) -> None:
    _check_target(document, action, payload)
    scope_state = document.state.setdefault(DOCUMENT_SCOPE, {})
    scope_state["isDeleted"] = True
    scope_state["deletedAtUtcIso"] = action.timestamp_utc_ms


#: CREATE_DOCUMENT when it starts a document: `_start` has already built the header.
_GENESIS = BaseAction(CreateDocumentInput, _noop, DOCUMENT_SCOPE)


def _load_state(document: Document, action: Action, payload: LoadStateInput, step: _Step) -> None:
    snapshot = step.model.copy_state(payload.state.data)
    for scope, scope_state in snapshot.items():
        if scope not in BASE_SCOPES:
            document.state[scope] = scope_state
    document.header.name = payload.state.name


def _rewrites_history(document: Document, action: Action, payload: Any, step: _Step) -> None:
    # `apply_action` routes these to the history path; reaching here is a routing bug.
    raise UnsupportedActionError(action.type, "is applied by the history path only")


#: Actions that rewrite history: never a plain operation, never stored as themselves.
_REWRITING = frozenset({"UNDO", "REDO", "PRUNE"})

#: Base actions by type.
BASE_ACTIONS: dict[str, BaseAction] = {
    # Exports from 2024 and before carry SET_NAME's input as the bare name.
    "SET_NAME": BaseAction(
        SetNameInput,
        _set_name,
        legacy_input=lambda raw: {"name": raw} if isinstance(raw, str) else raw,
    ),
    "SET_PREFERRED_EDITOR": BaseAction(SetPreferredEditorInput, _set_preferred_editor, "header"),
    "NOOP": BaseAction(NoopInput, _noop),
    "CREATE_DOCUMENT": BaseAction(CreateDocumentInput, _create_existing, DOCUMENT_SCOPE),
    "UPGRADE_DOCUMENT": BaseAction(UpgradeDocumentInput, _upgrade, DOCUMENT_SCOPE),
    "DELETE_DOCUMENT": BaseAction(DeleteDocumentInput, _delete, DOCUMENT_SCOPE),
    "LOAD_STATE": BaseAction(LoadStateInput, _load_state),
    "UNDO": BaseAction(UndoInput, _rewrites_history),
    "REDO": BaseAction(RedoInput, _rewrites_history),
    # Powerhouse prunes `operations.global` whatever the action's scope says.
    "PRUNE": BaseAction(PruneInput, _rewrites_history, "global"),
}


def _validate_base_input(base: BaseAction, action: Action, *, replaying: bool = False) -> Any:
    raw = action.input
    if replaying and base.legacy_input is not None:
        raw = base.legacy_input(raw)
    if base.scope is not None and action.scope != base.scope:
        raise InvalidActionError(
            f"invalid action {action.type}: field 'scope': must be '{base.scope}', "
            f"got '{action.scope}'"
        )
    if not isinstance(raw, Mapping):
        raise InvalidActionInputError(action.type, "input", "must be an object")
    try:
        return base.input_model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "input"
        raise InvalidActionInputError(action.type, where, first["msg"]) from None


def check_base_input(action: Action) -> None:
    """Refuse a fresh base action whose scope or input `apply_action` would refuse whatever
    the document holds, naming the field: what clients check before publishing. What
    depends on the document (nothing to undo, no such scope) is left to the reducer."""
    base = BASE_ACTIONS.get(action.type)
    if base is None:
        return
    _validate_base_input(base, action)
    if action.type in _REWRITING and action.scope in BASE_SCOPES:
        raise InvalidActionError(
            f"invalid action {action.type}: field 'scope': {action.type} is not permitted on "
            f"the {action.scope} scope"
        )
    if action.type == "REDO":  # as `take_redo` reads it, less the legacy bare number
        count = action.input.get("count")
        if isinstance(count, bool) or not isinstance(count, int | float) or count != 1:
            raise InvalidActionInputError(
                "REDO", "count", f"must be 1 (one operation is redone at a time), not {count!r}"
            )
    if action.type == "PRUNE":
        raise UnsupportedActionError(
            "PRUNE",
            "not supported: it re-indexes a scope, which an append-only history cannot follow",
        )


# -- checks ------------------------------------------------------------------------------

_SCOPE_SHAPE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})")


def validate_action(action: Action) -> None:
    """Refuse a malformed action (type, id, scope, timestamp) before it touches anything."""

    def bad(field_name: str, problem: str) -> InvalidActionError:
        return InvalidActionError(
            f"invalid action {action.type or '?'} ({action.id or 'no id'}): "
            f"field '{field_name}': {problem}"
        )

    if not isinstance(action.type, str) or not action.type:
        raise bad("type", "must be a non-empty string")
    if not isinstance(action.id, str) or not action.id:
        raise bad("id", "must be a non-empty string")
    if not isinstance(action.scope, str) or not _SCOPE_SHAPE.fullmatch(action.scope):
        raise bad("scope", f"{action.scope!r} is not a scope name")
    stamp = action.timestamp_utc_ms
    if not isinstance(stamp, str) or not _ISO_INSTANT.fullmatch(stamp):
        raise bad("timestampUtcMs", f"{stamp!r} is not an ISO-8601 instant")
    try:
        parse_instant(stamp)
    except ValueError:
        raise bad("timestampUtcMs", f"{stamp!r} is not a valid date and time") from None


def protocol_version(document: Document, options: ReducerOptions = _DEFAULTS) -> int:
    """The base-reducer protocol in force; Powerhouse refuses to guess it (§1.2)."""
    if options.protocol_version is not None:
        return options.protocol_version
    versions = document.header.protocol_versions
    if not versions or BASE_REDUCER not in versions:
        raise ProtocolVersionMissingError(document.id)
    return versions[BASE_REDUCER]


def _check_model(document: Document, model: DocumentModel) -> None:
    if document.document_type != model.document_type:
        raise DocumentTypeMismatchError(document.id, document.document_type, model.document_type)


# -- the pipeline ------------------------------------------------------------------------


def apply_action(
    document: Document | None,
    action: Action,
    model: DocumentModel,
    *,
    options: ReducerOptions | None = None,
) -> AppliedAction:
    """Apply a FRESH action; `document` None starts a document (CREATE_DOCUMENT only).

    Everything that can refuse the action (its shape, its input under the latest rules,
    the document's state, an UNDO with nothing to undo) is checked first: a refusal
    raises and leaves `document` as it was. A model handler that raises does not refuse:
    the operation is recorded with `error`, the index is consumed and the state is
    restored. `document` is edited in place and returned in the result.
    """
    opts = options or _DEFAULTS
    # 1. The action itself.
    validate_action(action)
    if document is None:
        return _start(action, model, opts, stored=None)
    _check_model(document, model)
    protocol = protocol_version(document, opts)
    if is_deleted(document.state):
        raise DocumentDeletedError(document.id, action.type)
    # 2.-3. Skips, UNDO, REDO and PRUNE take the history path.
    if opts.skip or action.type in _REWRITING:
        return _apply_history(document, action, model, opts, protocol)
    # 4. Input, before anything changes.
    payload, base = _validated_input(document, action, model)
    # 5. Position: next index of the action's own scope.
    operation = _new_operation(document, action, opts, document.next_index(action.scope), 0)
    step = _Step(model, replaying=False, protocol=protocol)
    return _reduce(document, operation, base, payload, step, opts, expect_error=None)


def _validated_input(
    document: Document, action: Action, model: DocumentModel
) -> tuple[Any, BaseAction | None]:
    base = BASE_ACTIONS.get(action.type)
    if base is not None:
        return _validate_base_input(base, action), base
    if action.scope not in document.state:
        raise InvalidActionError(
            f"invalid action {action.type} ({action.id}): document {document.id} "
            f"has no scope '{action.scope}'"
        )
    return model.validate_input(action, model.rules_at(None)), None


def _new_operation(
    document: Document, action: Action, opts: ReducerOptions, index: int, skip: int
) -> Operation:
    branch = opts.branch or document.header.branch
    return _operation_of(document.id, action.scope, branch, action, index, skip)


def _operation_of(
    document_id: str, scope: str, branch: str, action: Action, index: int, skip: int
) -> Operation:
    """The operation recording `action`, before `_reduce` sets its hash and error."""
    return Operation.trusted(
        id=derive_operation_id(document_id, scope, branch, action.id),
        index=index,
        skip=skip,
        timestamp_utc_ms=action.timestamp_utc_ms,
        hash="",
        action=action,
    )


def replay_operation(
    document: Document | None,
    operation: Operation,
    model: DocumentModel,
    *,
    options: ReducerOptions | None = None,
) -> AppliedAction:
    """Apply a STORED operation (rebuilding a document); `document` None for CREATE_DOCUMENT.

    Keeps the operation's index, id and timestamp; the model runs under the rules of the
    operation's era; a non-empty stored hash is reused. Skips are not processed (callers
    pass garbage-collected histories, as Powerhouse's replay expects), except that a
    protocol-2 NOOP with a skip rebuilds its scope by the chain rule.
    """
    opts = options or _DEFAULTS
    action = operation.action
    if document is None:
        return _start(action, model, opts, stored=operation)
    _check_model(document, model)
    protocol = protocol_version(document, opts)
    scope = action.scope
    # 5. Index validation (Powerhouse's text, verbatim).
    expected = document.next_index(scope)
    if not opts.skip_index_validation and operation.index - operation.skip > expected:
        raise MissingOperationsError(
            expected, operation.index, operation.skip, document_id=document.id, scope=scope
        )
    if operation.denied_reason is not None or (
        operation.error is not None and scope == DOCUMENT_SCOPE
    ):
        # Denied operations, and failed system operations, take their place unapplied.
        return _append(document, operation, [], None, operation)
    if action.type in _REWRITING:
        raise UnsupportedActionError(
            action.type,
            f"a stored {action.type} cannot be replayed (document {document.id}, scope "
            f"{scope}, index {operation.index}): histories hold the operations it produced",
        )
    if protocol >= 2 and operation.skip > 0 and action.type == NOOP:
        # 7. An undo marker: rebuild the scope from the operations it leaves live.
        history = effective_history(document.operations.get(scope, ()), protocol)
        return _apply_marker(document, model, operation, history, opts, recorded=operation)
    base = BASE_ACTIONS.get(action.type)
    payload = (
        _validate_base_input(base, action, replaying=True) if base is not None else NOT_VALIDATED
    )
    step = _Step(model, replaying=True, protocol=protocol)
    return _reduce(
        document, operation, base, payload, step, opts, expect_error=operation.error is not None
    )


# -- history: skips, UNDO, REDO, PRUNE (steps 2, 3, 6, 7 and 8) ---------------------------


def _apply_history(
    document: Document,
    action: Action,
    model: DocumentModel,
    opts: ReducerOptions,
    protocol: int,
) -> AppliedAction:
    """A fresh action that rewrites history: UNDO, REDO, PRUNE, or any action with a skip."""
    kind, scope, skip = action.type, action.scope, opts.skip
    if scope in BASE_SCOPES:
        what = kind if kind in _REWRITING else f"{kind} with skip {skip}"
        raise HistoryActionNotAllowedError(document.id, what, scope)
    if skip < 0:
        raise InvalidActionError(
            f"invalid action {kind} ({action.id}): skip {skip} must not be negative"
        )
    if kind == "UNDO":
        return _undo(document, action, model, opts, protocol)
    if kind == "REDO":
        return _redo(document, action, model, opts, protocol)
    if kind == "PRUNE":
        return _prune(document, action, model, opts, protocol)
    index = document.next_index(scope)
    if skip > index:
        raise InvalidActionError(
            f"invalid action {kind} ({action.id}): skip {skip} reaches before the first "
            f"operation of scope '{scope}' (the action gets index {index})"
        )
    payload, base = _validated_input(document, action, model)
    operation = _new_operation(document, action, opts, index, skip)
    if protocol >= 2 and kind == NOOP:
        history = effective_history(document.operations.get(scope, ()), protocol)
        return _apply_marker(document, model, operation, history, opts, recorded=None)
    return _apply_with_skip(document, model, operation, base, payload, opts, protocol)


def _apply_with_skip(
    document: Document,
    model: DocumentModel,
    operation: Operation,
    base: BaseAction | None,
    payload: Any,
    opts: ReducerOptions,
    protocol: int,
) -> AppliedAction:
    """Step 8: rewind the scope to what the skip leaves, apply on top, prune (§1.10).

    If the handler raises, the rewind is undone: the state before the action comes back
    and the errored operation is recorded with skip 0 after the untouched history (§1.12).
    """
    scope = operation.action.scope
    collects_markers = protocol < 2
    history = list(document.operations.get(scope, ()))
    survivors = skip_header_operations(
        history, operation.skip, operation.index, undo_markers=collects_markers
    )
    rebuilt = _rebuild(document, model, scope, survivors, opts)
    saved_state = model.copy_state(document.state)
    saved_header = document.header.model_copy(deep=True)
    try:
        _adopt_scope_state(document, rebuilt, scope)
        result = _reduce(
            document,
            operation,
            base,
            payload,
            _Step(model, replaying=False, protocol=protocol),
            opts,
            expect_error=None,
        )
    except BaseException:
        _put_back(document, saved_state, saved_header, scope, history)
        raise
    if operation.error is not None:
        document.state.clear()
        document.state.update(saved_state)
        operation.skip = 0
        operation.hash = hash_scope_state(document.state.get(scope))
        document.operations[scope] = [*history, operation]
        return AppliedAction(document, operation, [], operation.hash)
    if opts.prune_on_skip:
        document.operations[scope] = garbage_collect(
            sort_operations([*history, operation]), undo_markers=collects_markers
        )
    return result


def _apply_marker(
    document: Document,
    model: DocumentModel,
    operation: Operation,
    history: list[Operation],
    opts: ReducerOptions,
    *,
    recorded: Operation | None,
) -> AppliedAction:
    """Step 7: a protocol-2 undo marker; the scope becomes the replay of its live operations.

    Every operation stays in the history. A fresh marker keeps Powerhouse's empty hash.
    """
    scope = operation.action.scope
    live = live_operations([*history, operation])
    rebuilt = _rebuild(document, model, scope, [op for op in live if op.action.type != NOOP], opts)
    computed = None
    if recorded is not None and opts.recompute_hashes:
        computed = hash_scope_state(rebuilt.state.get(scope))
    _adopt_scope_state(document, rebuilt, scope)
    _adopt_header_edits(document, rebuilt)
    return _append(document, operation, [], computed, recorded)


def _undo(
    document: Document,
    action: Action,
    model: DocumentModel,
    opts: ReducerOptions,
    protocol: int,
) -> AppliedAction:
    """Steps 3 and 6-7: UNDO becomes a NOOP with a skip; refused when nothing is left."""
    _validate_base_input(BASE_ACTIONS["UNDO"], action)
    scope = action.scope
    history = effective_history(document.operations.get(scope, ()), protocol)
    noop = Action.model_construct(
        id=action.id,
        type=NOOP,
        timestamp_utc_ms=action.timestamp_utc_ms,
        input={},
        scope=scope,
        context=action.context,
    )
    if protocol >= 2:
        plan = plan_undo_v2(history, document_id=document.id, scope=scope)
        operation = _new_operation(document, noop, opts, document.next_index(scope), plan.skip)
        return _apply_marker(document, model, operation, history, opts, recorded=None)
    plan = plan_undo_v1(history, document_id=document.id, scope=scope)
    index = history[-1].index if plan.reuses_index else document.next_index(scope)
    operation = _new_operation(document, noop, opts, index, plan.skip)
    after = garbage_collect([*history, operation])
    clipboard = clipboard_after_undo(document.clipboard, history, after)
    rebuilt = _rebuild(document, model, scope, after, opts)
    operation.hash = hash_scope_state(rebuilt.state.get(scope))
    _adopt_scope_state(document, rebuilt, scope)
    document.operations[scope] = after
    _adopt_header_edits(document, rebuilt)
    _stamp(document.header, operation)
    document.clipboard = clipboard
    return AppliedAction(document, operation, [], operation.hash)


def _redo(
    document: Document,
    action: Action,
    model: DocumentModel,
    opts: ReducerOptions,
    protocol: int,
) -> AppliedAction:
    """Step 3: REDO re-applies the last undone operation of its scope as a new operation."""
    redone, rest = take_redo(document.clipboard, action, opts.skip, document_id=document.id)
    payload, base = _validated_input(document, redone, model)
    operation = _new_operation(document, redone, opts, document.next_index(redone.scope), 0)
    step = _Step(model, replaying=False, protocol=protocol)
    result = _reduce(document, operation, base, payload, step, opts, expect_error=None)
    document.clipboard = rest
    return result


def _prune(
    document: Document,
    action: Action,
    model: DocumentModel,
    opts: ReducerOptions,
    protocol: int,
) -> AppliedAction:
    """PRUNE: positions [start, end) of the collected history become one LOAD_STATE.

    Unmaintained in Powerhouse (its tests are skipped); kept to its described shape.
    """
    payload = _validate_base_input(BASE_ACTIONS["PRUNE"], action)
    scope = action.scope
    if not opts.allow_prune:
        raise UnsupportedActionError(
            "PRUNE",
            f"it re-indexes document {document.id} scope {scope}, which an append-only "
            "history cannot follow (ReducerOptions.allow_prune is off)",
        )
    history = effective_history(document.operations.get(scope, ()), protocol)
    start = payload.start or 0
    end = payload.end or len(history)
    if not start < end <= len(history):
        raise InvalidActionInputError(
            "PRUNE",
            "end" if end > len(history) else "start",
            f"range [{start}, {end}) is not within the {len(history)} operations "
            f"of document {document.id} scope {scope}",
        )
    head, pruned, tail = history[:start], history[start:end], history[end:]
    folded = _rebuild(document, model, scope, [*head, *pruned], opts)
    snapshot = {scope: folded.state.get(scope)}
    load = Action.model_construct(
        id=action.id,
        type="LOAD_STATE",
        timestamp_utc_ms=action.timestamp_utc_ms,
        input={
            "state": {"name": folded.header.name, "data": snapshot},
            "operations": len(pruned),
        },
        scope=scope,
        context=action.context,
    )
    first = head[-1].index + 1 if head else 0
    moved = [
        op.model_copy(
            update={
                "index": first + 1 + offset,
                "skip": op.skip if protocol >= 2 and is_undo_marker(op) else 0,
            }
        )
        for offset, op in enumerate(tail)
    ]
    history = [*head, _new_operation(document, load, opts, first, 0), *moved]
    rebuilt = _rebuild(document, model, scope, history, opts)
    operations = rebuilt.operations[scope]
    _adopt_scope_state(document, rebuilt, scope)
    document.operations[scope] = operations
    document.header.name = rebuilt.header.name
    document.header.revision[scope] = operations[-1].index + 1
    document.clipboard = []
    loaded = operations[len(head)]
    return AppliedAction(document, loaded, [], loaded.hash)


def _rebuild(
    document: Document,
    model: DocumentModel,
    scope: str,
    operations: list[Operation],
    opts: ReducerOptions,
) -> Document:
    """`document` replayed from its initial state with `operations` as `scope`'s history.

    Only the document scope (it installs the initial state) and `scope` are replayed.
    """
    scratch = Document.model_construct(
        header=document.header,
        state={},
        initial_state=document.initial_state,
        operations={
            DOCUMENT_SCOPE: document.operations.get(DOCUMENT_SCOPE, []),
            scope: operations,
        },
        clipboard=[],
    )
    replay_options = ReducerOptions(
        branch=opts.branch, protocol_version=opts.protocol_version, skip_index_validation=True
    )
    return replay_document(scratch, model, options=replay_options)


def _adopt_scope_state(document: Document, rebuilt: Document, scope: str) -> None:
    if scope in rebuilt.state:
        document.state[scope] = rebuilt.state[scope]
    else:
        document.state.pop(scope, None)


def _adopt_header_edits(document: Document, rebuilt: Document) -> None:
    """An UNDO takes the header the replay left (Powerhouse keeps the rebuilt document).

    The replay starts from the current header, so an undone SET_NAME only reverts to an
    earlier SET_NAME that is still live; with none, the name stays (as in Powerhouse).
    """
    document.header.name = rebuilt.header.name
    document.header.meta = rebuilt.header.meta


def _put_back(
    document: Document,
    state: JsonDict,
    header: DocumentHeader,
    scope: str,
    history: list[Operation],
) -> None:
    """Undo a refused history action's changes (a base action refusing after a rewind)."""
    document.state.clear()
    document.state.update(state)
    document.header = header
    document.operations[scope] = history


def _start(
    action: Action, model: DocumentModel, opts: ReducerOptions, stored: Operation | None
) -> AppliedAction:
    """CREATE_DOCUMENT on "no document yet": the header comes from the action's input."""
    if action.type != "CREATE_DOCUMENT":
        raise DocumentNotFoundError(
            f"no document for {action.type} ({action.id}): a document starts with CREATE_DOCUMENT"
        )
    payload = _validate_base_input(BASE_ACTIONS["CREATE_DOCUMENT"], action)
    if payload.model != model.document_type:
        raise InvalidActionInputError(
            action.type,
            "model",
            f"'{payload.model}' is not the type of model '{model.document_type}'",
        )
    header = DocumentHeader(
        id=payload.document_id,
        sig={"publicKey": {}, "nonce": ""},
        document_type=payload.model,
        created_at_utc_iso=action.timestamp_utc_ms,
        slug=payload.slug or payload.document_id,
        name=payload.name or "",
        branch=payload.branch or "main",
        revision={},
        last_modified_at_utc_iso=action.timestamp_utc_ms,
        protocol_versions=payload.protocol_versions or {BASE_REDUCER: DEFAULT_PROTOCOL_VERSION},
        meta=payload.meta or {},
    )
    state = _genesis_state()
    document = Document(
        header=header,
        state=state,
        initial_state=model.copy_state(state),
        operations={DOCUMENT_SCOPE: []},
    )
    if stored is None:
        operation = _operation_of(header.id, DOCUMENT_SCOPE, header.branch, action, 0, 0)
    else:
        operation = stored
    step = _Step(model, replaying=stored is not None, protocol=protocol_version(document, opts))
    return _reduce(document, operation, _GENESIS, payload, step, opts, expect_error=None)


def _reduce(
    document: Document,
    operation: Operation,
    base: BaseAction | None,
    payload: Any,
    step: _Step,
    opts: ReducerOptions,
    *,
    expect_error: bool | None,
) -> AppliedAction:
    """Steps 9 to 11: run the handler, record an error, hash, append.

    `expect_error` None (fresh) snapshots the state for a rollback. On replay only an
    operation that failed when it was recorded is expected to fail, so only it pays for a
    snapshot; an unexpected failure rebuilds the state from history instead. Models that
    declare `validates_before_mutating` never pay for either.
    """
    action = operation.action
    scope = action.scope
    recorded = operation if step.replaying else None
    signals: list[Signal] = []
    error: str | None = None
    if base is not None:
        # Base-action failures are refusals (they raise), never errored operations.
        base.handler(document, action, payload, step)
    else:
        # A model whose handlers check before they change anything needs no rollback.
        trusted = step.model.validates_before_mutating
        snapshot = (
            None if trusted or expect_error is False else step.model.copy_state(document.state)
        )
        ctx = ReduceContext(
            action,
            # The era of a stored operation is when it was reduced: its own timestamp.
            rules=step.model.rules_at(
                (operation.timestamp_utc_ms or None) if step.replaying else None
            ),
            replaying=step.replaying,
            validated_input=payload,
        )
        try:
            step.model.reduce(document.state, action, ctx)
            signals = ctx.signals
        # A model's failure is data: Powerhouse records it (§1.12). A JavaScript reducer can
        # only throw; a Python handler can also raise SystemExit, which must not take the
        # executor (and every other document) down with it.
        except (Exception, SystemExit) as exc:
            error = (
                (str(exc) or type(exc).__name__)
                if isinstance(exc, Exception)
                else f"{type(exc).__name__}: {exc}"
            )
            if snapshot is not None:
                document.state.clear()
                document.state.update(snapshot)
            elif not trusted:
                _restore_from_history(document, step.model, opts)
    # 11. Hash of the scope after the action (reused from the stored operation on replay).
    stored_hash = operation.hash if step.replaying else ""
    computed: str | None = None
    state_json: str | None = None
    if not stored_hash or opts.recompute_hashes:
        computed, state_json = hash_scope_state_and_json(document.state.get(scope))
    final_hash = stored_hash or computed or ""
    if step.replaying:
        if final_hash != operation.hash or error != operation.error:
            operation = operation.model_copy(update={"hash": final_hash, "error": error})
    else:
        operation.hash = final_hash
        operation.error = error
    return _append(document, operation, signals, computed, recorded, state_json)


def _append(
    document: Document,
    operation: Operation,
    signals: list[Signal],
    computed: str | None,
    recorded: Operation | None,
    state_json: str | None = None,
) -> AppliedAction:
    """Step 5's bookkeeping: history, revision (next index), lastModified, clipboard."""
    document.scope_operations(operation.action.scope).append(operation)
    _stamp(document.header, operation)
    if document.clipboard:
        document.clipboard = []
    return AppliedAction(document, operation, signals, computed, recorded, state_json)


def _stamp(header: DocumentHeader, operation: Operation) -> None:
    """Revision (the next index) and lastModified after `operation` (§1.13)."""
    header.revision[operation.action.scope] = operation.index + 1
    stamp = operation.timestamp_utc_ms
    if stamp > header.last_modified_at_utc_iso:  # string order, as Powerhouse (§1.13)
        header.last_modified_at_utc_iso = stamp


def _restore_from_history(document: Document, model: DocumentModel, opts: ReducerOptions) -> None:
    """Undo a half-applied replayed operation by replaying the history before it."""
    rebuilt = replay_document(document, model, options=opts)
    document.state.clear()
    document.state.update(rebuilt.state)


# -- whole documents ---------------------------------------------------------------------


def _genesis_state() -> JsonDict:
    """The state of a document just created by CREATE_DOCUMENT: the base scopes only.

    The model's initial state arrives with UPGRADE_DOCUMENT (from version 0), as in
    Powerhouse's reactor, whose executor builds the new document from the action alone.
    """
    return backfill_base_state({})


def _installs_initial_state(document_ops: Sequence[Operation]) -> bool:
    """Whether a document-scope history starts with CREATE_DOCUMENT and later installs the
    initial state with an applied UPGRADE_DOCUMENT from version 0."""
    if not document_ops or document_ops[0].action.type != "CREATE_DOCUMENT":
        return False
    for operation in document_ops[1:]:
        payload = operation.action.input
        if (
            operation.action.type == "UPGRADE_DOCUMENT"
            and operation.error is None
            and operation.denied_reason is None
            and isinstance(payload, Mapping)
            and payload.get("fromVersion") == 0
            and payload.get("toVersion") != 0
        ):
            return True
    return False


def replay_order(operations: Mapping[str, list[Operation]]) -> Iterator[Operation]:
    """Scope by scope, not interleaved (§1.14); `document` first, since it installs the
    initial state that the other scopes build on."""
    yield from operations.get(DOCUMENT_SCOPE, ())
    for scope, ops in operations.items():
        if scope != DOCUMENT_SCOPE:
            yield from ops


def replay_document(
    document: Document,
    model: DocumentModel,
    *,
    options: ReducerOptions | None = None,
    observer: Callable[[AppliedAction], None] | None = None,
) -> Document:
    """A new document rebuilt from `document`'s initial state and operations.

    The header is kept, with the revision recomputed and `lastModifiedAtUtcIso` as given
    (Powerhouse's `replayDocument`). `observer` sees every replayed operation, e.g. to
    compare recomputed hashes. Each scope's history is sorted and garbage collected first
    (as Powerhouse's reactor does before it replays); skips are not processed again,
    except that protocol-2 undo markers rebuild their scope by the chain rule.
    """
    opts = options or _DEFAULTS
    protocol = protocol_version(document, opts) if document.operations else 0
    operations = {
        scope: effective_history(ops, protocol) for scope, ops in document.operations.items()
    }
    header = document.header.model_copy(deep=True)
    # A history that creates its document replays from what CREATE_DOCUMENT made, so that
    # its hash is recomputed over the state it was computed over when it was reduced; the
    # initial state is installed by its UPGRADE_DOCUMENT. Starting from the initial state
    # instead hashed CREATE_DOCUMENT over a document scope it could not have seen yet (an
    # export whose initial state has its own `document` scope then failed to verify).
    start = (
        _genesis_state()
        if _installs_initial_state(operations.get(DOCUMENT_SCOPE, []))
        else document.initial_state
    )
    rebuilt = Document.model_construct(
        header=header,
        state=model.copy_state(start),
        initial_state=model.copy_state(document.initial_state),
        operations={scope: [] for scope in operations},
        clipboard=[],
    )
    for operation in replay_order(operations):
        result = replay_operation(rebuilt, operation, model, options=opts)
        if observer is not None:
            observer(result)
    rebuilt.header.last_modified_at_utc_iso = document.header.last_modified_at_utc_iso
    if opts.check_final_hashes:
        for scope, ops in rebuilt.operations.items():
            if ops and ops[-1].hash:
                actual = hash_scope_state(rebuilt.state.get(scope))
                if actual != ops[-1].hash:
                    raise HashMismatchError(rebuilt.id, scope, ops[-1].index, ops[-1].hash, actual)
    return rebuilt
