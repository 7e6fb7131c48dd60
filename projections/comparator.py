"""The dual-write comparator of phase 5: legacy storage and the operation store, side by side.

Both stores are read through the one interface both serve: legacy storage's own
`LegacyStorageReader`, and the phase-6 adapter over the operation store (rows for the
operations and revisions, the snapshot table for states and header). For each document
they must agree on the header, and for each scope on every operation (id, index, skip,
hash, timestamp, action, error) and on the resulting and initial state; every difference is
one `Divergence` naming the document, the scope and the index where it has one.

A deleted document is not found through either (legacy storage deleted it as
`deleteDocument` did; the operation store keeps it, a tombstone whose last document-scope
operation is the DELETE_DOCUMENT, but its adapter reads it as legacy storage would). Both
stores then agree if their deletion records do: the same DELETE_DOCUMENT, instant, type and
revisions. A document deleted in one store and alive (or missing) in the other diverges.

Compared at the same consumed offset: the two projectors consume `operations` in consumer
groups of their own and commit their positions with their rows, and every commit that
writes a document's rows moves the position of the partition the document lives on. So a
round reads both stores' positions, then the documents, then the positions again, and
keeps only the documents of partitions that stood at the same position in both stores
before and after: those were read at one and the same offset. The documents of the other
partitions are deferred, to the next round of the running comparator, or (`reactor-es
compare`) waited for: it first waits until every partition stands level in both stores,
as it does as soon as the pipeline is idle, then compares. We do not pause the projectors:
a comparison never holds up a write.

A round reads every document in full, so it costs O(stored operations) (measured on the
corpus in the tests); the running comparator spaces its rounds by `interval` seconds and
records each result in `comparator.db`, where `reactor-es status` finds the last one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from projections.exceptions import ProjectorStateError
from projections.legacy_adapter import OperationStoreFile
from projections.stores.legacy import (
    DocumentDeletion,
    DocumentNotFoundError,
    LegacyStorage,
    LegacyStorageReader,
    OperationKey,
)
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from projections.stores.sqlite import Migration, SqliteDatabase
from projections.stores.tracking import TopicPartition
from reactor_es.config import Settings
from reactor_es.document.hashing import hash_scope_state, stable_stringify
from reactor_es.document.ids import utc_now_iso
from reactor_es.document.types import Document, Operation
from reactor_es.errors import ReactorError
from reactor_es.kafka.topics import TopicNames, partition_for
from reactor_es.registry import DocumentModelRegistry

__all__ = [
    "COMPARATOR_FILE",
    "COMPARATOR_MIGRATIONS",
    "ComparatorService",
    "Comparison",
    "ComparisonLog",
    "Divergence",
    "DualWriteComparator",
    "RecordedComparison",
    "comparator_for",
    "diff_documents",
    "diff_held",
]

log = logging.getLogger(__name__)

#: The comparator's log of rounds under `settings.home`.
COMPARATOR_FILE = "comparator.db"

LEGACY = "legacy storage"
OURS = "operation store"

#: Operation fields compared, with the names Powerhouse writes.
_OPERATION_FIELDS = (
    ("id", "id"),
    ("skip", "skip"),
    ("hash", "hash"),
    ("timestamp_utc_ms", "timestampUtcMs"),
    ("error", "error"),
    ("denied_reason", "deniedReason"),
)


# --- what differs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Divergence:
    """One difference between the stores: where (document, scope, index) and what."""

    document_id: str
    what: str
    scope: str | None = None
    index: int | None = None

    def line(self) -> str:
        where = f"document {self.document_id}"
        if self.scope is not None:
            where += f" scope {self.scope}"
        if self.index is not None:
            where += f" index {self.index}"
        return f"{where}: {self.what}"


def _both(a: object, b: object) -> str:
    return f"{LEGACY} {a!r}, {OURS} {b!r}"


def _state_text(value: Any) -> str:
    return stable_stringify(value)


def _diff_operation(theirs: Operation, ours: Operation) -> list[str]:
    parts = [
        f"{name}: {_both(getattr(theirs, attr), getattr(ours, attr))}"
        for attr, name in _OPERATION_FIELDS
        if getattr(theirs, attr) != getattr(ours, attr)
    ]
    if _state_text(theirs.action.to_json()) != _state_text(ours.action.to_json()):
        parts.append(f"action: {LEGACY} {theirs.action.type}, {OURS} {ours.action.type}")
    return parts


def _diff_history(
    document_id: str, scope: str, theirs: list[Operation], ours: list[Operation]
) -> list[Divergence]:
    found: list[Divergence] = []
    legacy_at = {op.index: op for op in theirs}
    ours_at = {op.index: op for op in ours}
    for index in sorted(legacy_at.keys() | ours_at.keys()):
        a, b = legacy_at.get(index), ours_at.get(index)
        if a is None or b is None:
            held, op = (LEGACY, a) if b is None else (OURS, b)
            assert op is not None
            what = f"only in {held} (operation {op.id}, {op.action.type})"
        else:
            parts = _diff_operation(a, b)
            if not parts:
                continue
            what = "; ".join(parts)
        found.append(Divergence(document_id, what, scope, index))
    return found


def _diff_states(
    document_id: str, label: str, theirs: Mapping[str, Any], ours: Mapping[str, Any]
) -> list[Divergence]:
    found: list[Divergence] = []
    for scope in [*theirs, *(s for s in ours if s not in theirs)]:
        if scope not in ours or scope not in theirs:
            held = LEGACY if scope in theirs else OURS
            found.append(Divergence(document_id, f"{label}: only in {held}", scope))
        elif _state_text(theirs[scope]) != _state_text(ours[scope]):
            found.append(
                Divergence(
                    document_id,
                    f"{label}: {LEGACY} hash {hash_scope_state(theirs[scope])}, "
                    f"{OURS} hash {hash_scope_state(ours[scope])}",
                    scope,
                )
            )
    return found


def diff_documents(
    document_id: str, theirs: Document | None, ours: Document | None
) -> list[Divergence]:
    """Every difference between legacy storage's document and the operation store's."""
    if theirs is None or ours is None:
        if theirs is None and ours is None:
            return []
        missing = OURS if ours is None else LEGACY
        return [Divergence(document_id, f"missing from the {missing}")]
    found: list[Divergence] = []
    header_a, header_b = theirs.header.to_json(), ours.header.to_json()
    for key in [*header_a, *(k for k in header_b if k not in header_a)]:
        if _state_text(header_a.get(key)) != _state_text(header_b.get(key)):
            found.append(
                Divergence(
                    document_id, f"header {key}: {_both(header_a.get(key), header_b.get(key))}"
                )
            )
    for scope in [*theirs.operations, *(s for s in ours.operations if s not in theirs.operations)]:
        found.extend(
            _diff_history(
                document_id,
                scope,
                theirs.operations.get(scope, []),
                ours.operations.get(scope, []),
            )
        )
    found.extend(_diff_states(document_id, "resulting state", theirs.state, ours.state))
    found.extend(
        _diff_states(document_id, "initial state", theirs.initial_state, ours.initial_state)
    )
    clip_a = [op.to_json() for op in theirs.clipboard]
    clip_b = [op.to_json() for op in ours.clipboard]
    if _state_text(clip_a) != _state_text(clip_b):
        found.append(
            Divergence(
                document_id,
                f"clipboard: {LEGACY} {len(clip_a)} operations, {OURS} {len(clip_b)} operations",
            )
        )
    return found


#: What a store holds under a document id: the document, what is kept of it once deleted,
#: or nothing.
Held = Document | DocumentDeletion | None


def _where(held: Held) -> str:
    if isinstance(held, DocumentDeletion):
        return f"deleted at {held.deleted_at}"
    return "alive" if held is not None else "missing"


def _key(key: OperationKey) -> str:
    return f"{key.id} (index {key.index}, skip {key.skip}, hash {key.hash})"


def diff_held(document_id: str, theirs: Held, ours: Held) -> list[Divergence]:
    """Every difference between what the two stores hold under a document id."""
    if not isinstance(theirs, DocumentDeletion) and not isinstance(ours, DocumentDeletion):
        return diff_documents(document_id, theirs, ours)
    if not isinstance(theirs, DocumentDeletion) or not isinstance(ours, DocumentDeletion):
        return [Divergence(document_id, f"{LEGACY}: {_where(theirs)}; {OURS}: {_where(ours)}")]
    found: list[Divergence] = []
    if theirs.document_type != ours.document_type:
        found.append(
            Divergence(
                document_id,
                f"deleted document type: {_both(theirs.document_type, ours.document_type)}",
            )
        )
    if theirs.deleted_at != ours.deleted_at:
        found.append(
            Divergence(document_id, f"deleted at: {_both(theirs.deleted_at, ours.deleted_at)}")
        )
    if theirs.operation != ours.operation:
        found.append(
            Divergence(
                document_id,
                f"deleted by: {LEGACY} {_key(theirs.operation)}, {OURS} {_key(ours.operation)}",
                "document",
                theirs.operation.index,
            )
        )
    if dict(theirs.revisions) != dict(ours.revisions):
        found.append(
            Divergence(
                document_id,
                "revisions when deleted: "
                + _both(
                    dict(sorted(theirs.revisions.items())), dict(sorted(ours.revisions.items()))
                ),
            )
        )
    return found


# --- one round ---------------------------------------------------------------------------

#: Where a partition stands in each store: (legacy storage, operation store); None = nothing.
Standing = tuple[int | None, int | None]
#: A partition neither store has read: level, at nothing.
_NOTHING: Standing = (None, None)


@dataclass
class Comparison:
    """The result of one round."""

    documents: int
    divergences: list[Divergence] = field(default_factory=list)
    #: Partitions not compared this round, with where each store stood.
    deferred: dict[TopicPartition, Standing] = field(default_factory=dict)
    #: The positions (equal in both stores) at which the compared documents were read.
    positions: dict[TopicPartition, int | None] = field(default_factory=dict)
    seconds: float = 0.0
    finished_at: str = ""

    def summary(self) -> str:
        return f"compared: {self.documents} documents, {len(self.divergences)} divergences"

    def deferred_lines(self) -> list[str]:
        return [
            f"not compared: {tp.topic} partition {tp.partition}: {LEGACY} at "
            f"{_offset(legacy)}, {OURS} at {_offset(ours)}"
            for tp, (legacy, ours) in sorted(self.deferred.items())
        ]


def _offset(offset: int | None) -> str:
    return "nothing" if offset is None else str(offset)


class DualWriteComparator:
    """Compares the documents both stores hold at the same consumed offsets."""

    def __init__(
        self,
        legacy: LegacyStorage,
        operations: OperationStoreFile,
        *,
        legacy_consumer: str,
        operations_consumer: str,
        partition_of: Callable[[str], TopicPartition],
        document_types: Iterable[str] = (),
    ) -> None:
        self.legacy = legacy
        self.operations = operations
        self.legacy_consumer = legacy_consumer
        self.operations_consumer = operations_consumer
        self.partition_of = partition_of
        self.document_types = tuple(document_types)
        self._ours = operations.legacy_reader()

    async def standings(self) -> dict[TopicPartition, Standing]:
        legacy = await self.legacy.get_positions(self.legacy_consumer)
        ours = await self.operations.get_positions(self.operations_consumer)
        return {tp: (legacy.get(tp), ours.get(tp)) for tp in sorted(legacy.keys() | ours.keys())}

    async def document_ids(self) -> list[str]:
        """Every document of either store: legacy's (in creation order by type, then the
        deleted ones), then ours (deleted ones too)."""
        held = await self.operations.snapshots.documents()
        types = dict.fromkeys([*self.document_types, *(t for _, t in held)])
        ids: dict[str, None] = {}
        for document_type in types:
            page = await self.legacy.find_by_type(document_type, limit=None)
            ids.update(dict.fromkeys(page.results))
        ids.update(dict.fromkeys(await self.legacy.deleted_documents()))
        ids.update(dict.fromkeys(document_id for document_id, _ in held))
        return list(ids)

    async def compare(self) -> Comparison:
        """One round over the documents of the partitions level in both stores."""
        started = time.perf_counter()
        before = await self.standings()
        read: dict[str, list[Divergence]] = {}
        for document_id in await self.document_ids():
            legacy_at, ours_at = before.get(self.partition_of(document_id), _NOTHING)
            if legacy_at != ours_at:
                continue
            theirs = await _read(self.legacy, document_id)
            ours = await _read(self._ours, document_id)
            read[document_id] = diff_held(document_id, theirs, ours)
        after = await self.standings()

        def steady(tp: TopicPartition) -> bool:
            stood = before.get(tp, _NOTHING)
            return stood[0] == stood[1] and after.get(tp, _NOTHING) == stood

        comparison = Comparison(documents=0)
        for document_id, divergences in read.items():
            if steady(self.partition_of(document_id)):
                comparison.documents += 1
                comparison.divergences.extend(divergences)
        partitions = sorted(before.keys() | after.keys())
        comparison.deferred = {
            tp: after.get(tp, before.get(tp, _NOTHING)) for tp in partitions if not steady(tp)
        }
        comparison.positions = {tp: before[tp][0] for tp in partitions if steady(tp)}
        comparison.seconds = time.perf_counter() - started
        comparison.finished_at = utc_now_iso()
        return comparison

    async def compare_level(self, wait: float, poll_interval: float = 0.2) -> Comparison:
        """Wait up to `wait` seconds for every partition to stand level, then compare.

        Compares again while partitions were deferred and time remains; the last round is
        returned, deferred partitions and all.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            standings = await self.standings()
            if all(a == b for a, b in standings.values()) or loop.time() >= deadline:
                comparison = await self.compare()
                if not comparison.deferred or loop.time() >= deadline:
                    return comparison
            await asyncio.sleep(poll_interval)


async def _read(store: LegacyStorageReader, document_id: str) -> Held:
    try:
        return await store.get_document(document_id)
    except DocumentNotFoundError:
        return await store.get_deletion(document_id)


# --- the record of rounds ----------------------------------------------------------------

COMPARATOR_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        (
            "CREATE TABLE comparisons ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " finished_at TEXT NOT NULL,"
            " documents INTEGER NOT NULL,"
            " divergences INTEGER NOT NULL,"
            " deferred INTEGER NOT NULL,"
            " seconds REAL NOT NULL,"
            " lines TEXT NOT NULL"
            ")",
        ),
    ),
)


@dataclass(frozen=True)
class RecordedComparison:
    """A round as `comparator.db` keeps it (its first `ComparisonLog.LINES` divergences)."""

    finished_at: str
    documents: int
    divergences: int
    deferred: int
    seconds: float
    lines: list[str]

    def summary(self) -> str:
        return f"compared: {self.documents} documents, {self.divergences} divergences"


class ComparisonLog:
    """The last rounds of the comparator, for `reactor-es status` and whoever asks."""

    #: Rounds kept, and divergence lines kept per round.
    ROUNDS = 100
    LINES = 1000

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: str | Path) -> Self:
        db = await SqliteDatabase.open(
            f"comparator log {path}", path, {"comparisons": COMPARATOR_MIGRATIONS}
        )
        return cls(db)

    async def record(self, comparison: Comparison) -> None:
        lines = [d.line() for d in comparison.divergences[: self.LINES]]
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO comparisons (finished_at, documents, divergences, deferred,"
                " seconds, lines) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    comparison.finished_at,
                    comparison.documents,
                    len(comparison.divergences),
                    len(comparison.deferred),
                    comparison.seconds,
                    json.dumps(lines, ensure_ascii=False),
                ),
            )
            await conn.execute(
                "DELETE FROM comparisons WHERE id <= (SELECT max(id) FROM comparisons) - ?",
                (self.ROUNDS,),
            )

    async def last(self) -> RecordedComparison | None:
        rows = await self._db.read(
            "SELECT finished_at, documents, divergences, deferred, seconds, lines"
            " FROM comparisons ORDER BY id DESC LIMIT 1"
        )
        if not rows:
            return None
        finished_at, documents, divergences, deferred, seconds, lines = rows[0]
        return RecordedComparison(
            finished_at, documents, divergences, deferred, seconds, json.loads(lines)
        )

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


# --- the running comparator --------------------------------------------------------------


def comparator_for(
    settings: Settings,
    legacy: LegacyStorage,
    operations: OperationStoreFile,
    document_types: Iterable[str] = (),
) -> DualWriteComparator:
    """The comparator of a deployment: its consumer groups, topic and partition count."""
    topic = TopicNames.from_settings(settings).operations
    return DualWriteComparator(
        legacy,
        operations,
        legacy_consumer=settings.projector_group("legacy"),
        operations_consumer=settings.projector_group("operations"),
        partition_of=lambda document_id: TopicPartition(
            topic, partition_for(document_id, settings.partitions)
        ),
        document_types=document_types,
    )


class ComparatorService:
    """Phase 5's comparator, run beside the projectors: a round every `interval` seconds."""

    name = "comparator"

    def __init__(
        self,
        settings: Settings,
        registry: DocumentModelRegistry,
        *,
        legacy_path: Path,
        operations_path: Path,
        log_path: Path | None = None,
        interval: float = 30.0,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.legacy_path = legacy_path
        self.operations_path = operations_path
        self.log_path = log_path or settings.home / COMPARATOR_FILE
        self.interval = interval
        self.rounds = 0
        self.last: Comparison | None = None
        self._comparator: DualWriteComparator | None = None
        self._log: ComparisonLog | None = None
        self._opened: list[SqliteLegacyStorage | OperationStoreFile | ComparisonLog] = []
        self._stopping = asyncio.Event()
        self._round_done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._comparator is not None:
            return
        try:
            legacy = await SqliteLegacyStorage.open(self.legacy_path)
            self._opened.append(legacy)
            operations = await OperationStoreFile.open(self.operations_path)
            self._opened.append(operations)
            self._log = await ComparisonLog.open(self.log_path)
            self._opened.append(self._log)
        except BaseException:
            await self._close()
            raise
        self._comparator = comparator_for(
            self.settings, legacy, operations, self.registry.document_types()
        )

    async def run(self) -> None:
        """Compare until `stop()`; a round that fails is logged and the next one comes."""
        if self._comparator is None:
            await self.start()
        comparator, record = self._comparator, self._log
        assert comparator is not None
        assert record is not None
        try:
            while not self._stopping.is_set():
                try:
                    comparison = await comparator.compare()
                    await record.record(comparison)
                except ReactorError as exc:
                    log.error("comparator: round failed: %s", exc)
                else:
                    self._report(comparison)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.interval)
        finally:
            await self._close()

    def _report(self, comparison: Comparison) -> None:
        self.rounds += 1
        self.last = comparison
        for divergence in comparison.divergences[:20]:
            log.warning("comparator: %s", divergence.line())
        log.log(
            logging.WARNING if comparison.divergences else logging.INFO,
            "comparator: %s (%d partitions deferred, %.2f s)",
            comparison.summary(),
            len(comparison.deferred),
            comparison.seconds,
        )
        event, self._round_done = self._round_done, asyncio.Event()
        event.set()

    async def next_round(self, timeout: float = 30.0) -> Comparison:
        """The first round that ends after this call."""
        if self._comparator is None:
            raise ProjectorStateError("comparator is not started")
        await asyncio.wait_for(self._round_done.wait(), timeout)
        assert self.last is not None
        return self.last

    def stop(self) -> None:
        self._stopping.set()

    async def _close(self) -> None:
        opened, self._opened = self._opened, []
        for store in reversed(opened):
            await store.close()
        self._comparator = self._log = None

    async def __aenter__(self) -> Self:
        await self.start()
        self._task = asyncio.create_task(self.run(), name="comparator")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()
        if self._task is not None:
            task, self._task = self._task, None
            await task
