"""Closing clients: a producer that cannot flush must not hold its owner forever."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import ProducerFenced

from reactor_es.config import Settings
from reactor_es.kafka.clients import close_client, make_producer


async def _create_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name, num_partitions=1, replication_factor=1)], timeout_ms=30000
        )
    finally:
        await admin.close()
    assert [t[1] for t in response.topic_errors] == [0]


async def _delete_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([name], timeout_ms=30000)
    finally:
        await admin.close()


async def test_a_producer_that_cannot_flush_is_torn_down_after_the_timeout(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A topic deleted under a producer that knows it: its next batch gets "unknown topic or
    # partition", a retriable error, and an idempotent producer retries it without end.
    topic = unique_name("deleted")
    producer = make_producer(Settings(), kafka_bootstrap)
    await producer.start()
    await _create_topic(kafka_bootstrap, topic)
    assert (await producer.send_and_wait(topic, b"acknowledged")).offset == 0
    await _delete_topic(kafka_bootstrap, topic)
    pending = await producer.send(topic, b"never acknowledged")
    await asyncio.sleep(0.5)  # the batch is out and being retried
    assert not pending.done()

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="reactor_es.kafka.clients"):
        closed = await close_client(producer, timeout=2.0, what="the test producer")
    took = time.monotonic() - started

    assert closed is False
    assert 2.0 <= took < 10.0
    assert [r.getMessage() for r in caplog.records if r.name == "reactor_es.kafka.clients"] == [
        "the test producer did not stop within 2s (records it still held are not sent): "
        "closing its connections"
    ]
    sender = producer._sender.sender_task
    assert sender is not None
    assert sender.done()


async def test_a_producer_that_flushes_closes_normally(
    kafka_bootstrap: str, unique_name: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    topic = unique_name("writable")
    await _create_topic(kafka_bootstrap, topic)
    producer = make_producer(Settings(), kafka_bootstrap)
    await producer.start()
    delivered = await producer.send(topic, b"acknowledged")
    with caplog.at_level(logging.WARNING, logger="reactor_es.kafka.clients"):
        assert await close_client(producer, timeout=30.0) is True
    assert (await delivered).offset == 0
    assert [r for r in caplog.records if r.name == "reactor_es.kafka.clients"] == []


@pytest.mark.parametrize("learns_it_by", ["adding a partition", "adding offsets"])
async def test_a_fenced_producer_closes_without_unread_failures(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
    learns_it_by: str,
) -> None:
    # The fence fails the transaction's own waiter, which only a commit or abort would read:
    # asyncio logged it at ERROR ("Future exception was never retrieved") once collected.
    gc.collect()  # what earlier tests left (a torn-down producer's pending close) is not ours
    first, second = unique_name("first"), unique_name("second")
    await _create_topic(kafka_bootstrap, first)
    await _create_topic(kafka_bootstrap, second)
    transactional_id = unique_name("tx")
    fenced = make_producer(Settings(), kafka_bootstrap, transactional_id=transactional_id)
    await fenced.start()
    await fenced.begin_transaction()
    await (await fenced.send(first, b"before the fence", partition=0))
    owner = make_producer(Settings(), kafka_bootstrap, transactional_id=transactional_id)
    await owner.start()  # takes the transactional id over
    if learns_it_by == "adding a partition":
        sent = await fenced.send(second, b"after the fence", partition=0)
        with pytest.raises(ProducerFenced):
            await sent
    else:
        offsets = {TopicPartition(first, 0): 1}
        with pytest.raises(ProducerFenced):
            await fenced.send_offsets_to_transaction(offsets, unique_name("group"))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert await close_client(fenced, what="the fenced producer") is True
        await close_client(owner)
        del fenced
        gc.collect()  # an unread exception is logged when its future is collected
        await asyncio.sleep(0)
    assert [r.getMessage() for r in caplog.records] == []
