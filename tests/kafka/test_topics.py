"""Topic names, layout checks and key partitioning; the broker tests use a real Kafka."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from reactor_es.config import Settings
from reactor_es.kafka.topic_errors import TopicCreationError, TopicLayoutError, TopicNameError
from reactor_es.kafka.topics import (
    TOPIC_CONFIGS,
    TopicNames,
    check_co_partitioned,
    check_operations_retention,
    check_topic_layout,
    delete_topics,
    document_key,
    ensure_topics,
    partition_counts,
    partition_for,
    topic_specs,
)

# -- names, specs, keys (no broker) --------------------------------------------------------


def test_topic_names_carry_the_prefix() -> None:
    names = TopicNames.from_settings(Settings(topic_prefix="tenant-a."))
    assert names.all() == (
        "tenant-a.actions",
        "tenant-a.operations",
        "tenant-a.job-events",
        "tenant-a.actions-dlq",
        "tenant-a.snapshots",
    )
    assert names.co_partitioned == ("tenant-a.actions", "tenant-a.operations")
    assert TopicNames.with_prefix().operations == "operations"


def test_a_prefix_kafka_would_refuse_is_refused() -> None:
    with pytest.raises(TopicNameError) as err:
        TopicNames.with_prefix("tenant a/")
    assert str(err.value) == (
        "topic prefix 'tenant a/' gives the topic name 'tenant a/actions', which Kafka refuses: "
        "use at most 249 ASCII letters, digits, '.', '_' and '-'"
    )


def test_specs_give_every_topic_the_same_partition_count() -> None:
    specs = topic_specs(TopicNames.with_prefix("p."), partitions=6, replication_factor=1)
    assert [(s.name, s.partitions, s.replication_factor) for s in specs] == [
        ("p.actions", 6, 1),
        ("p.operations", 6, 1),
        ("p.job-events", 6, 1),
        ("p.actions-dlq", 6, 1),
        ("p.snapshots", 6, 1),
    ]
    by_name = {s.name: dict(s.configs) for s in specs}
    assert by_name["p.operations"] == {
        "cleanup.policy": "delete",
        "retention.ms": "-1",
        "retention.bytes": "-1",
    }
    assert by_name["p.job-events"] == {"cleanup.policy": "delete", "retention.ms": "604800000"}
    assert by_name["p.snapshots"] == {"cleanup.policy": "compact"}
    assert set(TOPIC_CONFIGS) == {"actions", "operations", "job-events", "actions-dlq", "snapshots"}


def test_a_partition_count_below_one_is_refused() -> None:
    with pytest.raises(TopicCreationError) as err:
        topic_specs(TopicNames.with_prefix(), partitions=0)
    assert str(err.value) == (
        "topics need at least 1 partition and replication factor 1, got partitions=0 "
        "replication_factor=1"
    )


def test_document_key_is_the_utf8_id() -> None:
    assert document_key("doc-ü") == b"doc-\xc3\xbc"


# Java's org.apache.kafka.common.utils.Utils.murmur2 on these keys (Kafka's UtilsTest).
JAVA_MURMUR2 = {
    "21": -973932308,
    "foobar": -790332482,
    "a-little-bit-long-string": -985981536,
    "a-little-bit-longer-string": -1486304829,
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    "abc": 479470107,
}


@pytest.mark.parametrize("partitions", [1, 3, 6, 7, 12])
def test_partition_for_matches_the_java_partitioner(partitions: int) -> None:
    for key, java_hash in JAVA_MURMUR2.items():
        # Java: Utils.toPositive(murmur2(key)) % numPartitions
        assert partition_for(key, partitions) == (java_hash & 0x7FFFFFFF) % partitions, key


def test_partition_for_refuses_zero_partitions() -> None:
    with pytest.raises(ValueError, match=r"^partitions must be >= 1, got 0$"):
        partition_for("doc", 0)


# -- against the broker --------------------------------------------------------------------


@pytest.fixture
async def admin(kafka_bootstrap: str) -> AsyncIterator[Any]:
    client = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await client.start()
    yield client
    await client.close()


@pytest.fixture
async def prefix(admin: Any, unique_name: Callable[[str], str]) -> AsyncIterator[str]:
    """A fresh topic prefix; its topics are deleted afterwards (the broker may be shared)."""
    value = unique_name("topics") + "."
    yield value
    ours = [t for t in await admin.list_topics() if t.startswith(value)]
    if ours:
        await admin.delete_topics(ours)


async def create_raw(admin: Any, *topics: Any) -> None:
    """Create topics around our code (to build bad layouts) and wait until they are visible."""
    response = await admin.create_topics(list(topics))
    assert [e[1] for e in response.topic_errors] == [0] * len(topics)
    for _ in range(100):
        counts = await partition_counts(admin, [t.name for t in topics])
        if counts == {t.name: t.num_partitions for t in topics}:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"topics not visible: {counts}")


async def test_ensure_topics_creates_missing_topics_once(
    kafka_bootstrap: str, admin: Any, prefix: str
) -> None:
    settings = Settings(topic_prefix=prefix, partitions=3)
    names = TopicNames.from_settings(settings)

    assert await ensure_topics(kafka_bootstrap, settings) == names.all()
    assert await ensure_topics(admin, settings) == ()

    counts = await partition_counts(admin, names.all())
    assert counts == dict.fromkeys(names.all(), 3)
    assert await check_co_partitioned(kafka_bootstrap, names) == 3
    assert await check_topic_layout(admin, names) == 3


async def test_ensure_topics_creates_only_what_is_missing(
    kafka_bootstrap: str, admin: Any, prefix: str
) -> None:
    settings = Settings(topic_prefix=prefix, partitions=2)
    names = TopicNames.from_settings(settings)
    await create_raw(admin, NewTopic(names.actions, 2, 1))

    created = await ensure_topics(kafka_bootstrap, settings)
    assert created == (names.operations, names.job_events, names.actions_dlq, names.snapshots)


async def test_delete_topics_deletes_what_exists_and_ignores_the_rest(
    kafka_bootstrap: str, admin: Any, prefix: str
) -> None:
    settings = Settings(topic_prefix=prefix, partitions=1)
    names = TopicNames.from_settings(settings)
    await create_raw(admin, NewTopic(names.actions, 1, 1), NewTopic(names.operations, 1, 1))

    deleted = await delete_topics(kafka_bootstrap, settings, names.all())
    again = await delete_topics(kafka_bootstrap, settings, names.all())

    assert deleted == (names.actions, names.operations)
    assert again == ()
    assert await partition_counts(admin, names.all()) == dict.fromkeys(names.all())


async def test_a_mismatched_layout_is_refused(admin: Any, prefix: str) -> None:
    names = TopicNames.with_prefix(prefix)
    await create_raw(admin, NewTopic(names.actions, 3, 1), NewTopic(names.operations, 2, 1))
    expected = (
        f"topics '{prefix}actions' and '{prefix}operations' must exist with equal partition "
        f"counts (they are co-partitioned by document id): '{prefix}actions' has 3 "
        f"partitions, '{prefix}operations' has 2 partitions"
    )
    with pytest.raises(TopicLayoutError) as err:
        await check_co_partitioned(admin, names)
    assert str(err.value) == expected
    with pytest.raises(TopicLayoutError) as err:
        await check_topic_layout(admin, names)
    assert str(err.value) == expected


async def test_a_missing_operations_topic_is_refused(admin: Any, prefix: str) -> None:
    names = TopicNames.with_prefix(prefix)
    await create_raw(admin, NewTopic(names.actions, 3, 1))
    with pytest.raises(TopicLayoutError) as err:
        await check_co_partitioned(admin, names)
    assert str(err.value) == (
        f"topics '{prefix}actions' and '{prefix}operations' must exist with equal partition "
        f"counts (they are co-partitioned by document id): '{prefix}actions' has 3 "
        f"partitions, '{prefix}operations' does not exist"
    )
    # Checking did not create it (a broker with auto-create would have, on a named lookup).
    assert await partition_counts(admin, [names.operations]) == {names.operations: None}


async def test_an_operations_topic_that_forgets_is_refused(admin: Any, prefix: str) -> None:
    names = TopicNames.with_prefix(prefix)
    forgetful = {"cleanup.policy": "compact", "retention.ms": "604800000"}
    await create_raw(
        admin,
        NewTopic(names.actions, 2, 1),
        NewTopic(names.operations, 2, 1, topic_configs=forgetful),
    )
    assert await check_co_partitioned(admin, names) == 2
    with pytest.raises(TopicLayoutError) as err:
        await check_topic_layout(admin, names)
    assert str(err.value) == (
        f"topic '{prefix}operations' is the source of truth and must keep every record: "
        "cleanup.policy is 'compact' (must be 'delete'), retention.ms is '604800000' "
        "(must be '-1')"
    )


async def test_operations_retention_of_created_topics_is_forever(
    kafka_bootstrap: str, prefix: str
) -> None:
    settings = Settings(topic_prefix=prefix, partitions=1)
    await ensure_topics(kafka_bootstrap, settings)
    await check_operations_retention(kafka_bootstrap, TopicNames.from_settings(settings))


async def test_a_topic_the_broker_refuses_raises(kafka_bootstrap: str, prefix: str) -> None:
    settings = Settings(topic_prefix=prefix, partitions=1, replication_factor=3)
    names = TopicNames.from_settings(settings)
    with pytest.raises(TopicCreationError) as err:
        await ensure_topics(kafka_bootstrap, settings)
    listed = ", ".join(f"'{name}'" for name in names.all())
    assert str(err.value) == (
        f"cannot create topic {listed} (INVALID_REPLICATION_FACTOR: Unable to replicate the "
        "partition 3 time(s): The target replication factor of 3 cannot be reached because "
        "only 1 broker(s) are registered.)"
    )


async def test_partition_for_is_where_the_producer_sends(kafka_bootstrap: str, prefix: str) -> None:
    partitions = 7
    settings = Settings(topic_prefix=prefix, partitions=partitions)
    names = TopicNames.from_settings(settings)
    await ensure_topics(kafka_bootstrap, settings)
    document_ids = [f"doc-{n}-ü" for n in range(150)] + list(JAVA_MURMUR2)

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=5)
    await producer.start()
    try:
        sends = [
            await producer.send(topic, b"x", key=document_key(doc))
            for doc in document_ids
            for topic in names.co_partitioned
        ]
        metadata = await asyncio.gather(*sends)
    finally:
        await producer.stop()

    landed: dict[str, set[int]] = {}
    for doc, meta in zip((d for d in document_ids for _ in range(2)), metadata, strict=True):
        landed.setdefault(doc, set()).add(meta.partition)
    assert landed == {doc: {partition_for(doc, partitions)} for doc in document_ids}
    # The ids spread over every partition, so the comparison above is not vacuous.
    assert {p for ps in landed.values() for p in ps} == set(range(partitions))
