"""Typed records of our topics and their Avro dict forms.

The Python side speaks the domain types (`Action`, `Operation`, `DocumentHeader`); the wire
speaks snake_case Avro records in which arbitrary JSON (action inputs and contexts, job meta,
states) travels as JSON text. JSON text is written compactly and read back to equal Python
values, so an action's input reaches the reducer exactly as the client gave it.

A record checks its own invariants when built, on the producing side and (through
`RecordCodec.decode_record`) on the consuming side alike: a job whose actions leave its
scope never reaches an executor.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import ValidationError

from reactor_es.document.materialize import StreamedOperation
from reactor_es.document.types import Action, DocumentHeader, JsonDict, Operation
from reactor_es.kafka.codec_errors import InvalidRecordError
from reactor_es.kafka.schemas import (
    ACTION_ENVELOPE,
    DOCUMENT_SNAPSHOT,
    JOB_EVENT,
    OPERATION_RECORD,
    SNAPSHOT_CHECKPOINT,
)

__all__ = [
    "LOAD_META_KEY",
    "UNPARK_CONTROL",
    "ActionEnvelope",
    "DocumentSnapshot",
    "HeaderHint",
    "JobEvent",
    "JobKind",
    "JobStatus",
    "OperationRecord",
    "OperationRef",
    "RecentOperation",
    "SnapshotCheckpoint",
    "action_from_avro",
    "action_to_avro",
    "load_meta",
    "operation_from_avro",
    "operation_to_avro",
]


class JobKind(StrEnum):
    """What a job on the actions topic does to its document."""

    CREATE = "CREATE"
    MUTATE = "MUTATE"
    DELETE = "DELETE"


class JobStatus(StrEnum):
    """Powerhouse's job lifecycle: PENDING → RUNNING → WRITE_READY → READ_READY, or FAILED."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    WRITE_READY = "WRITE_READY"
    READ_READY = "READ_READY"
    FAILED = "FAILED"


# -- JSON text fields ----------------------------------------------------------------------


def _dump_json(value: Any, where: str) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRecordError(f"{where} is not JSON: {exc}") from exc


def _load_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidRecordError(f"{where} is not valid JSON text: {exc}") from exc


def _load_object(text: str | None, where: str) -> JsonDict | None:
    if text is None:
        return None
    value = _load_json(text, where)
    if not isinstance(value, dict):
        raise InvalidRecordError(f"{where} must be a JSON object, got {type(value).__name__}")
    return value


def _dump_optional(value: Any, where: str) -> str | None:
    return None if value is None else _dump_json(value, where)


# -- Action and Operation ------------------------------------------------------------------


def action_to_avro(action: Action, where: str = "action") -> dict[str, Any]:
    return {
        "id": action.id,
        "type": action.type,
        "timestamp_utc_ms": action.timestamp_utc_ms,
        "scope": action.scope,
        "input": _dump_json(action.input, f"{where}.input"),
        "context": _dump_optional(action.context, f"{where}.context"),
    }


def action_from_avro(value: Mapping[str, Any], where: str = "action") -> Action:
    # The Avro schema has already checked every field's type: no second validation.
    return Action.trusted(
        value["id"],
        value["type"],
        value["timestamp_utc_ms"],
        _load_json(value["input"], f"{where}.input"),
        value["scope"],
        _load_object(value["context"], f"{where}.context"),
    )


def operation_to_avro(operation: Operation, where: str = "operation") -> dict[str, Any]:
    """The operation without `resulting_state`, which travels beside it in the record."""
    return {
        "id": operation.id,
        "index": operation.index,
        "skip": operation.skip,
        "timestamp_utc_ms": operation.timestamp_utc_ms,
        "hash": operation.hash,
        "error": operation.error,
        "denied_reason": operation.denied_reason,
        "action": action_to_avro(operation.action, f"{where}.action"),
    }


def operation_from_avro(value: Mapping[str, Any], where: str = "operation") -> Operation:
    return Operation.trusted(
        id=value["id"],
        index=value["index"],
        skip=value["skip"],
        timestamp_utc_ms=value["timestamp_utc_ms"],
        hash=value["hash"],
        error=value["error"],
        denied_reason=value["denied_reason"],
        action=action_from_avro(value["action"], f"{where}.action"),
    )


# -- actions topic -------------------------------------------------------------------------

#: `ActionEnvelope.meta[LOAD_META_KEY]` marks a load job (history imported from elsewhere);
#: it holds the recorded timestamp of each action's operation, in order, and (since the
#: recorded skips travel in `skips`) the recorded indexes, so that gaps and undo markers
#: are stored as they were recorded.
LOAD_META_KEY = "load"


#: `ActionEnvelope.meta["control"] == UNPARK_CONTROL` marks the job (with no actions) that
#: releases a parked document; `meta["skipFirst"]` drops its poison record first.
UNPARK_CONTROL = "unpark"


def load_meta(
    operation_timestamps: Sequence[str], operation_indexes: Sequence[int] | None = None
) -> JsonDict:
    """The meta of a load job whose operations were recorded at these timestamps (and indexes)."""
    spec: JsonDict = {"timestamps": list(operation_timestamps)}
    if operation_indexes is not None:
        spec["indexes"] = list(operation_indexes)
    return {LOAD_META_KEY: spec}


@dataclass(frozen=True, slots=True)
class ActionEnvelope:
    """One job (key = document id): actions for one document, all in the job's scope."""

    AVRO_NAME: ClassVar[str] = ACTION_ENVELOPE

    job_id: str
    document_id: str
    scope: str
    kind: JobKind
    actions: Sequence[Action]
    created_at_utc_iso: str
    document_type: str | None = None
    branch: str = "main"
    expected_revision: int | None = None
    client_id: str | None = None
    meta: JsonDict | None = None
    #: Per action, the skip it is applied with; empty means 0 for every action.
    skips: Sequence[int] = ()

    def __post_init__(self) -> None:
        # A tuple, so equal jobs compare equal however their actions were passed in.
        object.__setattr__(self, "actions", tuple(self.actions))
        object.__setattr__(self, "skips", tuple(self.skips))
        if self.skips and (
            len(self.skips) != len(self.actions) or any(skip < 0 for skip in self.skips)
        ):
            raise InvalidRecordError(
                f"job {self.job_id} for document {self.document_id}: skips must give one "
                f"non-negative skip per action ({len(self.actions)}), got {list(self.skips)}"
            )
        for position, action in enumerate(self.actions):
            if action.scope != self.scope:
                raise InvalidRecordError(
                    f"job {self.job_id} for document {self.document_id}: actions[{position}] "
                    f"({action.type}, id {action.id}) is in scope '{action.scope}', the job "
                    f"is in scope '{self.scope}'"
                )
        if self.kind is JobKind.CREATE and not self.document_type:
            raise InvalidRecordError(
                f"job {self.job_id} creates document {self.document_id} without a document_type"
            )

    def to_avro(self) -> dict[str, Any]:
        where = f"job {self.job_id}"
        return {
            "job_id": self.job_id,
            "document_id": self.document_id,
            "document_type": self.document_type,
            "branch": self.branch,
            "scope": self.scope,
            "kind": self.kind.value,
            "actions": [
                action_to_avro(a, f"{where}: actions[{i}]") for i, a in enumerate(self.actions)
            ],
            "skips": list(self.skips),
            "expected_revision": self.expected_revision,
            "created_at_utc_iso": self.created_at_utc_iso,
            "client_id": self.client_id,
            "meta": _dump_optional(self.meta, f"{where}: meta"),
        }

    @classmethod
    def from_avro(cls, value: dict[str, Any]) -> ActionEnvelope:
        where = f"job {value['job_id']}"
        return cls(
            job_id=value["job_id"],
            document_id=value["document_id"],
            document_type=value["document_type"],
            branch=value["branch"],
            scope=value["scope"],
            kind=JobKind(value["kind"]),
            actions=tuple(
                action_from_avro(a, f"{where}: actions[{i}]")
                for i, a in enumerate(value["actions"])
            ),
            expected_revision=value["expected_revision"],
            created_at_utc_iso=value["created_at_utc_iso"],
            client_id=value["client_id"],
            meta=_load_object(value["meta"], f"{where}: meta"),
            skips=tuple(value.get("skips") or ()),
        )

    def skip_of(self, position: int) -> int:
        return self.skips[position] if self.skips else 0


# -- operations topic ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeaderHint:
    """Header values after an operation, so a projector need not replay to know them."""

    name: str
    revision: Mapping[str, int]
    last_modified_at_utc_iso: str

    def to_avro(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "revision": dict(self.revision),
            "last_modified_at_utc_iso": self.last_modified_at_utc_iso,
        }

    @classmethod
    def from_avro(cls, value: Mapping[str, Any]) -> HeaderHint:
        return cls(value["name"], dict(value["revision"]), value["last_modified_at_utc_iso"])


@dataclass(frozen=True, slots=True)
class OperationRecord:
    """One operation of a document (key = document id); the scope is the action's.

    `resulting_state` (JSON text of `state[scope]` after the operation) travels beside the
    operation, as Powerhouse's OperationContext carries it; `Operation.resulting_state` is
    neither written nor set when read.
    """

    AVRO_NAME: ClassVar[str] = OPERATION_RECORD

    document_id: str
    document_type: str
    job_id: str
    operation: Operation
    branch: str = "main"
    resulting_state: str | None = None
    header: HeaderHint | None = None

    @property
    def scope(self) -> str:
        return self.operation.action.scope

    def streamed(self) -> StreamedOperation:
        """The operation with the state and header values it produced, for `DocumentStream`."""
        hint = self.header
        return StreamedOperation(
            document_id=self.document_id,
            document_type=self.document_type,
            operation=self.operation,
            resulting_state=self.resulting_state,
            name=None if hint is None else hint.name,
            last_modified_at_utc_iso=None if hint is None else hint.last_modified_at_utc_iso,
        )

    def to_avro(self) -> dict[str, Any]:
        op = self.operation
        where = f"document {self.document_id} scope {op.action.scope} index {op.index}"
        return {
            "document_id": self.document_id,
            "document_type": self.document_type,
            "scope": op.action.scope,
            "branch": self.branch,
            "job_id": self.job_id,
            "operation": operation_to_avro(op, f"{where}: operation"),
            "resulting_state": self.resulting_state,
            "header": None if self.header is None else self.header.to_avro(),
        }

    @classmethod
    def from_avro(cls, value: dict[str, Any]) -> OperationRecord:
        raw_op = value["operation"]
        scope = value["scope"]
        where = f"document {value['document_id']} scope {scope} index {raw_op['index']}"
        operation = operation_from_avro(raw_op, f"{where}: operation")
        if operation.action.scope != scope:
            raise InvalidRecordError(
                f"{where}: the operation's action is in scope '{operation.action.scope}'"
            )
        header = value["header"]
        return cls(
            document_id=value["document_id"],
            document_type=value["document_type"],
            job_id=value["job_id"],
            operation=operation,
            branch=value["branch"],
            resulting_state=value["resulting_state"],
            header=None if header is None else HeaderHint.from_avro(header),
        )


# -- job-events topic ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OperationRef:
    """Where an operation a job wrote landed: enough to find it and check its hash."""

    scope: str
    index: int
    skip: int
    id: str
    hash: str
    #: The reducer's error when the action was recorded as a failed operation: the job
    #: still succeeds (Powerhouse keeps the operation), so this is where a client sees why.
    error: str | None = None

    @classmethod
    def of(cls, operation: Operation) -> OperationRef:
        return cls(
            operation.action.scope,
            operation.index,
            operation.skip,
            operation.id,
            operation.hash,
            operation.error,
        )

    @classmethod
    def from_avro(cls, value: Mapping[str, Any]) -> OperationRef:
        return cls(
            value["scope"],
            value["index"],
            value["skip"],
            value["id"],
            value["hash"],
            value.get("error"),
        )

    def to_avro(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "index": self.index,
            "skip": self.skip,
            "id": self.id,
            "hash": self.hash,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class JobEvent:
    """A job's status change (key = job id), reported by `source`."""

    AVRO_NAME: ClassVar[str] = JOB_EVENT

    job_id: str
    document_id: str
    status: JobStatus
    at_utc_iso: str
    source: str
    operations: Sequence[OperationRef] = ()
    error: str | None = None
    meta: JsonDict | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "operations", tuple(self.operations))
        if self.status is JobStatus.FAILED and not self.error:
            raise InvalidRecordError(
                f"job {self.job_id} for document {self.document_id} is FAILED without an error"
            )

    def to_avro(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "document_id": self.document_id,
            "status": self.status.value,
            "error": self.error,
            "operations": [ref.to_avro() for ref in self.operations],
            "at_utc_iso": self.at_utc_iso,
            "source": self.source,
            "meta": _dump_optional(self.meta, f"job {self.job_id}: meta"),
        }

    @classmethod
    def from_avro(cls, value: dict[str, Any]) -> JobEvent:
        return cls(
            job_id=value["job_id"],
            document_id=value["document_id"],
            status=JobStatus(value["status"]),
            error=value["error"],
            operations=tuple(OperationRef.from_avro(r) for r in value["operations"]),
            at_utc_iso=value["at_utc_iso"],
            source=value["source"],
            meta=_load_object(value["meta"], f"job {value['job_id']}: meta"),
        )


# -- snapshots topic -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecentOperation:
    """Which operation an action produced: enough to answer a retry of that action."""

    action_id: str
    scope: str
    index: int
    skip: int
    id: str
    hash: str
    timestamp_utc_ms: str
    #: The reducer's error, so that a retry is answered as the first attempt was (v3).
    error: str | None = None

    def to_avro(self) -> dict[str, Any]:
        return {
            "action_id": self.action_id,
            "scope": self.scope,
            "index": self.index,
            "skip": self.skip,
            "id": self.id,
            "hash": self.hash,
            "timestamp_utc_ms": self.timestamp_utc_ms,
            "error": self.error,
        }

    def ref(self) -> OperationRef:
        return OperationRef(self.scope, self.index, self.skip, self.id, self.hash, self.error)

    @classmethod
    def from_avro(cls, value: Mapping[str, Any]) -> RecentOperation:
        return cls(
            value["action_id"],
            value["scope"],
            value["index"],
            value["skip"],
            value["id"],
            value["hash"],
            value["timestamp_utc_ms"],
            value.get("error"),
        )


@dataclass(frozen=True, slots=True)
class DocumentSnapshot:
    """A document as of `source_offset` of operations partition `source_partition`.

    The header's revision map also travels as a typed Avro map, so a restoring executor can
    compare revisions without parsing the header.
    """

    AVRO_NAME: ClassVar[str] = DOCUMENT_SNAPSHOT

    header: DocumentHeader
    state: JsonDict
    source_partition: int
    source_offset: int
    taken_at_utc_iso: str
    #: Offset of the document's CREATE_DOCUMENT in its operations partition (-1: unknown).
    first_offset: int = -1
    recent_operations: Sequence[RecentOperation] = ()

    @property
    def document_id(self) -> str:
        return self.header.id

    def to_avro(self) -> dict[str, Any]:
        where = f"snapshot of document {self.header.id}"
        return {
            "document_id": self.header.id,
            "document_type": self.header.document_type,
            "branch": self.header.branch,
            "header_json": _dump_json(self.header.to_json(), f"{where}: header"),
            "state_json": _dump_json(self.state, f"{where}: state"),
            "revision": dict(self.header.revision),
            "source_partition": self.source_partition,
            "source_offset": self.source_offset,
            "first_offset": self.first_offset,
            "recent_operations": [op.to_avro() for op in self.recent_operations],
            "taken_at_utc_iso": self.taken_at_utc_iso,
        }

    @classmethod
    def from_avro(cls, value: dict[str, Any]) -> DocumentSnapshot:
        where = f"snapshot of document {value['document_id']}"
        header_json = _load_object(value["header_json"], f"{where}: header")
        state = _load_object(value["state_json"], f"{where}: state")
        try:
            header = DocumentHeader.model_validate(header_json)
        except ValidationError as exc:
            problem = exc.errors()[0]
            field_name = ".".join(str(part) for part in problem["loc"])
            raise InvalidRecordError(
                f"{where}: header field '{field_name}': {problem['msg']}"
            ) from exc
        if header.id != value["document_id"]:
            raise InvalidRecordError(f"{where}: its header is of document {header.id}")
        return cls(
            header=header,
            state=state or {},
            source_partition=value["source_partition"],
            source_offset=value["source_offset"],
            taken_at_utc_iso=value["taken_at_utc_iso"],
            first_offset=value.get("first_offset", -1),
            recent_operations=tuple(
                RecentOperation.from_avro(op) for op in value.get("recent_operations", ())
            ),
        )


@dataclass(frozen=True, slots=True)
class SnapshotCheckpoint:
    """Every document changed before `operations_offset` has its snapshot: restore from here."""

    AVRO_NAME: ClassVar[str] = SNAPSHOT_CHECKPOINT
    #: Key of checkpoint records on the snapshots topic (no document id starts with NUL).
    KEY: ClassVar[bytes] = b"\x00checkpoint"

    partition: int
    operations_offset: int
    documents: int
    taken_at_utc_iso: str

    def to_avro(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "operations_offset": self.operations_offset,
            "documents": self.documents,
            "taken_at_utc_iso": self.taken_at_utc_iso,
        }

    @classmethod
    def from_avro(cls, value: dict[str, Any]) -> SnapshotCheckpoint:
        return cls(
            value["partition"],
            value["operations_offset"],
            value["documents"],
            value["taken_at_utc_iso"],
        )
