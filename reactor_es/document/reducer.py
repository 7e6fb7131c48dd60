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

The steps follow the numbering of powerhouse-semantics.md §1.8. Undo history (skip,
garbage collection, UNDO/REDO/PRUNE/LOAD_STATE) is not implemented yet: those actions
raise `UnsupportedActionError`; the history module will plug in at steps 2, 3, 7 and 8
and register its handlers in `BASE_ACTIONS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from reactor_es.document.exceptions import (
    DocumentDeletedError,
    DocumentExistsError,
    DocumentNotFoundError,
    DocumentTypeMismatchError,
    HashMismatchError,
    InvalidActionError,
    InvalidActionInputError,
    MissingOperationsError,
    ProtocolVersionMissingError,
    UnsupportedActionError,
)
from reactor_es.document.hashing import hash_scope_state
from reactor_es.document.ids import derive_operation_id
from reactor_es.document.model import (
    NOT_VALIDATED,
    DocumentModel,
    ReduceContext,
    Signal,
    parse_instant,
)
from reactor_es.document.state import DOCUMENT_SCOPE, backfill_base_state, is_deleted
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


_DEFAULTS = ReducerOptions()


@dataclass(frozen=True)
class AppliedAction:
    """The outcome of one action, fresh or replayed: the operation now last in its scope."""

    document: Document
    operation: Operation
    signals: list[Signal] = field(default_factory=list)
    #: The hash we computed, when we computed one (always for fresh actions).
    computed_hash: str | None = None
    #: Replay: the stored operation as it was given (its recorded hash and error).
    recorded: Operation | None = None


# -- base actions ------------------------------------------------------------------------


class _BaseInput(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", alias_generator=to_camel)


class SetNameInput(_BaseInput):
    name: str


class SetPreferredEditorInput(_BaseInput):
    preferred_editor: str | None


class NoopInput(_BaseInput):
    pass


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
    if payload.preferred_editor is None:
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


def _history_not_yet(document: Document, action: Action, payload: Any, step: _Step) -> None:
    raise UnsupportedActionError(action.type, "undo history is not supported yet")


#: Base actions by type. The history step registers UNDO, REDO, PRUNE and LOAD_STATE here.
BASE_ACTIONS: dict[str, BaseAction] = {
    # Exports from 2024 and before carry SET_NAME's input as the bare name.
    "SET_NAME": BaseAction(
        SetNameInput,
        _set_name,
        legacy_input=lambda raw: {"name": raw} if isinstance(raw, str) else raw,
    ),
    "SET_PREFERRED_EDITOR": BaseAction(SetPreferredEditorInput, _set_preferred_editor),
    "NOOP": BaseAction(NoopInput, _noop),
    "CREATE_DOCUMENT": BaseAction(CreateDocumentInput, _create_existing, DOCUMENT_SCOPE),
    "UPGRADE_DOCUMENT": BaseAction(UpgradeDocumentInput, _upgrade, DOCUMENT_SCOPE),
    "DELETE_DOCUMENT": BaseAction(DeleteDocumentInput, _delete, DOCUMENT_SCOPE),
    **{
        name: BaseAction(NoopInput, _history_not_yet)
        for name in ("UNDO", "REDO", "PRUNE", "LOAD_STATE")
    },
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
    the document's state) is checked first: a refusal raises and leaves `document` as it
    was. A model handler that raises does not refuse: the operation is recorded with
    `error`, the index is consumed and the state is restored. `document` is edited in
    place and returned in the result.
    """
    opts = options or _DEFAULTS
    # 1. The action itself.
    validate_action(action)
    base = BASE_ACTIONS.get(action.type)
    if document is None:
        return _start(action, model, opts, stored=None)
    _check_model(document, model)
    protocol = protocol_version(document, opts)
    if is_deleted(document.state):
        raise DocumentDeletedError(document.id, action.type)
    # 4. Input, before anything changes.
    if base is not None:
        payload = _validate_base_input(base, action)
    else:
        if action.scope not in document.state:
            raise InvalidActionError(
                f"invalid action {action.type} ({action.id}): document {document.id} "
                f"has no scope '{action.scope}'"
            )
        payload = model.validate_input(action, model.rules_at(None))
    # 5. Position: next index of the action's own scope.
    branch = opts.branch or document.header.branch
    operation = Operation.model_construct(
        id=derive_operation_id(document.id, action.scope, branch, action.id),
        index=document.next_index(action.scope),
        skip=0,
        timestamp_utc_ms=action.timestamp_utc_ms,
        hash="",
        error=None,
        denied_reason=None,
        resulting_state=None,
        action=action,
    )
    step = _Step(model, replaying=False, protocol=protocol)
    return _reduce(document, operation, base, payload, step, opts, expect_error=None)


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
    pass garbage-collected histories, as Powerhouse's replay expects).
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
    base = BASE_ACTIONS.get(action.type)
    if protocol >= 2 and action.type == "NOOP" and operation.skip > 0:
        # 7. A v2 NOOP with a skip rebuilds the scope from history: the history step.
        raise UnsupportedActionError(
            "NOOP",
            f"replaying an undo (index {operation.index} skip {operation.skip}) "
            "is not supported yet",
        )
    payload = (
        _validate_base_input(base, action, replaying=True) if base is not None else NOT_VALIDATED
    )
    step = _Step(model, replaying=True, protocol=protocol)
    return _reduce(
        document, operation, base, payload, step, opts, expect_error=operation.error is not None
    )


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
    state = backfill_base_state({})
    document = Document(
        header=header,
        state=state,
        initial_state=model.copy_state(state),
        operations={DOCUMENT_SCOPE: []},
    )
    if stored is None:
        operation = Operation.model_construct(
            id=derive_operation_id(header.id, DOCUMENT_SCOPE, header.branch, action.id),
            index=0,
            skip=0,
            timestamp_utc_ms=action.timestamp_utc_ms,
            hash="",
            error=None,
            denied_reason=None,
            resulting_state=None,
            action=action,
        )
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
        except Exception as exc:  # a model's failure is data: Powerhouse records it (§1.12)
            error = str(exc) or type(exc).__name__
            if snapshot is not None:
                document.state.clear()
                document.state.update(snapshot)
            elif not trusted:
                _restore_from_history(document, step.model, opts)
    # 11. Hash of the scope after the action (reused from the stored operation on replay).
    stored_hash = operation.hash if step.replaying else ""
    computed: str | None = None
    if not stored_hash or opts.recompute_hashes:
        computed = hash_scope_state(document.state.get(scope))
    final_hash = stored_hash or computed or ""
    if step.replaying:
        if final_hash != operation.hash or error != operation.error:
            operation = operation.model_copy(update={"hash": final_hash, "error": error})
    else:
        operation.hash = final_hash
        operation.error = error
    return _append(document, operation, signals, computed, recorded)


def _append(
    document: Document,
    operation: Operation,
    signals: list[Signal],
    computed: str | None,
    recorded: Operation | None,
) -> AppliedAction:
    """Step 5's bookkeeping: history, revision (next index), lastModified, clipboard."""
    scope = operation.action.scope
    document.scope_operations(scope).append(operation)
    document.header.revision[scope] = operation.index + 1
    stamp = operation.timestamp_utc_ms
    if stamp > document.header.last_modified_at_utc_iso:  # string order, as Powerhouse (§1.13)
        document.header.last_modified_at_utc_iso = stamp
    if document.clipboard:
        document.clipboard = []
    return AppliedAction(document, operation, signals, computed, recorded)


def _restore_from_history(document: Document, model: DocumentModel, opts: ReducerOptions) -> None:
    """Undo a half-applied replayed operation by replaying the history before it."""
    rebuilt = replay_document(document, model, options=opts)
    document.state.clear()
    document.state.update(rebuilt.state)


# -- whole documents ---------------------------------------------------------------------


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
    compare recomputed hashes. Skips are not processed: pass a garbage-collected history.
    """
    opts = options or _DEFAULTS
    header = document.header.model_copy(deep=True)
    rebuilt = Document.model_construct(
        header=header,
        state=model.copy_state(document.initial_state),
        initial_state=model.copy_state(document.initial_state),
        operations={scope: [] for scope in document.operations},
        clipboard=[],
    )
    for operation in replay_order(document.operations):
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
