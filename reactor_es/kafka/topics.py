"""Our topics: names, layout, creation, and how a document id picks a partition.

Layout, and why:

- `actions` (key = document id) and `operations` (key = document id) are co-partitioned:
  same partition count, same key bytes (`document_key`), the producer's default partitioner
  (murmur2, as the Java client). The executor that owns partition p of `actions` restores
  its documents from partition p of `operations` alone, so a mismatch would make it miss
  history: every service runs `check_topic_layout` at start and refuses to start on one.
  For the same reason partitions are never added to either topic once records exist.
- `operations` is the source of truth: kept forever (`retention.ms=-1`,
  `retention.bytes=-1`) and never compacted (compaction keeps one record per document).
  `check_topic_layout` refuses an operations topic configured otherwise.
- `job-events` (key = job id) is plain delete with 7 days' retention, not compacted:
  job status is a derived, short-lived view (Powerhouse keeps JobInfo in memory) and the
  job-status projector stores what clients query; compaction would drop the
  PENDING/RUNNING/WRITE_READY steps that the comparator and the benchmarks read, and would
  make a rebuilt projection depend on every last event repeating the earlier ones.
- `actions` keeps 7 days: requests are consumed within seconds, a week covers an outage.
- `actions-dlq` (parked actions) is kept forever: a parked request must not vanish unseen.
- `snapshots` (key = document id) is compacted (the latest snapshot per document is all a
  restore needs) and created with the same partition count as `operations`.

Every name gets `Settings.topic_prefix` in front, so tests and tenants share a broker.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code
from aiokafka.partitioner import murmur2

from reactor_es.config import Settings
from reactor_es.kafka.clients import make_admin, start_client
from reactor_es.kafka.topic_errors import (
    TopicCreationError,
    TopicDeletionError,
    TopicLayoutError,
    TopicNameError,
)

__all__ = [
    "ACTIONS",
    "ACTIONS_DLQ",
    "JOB_EVENTS",
    "OPERATIONS",
    "SNAPSHOTS",
    "TOPIC_CONFIGS",
    "AdminOrBootstrap",
    "TopicNames",
    "TopicSpec",
    "check_co_partitioned",
    "check_operations_retention",
    "check_topic_layout",
    "delete_topics",
    "document_key",
    "ensure_topics",
    "job_key",
    "partition_counts",
    "partition_for",
    "topic_specs",
]

ACTIONS = "actions"
OPERATIONS = "operations"
JOB_EVENTS = "job-events"
ACTIONS_DLQ = "actions-dlq"
SNAPSHOTS = "snapshots"

_WEEK_MS = str(7 * 24 * 60 * 60 * 1000)
_FOREVER = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}

#: Topic configs by base name (see the module docstring for the reasons).
TOPIC_CONFIGS: Mapping[str, Mapping[str, str]] = {
    ACTIONS: {"cleanup.policy": "delete", "retention.ms": _WEEK_MS},
    OPERATIONS: _FOREVER,
    JOB_EVENTS: {"cleanup.policy": "delete", "retention.ms": _WEEK_MS},
    ACTIONS_DLQ: _FOREVER,
    SNAPSHOTS: {"cleanup.policy": "compact"},
}

_LEGAL_NAME = re.compile(r"[A-Za-z0-9._-]+")
_MAX_NAME_LENGTH = 249
_TOPIC_ALREADY_EXISTS = 36
_UNKNOWN_TOPIC = 3
_CLIENT_ID = "reactor-es-topics"


# -- names ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The full names of our topics under one prefix."""

    actions: str
    operations: str
    job_events: str
    actions_dlq: str
    snapshots: str

    @classmethod
    def with_prefix(cls, prefix: str = "") -> TopicNames:
        names = cls(
            actions=prefix + ACTIONS,
            operations=prefix + OPERATIONS,
            job_events=prefix + JOB_EVENTS,
            actions_dlq=prefix + ACTIONS_DLQ,
            snapshots=prefix + SNAPSHOTS,
        )
        for name in names.all():
            if len(name) > _MAX_NAME_LENGTH or not _LEGAL_NAME.fullmatch(name):
                raise TopicNameError(
                    f"topic prefix {prefix!r} gives the topic name {name!r}, which Kafka "
                    f"refuses: use at most {_MAX_NAME_LENGTH} ASCII letters, digits, "
                    "'.', '_' and '-'"
                )
        return names

    @classmethod
    def from_settings(cls, settings: Settings) -> TopicNames:
        return cls.with_prefix(settings.topic_prefix)

    def all(self) -> tuple[str, ...]:
        return (self.actions, self.operations, self.job_events, self.actions_dlq, self.snapshots)

    @property
    def co_partitioned(self) -> tuple[str, str]:
        """The topics whose partition p must hold the same documents."""
        return (self.actions, self.operations)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """How one topic is created."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)

    def new_topic(self) -> Any:
        return NewTopic(
            self.name, self.partitions, self.replication_factor, topic_configs=dict(self.configs)
        )


def topic_specs(
    names: TopicNames, partitions: int, replication_factor: int = 1
) -> tuple[TopicSpec, ...]:
    """Every topic with the same partition count (co-partitioning) and its configs."""
    if partitions < 1 or replication_factor < 1:
        raise TopicCreationError(
            f"topics need at least 1 partition and replication factor 1, got partitions="
            f"{partitions} replication_factor={replication_factor}"
        )
    bases = (ACTIONS, OPERATIONS, JOB_EVENTS, ACTIONS_DLQ, SNAPSHOTS)
    return tuple(
        TopicSpec(name, partitions, replication_factor, TOPIC_CONFIGS[base])
        for base, name in zip(bases, names.all(), strict=True)
    )


# -- keys and partitions -------------------------------------------------------------------


def document_key(document_id: str) -> bytes:
    """The record key of everything keyed by document: its id in UTF-8.

    Every producer of `actions`, `operations` and `snapshots` must use this, because the
    partition is a hash of these bytes.
    """
    return document_id.encode("utf-8")


def job_key(job_id: str) -> bytes:
    """The record key of `job-events`."""
    return job_id.encode("utf-8")


def partition_for(document_id: str, partitions: int) -> int:
    """The partition the producer's default partitioner sends a document's records to.

    Same function as aiokafka's `DefaultPartitioner` (and Java's): positive murmur2 of the
    key bytes modulo the partition count.
    """
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    return int((murmur2(document_key(document_id)) & 0x7FFFFFFF) % partitions)


# -- admin ---------------------------------------------------------------------------------

#: A started admin client (used as is) or bootstrap servers (a client is opened and closed).
AdminOrBootstrap: TypeAlias = "AIOKafkaAdminClient | str"


@asynccontextmanager
async def _admin(
    admin_or_bootstrap: AdminOrBootstrap, settings: Settings | None = None
) -> AsyncIterator[Any]:
    """Use a started admin client as is, or open (and close) one for a bootstrap string
    (with the settings' security options when given)."""
    if not isinstance(admin_or_bootstrap, str):
        yield admin_or_bootstrap
        return
    if settings is not None:
        admin = make_admin(settings, admin_or_bootstrap)
    else:
        admin = AIOKafkaAdminClient(bootstrap_servers=admin_or_bootstrap, client_id=_CLIENT_ID)
    await start_client(admin, admin_or_bootstrap)  # closes it and raises if unreachable
    try:
        yield admin
    finally:
        await admin.close()


async def _describe(admin: Any) -> dict[str, dict[str, Any]]:
    # Metadata for all topics: asking for named ones would let a broker with
    # auto.create.topics.enable create a missing topic with its default partition count.
    return {t["topic"]: t for t in await admin.describe_topics(None)}


def _ready_partitions(topic: Mapping[str, Any] | None) -> int | None:
    """Partition count of a topic whose partitions all have a leader; None otherwise."""
    if topic is None or topic["error_code"] != 0:
        return None
    partitions = topic["partitions"]
    if any(p["error_code"] != 0 or p["leader"] < 0 for p in partitions):
        return None
    return len(partitions)


async def partition_counts(
    admin_or_bootstrap: AdminOrBootstrap, topics: Iterable[str]
) -> dict[str, int | None]:
    """Partition count of each topic; None for a topic that does not exist."""
    async with _admin(admin_or_bootstrap) as admin:
        described = await _describe(admin)
    return {
        name: (len(described[name]["partitions"]) if name in described else None) for name in topics
    }


async def ensure_topics(
    admin_or_bootstrap: AdminOrBootstrap,
    settings: Settings,
    *,
    names: TopicNames | None = None,
    timeout_s: float = 30.0,
) -> tuple[str, ...]:
    """Create the topics that are missing; return the names created by this call.

    Existing topics are left as they are (their layout is `check_topic_layout`'s business).
    Returns once every topic is in the metadata with a leader for each partition, so a
    producer started next can send at once.
    """
    names = names or TopicNames.from_settings(settings)
    specs = topic_specs(names, settings.partitions, settings.replication_factor)
    async with _admin(admin_or_bootstrap, settings) as admin:
        existing = await _describe(admin)
        missing = [spec for spec in specs if spec.name not in existing]
        created: list[str] = []
        if missing:
            response = await admin.create_topics(
                [spec.new_topic() for spec in missing], timeout_ms=int(timeout_s * 1000)
            )
            # create_topics does not raise per-topic errors: they are in topic_errors.
            failures: dict[str, list[str]] = {}
            for topic, code, message in (e[:3] for e in response.topic_errors):
                if code == 0:
                    created.append(topic)
                elif code != _TOPIC_ALREADY_EXISTS:  # created meanwhile by another service
                    reason = f"{for_code(code).message}: {message}"
                    failures.setdefault(reason, []).append(f"'{topic}'")
            if failures:
                raise TopicCreationError(_refusals("create", failures))
        await _await_topics(admin, specs, timeout_s)
    return tuple(created)


async def delete_topics(
    admin_or_bootstrap: AdminOrBootstrap,
    settings: Settings,
    topics: Iterable[str],
    *,
    timeout_s: float = 30.0,
) -> tuple[str, ...]:
    """Delete those of `topics` that exist; return the names deleted by this call.

    For throwaway topics (the demo's): one already gone is not an error, any other refusal
    is a `TopicDeletionError` naming the topics and the reason. Returns once the deleted
    topics are gone from the metadata, so what runs next does not see them.
    """
    async with _admin(admin_or_bootstrap, settings) as admin:
        existing = await _describe(admin)
        present = [name for name in topics if name in existing]
        if not present:
            return ()
        response = await admin.delete_topics(present, timeout_ms=int(timeout_s * 1000))
        deleted: list[str] = []
        failures: dict[str, list[str]] = {}
        for topic, code in (e[:2] for e in response.topic_error_codes):
            if code == 0:
                deleted.append(topic)
            elif code != _UNKNOWN_TOPIC:  # deleted meanwhile by someone else
                failures.setdefault(for_code(code).message, []).append(f"'{topic}'")
        if failures:
            raise TopicDeletionError(_refusals("delete", failures))
        await _await_gone(admin, deleted, timeout_s)
    return tuple(sorted(deleted))


def _refusals(verb: str, failures: Mapping[str, list[str]]) -> str:
    """One line for the topics the broker refused, grouped by its reason."""
    return "; ".join(
        f"cannot {verb} topic {', '.join(topics)} ({reason})" for reason, topics in failures.items()
    )


async def _await_gone(admin: Any, names: Sequence[str], timeout_s: float) -> None:
    left = await _await_metadata(
        admin, lambda described: [n for n in names if n in described], timeout_s
    )
    if left:
        raise TopicDeletionError(
            f"topics still listed {timeout_s:g}s after their deletion: "
            + ", ".join(f"'{name}'" for name in left)
        )


async def _await_topics(admin: Any, specs: Iterable[TopicSpec], timeout_s: float) -> None:
    wanted = list(specs)
    waiting = await _await_metadata(
        admin,
        lambda described: [
            s.name for s in wanted if _ready_partitions(described.get(s.name)) is None
        ],
        timeout_s,
    )
    if waiting:
        raise TopicCreationError(
            f"topics not ready within {timeout_s:g}s (no leader yet): "
            + ", ".join(f"'{name}'" for name in waiting)
        )


async def _await_metadata(
    admin: Any, pending: Callable[[dict[str, dict[str, Any]]], list[str]], timeout_s: float
) -> list[str]:
    """Describe the cluster until `pending(described)` is empty; what is still pending when
    `timeout_s` has passed (empty: all done). Topic changes reach the metadata a little late."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        left = pending(await _describe(admin))
        if not left or loop.time() >= deadline:
            return left
        await asyncio.sleep(0.1)


# -- layout checks -------------------------------------------------------------------------


async def check_co_partitioned(admin_or_bootstrap: AdminOrBootstrap, names: TopicNames) -> int:
    """The common partition count of `actions` and `operations`; TopicLayoutError if none."""
    topics = names.co_partitioned
    counts = await partition_counts(admin_or_bootstrap, topics)
    first = counts[topics[0]]
    if first is not None and all(count == first for count in counts.values()):
        return first
    details = ", ".join(
        f"'{name}' does not exist" if count is None else f"'{name}' has {count} partitions"
        for name, count in counts.items()
    )
    listed = " and ".join(f"'{name}'" for name in topics)
    raise TopicLayoutError(
        f"topics {listed} must exist with equal partition counts (they are co-partitioned "
        f"by document id): {details}"
    )


async def check_operations_retention(
    admin_or_bootstrap: AdminOrBootstrap, names: TopicNames
) -> None:
    """TopicLayoutError unless `operations` keeps every record forever, uncompacted."""
    topic = names.operations
    async with _admin(admin_or_bootstrap) as admin:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    resources = [r for resp in responses for r in resp.to_object()["resources"]]
    resource = next((r for r in resources if r["resource_name"] == topic), None)
    if resource is None or resource["error_code"] != 0:
        code = -1 if resource is None else resource["error_code"]
        raise TopicLayoutError(f"cannot read the configs of topic '{topic}' (error {code})")
    configs = {e["config_names"]: e["config_value"] for e in resource["config_entries"]}
    problems = [
        f"{key} is {configs.get(key)!r} (must be {wanted!r})"
        for key, wanted in _FOREVER.items()
        if configs.get(key) != wanted
    ]
    if problems:
        raise TopicLayoutError(
            f"topic '{topic}' is the source of truth and must keep every record: "
            + ", ".join(problems)
        )


async def check_topic_layout(
    admin_or_bootstrap: AdminOrBootstrap, names: TopicNames, settings: Settings | None = None
) -> int:
    """What every service checks at start; returns the co-partitioned partition count."""
    async with _admin(admin_or_bootstrap, settings) as admin:
        partitions = await check_co_partitioned(admin, names)
        await check_operations_retention(admin, names)
    return partitions
