"""Where a deployment stands: lags, parked documents, jobs, the phase and the comparator.

`gather_status` asks each part of the system where it is, from the place that holds the
truth for it, and never joins a consumer group or writes anything:

- the executor's lag per partition of `actions`: last stable offset minus the offset its
  group committed (in its transactions); a partition it never committed counts from the
  first offset still held, where it would start;
- each projector's lag per partition of its topic: last stable offset minus the position
  in its own SQLite store (its truth; what it commits to Kafka is only a copy for tools);
  a store that does not exist yet counts from the first offset;
- parked documents from the dead-letter topic, job counts from the job store, the last
  round of the comparator from `comparator.db`;
- consumer group members, so a lag can be read as "stopped" or "behind".

Lag is in offsets, as every Kafka tool counts it: a committed transaction's marker is one
offset (0 once everything is consumed). Kafka being unreachable is reported, not raised:
what the stores say is still worth showing.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reactor_es.config import Settings
from reactor_es.errors import ReactorError
from reactor_es.kafka.inspection import KafkaInspector, TopicExtent
from reactor_es.kafka.topics import TopicNames

if TYPE_CHECKING:
    from projections.comparator import RecordedComparison

__all__ = [
    "ConsumerLag",
    "ParkedDocument",
    "PartitionLag",
    "StatusReport",
    "gather_status",
    "phase_of",
    "running_phase",
]

#: The projectors `status` knows, with the topic each one reads.
_PROJECTOR_TOPICS = {"legacy": "operations", "operations": "operations", "jobs": "job_events"}


@dataclass(frozen=True)
class PartitionLag:
    """One partition: its last stable offset, the consumer's position, the difference."""

    partition: int
    end: int | None
    position: int | None
    lag: int | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _lag_text(lag: PartitionLag) -> str:
    """The lag; without Kafka (no end known) where the consumer stands, `at N`, or `?`."""
    if lag.lag is not None:
        return str(lag.lag)
    return "?" if lag.position is None else f"at {lag.position}"


@dataclass
class ConsumerLag:
    """The executor or one projector: where it stands on each partition of its topic."""

    name: str
    group: str
    topic: str
    #: Where positions come from: "kafka" (committed offsets) or "store" (SQLite positions).
    source: str
    partitions: list[PartitionLag] = field(default_factory=list)
    members: int | None = None
    store: Path | None = None
    store_exists: bool = False
    in_phase: bool = True

    @property
    def lag(self) -> int | None:
        lags = [p.lag for p in self.partitions]
        return None if any(lag is None for lag in lags) else sum(lag or 0 for lag in lags)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "group": self.group,
            "topic": self.topic,
            "positionsFrom": self.source,
            "members": self.members,
            "lag": self.lag,
            "partitions": [p.to_json() for p in self.partitions],
        }
        if self.source == "store":
            data["store"] = str(self.store)
            data["storeExists"] = self.store_exists
            data["inPhase"] = self.in_phase
        return data

    def line(self) -> str:
        parts = "  ".join(f"[{p.partition}] {_lag_text(p)}" for p in self.partitions)
        total = "?" if self.lag is None else str(self.lag)
        if self.members is None:
            members = "members unknown"
        else:
            members = f"{self.members} member{'' if self.members == 1 else 's'}"
        notes = [members]
        if self.source == "store":
            notes.append(str(self.store) if self.store_exists else f"no store yet at {self.store}")
            if not self.in_phase:
                running = "running, but " if self.members else ""
                notes.append(f"{running}not in this shell's phase")
        return (
            f"  {self.name:<11} {self.topic:<24} {parts or '(no partitions)'}  total {total}  "
            f"({'; '.join(notes)})"
        )


@dataclass(frozen=True)
class ParkedDocument:
    """A document held up by poison input and what waits behind it."""

    document_id: str
    records: int
    since: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "documentId": self.document_id,
            "records": self.records,
            "since": self.since,
            "reason": self.reason,
        }


@dataclass
class StatusReport:
    """Everything `reactor-es status` shows; `to_json()` is its `--json` form."""

    phase: int
    phase_projectors: tuple[str, ...]
    read_ready_by: str
    documents_from: str
    bootstrap_servers: str | None = None
    kafka_error: str | None = None
    executor: ConsumerLag | None = None
    projectors: dict[str, ConsumerLag] = field(default_factory=dict)
    #: None: the dead-letter topic could not be read (Kafka unreachable).
    parked: list[ParkedDocument] | None = None
    unattributed: int = 0
    #: Jobs per status; None: no job store yet.
    jobs: dict[str, int] | None = None
    comparator: RecordedComparison | None = None
    #: Projectors whose consumer groups have members now (None: Kafka unreachable).
    running_projectors: tuple[str, ...] | None = None

    @property
    def running_phase(self) -> int | None:
        """The phase the live projector groups imply (the shell's setting may differ)."""
        return phase_of(self.running_projectors or ())

    def to_json(self) -> dict[str, Any]:
        comparator = self.comparator
        return {
            "phase": self.phase,
            "phaseProjectors": list(self.phase_projectors),
            "runningPhase": self.running_phase,
            "runningProjectors": None
            if self.running_projectors is None
            else list(self.running_projectors),
            "kafka": {"bootstrapServers": self.bootstrap_servers, "error": self.kafka_error},
            "executor": None if self.executor is None else self.executor.to_json(),
            "projectors": {name: lag.to_json() for name, lag in self.projectors.items()},
            "parked": None
            if self.parked is None
            else {
                "documents": len(self.parked),
                "records": sum(p.records for p in self.parked),
                "unattributed": self.unattributed,
                "byDocument": [p.to_json() for p in self.parked],
            },
            "jobs": self.jobs,
            "comparator": None
            if comparator is None
            else {
                "divergences": comparator.divergences,
                "documents": comparator.documents,
                "deferredPartitions": comparator.deferred,
                "finishedAt": comparator.finished_at,
                "seconds": comparator.seconds,
                "firstDivergences": comparator.lines[:20],
            },
        }

    def lines(self) -> list[str]:
        reads = "legacy storage" if self.documents_from == "legacy" else "the operation store"
        lines = [
            f"phase {self.phase}: runs {', '.join(self.phase_projectors)}; READ_READY from "
            f"{self.read_ready_by}; documents from {reads}"
        ]
        running = self.running_phase
        if running is not None and running != self.phase:
            lines.append(
                f"running: phase {running} (projectors with live members: "
                f"{', '.join(self.running_projectors or ())}); set REACTOR_ES_PHASE={running} "
                "to see its stores"
            )
        if self.kafka_error is not None:
            lines.append(f"kafka: unreachable: {self.kafka_error}")
        else:
            lines.append(f"kafka: {self.bootstrap_servers}")
        lines.append("lag per partition, in offsets behind the last stable offset:")
        if self.executor is not None:
            lines.append(self.executor.line())
        lines.extend(lag.line() for lag in self.projectors.values())
        if self.parked is None:
            lines.append("parked: unknown (Kafka unreachable)")
        else:
            shown = ", ".join(
                f"{p.document_id} ({p.records} waiting since {p.since}: {p.reason})"
                for p in self.parked
            )
            count = len(self.parked)
            lines.append(
                f"parked: {count} document{'' if count == 1 else 's'}"
                + (f": {shown}" if shown else "")
                + (f"; {self.unattributed} unreadable without a key" if self.unattributed else "")
            )
        if self.jobs is None:
            lines.append("jobs: no job store yet")
        else:
            lines.append("jobs: " + ", ".join(f"{s} {n}" for s, n in self.jobs.items()))
        last = self.comparator
        if last is None:
            lines.append("comparator: no round yet")
        else:
            lines.append(
                f"comparator: {last.summary()} (at {last.finished_at}, {last.seconds:.2f} s, "
                f"{last.deferred} partitions deferred)"
            )
        return lines


def _exists(path: Path) -> bool:
    """Whether a store was ever written (status opens no store it would create)."""
    return path.exists()


def _lags(
    partitions: list[int], extent: TopicExtent | None, positions: Mapping[int, int]
) -> list[PartitionLag]:
    """Per partition: a missing position starts at the first offset held (or 0)."""
    found: list[PartitionLag] = []
    for partition in partitions:
        position = positions.get(partition)
        end = None if extent is None else extent.ends.get(partition)
        if end is None or extent is None:
            lag = None
        else:
            start = position if position is not None else extent.beginnings.get(partition, 0)
            lag = max(end - start, 0)
        found.append(PartitionLag(partition, end, position, lag))
    return found


#: Up to this many offsets behind, the executor's lag is counted record by record.
MARKER_PROBE_LIMIT = 100


async def _without_markers(
    settings: Settings, bootstrap_servers: str, topic: str, lags: list[PartitionLag]
) -> list[PartitionLag]:
    """Lags that count records, not transaction markers.

    The executor writes child jobs to `actions` in its transactions, so a commit marker
    can sit between its committed offset and the end: a lag of 1 that no record makes.
    Small lags are read (read_committed) and counted; larger ones keep the offset span.
    """
    from aiokafka.errors import KafkaError

    from reactor_es.executor.restore import read_partition

    counted: dict[int, int] = {}
    for lag in lags:
        position, end = lag.position, lag.end
        if not lag.lag or position is None or end is None or lag.lag > MARKER_PROBE_LIMIT:
            continue
        offsets: list[int] = []
        try:
            await read_partition(
                settings,
                bootstrap_servers,
                topic,
                lag.partition,
                functools.partial(_note_offset, offsets),
                start=position,
            )
        except (ReactorError, KafkaError):
            return lags  # the offset spans stand; status must not fail for a probe
        counted[lag.partition] = sum(1 for offset in offsets if offset < end)
    return [
        PartitionLag(lag.partition, lag.end, lag.position, counted[lag.partition])
        if lag.partition in counted
        else lag
        for lag in lags
    ]


def _note_offset(into: list[int], message: Any) -> None:
    into.append(message.offset)


async def _store_positions(name: str, path: Path, group: str) -> dict[int, int]:
    from projections.job_status import SqliteJobStatusStore
    from projections.legacy_adapter import OperationStoreFile
    from projections.stores.legacy_sqlite import SqliteLegacyStorage

    if not _exists(path):
        return {}
    opener: Any = {
        "legacy": SqliteLegacyStorage.open,
        "operations": OperationStoreFile.open,
        "jobs": SqliteJobStatusStore.open,
    }[name]
    async with await opener(path) as store:
        held = await store.get_positions(group)
    return {tp.partition: offset for tp, offset in held.items()}


async def _job_counts(path: Path) -> dict[str, int] | None:
    from projections.job_status import SqliteJobStatusStore

    if not _exists(path):
        return None
    async with await SqliteJobStatusStore.open(path) as store:
        return await store.count_by_status()


async def _last_comparison(path: Path) -> RecordedComparison | None:
    from projections.comparator import ComparisonLog

    if not _exists(path):
        return None
    async with await ComparisonLog.open(path) as record:
        return await record.last()


def phase_of(running_projectors: Collection[str]) -> int | None:
    """The phase that runs these projectors (None: no document projector runs)."""
    running = set(running_projectors)
    if {"legacy", "operations"} <= running:
        return 5
    if "operations" in running:
        return 6
    if "legacy" in running:
        return 4
    return None


async def running_phase(settings: Settings, bootstrap_servers: str) -> int | None:
    """The phase of the services running now, from their projector groups' live members."""
    async with KafkaInspector(settings, bootstrap_servers) as kafka:
        running = [
            name
            for name in ("legacy", "operations")
            if (await kafka.members(settings.projector_group(name))).members
        ]
    return phase_of(running)


async def gather_status(
    settings: Settings, bootstrap_servers: str | None, *, kafka_error: str | None = None
) -> StatusReport:
    """The report for `settings`; `bootstrap_servers` None: no broker (`kafka_error` says why)."""
    from projections.service import (
        comparator_log_path,
        job_store_path,
        legacy_store_path,
        operation_store_path,
        phase_plan,
    )

    plan = phase_plan(settings.phase)
    topics = TopicNames.from_settings(settings)
    report = StatusReport(
        settings.phase,
        plan.projectors,
        plan.read_ready_by,
        plan.documents_from,
        bootstrap_servers=bootstrap_servers,
    )
    paths = {
        "legacy": legacy_store_path(settings),
        "operations": operation_store_path(settings),
        "jobs": job_store_path(settings),
    }
    shown = [name for name in paths if name in plan.projectors or _exists(paths[name])]
    held = {
        name: await _store_positions(name, paths[name], settings.projector_group(name))
        for name in shown
    }
    report.jobs = await _job_counts(paths["jobs"])
    report.comparator = await _last_comparison(comparator_log_path(settings))

    extents: dict[str, TopicExtent] = {}
    members: dict[str, int] = {}
    committed: dict[int, int] = {}
    if bootstrap_servers is None:
        report.kafka_error = kafka_error or "no broker configured or running"
    else:
        try:
            async with KafkaInspector(settings, bootstrap_servers) as kafka:
                for topic in {topics.actions, topics.operations, topics.job_events}:
                    extents[topic] = await kafka.extent(topic)
                groups = [settings.executor_group] + [
                    settings.projector_group(n) for n in _PROJECTOR_TOPICS
                ]
                for group in groups:
                    members[group] = len((await kafka.members(group)).members)
                report.running_projectors = tuple(
                    n for n in _PROJECTOR_TOPICS if members[settings.projector_group(n)]
                )
                committed = await kafka.committed(settings.executor_group, topics.actions)
                report.parked, report.unattributed = await _parked(
                    settings, bootstrap_servers, topics.actions_dlq
                )
        except ReactorError as exc:
            report.kafka_error = str(exc)
            extents, members = {}, {}

    def partitions(topic: str, known: Mapping[int, int]) -> list[int]:
        # Kafka knows the topic's partitions; without it, the configured count (and any
        # partition a store has positions for).
        extent = extents.get(topic)
        if extent is not None and extent.ends:
            return sorted(extent.ends)
        return sorted(set(known) | set(range(settings.partitions)))

    executor_lags = _lags(
        partitions(topics.actions, committed), extents.get(topics.actions), committed
    )
    if bootstrap_servers is not None and report.kafka_error is None:
        executor_lags = await _without_markers(
            settings, bootstrap_servers, topics.actions, executor_lags
        )
    report.executor = ConsumerLag(
        "executor",
        settings.executor_group,
        topics.actions,
        "kafka",
        executor_lags,
        members.get(settings.executor_group),
    )
    for name in shown:
        topic = getattr(topics, _PROJECTOR_TOPICS[name])
        group = settings.projector_group(name)
        report.projectors[name] = ConsumerLag(
            name,
            group,
            topic,
            "store",
            _lags(partitions(topic, held[name]), extents.get(topic), held[name]),
            members.get(group),
            store=paths[name],
            store_exists=_exists(paths[name]),
            in_phase=name in plan.projectors,
        )
    return report


async def _parked(
    settings: Settings, bootstrap_servers: str, topic: str
) -> tuple[list[ParkedDocument], int]:
    """Parked documents (by id) and the unreadable records that name no document."""
    from reactor_es.executor.restore import read_parking_lot

    lot = await read_parking_lot(settings, bootstrap_servers, topic)
    parked = []
    for document_id, letters in sorted(lot.documents.items()):
        first = letters[0]
        parked.append(
            ParkedDocument(
                document_id,
                len(letters),
                f"{first.source_topic}[{first.source_partition}]@{first.source_offset}",
                first.reason,
            )
        )
    return parked, len(lot.unattributed)
