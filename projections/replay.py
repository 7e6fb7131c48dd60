"""Rebuilding a store from offset 0 of its topic, checking it against the live one, swapping.

`replay_store` builds the store's projector, the very class the live system runs, on a
fresh file and feeds it the topic from the beginning: nothing about a store is kept that
its topic cannot give back. How, and why:

- the records are read by a group-less consumer that assigns itself every partition, not by
  the projector's consumer group: joining that group would take partitions away from a live
  projector. Batches are recorded under the live group's consumer name, so the rebuilt file
  holds the positions the live projector would resume from (what a swap needs). The copy
  never reports READ_READY: the live projector did that once already;
- how far it reads: with the live projector stopped, to where the live store stands (the
  two are then compared at the same offsets, and a swap loses nothing); with it running, to
  the topic's end as of the start, then up to wherever the live store has got to meanwhile;
- the check reads both stores through their own read interfaces and compares every document
  (or job) in full: header, states, every operation, and, for the operation store, each
  row's job id and predecessor (a deleted document included); legacy storage no longer holds
  a deleted document, so there its deletion record is compared. What a rebuild cannot
  reproduce is left out: the positions' history, row ids and creation order, and the
  operation store's write timestamps. As the comparator does, a document counts only if its
  partition stood at the same offset in both stores before and after it was read; the others
  are compared again (the live one moved);
- `swap` is stop-the-world: only a rebuilt store found equal and level is swapped in, and
  it refuses while the live projector's consumer group has members or any other process
  (the comparator, a client reading jobs) has the live file open, which SQLite shows by
  refusing to leave WAL mode. Then the live file is replaced by the rebuilt one in one
  `rename`; the previous file stays beside it (`<name>.replaced-<time>`). Being level, the
  projector resumes exactly where the old file stood, so no job misses its READ_READY. A
  running projector cannot be swapped under safely: it holds the old file open and would
  go on writing to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, Protocol, TextIO, TypeVar

from aiokafka import TopicPartition as KafkaPartition

from projections.exceptions import ReplayError
from projections.job_status import JobStatusProjector, SqliteJobStatusStore
from projections.legacy_adapter import OperationStoreFile
from projections.legacy_projector import LegacyProjector
from projections.operation_store_projector import READ_READY_SUFFIX, OperationStoreProjector
from projections.runner import Delivered, PolledBatch, Projector, decode_messages
from projections.service import job_store_path, legacy_store_path, operation_store_path
from projections.stores.legacy import DocumentNotFoundError
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from projections.stores.tracking import TopicPartition
from reactor_es.config import Settings
from reactor_es.kafka.clients import make_consumer
from reactor_es.kafka.codec import RecordCodec, WireRecord
from reactor_es.kafka.inspection import KafkaInspector
from reactor_es.kafka.topics import TopicNames, partition_for
from reactor_es.progress import Progress
from reactor_es.registry import DocumentModelRegistry

__all__ = [
    "REPLAYABLE_STORES",
    "ReplayReport",
    "StoreComparison",
    "check_target",
    "compare_store_files",
    "first_difference",
    "replay_store",
]

log = logging.getLogger(__name__)

#: Differences kept per comparison (the count goes on).
_KEPT_DIFFERENCES = 100
#: How long a shown value may be in a difference line.
_SHOWN = 60


# --- reading a store for the comparison ------------------------------------------------------


class _StoreView(ABC):
    """A store as the comparison reads it: keys, one item at a time, positions."""

    @abstractmethod
    async def keys(self) -> list[str]:
        """Every document (or job) id the store holds."""

    @abstractmethod
    async def read(self, key: str) -> Any:
        """The item as plain JSON values (None: not held)."""

    @abstractmethod
    async def positions(self, consumer: str) -> dict[TopicPartition, int]: ...

    @abstractmethod
    async def record_positions(
        self, consumer: str, positions: Mapping[TopicPartition, int]
    ) -> None:
        """Write positions of another consumer (carried over by a swap)."""

    @abstractmethod
    async def close(self) -> None: ...


class _PositionWriter(Protocol):
    def record_position(self, consumer: str, topic: str, partition: int, offset: int) -> None: ...


class _TrackedFile(Protocol):
    """What every replayable store file offers besides its items."""

    async def get_positions(self, consumer: str) -> dict[TopicPartition, int]: ...

    def batch(self) -> AbstractAsyncContextManager[_PositionWriter]: ...

    async def close(self) -> None: ...


S = TypeVar("S", bound=_TrackedFile)


class _TrackedView(_StoreView, Generic[S]):
    """A view whose positions are its store file's own."""

    def __init__(self, store: S) -> None:
        self._store = store

    async def positions(self, consumer: str) -> dict[TopicPartition, int]:
        return await self._store.get_positions(consumer)

    async def record_positions(
        self, consumer: str, positions: Mapping[TopicPartition, int]
    ) -> None:
        async with self._store.batch() as batch:
            for tp, offset in positions.items():
                batch.record_position(consumer, tp.topic, tp.partition, offset)

    async def close(self) -> None:
        await self._store.close()


class _LegacyView(_TrackedView[SqliteLegacyStorage]):
    def __init__(self, store: SqliteLegacyStorage, document_types: Sequence[str]) -> None:
        super().__init__(store)
        self._types = document_types

    async def keys(self) -> list[str]:
        # A projector stores only documents of registered types (others it cannot replay).
        found: list[str] = []
        for document_type in self._types:
            found.extend((await self._store.find_by_type(document_type, limit=None)).results)
        # Deleted documents are compared by what is kept of them: their deletion records.
        found.extend(await self._store.deleted_documents())
        return found

    async def read(self, key: str) -> Any:
        try:
            return (await self._store.get_document(key)).to_json()
        except DocumentNotFoundError:
            deletion = await self._store.get_deletion(key)
            return None if deletion is None else {"deleted": deletion.to_json()}


class _OperationStoreView(_TrackedView[OperationStoreFile]):
    def __init__(self, store: OperationStoreFile) -> None:
        super().__init__(store)
        self._reader = store.legacy_reader()

    async def keys(self) -> list[str]:
        return [document_id for document_id, _ in await self._store.snapshots.documents()]

    async def read(self, key: str) -> Any:
        try:
            document = await self._reader.get_held_document(key)  # a deleted one too
        except DocumentNotFoundError:
            return None
        rows: dict[str, list[list[Any]]] = {}
        for scope in document.operations:
            page = await self._store.operations.get_since(key, scope, document.header.branch, -1)
            rows[scope] = [
                [row.index, row.job_id, row.prev_op_id, row.document_type, row.branch]
                for row in page.results
            ]
        return {"document": document.to_json(), "rows": rows}


class _JobView(_TrackedView[SqliteJobStatusStore]):
    async def keys(self) -> list[str]:
        return [times.job_id for times in await self._store.times()]

    async def read(self, key: str) -> Any:
        info = await self._store.get_job(key)
        times = await self._store.get_times(key)
        if info is None or times is None:
            return None
        return {"job": info.to_json(), "times": vars(times)}


# --- the stores that can be replayed -------------------------------------------------------------

_Build = Callable[[Settings, str, DocumentModelRegistry, Path], Projector[Any]]
_Open = Callable[[Path, DocumentModelRegistry], Awaitable[_StoreView]]


@dataclass(frozen=True)
class _Replayable:
    """How one store is rebuilt (its projector), found (live path) and read (its view)."""

    name: str
    what: str  # the items compared, plural
    unit: str  # the records read, plural
    live_path: Callable[[Settings], Path]
    topic: Callable[[TopicNames], str]
    build: _Build
    open_view: _Open
    #: Consumers whose positions the live file holds besides the projector's own: a swap
    #: carries them over (how far the operation store's READ_READY has been reported).
    carried: Callable[[Settings], tuple[str, ...]] = lambda settings: ()


async def _open_legacy(path: Path, registry: DocumentModelRegistry) -> _StoreView:
    return _LegacyView(await SqliteLegacyStorage.open(path), registry.document_types())


async def _open_operation_store(path: Path, registry: DocumentModelRegistry) -> _StoreView:
    return _OperationStoreView(await OperationStoreFile.open(path))


async def _open_jobs(path: Path, registry: DocumentModelRegistry) -> _StoreView:
    return _JobView(await SqliteJobStatusStore.open(path))


_STORES: dict[str, _Replayable] = {
    "legacy": _Replayable(
        "legacy",
        "documents",
        "operations",
        legacy_store_path,
        lambda topics: topics.operations,
        lambda settings, bootstrap, registry, path: LegacyProjector(
            settings, bootstrap, registry, reports_read_ready=False, store_path=path
        ),
        _open_legacy,
    ),
    "operations": _Replayable(
        "operations",
        "documents",
        "operations",
        operation_store_path,
        lambda topics: topics.operations,
        lambda settings, bootstrap, registry, path: OperationStoreProjector(
            settings, bootstrap, registry, reports_read_ready=False, store_path=path
        ),
        _open_operation_store,
        carried=lambda settings: (settings.projector_group("operations") + READ_READY_SUFFIX,),
    ),
    "jobs": _Replayable(
        "jobs",
        "jobs",
        "job events",
        job_store_path,
        lambda topics: topics.job_events,
        lambda settings, bootstrap, registry, path: JobStatusProjector(settings, store_path=path),
        _open_jobs,
    ),
}

#: The stores `replay_store` rebuilds, by projector name.
REPLAYABLE_STORES: tuple[str, ...] = tuple(_STORES)


def _replayable(name: str) -> _Replayable:
    spec = _STORES.get(name)
    if spec is None:
        raise ReplayError(f"unknown store '{name}' (replayable: {', '.join(REPLAYABLE_STORES)})")
    return spec


# --- comparing two stores ---------------------------------------------------------------------


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def first_difference(live: Any, rebuilt: Any, path: str = "") -> str | None:
    """Where two JSON values first differ (`operations.global[5].hash: live .., rebuilt ..`)."""
    if isinstance(live, dict) and isinstance(rebuilt, dict):
        for key in sorted(live.keys() | rebuilt.keys()):
            where = f"{path}.{key}" if path else str(key)
            if key not in rebuilt:
                return f"{where}: only in the live store"
            if key not in live:
                return f"{where}: only in the rebuilt store"
            found = first_difference(live[key], rebuilt[key], where)
            if found is not None:
                return found
        return None
    if isinstance(live, list) and isinstance(rebuilt, list):
        for n, (a, b) in enumerate(zip(live, rebuilt, strict=False)):
            found = first_difference(a, b, f"{path}[{n}]")
            if found is not None:
                return found
        if len(live) != len(rebuilt):
            return f"{path or 'value'}: live {len(live)} items, rebuilt {len(rebuilt)}"
        return None
    if live == rebuilt and type(live) is type(rebuilt):
        return None
    return f"{path or 'value'}: live {_shown(live)}, rebuilt {_shown(rebuilt)}"


@dataclass
class StoreComparison:
    """The live store against the rebuilt one, at the offsets where both stood."""

    store: str
    what: str
    compared: int = 0
    difference_count: int = 0
    #: The first differences, one line each, naming the document (or job) and the field.
    differences: list[str] = field(default_factory=list)
    #: Partitions not compared: (live position, rebuilt position).
    deferred: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: Where both stood, per partition, for what was compared.
    positions: dict[int, int] = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        return self.difference_count == 0 and not self.deferred

    def summary(self) -> str:
        return (
            f"{self.compared} {self.what[:-1] if self.compared == 1 else self.what} compared, "
            f"{self.difference_count} "
            f"difference{'' if self.difference_count == 1 else 's'}"
        )

    def deferred_lines(self) -> list[str]:
        return [
            f"not compared: partition {p}: live store at {live}, rebuilt store at {rebuilt}"
            for p, (live, rebuilt) in sorted(self.deferred.items())
        ]


def _by_partition(positions: Mapping[TopicPartition, int], topic: str) -> dict[int, int]:
    return {tp.partition: offset for tp, offset in positions.items() if tp.topic == topic}


async def _standings(
    live: _StoreView, rebuilt: _StoreView, consumer: str, topic: str, partitions: Sequence[int]
) -> dict[int, tuple[int, int]]:
    """(live, rebuilt) position per partition; a partition never read stands at 0."""
    held = _by_partition(await live.positions(consumer), topic)
    ours = _by_partition(await rebuilt.positions(consumer), topic)
    return {p: (held.get(p, 0), ours.get(p, 0)) for p in partitions}


async def _compare(
    spec: _Replayable,
    live: _StoreView,
    rebuilt: _StoreView,
    *,
    consumer: str,
    topic: str,
    partitions: Sequence[int],
) -> StoreComparison:
    """One round: every item of a partition level in both stores before and after reading."""
    before = await _standings(live, rebuilt, consumer, topic, partitions)
    count = len(partitions)
    keys = sorted(set(await live.keys()) | set(await rebuilt.keys()))
    found: dict[str, tuple[int, str | None]] = {}
    for key in keys:
        partition = partition_for(key, count)
        held, ours = before.get(partition, (0, 0))
        if held != ours:
            continue
        found[key] = (partition, first_difference(await live.read(key), await rebuilt.read(key)))
    after = await _standings(live, rebuilt, consumer, topic, partitions)
    steady = {p for p in partitions if before[p][0] == before[p][1] and after[p] == before[p]}
    comparison = StoreComparison(spec.name, spec.what)
    for key, (partition, difference) in found.items():
        if partition not in steady:
            continue
        comparison.compared += 1
        if difference is not None:
            comparison.difference_count += 1
            if len(comparison.differences) < _KEPT_DIFFERENCES:
                item = "job" if spec.what == "jobs" else "document"
                comparison.differences.append(f"{item} {key}: {difference}")
    comparison.deferred = {p: after[p] for p in partitions if p not in steady}
    comparison.positions = {p: before[p][0] for p in sorted(steady)}
    return comparison


async def compare_store_files(
    settings: Settings,
    registry: DocumentModelRegistry,
    store: str,
    live_path: Path,
    rebuilt_path: Path,
) -> StoreComparison:
    """Compare two files of one store, e.g. a live store and a replay of it (no Kafka).

    Partitions are those either file has positions for, as many as `settings.partitions`.
    """
    spec = _replayable(store)
    for path in (live_path, rebuilt_path):
        if not path.exists():
            raise ReplayError(f"no {spec.name} store at {path}")
    topic = spec.topic(TopicNames.from_settings(settings))
    live = await spec.open_view(live_path, registry)
    try:
        rebuilt = await spec.open_view(rebuilt_path, registry)
        try:
            return await _compare(
                spec,
                live,
                rebuilt,
                consumer=settings.projector_group(spec.name),
                topic=topic,
                partitions=list(range(settings.partitions)),
            )
        finally:
            await rebuilt.close()
    finally:
        await live.close()


# --- feeding the projector ------------------------------------------------------------------------


class _TopicFeed:
    """Feeds a projector its topic up to given offsets, as the runner would, without a group."""

    def __init__(
        self,
        settings: Settings,
        bootstrap_servers: str,
        projector: Projector[Any],
        *,
        consumer_name: str,
        topic: str,
        partitions: Sequence[int],
        max_batch: int,
    ) -> None:
        self.settings = settings
        self.bootstrap_servers = bootstrap_servers
        self.projector = projector
        self.consumer_name = consumer_name
        self.topic = topic
        self.partitions = [TopicPartition(topic, p) for p in partitions]
        self.max_batch = max_batch
        self.records = 0
        self.seconds = 0.0
        self._codec = RecordCodec()
        self._consumer: Any = None
        self._offered: dict[TopicPartition, int] = {}
        self._read: dict[TopicPartition, int] = {}

    async def start(self) -> dict[int, int]:
        """Assign every partition at the position the projector's store holds; return them."""
        consumer = make_consumer(
            self.settings,
            self.bootstrap_servers,
            group_id=None,
            max_poll_records=self.max_batch,
        )
        await consumer.start()
        self._consumer = consumer
        consumer.assign([_kafka(tp) for tp in self.partitions])
        stored = await self.projector.stored_positions(self.consumer_name)
        for tp in self.partitions:
            offset = stored.get(tp)
            if offset is None:
                await consumer.seek_to_beginning(_kafka(tp))
                self._read[tp] = int(await consumer.position(_kafka(tp)))
            else:
                consumer.seek(_kafka(tp), offset)
                self._read[tp] = self._offered[tp] = offset
        self.projector.reset(self.partitions)
        return {tp.partition: offset for tp, offset in self._read.items()}

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()

    def read_positions(self) -> dict[int, int]:
        """How far the consumer has read each partition (what was offered, not stored)."""
        return {tp.partition: offset for tp, offset in self._read.items()}

    async def feed(self, targets: Mapping[int, int], progress: Progress) -> None:
        """Offer every record below `targets[partition]`; partitions not named stay put."""
        consumer = self._consumer
        limits = {tp: targets[tp.partition] for tp in self.partitions if tp.partition in targets}
        active = {tp for tp, limit in limits.items() if self._read[tp] < limit}
        # A partition never offered gets its position recorded once, even if empty (as the
        # runner does on assignment), so the rebuilt file lists every partition.
        fresh = [tp for tp in limits if tp not in self._offered]
        consumer.pause(*[_kafka(tp) for tp in self.partitions if tp not in active])
        consumer.resume(*[_kafka(tp) for tp in active])
        started = time.perf_counter()
        try:
            while active or fresh:
                polled = (
                    await consumer.getmany(
                        *[_kafka(tp) for tp in active],
                        timeout_ms=500,
                        max_records=self.max_batch,
                    )
                    if active
                    else {}
                )
                await self._offer(polled, limits, active, progress)
                fresh = []
        finally:
            self.seconds += time.perf_counter() - started

    async def _offer(
        self,
        polled: Mapping[Any, Sequence[Any]],
        limits: Mapping[TopicPartition, int],
        active: set[TopicPartition],
        progress: Progress,
    ) -> None:
        consumer = self._consumer
        records: list[Delivered[WireRecord]] = []
        skipped: dict[TopicPartition, list[int]] = {}
        for ktp, messages in polled.items():
            tp = TopicPartition(ktp.topic, ktp.partition)
            decode_messages(
                self._codec,
                self.projector.record_type,
                tp,
                messages,
                records,
                skipped,
                reader=f"replay {self.projector.name}",
                logger=log,
                end=limits.get(tp, 0),
            )
        positions: dict[TopicPartition, int] = {}
        stable_ends: dict[TopicPartition, int | None] = {}
        moved = 0
        for tp, limit in limits.items():
            ktp = _kafka(tp)
            position = int(await consumer.position(ktp))
            if position > limit:
                consumer.seek(ktp, limit)  # read past the target: the rest comes later
                position = limit
            if position >= limit and tp in active:
                active.discard(tp)
                consumer.pause(ktp)
            moved += position - self._read[tp]
            self._read[tp] = position
            if position != self._offered.get(tp):
                positions[tp] = position
                stable_ends[tp] = consumer.last_stable_offset(ktp)
        if not records and not skipped and not positions:
            return
        batch = PolledBatch(self.consumer_name, records, skipped, positions, stable_ends)
        await self.projector.project(batch)
        self._offered.update(positions)
        self.records += len(records)
        progress.advance(moved, len(records))


def _kafka(tp: TopicPartition) -> KafkaPartition:
    return KafkaPartition(tp.topic, tp.partition)


# --- the replay -------------------------------------------------------------------------


@dataclass
class ReplayReport:
    """What a replay did: records fed, where the rebuilt store stands, the check, the swap."""

    store: str
    unit: str
    into: Path
    live: Path
    records: int = 0
    seconds: float = 0.0
    #: The rebuilt store's positions per partition (the live group's consumer name).
    positions: dict[int, int] = field(default_factory=dict)
    #: Why it read as far as it did.
    reach: str = ""
    comparison: StoreComparison | None = None
    swapped: bool = False
    #: Why `--swap` left the live store alone (it differs), if it did.
    not_swapped: str | None = None
    previous: Path | None = None

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.comparison is None or self.comparison.equal

    def lines(self) -> list[str]:
        at = ", ".join(f"[{p}] {offset}" for p, offset in sorted(self.positions.items()))
        lines = [
            f"rebuilt {self.store} store at {self.into}: {self.records} {self.unit} in "
            f"{self.seconds:.2f} s ({self.rate:,.0f} {self.unit}/s); positions {at or 'none'}"
        ]
        comparison = self.comparison
        if comparison is None:
            lines.append(f"not verified: no live {self.store} store at {self.live}")
        else:
            lines.extend(f"differs: {line}" for line in comparison.differences)
            lines.extend(comparison.deferred_lines())
            verdict = "verified" if comparison.equal else "verification failed"
            lines.append(f"{verdict}: {comparison.summary()} against the live store {self.live}")
        if self.swapped:
            kept = f"; the previous one is kept at {self.previous}" if self.previous else ""
            lines.append(f"swapped: {self.live} is now the rebuilt store{kept}")
        if self.not_swapped:
            lines.append(f"not swapped: {self.not_swapped}; {self.live} is unchanged")
        return lines


async def replay_store(
    settings: Settings,
    bootstrap_servers: str,
    registry: DocumentModelRegistry,
    store: str,
    into: Path,
    *,
    swap: bool = False,
    resume: bool = False,
    wait: float = 30.0,
    max_batch: int = 2000,
    stream: TextIO | None = None,
    tty: bool | None = None,
    interval: float = 5.0,
) -> ReplayReport:
    """Rebuild `store` into the file `into` from offset 0 of its topic, check it, maybe swap.

    `wait`: how long the check may wait for a running live projector to stand level with the
    rebuilt store. Progress goes to `stream` (stdout): a bar on a terminal, else a line
    every `interval` seconds. Refusals (`ReplayError`, `ActiveGroupError`) change nothing.
    """
    spec = _replayable(store)
    live_path, into = _paths(spec, settings, into, resume)
    live_exists = live_path.exists()
    topic = spec.topic(TopicNames.from_settings(settings))
    group = settings.projector_group(spec.name)
    async with KafkaInspector(settings, bootstrap_servers) as kafka:
        members = await kafka.members(group)
        if swap and members.active:
            await kafka.require_idle(
                group,
                action=f"replay --swap of the {spec.name} store refused",
                stop=f"the {spec.name} projector (`reactor-es run` or `project {spec.name}`)",
            )
        extent = await kafka.extent(topic)
        if not extent.partitions:
            raise ReplayError(f"replay {spec.name}: topic '{topic}' does not exist")
        live = await spec.open_view(live_path, registry) if live_exists else None
        try:
            report = await _replay(
                spec,
                settings,
                bootstrap_servers,
                registry,
                into,
                live,
                live_path,
                topic=topic,
                ends=extent.ends,
                live_running=members.active,
                wait=wait,
                max_batch=max_batch,
                progress_to=(stream, tty, interval),
            )
            if swap and not report.ok:
                report.not_swapped = "the rebuilt store is not equal to the live one"
            elif swap:
                await kafka.require_idle(
                    group,
                    action=f"replay --swap of the {spec.name} store refused",
                    stop=f"the {spec.name} projector (`reactor-es run` or `project {spec.name}`)",
                )
                carried: dict[str, dict[TopicPartition, int]] = {}
                if live is not None:
                    carried = await _carried_positions(spec, settings, live)
                    await live.close()
                    live = None
                report.previous = await _swap(spec, registry, live_path, into, carried)
                report.swapped = True
        finally:
            if live is not None:
                await live.close()
    return report


def check_target(settings: Settings, store: str, into: Path, *, resume: bool = False) -> None:
    """Refuse a target `replay_store` would refuse, before anything (a broker) is looked up."""
    _paths(_replayable(store), settings, into, resume)


def _paths(spec: _Replayable, settings: Settings, into: Path, resume: bool) -> tuple[Path, Path]:
    """The live store's path and the target's, refusing a target that is not a new file."""
    live_path = spec.live_path(settings)
    into = into.expanduser()
    if into.resolve() == live_path.resolve():
        raise ReplayError(
            f"replay {spec.name}: --into {into} is the live store itself; rebuild into a new "
            "file (--swap puts it in place)"
        )
    if not into.parent.is_dir():
        # As `export` does: a mistyped folder is refused, not created.
        raise ReplayError(
            f"replay {spec.name}: cannot write {into}: folder {into.parent} does not exist"
        )
    if into.exists() and not resume:
        raise ReplayError(
            f"replay {spec.name}: {into} already exists; replay writes a fresh database "
            "(remove it, or pass --resume to go on with a replay written there)"
        )
    return live_path, into


async def _replay(
    spec: _Replayable,
    settings: Settings,
    bootstrap_servers: str,
    registry: DocumentModelRegistry,
    into: Path,
    live: _StoreView | None,
    live_path: Path,
    *,
    topic: str,
    ends: Mapping[int, int],
    live_running: bool,
    wait: float,
    max_batch: int,
    progress_to: tuple[TextIO | None, bool | None, float],
) -> ReplayReport:
    group = settings.projector_group(spec.name)
    partitions = sorted(ends)
    if live is not None and not live_running:
        held = _by_partition(await live.positions(group), topic)
        targets = {p: held.get(p, 0) for p in partitions}
        reach = f"up to the positions of the live store {live_path} (its projector is stopped)"
    else:
        targets = dict(ends)
        reach = "up to the topic's end as of the start" + (
            " (then as far as the running live projector has got)" if live is not None else ""
        )
    report = ReplayReport(spec.name, spec.unit, into, live_path, reach=reach)
    projector = spec.build(settings, bootstrap_servers, registry, into)
    await projector.start()
    feed = _TopicFeed(
        settings,
        bootstrap_servers,
        projector,
        consumer_name=group,
        topic=topic,
        partitions=partitions,
        max_batch=max_batch,
    )
    try:
        starts = await feed.start()
        stream, tty, interval = progress_to
        progress = Progress(
            f"replay {spec.name}",
            sum(max(targets[p] - starts.get(p, 0), 0) for p in partitions),
            unit=spec.unit,
            stream=stream,
            tty=tty,
            interval=interval,
        )
        start = (
            "from offset 0"
            if not any(starts.values())
            else "from the positions already in the file (resumed)"
        )
        progress.stream.write(
            f"replay {spec.name}: reading '{topic}' ({len(partitions)} partitions) {start} "
            f"into {into}, {reach}\n"
        )
        await feed.feed(targets, progress)
        if live is not None:
            rebuilt = await spec.open_view(into, registry)
            try:
                # A stopped live projector will not move: no point waiting for it.
                report.comparison = await _verify(
                    spec,
                    feed,
                    live,
                    rebuilt,
                    progress,
                    group,
                    topic,
                    partitions,
                    wait if live_running else 0.0,
                )
            finally:
                await rebuilt.close()
        progress.finish()
        report.records = feed.records
        report.seconds = feed.seconds
        report.positions = _by_partition(await projector.stored_positions(group), topic)
    finally:
        await feed.close()
        await projector.close()
    return report


async def _verify(
    spec: _Replayable,
    feed: _TopicFeed,
    live: _StoreView,
    rebuilt: _StoreView,
    progress: Progress,
    group: str,
    topic: str,
    partitions: Sequence[int],
    wait: float,
) -> StoreComparison:
    """Bring the rebuilt store level with the live one (which may move), then compare."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        held = _by_partition(await live.positions(group), topic)
        read = feed.read_positions()
        behind = {p: held[p] for p in partitions if held.get(p, 0) > read.get(p, 0)}
        if behind:
            progress.grow(sum(offset - read.get(p, 0) for p, offset in behind.items()))
            await feed.feed(behind, progress)
            continue
        comparison = await _compare(
            spec, live, rebuilt, consumer=group, topic=topic, partitions=partitions
        )
        if not comparison.deferred or loop.time() >= deadline:
            return comparison
        await asyncio.sleep(0.2)


# --- the swap ---------------------------------------------------------------------------


async def _carried_positions(
    spec: _Replayable, settings: Settings, live: _StoreView
) -> dict[str, dict[TopicPartition, int]]:
    """The live file's positions of other consumers than the projector (see `carried`)."""
    carried = {consumer: await live.positions(consumer) for consumer in spec.carried(settings)}
    return {consumer: held for consumer, held in carried.items() if held}


async def _swap(
    spec: _Replayable,
    registry: DocumentModelRegistry,
    live: Path,
    rebuilt: Path,
    carried: Mapping[str, Mapping[TopicPartition, int]],
) -> Path | None:
    """Put `rebuilt` in place of `live` in one rename; return where the old file is kept.

    In this order, so that a refusal leaves both files as they were: the rebuilt file must be
    closed, the live one taken offline (nobody may have it open), then the carried positions
    go into the rebuilt file and it is renamed over the live one.
    """
    _prepare_swap(spec.name, live, rebuilt)
    if carried:
        view = await spec.open_view(rebuilt, registry)
        try:
            for consumer, held in carried.items():
                await view.record_positions(consumer, held)
        finally:
            await view.close()
    return _replace_file(live, rebuilt)


def _prepare_swap(store: str, live: Path, rebuilt: Path) -> None:
    for leftover in _sidecars(rebuilt):
        if leftover.exists():
            raise ReplayError(
                f"replay {store}: not swapped: {leftover} exists, so {rebuilt} is still "
                "open somewhere (close it first)"
            )
    if live.exists():
        _take_offline(store, live)


def _replace_file(live: Path, rebuilt: Path) -> Path | None:
    previous: Path | None = None
    if live.exists():
        previous = _unused(live.with_name(f"{live.name}.replaced-{_stamp()}"))
        try:
            os.link(live, previous)
        except OSError:  # no hard links here: a copy (the file is offline, nobody writes it)
            shutil.copy2(live, previous)
    live.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(rebuilt, live)
    except OSError:
        # Another file system: copy beside the live file first, so the rename stays atomic.
        incoming = live.with_name(f"{live.name}.replay-incoming")
        shutil.copyfile(rebuilt, incoming)
        with open(incoming, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(incoming, live)
        rebuilt.unlink()
    directory = os.open(live.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return previous


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _unused(path: Path) -> Path:
    """`path`, or `path.2`, `path.3`... whichever does not exist yet."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{n}")
    return candidate


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def _take_offline(store: str, live: Path) -> None:
    """Fold the live file's WAL into it and leave WAL mode: SQLite refuses while anyone else
    has the file open, which is the check that nobody is reading or writing it."""
    conn = sqlite3.connect(str(live), timeout=1.0, isolation_level=None)
    try:
        try:
            mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        except sqlite3.OperationalError as exc:
            mode = str(exc)
    finally:
        conn.close()
    if str(mode).lower() != "delete":
        raise ReplayError(
            f"replay {store}: not swapped: the live store {live} is open in another process "
            f"({mode}); stop whatever reads it (`reactor-es run`, clients waiting on jobs) first"
        )
    for leftover in _sidecars(live):
        with contextlib.suppress(FileNotFoundError):
            if leftover.stat().st_size == 0:
                leftover.unlink()
