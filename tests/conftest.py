"""Root test configuration: one real Kafka broker for the whole test run.

Broker order (the same as the CLI's): `KAFKA_BOOTSTRAP_SERVERS` if set; else, if a Docker
engine answers, an `apache/kafka` container (testcontainers); else a project-launched
`LocalKafkaBroker` (Maven jars + the machine's Java) in a temp dir. When none can be had the
Kafka tests are skipped locally but FAIL in CI (`CI` or `REACTOR_ES_CI` set), so a CI run can
never pass by running no Kafka test.

Tests share the broker: give each test its own topics and groups (`unique_name`). Tests that
use the broker fixtures get the `kafka` marker automatically.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from reactor_es.errors import ReactorError
from reactor_es.kafka.bootstrap import docker_engine_answers
from reactor_es.kafka.broker import (
    KAFKA_VERSION,
    LocalKafkaBroker,
    find_java,
    free_port,
    new_cluster_id,
)

KAFKA_IMAGE = f"apache/kafka:{KAFKA_VERSION}"
BROKER_FIXTURES = frozenset(
    {"kafka_bootstrap", "kafka_broker", "kafka_session", "restartable_broker"}
)


def in_ci() -> bool:
    """CI runs (`CI` from the runner, `REACTOR_ES_CI` from .ci/run) must not skip Kafka tests."""
    return any(
        os.environ.get(name, "").strip().lower() not in {"", "0", "false", "no"}
        for name in ("CI", "REACTOR_ES_CI")
    )


def no_broker(reason: str) -> NoReturn:
    """Skip with the reason on a developer machine; fail in CI."""
    if in_ci():
        pytest.fail(f"no Kafka broker in CI: {reason}", pytrace=False)
    pytest.skip(f"no Kafka broker: {reason}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if BROKER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kafka)


@dataclass(frozen=True)
class KafkaSession:
    """The run's broker: `source` is "env", "docker" or "local"; `broker` only for "local"."""

    bootstrap_servers: str
    source: str
    broker: LocalKafkaBroker | None


def _start_kafka_container() -> tuple[Any, str]:
    """An apache/kafka container (KRaft, one node) published on a free host port.

    With env-only configuration the image uses no default file, so every setting is given.
    Inter-broker traffic stays on an in-container listener; clients use PLAINTEXT_HOST.
    """
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.docker_client import DockerClient
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    host = DockerClient().host()
    port = free_port()
    env = {
        "CLUSTER_ID": new_cluster_id(),
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_LISTENERS": "PLAINTEXT://:19092,CONTROLLER://:9093,PLAINTEXT_HOST://:9092",
        "KAFKA_ADVERTISED_LISTENERS": (
            f"PLAINTEXT://localhost:19092,PLAINTEXT_HOST://{host}:{port}"
        ),
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT"
        ),
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
        "KAFKA_LOG_DIRS": "/tmp/kraft-combined-logs",
        "KAFKA_NUM_PARTITIONS": "1",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    }
    container = (
        DockerContainer(KAFKA_IMAGE)
        .with_bind_ports(9092, port)
        .with_envs(**env)
        .waiting_for(LogMessageWaitStrategy("Kafka Server started").with_startup_timeout(180))
    )
    container.start()
    return container, f"{host}:{port}"


def _start_local_broker(data_dir: Path) -> LocalKafkaBroker:
    """Start a project-launched broker that dies with this process (no orphan JVMs)."""
    broker = LocalKafkaBroker(data_dir, die_with_parent=True)
    try:
        broker.start(timeout=120)
    except ReactorError as exc:
        reason = str(exc)
    else:
        return broker
    broker.stop()
    no_broker(reason)


@pytest.fixture(scope="session")
def kafka_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaSession]:
    """Start (or find) the run's single broker; stopped at the end of the run."""
    env_bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if env_bootstrap:
        yield KafkaSession(env_bootstrap, "env", None)
        return
    if docker_engine_answers():
        failure: str | None = None
        try:
            container, bootstrap = _start_kafka_container()
        except Exception as exc:  # image pull, port clash, start timeout...
            failure = f"Docker answers but {KAFKA_IMAGE} did not start: {exc}"
        if failure is not None:
            no_broker(failure)
        try:
            yield KafkaSession(bootstrap, "docker", None)
        finally:
            container.stop()
        return
    broker = _start_local_broker(tmp_path_factory.mktemp("kafka-broker"))
    try:
        yield KafkaSession(broker.bootstrap_servers, "local", broker)
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_session: KafkaSession) -> str:
    """Bootstrap servers of the run's broker, e.g. "127.0.0.1:40123"."""
    return kafka_session.bootstrap_servers


@pytest.fixture(scope="session")
def kafka_broker(kafka_session: KafkaSession) -> LocalKafkaBroker | None:
    """The `LocalKafkaBroker` when this run launched it (to stop/restart it), else None."""
    return kafka_session.broker


@pytest.fixture
def restartable_broker(kafka_session: KafkaSession, tmp_path: Path) -> Iterator[LocalKafkaBroker]:
    """A broker a test may stop and restart: the run's own, or (env/Docker runs) a private one.

    Whoever stops the run's broker must leave it running again (`restart()`/`start()`).
    """
    if kafka_session.broker is not None:
        yield kafka_session.broker
        if not kafka_session.broker.is_running():
            kafka_session.broker.start(timeout=120)
        return
    broker = _start_local_broker(tmp_path / "kafka-broker")
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def java_for_broker() -> str:
    """The `java` a project-launched broker would use (skip locally / fail in CI if none)."""
    try:
        return find_java()
    except ReactorError as exc:
        reason = str(exc)
    no_broker(reason)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Factory of per-test names for topics/groups/transactional ids: `make("orders")`.

    Gives e.g. "orders-test_round_trip-3f9c2a1b7e"; only Kafka-legal characters are kept.
    """
    test = "".join(c if c.isalnum() or c in "._-" else "_" for c in request.node.name)[:60]

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{test}-{uuid.uuid4().hex[:10]}"

    return make
