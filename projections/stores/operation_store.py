"""The operation store contract: Powerhouse's `IOperationStore`, the new append-only store.

Operations are rows of streams `(document, scope, branch)`, indexed from 0. `apply` appends
a batch to one stream under an optimistic check: `revision` is the index the first
operation must occupy, so it must equal the stored max index + 1 (`RevisionMismatchError`
otherwise, naming both). Rules, in order:

1. each operation must belong to the stream's scope, carry an action id (op ids derive
   from it) and a parseable timestamp, and follow the previous one: a higher index, with
   `index - skip` at most the previous index + 1 (`InvalidOperationError`);
2. if every operation is already stored in the stream, identical on (op id, index, skip,
   hash), the stored rows are returned: re-submission is idempotent;
3. an operation already stored (same op id, index and skip, in any stream) that is not part
   of such an identical re-submission is `DuplicateOperationError`;
4. otherwise the revision must match.

Rows keep the causation chain (`prev_op_id`: the previous op id of the stream, "" first),
the write time, the job id, the document type, the action JSON, error, denied reason, hash
and skip. `resultingState` is not stored: in Powerhouse it travels in the ephemeral
context, not in the row. Timestamps are compared as instants, not as text.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Self

from projections.stores.exceptions import InvalidOperationError, InvalidQueryError, StoreError
from projections.stores.paging import Page, Paging
from projections.stores.tracking import PositionRecorder, TrackedStore
from reactor_es.document.types import Operation

__all__ = [
    "EPOCH_ISO",
    "DuplicateOperationError",
    "OperationFilter",
    "OperationStore",
    "OperationStoreBatch",
    "OperationStoreError",
    "OperationStoreReader",
    "OperationStoreWriter",
    "RevisionMismatchError",
    "Revisions",
    "StoredOperation",
    "check_stream_batch",
    "instant_us",
    "iso_from_us",
    "query_instant_us",
    "resolve_apply",
]

#: `latest_timestamp` of a document without operations (JavaScript's `new Date(0)`).
EPOCH_ISO = "1970-01-01T00:00:00.000Z"


# --- exceptions --------------------------------------------------------------------------


class OperationStoreError(StoreError):
    """An operation store call was refused."""


class RevisionMismatchError(OperationStoreError):
    """The caller's revision is not the stream's next index (a stale or skipped read)."""

    def __init__(self, document_id: str, scope: str, branch: str, expected: int, actual: int):
        self.document_id = document_id
        self.scope = scope
        self.branch = branch
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"Revision mismatch: expected {expected}, got {actual}"
            f" (document {document_id}, scope {scope}, branch {branch})"
        )


class DuplicateOperationError(OperationStoreError):
    """An operation of the batch is already stored and the batch is not a re-submission."""

    def __init__(
        self, document_id: str, scope: str, branch: str, op_id: str, index: int, skip: int
    ) -> None:
        self.document_id = document_id
        self.scope = scope
        self.branch = branch
        self.op_id = op_id
        self.index = index
        self.skip = skip
        super().__init__(
            f"Duplicate operation: {op_id} at index {index} with skip {skip}"
            f" (document {document_id}, scope {scope}, branch {branch})"
        )


# --- values ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredOperation:
    """A row of the store: the operation with its stream, position and provenance."""

    id: int  # store-wide row id, the position in the global feed (`get_since_id`)
    document_id: str
    document_type: str
    scope: str
    branch: str
    operation: Operation
    prev_op_id: str
    write_timestamp_utc_ms: str
    job_id: str | None = None

    @property
    def index(self) -> int:
        return self.operation.index

    @property
    def skip(self) -> int:
        return self.operation.skip

    @property
    def op_id(self) -> str:
        return self.operation.id


@dataclass(frozen=True, slots=True)
class OperationFilter:
    """Conditions ANDed together; `action_types` matches any of its types."""

    action_types: tuple[str, ...] | None = None
    timestamp_from: str | None = None  # inclusive instant
    timestamp_to: str | None = None  # inclusive instant
    since_revision: int | None = None  # index >= this


@dataclass(frozen=True, slots=True)
class Revisions:
    """Next index per scope, and the latest operation instant of the whole document."""

    revision: dict[str, int]
    latest_timestamp: str


# --- interfaces --------------------------------------------------------------------------


class OperationStoreReader(ABC):
    @abstractmethod
    async def get_since(
        self,
        document_id: str,
        scope: str,
        branch: str,
        revision: int,
        filter: OperationFilter | None = None,
        paging: Paging | None = None,
    ) -> Page[StoredOperation]:
        """Operations of a stream with index strictly above `revision`, ascending."""

    @abstractmethod
    async def get_since_id(
        self, row_id: int, paging: Paging | None = None
    ) -> Page[StoredOperation]:
        """Operations of every stream with a row id above `row_id`, in write order."""

    @abstractmethod
    async def get_revisions(self, document_id: str, branch: str = "main") -> Revisions:
        """Next index of each scope holding operations, and the latest operation instant."""

    @abstractmethod
    async def get_conflicting(
        self,
        document_id: str,
        scope: str,
        branch: str,
        min_timestamp: str,
        paging: Paging | None = None,
    ) -> Page[StoredOperation]:
        """Operations of a stream whose instant is at or after `min_timestamp`, by index."""

    @abstractmethod
    async def close(self) -> None:
        """Release the store; waits for an open batch. Idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class OperationStoreWriter(ABC):
    @abstractmethod
    async def apply(
        self,
        document_id: str,
        document_type: str,
        scope: str,
        branch: str,
        revision: int,
        operations: Sequence[Operation],
        job_id: str | None = None,
    ) -> list[StoredOperation]:
        """Append `operations` to the stream at `revision`; the stored rows, in index order."""


class OperationStoreBatch(OperationStoreWriter, PositionRecorder):
    """Appends and consumed positions committed together when the batch ends."""


class OperationStore(OperationStoreReader, OperationStoreWriter, TrackedStore):
    """An operation store with tracking. A plain `apply` is a batch of one call."""

    @abstractmethod
    def batch(self) -> AbstractAsyncContextManager[OperationStoreBatch]:
        """Hold the writer: every apply and position inside commits together, or nothing."""

    async def apply(
        self,
        document_id: str,
        document_type: str,
        scope: str,
        branch: str,
        revision: int,
        operations: Sequence[Operation],
        job_id: str | None = None,
    ) -> list[StoredOperation]:
        async with self.batch() as batch:
            return await batch.apply(
                document_id, document_type, scope, branch, revision, operations, job_id
            )


# --- rules shared by the adapters --------------------------------------------------------


def instant_us(text: str) -> int:
    """Microseconds since the epoch of an ISO-8601 timestamp (no offset means UTC)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def iso_from_us(micros: int) -> str:
    """JavaScript's `toISOString()` of an instant: milliseconds, `Z`."""
    seconds, rest = divmod(micros, 1_000_000)
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{rest // 1000:03d}Z"


def query_instant_us(text: str, query: str, parameter: str) -> int:
    """A timestamp given to a read, or the error naming the parameter."""
    try:
        return instant_us(text)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidQueryError(
            f"{query}: {parameter} {text!r} is not an ISO-8601 instant"
        ) from exc


def check_stream_batch(
    document_id: str,
    scope: str,
    branch: str,
    revision: int,
    operations: Sequence[Operation],
) -> list[int]:
    """Rule 1 of `apply`: refuse malformed batches; the instants of the operations."""
    instants: list[int] = []
    previous = revision - 1
    for op in operations:
        problem = None
        if op.scope != scope:
            problem = f"its action is in scope {op.scope}, not in the stream's scope"
        elif not op.action.id:
            problem = f"operation {op.id} has no action id"
        elif not op.id:
            problem = "the operation has no id"
        elif op.index < 0 or op.skip < 0 or op.skip > op.index:
            problem = f"skip {op.skip} must lie between 0 and the index"
        elif op.index <= previous or op.index - op.skip > previous + 1:
            problem = f"with skip {op.skip} it does not follow index {previous}"
        else:
            try:
                instants.append(instant_us(op.timestamp_utc_ms))
            except (ValueError, TypeError):
                problem = f"timestamp {op.timestamp_utc_ms!r} is not an ISO-8601 instant"
        if problem is not None:
            raise InvalidOperationError(document_id, scope, op.index, problem, branch=branch)
        previous = op.index
    return instants


def _same(row: StoredOperation | None, op: Operation) -> bool:
    return (
        row is not None
        and row.op_id == op.id
        and row.index == op.index
        and row.skip == op.skip
        and row.operation.hash == op.hash
    )


def resolve_apply(
    document_id: str,
    scope: str,
    branch: str,
    revision: int,
    operations: Sequence[Operation],
    head: int,
    stream_rows: Mapping[int, StoredOperation],
    stored_keys: Collection[tuple[str, int, int]],
) -> list[StoredOperation] | None:
    """Rules 2-4 of `apply`: the rows of an identical re-submission, None to append, or raise.

    `head` is the stream's max index (-1 if empty), `stream_rows` the stream's rows at the
    batch's indexes, `stored_keys` the batch's (op id, index, skip) found anywhere.
    """
    if operations and all(_same(stream_rows.get(op.index), op) for op in operations):
        return [stream_rows[op.index] for op in operations]
    for op in operations:
        if (op.id, op.index, op.skip) in stored_keys:
            raise DuplicateOperationError(document_id, scope, branch, op.id, op.index, op.skip)
    if head != revision - 1:
        raise RevisionMismatchError(document_id, scope, branch, head + 1, revision)
    return None
