"""Kafka clients built one way everywhere.

Every producer, consumer and admin client of the project is created here, so connection
settings (bootstrap servers, client id, and later security) are decided in one place and
every reader of `operations` and `job-events` reads committed records only.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from reactor_es.config import Settings

__all__ = ["client_options", "make_admin", "make_consumer", "make_producer"]


def client_options(settings: Settings, bootstrap_servers: str) -> dict[str, Any]:
    """Options shared by every client: where the brokers are and how to reach them."""
    return {"bootstrap_servers": bootstrap_servers, **settings.kafka_security_options()}


def make_producer(
    settings: Settings,
    bootstrap_servers: str,
    *,
    transactional_id: str | None = None,
    **overrides: Any,
) -> AIOKafkaProducer:
    """An idempotent producer (`acks=all`), transactional when given a transactional id."""
    options: dict[str, Any] = {
        "enable_idempotence": True,
        "linger_ms": settings.producer_linger_ms,
        "max_batch_size": 256 * 1024,
        "max_request_size": 8 * 1024 * 1024,
        **client_options(settings, bootstrap_servers),
    }
    if transactional_id is not None:
        options["transactional_id"] = transactional_id
        options["transaction_timeout_ms"] = settings.transaction_timeout_ms
        # aiokafka waits retry_backoff_ms (default 100) whenever the coordinator is still
        # finishing the previous transaction: that wait was most of the executor's p99.
        options["retry_backoff_ms"] = 10
    options.update(overrides)
    return AIOKafkaProducer(**options)


def make_consumer(
    settings: Settings,
    bootstrap_servers: str,
    *topics: str,
    group_id: str | None = None,
    **overrides: Any,
) -> AIOKafkaConsumer:
    """A read_committed consumer without auto-commit, starting from the earliest record."""
    options: dict[str, Any] = {
        "group_id": group_id,
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": max(100, settings.session_timeout_ms // 3),
        "isolation_level": "read_committed",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 8 * 1024 * 1024,
        "fetch_max_bytes": 64 * 1024 * 1024,
        **client_options(settings, bootstrap_servers),
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


def make_admin(settings: Settings, bootstrap_servers: str) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**client_options(settings, bootstrap_servers))
