"""The operation store in memory, for tests and tools: the same contract as the SQLite one.

The store is append-only, so a batch is an overlay of pending rows on the committed ones:
its own reads see both, everyone else sees only what was committed, and committing is
appending the overlay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from projections.stores.codec import dump_operation, load_operation
from projections.stores.operation_store import (
    EPOCH_ISO,
    OperationFilter,
    OperationStore,
    OperationStoreBatch,
    Revisions,
    StoredOperation,
    check_stream_batch,
    iso_from_us,
    query_instant_us,
    resolve_apply,
)
from projections.stores.paging import Page, Paging, cursor_key, page_limit, to_page
from projections.stores.tracking import MemoryTrackedStore
from reactor_es.document.ids import utc_now_iso
from reactor_es.document.types import Operation

__all__ = ["MemoryOperationStore"]

StreamKey = tuple[str, str, str]
OpKey = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class _Row:
    """A stored row; the operation is kept as text so callers cannot change it."""

    id: int
    document_id: str
    document_type: str
    scope: str
    branch: str
    index: int
    skip: int
    op_id: str
    hash: str
    action_type: str
    instant: int
    body: str
    prev_op_id: str
    write_timestamp: str
    job_id: str | None

    def stored(self) -> StoredOperation:
        return StoredOperation(
            id=self.id,
            document_id=self.document_id,
            document_type=self.document_type,
            scope=self.scope,
            branch=self.branch,
            operation=load_operation(self.body),
            prev_op_id=self.prev_op_id,
            write_timestamp_utc_ms=self.write_timestamp,
            job_id=self.job_id,
        )


@dataclass(slots=True)
class _Rows:
    """Rows in write order, by stream (index order) and by (op id, index, skip)."""

    rows: list[_Row] = field(default_factory=list)
    streams: dict[StreamKey, list[_Row]] = field(default_factory=dict)
    keys: set[OpKey] = field(default_factory=set)

    def add(self, row: _Row) -> None:
        self.rows.append(row)
        self.streams.setdefault((row.document_id, row.scope, row.branch), []).append(row)
        self.keys.add((row.op_id, row.index, row.skip))


class _MemoryOperationBatch(OperationStoreBatch):
    def __init__(self, name: str, committed: _Rows, clock: Callable[[], str]) -> None:
        super().__init__(name)
        self._committed = committed
        self.pending = _Rows()
        self._clock = clock

    def _stream(self, key: StreamKey) -> list[_Row]:
        return self._committed.streams.get(key, []) + self.pending.streams.get(key, [])

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
        self._check_open()
        if not operations:
            return []
        instants = check_stream_batch(document_id, scope, branch, revision, operations)
        stream = self._stream((document_id, scope, branch))
        head = stream[-1].index if stream else -1
        wanted = {op.index for op in operations}
        at_index = {row.index: row.stored() for row in stream if row.index in wanted}
        stored_keys = {
            key
            for key in ((op.id, op.index, op.skip) for op in operations)
            if key in self._committed.keys or key in self.pending.keys
        }
        resubmitted = resolve_apply(
            document_id, scope, branch, revision, operations, head, at_index, stored_keys
        )
        if resubmitted is not None:
            return resubmitted
        next_id = len(self._committed.rows) + len(self.pending.rows) + 1
        prev_op_id = stream[-1].op_id if stream else ""
        written = self._clock()
        rows: list[_Row] = []
        for offset, (op, instant) in enumerate(zip(operations, instants, strict=True)):
            rows.append(
                _Row(
                    id=next_id + offset,
                    document_id=document_id,
                    document_type=document_type,
                    scope=scope,
                    branch=branch,
                    index=op.index,
                    skip=op.skip,
                    op_id=op.id,
                    hash=op.hash,
                    action_type=op.action.type,
                    instant=instant,
                    body=dump_operation(op, resulting_state=False),
                    prev_op_id=prev_op_id,
                    write_timestamp=written,
                    job_id=job_id,
                )
            )
            prev_op_id = op.id
        for row in rows:
            self.pending.add(row)
        return [row.stored() for row in rows]


class MemoryOperationStore(MemoryTrackedStore[_MemoryOperationBatch], OperationStore):
    """The operation store held in this process only; `clock` stamps write times."""

    def __init__(
        self, name: str = "memory operation store", clock: Callable[[], str] = utc_now_iso
    ) -> None:
        super().__init__(name)
        self._rows = _Rows()
        self._clock = clock

    def _start_batch(self) -> _MemoryOperationBatch:
        return _MemoryOperationBatch(self.name, self._rows, self._clock)

    def _commit(self, batch: _MemoryOperationBatch) -> None:
        for row in batch.pending.rows:
            self._rows.add(row)

    async def get_since(
        self,
        document_id: str,
        scope: str,
        branch: str,
        revision: int,
        filter: OperationFilter | None = None,
        paging: Paging | None = None,
    ) -> Page[StoredOperation]:
        self._check_open()
        after = max(revision, cursor_key(paging, "get_since") or -1)
        size = page_limit(paging, "get_since")
        keep = _matcher(filter)
        rows = [
            row
            for row in self._rows.streams.get((document_id, scope, branch), [])
            if row.index > after and keep(row)
        ]
        return _page(rows, size, key=lambda row: row.index)

    async def get_since_id(
        self, row_id: int, paging: Paging | None = None
    ) -> Page[StoredOperation]:
        self._check_open()
        after = max(row_id, cursor_key(paging, "get_since_id") or 0)
        size = page_limit(paging, "get_since_id")
        rows = self._rows.rows[max(after, 0) :]
        return _page(rows, size, key=lambda row: row.id)

    async def get_revisions(self, document_id: str, branch: str = "main") -> Revisions:
        self._check_open()
        revision: dict[str, int] = {}
        latest: int | None = None
        for (doc, scope, on_branch), rows in self._rows.streams.items():
            if doc != document_id or on_branch != branch:
                continue
            revision[scope] = rows[-1].index + 1
            newest = max(row.instant for row in rows)
            latest = newest if latest is None else max(latest, newest)
        return Revisions(
            dict(sorted(revision.items())), EPOCH_ISO if latest is None else iso_from_us(latest)
        )

    async def get_conflicting(
        self,
        document_id: str,
        scope: str,
        branch: str,
        min_timestamp: str,
        paging: Paging | None = None,
    ) -> Page[StoredOperation]:
        self._check_open()
        since = query_instant_us(min_timestamp, "get_conflicting", "min_timestamp")
        after = cursor_key(paging, "get_conflicting")
        size = page_limit(paging, "get_conflicting")
        rows = [
            row
            for row in self._rows.streams.get((document_id, scope, branch), [])
            if row.instant >= since and (after is None or row.index > after)
        ]
        return _page(rows, size, key=lambda row: row.index)


def _matcher(filter: OperationFilter | None) -> Callable[[_Row], bool]:
    if filter is None:
        return lambda row: True
    types = None if filter.action_types is None else set(filter.action_types)
    since = (
        None
        if filter.timestamp_from is None
        else query_instant_us(filter.timestamp_from, "get_since", "timestamp_from")
    )
    until = (
        None
        if filter.timestamp_to is None
        else query_instant_us(filter.timestamp_to, "get_since", "timestamp_to")
    )
    lowest = filter.since_revision

    def keep(row: _Row) -> bool:
        return (
            (types is None or row.action_type in types)
            and (since is None or row.instant >= since)
            and (until is None or row.instant <= until)
            and (lowest is None or row.index >= lowest)
        )

    return keep


def _page(
    rows: Sequence[_Row], size: int | None, key: Callable[[_Row], int]
) -> Page[StoredOperation]:
    page = to_page(rows[: size + 1] if size is not None else rows, size, key)
    return Page([row.stored() for row in page.results], page.next_cursor)
