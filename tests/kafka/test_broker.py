"""The broker layer against a real Apache Kafka 4.x broker.

Covers what the rest of the project relies on: plain produce/consume, aiokafka 0.14
transactions on a 4.x broker (commit/abort visibility, offsets sent to the transaction,
fencing), a broker restart that keeps the data, the `reactor-es broker` commands and the
missing-tool errors.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import ProducerFenced

from reactor_es.config import Settings
from reactor_es.kafka.bootstrap import describe_selection, select_broker
from reactor_es.kafka.broker import (
    KAFKA_VERSION,
    LocalKafkaBroker,
    ensure_kafka_libs,
    new_cluster_id,
    port_is_open,
)
from reactor_es.kafka.clients import retrieve_failures
from reactor_es.kafka.exceptions import BrokerError, BrokerUnavailable, MissingToolError

CLI = str(Path(sys.executable).with_name("reactor-es"))


# -- helpers ---------------------------------------------------------------------------------


async def create_topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1)], timeout_ms=30000
        )
    finally:
        await admin.close()
    errors = [(t[0], t[1]) for t in response.topic_errors if t[1] != 0]
    assert errors == [], f"create_topics failed: {errors}"


async def read_partition(
    bootstrap: str, topic: str, isolation_level: str, timeout: float = 20.0
) -> list[tuple[int, bytes]]:
    """All (offset, value) of partition 0 up to its end (the LSO for read_committed)."""
    tp = TopicPartition(topic, 0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, isolation_level=isolation_level, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        records: list[tuple[int, bytes]] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while await consumer.position(tp) < end:
            assert asyncio.get_running_loop().time() < deadline, (end, records)
            batch = await consumer.getmany(tp, timeout_ms=500)
            records.extend((r.offset, r.value) for r in batch.get(tp, []))
        return records
    finally:
        await consumer.stop()


async def committed_offset(bootstrap: str, group: str, tp: TopicPartition) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    meta = offsets.get(tp)
    return None if meta is None else int(meta.offset)


async def wait_for_committed(
    bootstrap: str, group: str, tp: TopicPartition, expected: int, timeout: float = 15.0
) -> int | None:
    """Transaction markers are written after EndTxn returns, so offsets appear shortly after."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await committed_offset(bootstrap, group, tp)
        if got == expected or asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.1)


async def wait_transactions_settled(bootstrap: str, topic: str, timeout: float = 15.0) -> None:
    """Wait until no open transaction holds the partition (LSO == high watermark)."""
    tp = TopicPartition(topic, 0)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        ends = {}
        for level in ("read_committed", "read_uncommitted"):
            c = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level=level)
            await c.start()
            try:
                ends[level] = (await c.end_offsets([tp]))[tp]
            finally:
                await c.stop()
        if ends["read_committed"] == ends["read_uncommitted"]:
            return
        assert asyncio.get_running_loop().time() < deadline, ends
        await asyncio.sleep(0.1)


def transactional_producer(bootstrap: str, transactional_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=transactional_id)


# -- (a) round trip --------------------------------------------------------------------------


@pytest.mark.kafka
async def test_produce_consume_round_trip(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic, group = unique_name("roundtrip"), unique_name("group")
    await create_topic(kafka_bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        metas = [
            await producer.send_and_wait(topic, f"value-{i}".encode(), key=f"k{i}".encode())
            for i in range(5)
        ]
    finally:
        await producer.stop()
    assert [(m.partition, m.offset) for m in metas] == [(0, i) for i in range(5)]

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        got: list[tuple[int, bytes | None, bytes | None]] = []
        async with asyncio.timeout(30):
            while len(got) < 5:
                batch = await consumer.getmany(timeout_ms=500)
                got += [(r.offset, r.key, r.value) for rs in batch.values() for r in rs]
        await consumer.commit()
        tp = TopicPartition(topic, 0)
        assert await consumer.committed(tp) == 5
    finally:
        await consumer.stop()
    assert got == [(i, f"k{i}".encode(), f"value-{i}".encode()) for i in range(5)]


# -- (b) transactions ------------------------------------------------------------------------


@pytest.mark.kafka
async def test_transaction_commit_and_abort_visibility(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("txn")
    await create_topic(kafka_bootstrap, topic)
    producer = transactional_producer(kafka_bootstrap, unique_name("tid"))
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send_and_wait(topic, b"c1")
            await producer.send_and_wait(topic, b"c2")
        await producer.begin_transaction()
        await producer.send_and_wait(topic, b"a1")
        await producer.send_and_wait(topic, b"a2")
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send_and_wait(topic, b"c3")
    finally:
        await producer.stop()

    # Offsets: c1 0, c2 1, COMMIT marker 2, a1 3, a2 4, ABORT marker 5, c3 6, COMMIT marker 7.
    committed = await read_partition(kafka_bootstrap, topic, "read_committed")
    uncommitted = await read_partition(kafka_bootstrap, topic, "read_uncommitted")
    assert committed == [(0, b"c1"), (1, b"c2"), (6, b"c3")]
    assert uncommitted == [(0, b"c1"), (1, b"c2"), (3, b"a1"), (4, b"a2"), (6, b"c3")]


@pytest.mark.kafka
async def test_send_offsets_to_transaction_commits_offsets_atomically(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    source, sink, group = unique_name("in"), unique_name("out"), unique_name("group")
    await create_topic(kafka_bootstrap, source)
    await create_topic(kafka_bootstrap, sink)
    plain = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await plain.start()
    try:
        for i in range(6):
            await plain.send_and_wait(source, f"in-{i}".encode())
    finally:
        await plain.stop()
    tp_in = TopicPartition(source, 0)
    assert await committed_offset(kafka_bootstrap, group, tp_in) is None

    producer = transactional_producer(kafka_bootstrap, unique_name("tid"))
    await producer.start()
    try:
        # Consume-transform-produce of input offsets 0..2, committed with the output.
        async with producer.transaction():
            await producer.send_and_wait(sink, b"out-0-2")
            await producer.send_offsets_to_transaction({tp_in: 3}, group)
        assert await wait_for_committed(kafka_bootstrap, group, tp_in, 3) == 3

        # The same for offsets 3..4, aborted: neither the output nor the offset may land.
        await producer.begin_transaction()
        await producer.send_and_wait(sink, b"out-3-4")
        await producer.send_offsets_to_transaction({tp_in: 5}, group)
        await producer.abort_transaction()
    finally:
        await producer.stop()

    await wait_transactions_settled(kafka_bootstrap, sink)
    for _ in range(5):  # still 3 well after the abort markers are written
        assert await committed_offset(kafka_bootstrap, group, tp_in) == 3
        await asyncio.sleep(0.1)
    assert await read_partition(kafka_bootstrap, sink, "read_committed") == [(0, b"out-0-2")]

    # A group member resumes exactly after the committed transaction's input.
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        got: list[tuple[int, bytes | None]] = []
        async with asyncio.timeout(30):
            while len(got) < 3:
                batch = await consumer.getmany(timeout_ms=500)
                got += [(r.offset, r.value) for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    assert got == [(3, b"in-3"), (4, b"in-4"), (5, b"in-5")]


@pytest.mark.kafka
async def test_same_transactional_id_fences_the_older_producer(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic, tid = unique_name("fence"), unique_name("tid")
    await create_topic(kafka_bootstrap, topic)
    first = transactional_producer(kafka_bootstrap, tid)
    await first.start()
    second = transactional_producer(kafka_bootstrap, tid)
    try:
        async with first.transaction():
            await first.send_and_wait(topic, b"first-ok")

        await second.start()  # InitProducerId bumps the epoch: `first` is now a zombie

        await first.begin_transaction()
        with pytest.raises(ProducerFenced):
            await first.send_and_wait(topic, b"zombie")
        # aiokafka 0.14 then sits in FATAL_ERROR: every later transactional call fails with an
        # AssertionError (not ProducerFenced), so a fenced producer must be stopped and rebuilt.
        with pytest.raises(AssertionError, match=r"FATAL_ERROR -> TransactionState\.ABORTING"):
            await first.abort_transaction()

        async with second.transaction():
            await second.send_and_wait(topic, b"second-ok")
    finally:
        await second.stop()
        await first.stop()
        retrieve_failures(first)  # the fence it keeps in its own futures: read, not logged

    assert await read_partition(kafka_bootstrap, topic, "read_committed") == [
        (0, b"first-ok"),
        (2, b"second-ok"),
    ]


# -- (c) restart -----------------------------------------------------------------------------


@pytest.mark.kafka
async def test_restart_keeps_data_and_port_and_clients_reconnect(
    restartable_broker: LocalKafkaBroker, unique_name: Callable[[str], str]
) -> None:
    broker = restartable_broker
    bootstrap = broker.bootstrap_servers
    topic = unique_name("restart")
    await create_topic(bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(3):
            await producer.send_and_wait(topic, f"before-{i}".encode())

        old_pid = await asyncio.to_thread(broker.stop)
        assert old_pid is not None
        assert not broker.is_running()
        assert broker.status().running is False
        assert not port_is_open(broker.port or 0)

        await asyncio.to_thread(broker.start, 120)
        assert broker.bootstrap_servers == bootstrap
        assert broker.pid not in (None, old_pid)

        # The producer created before the restart reconnects by itself.
        meta = await asyncio.wait_for(producer.send_and_wait(topic, b"after-0"), 60)
        assert (meta.partition, meta.offset) == (0, 3)
    finally:
        await producer.stop()
    assert await read_partition(bootstrap, topic, "read_uncommitted") == [
        (0, b"before-0"),
        (1, b"before-1"),
        (2, b"before-2"),
        (3, b"after-0"),
    ]


# -- (d) CLI ---------------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, env=env, timeout=240, check=False
    )


def cli_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env["REACTOR_ES_HOME"] = str(home)
    return env


@pytest.mark.kafka
def test_cli_broker_start_status_stop(java_for_broker: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    data = home / "broker"
    env = cli_env(home)
    try:
        down = run_cli("broker", "status", env=env)
        assert (down.returncode, down.stderr) == (3, "")
        assert down.stdout.splitlines() == [
            "running: no",
            f"data dir: {data}",
            f"version: {KAFKA_VERSION}",
            f"log: {data}/logs/server.log",
        ]

        started = run_cli("broker", "start", env=env)
        assert (started.returncode, started.stderr) == (0, ""), started.stderr
        broker = LocalKafkaBroker(data)  # attaches through the pid/state files
        pid, bootstrap = broker.pid, broker.bootstrap_servers
        assert pid is not None  # the JVM outlived the CLI process that started it
        assert started.stdout.splitlines() == [
            f"broker started: pid {pid}, bootstrap {bootstrap}, kafka {KAFKA_VERSION}",
            f"data dir: {data}",
        ]
        assert os.getsid(pid) == pid  # its own session
        assert asyncio.run(_describe_brokers(bootstrap)) == 1

        again = run_cli("broker", "start", env=env)
        assert again.returncode == 0
        assert again.stdout.splitlines() == [
            f"broker already running: pid {pid}, bootstrap {bootstrap}"
        ]

        up = run_cli("broker", "status", env=env)
        assert up.returncode == 0
        assert up.stdout.splitlines() == [
            "running: yes",
            f"pid: {pid}",
            f"bootstrap: {bootstrap}",
            f"data dir: {data}",
            f"version: {KAFKA_VERSION}",
            f"log: {data}/logs/server.log",
        ]

        # The CLI/demo broker selection finds the running project-local broker first.
        selection = select_broker(Settings(home=home))
        assert (selection.source, selection.bootstrap_servers) == ("local-running", bootstrap)
        assert describe_selection(selection) == (
            f"Kafka: {bootstrap} (project-local Apache Kafka {KAFKA_VERSION} already running, "
            f"pid {pid}, data {data})"
        )

        stopped = run_cli("broker", "stop", env=env)
        assert (stopped.returncode, stopped.stdout) == (0, f"broker stopped: pid {pid}\n")
        assert broker.pid is None  # gone (at most a zombie awaiting its reaper)
        assert not port_is_open(int(bootstrap.rsplit(":", 1)[1]))
        assert run_cli("broker", "stop", env=env).stdout == "broker not running\n"

        # A pid file naming a live process that is not our broker is stale.
        (data / "broker.pid").write_text(f"{os.getpid()}\n")
        stale = run_cli("broker", "status", env=env)
        assert stale.returncode == 3
        assert stale.stdout.splitlines()[:2] == [
            "running: no",
            "note: stale pid file (the broker process is gone)",
        ]
    finally:
        LocalKafkaBroker(data).stop()


@pytest.mark.kafka
def test_a_service_that_starts_the_local_broker_says_so(
    java_for_broker: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    data = home / "broker"
    env = {**cli_env(home), "REACTOR_ES_BROKER": "local"}  # skip the Docker probe
    service = subprocess.Popen(
        [CLI, "executor"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert service.stdout is not None
        running = ""
        while not running.startswith("reactor-es running on ") and service.poll() is None:
            running = service.stdout.readline()
        service.send_signal(signal.SIGTERM)  # at once: the line comes once it can stop
        _, errors = service.communicate(timeout=60)
        broker = LocalKafkaBroker(data)  # attaches through the pid/state files
        pid = broker.pid

        assert service.returncode == 0, errors
        assert running.startswith(f"reactor-es running on {broker.bootstrap_servers} ")
        assert [line for line in errors.splitlines() if "local Kafka broker" in line] == [
            f"started a local Kafka broker (pid {pid}, data in {data}); it keeps running: "
            "stop it with `reactor-es broker stop`"
        ]
        assert pid is not None  # it outlived the service, as the line says
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
        LocalKafkaBroker(data).stop()


async def _describe_brokers(bootstrap: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return len((await admin.describe_cluster())["brokers"])
    finally:
        await admin.close()


def test_selection_prefers_env_and_never_starts_silently_when_told_not_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_choice = select_broker(Settings(bootstrap_servers="kafka.example:9092", home=tmp_path))
    assert (env_choice.source, env_choice.broker) == ("env", None)
    assert describe_selection(env_choice) == (
        "Kafka: kafka.example:9092 (from KAFKA_BOOTSTRAP_SERVERS)"
    )

    monkeypatch.setenv("REACTOR_ES_BROKER", "local")  # skip the Docker probe
    with pytest.raises(BrokerUnavailable, match=r"^no Kafka broker: set KAFKA_BOOTSTRAP_SERVERS"):
        select_broker(Settings(home=tmp_path), start_local=False)
    assert not (tmp_path / "broker").exists()

    monkeypatch.setenv("REACTOR_ES_BROKER", "kraft")
    with pytest.raises(BrokerError, match="REACTOR_ES_BROKER must be auto, local or docker"):
        select_broker(Settings(home=tmp_path))


# -- (e) missing tools -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("java_home", "expected"),
    [
        (
            None,
            "reactor-es: error: java not found on PATH: the local Kafka broker needs a Java "
            "17+ runtime (e.g. `apt-get install openjdk-17-jre-headless`, or set JAVA_HOME), "
            "or set KAFKA_BOOTSTRAP_SERVERS to use a running broker",
        ),
        (
            "/nonexistent/jdk",
            "reactor-es: error: java not found: JAVA_HOME=/nonexistent/jdk has no bin/java "
            "(fix or unset JAVA_HOME; the local Kafka broker needs Java 17+)",
        ),
    ],
)
def test_cli_start_without_java_names_java(
    tmp_path: Path, java_home: str | None, expected: str
) -> None:
    env = cli_env(tmp_path / "home")
    env["PATH"] = str(tmp_path / "empty-bin")  # no java (nor anything else) on PATH
    env.pop("JAVA_HOME", None)
    if java_home is not None:
        env["JAVA_HOME"] = java_home
    result = run_cli("broker", "start", env=env)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [expected]
    assert not (tmp_path / "home" / "broker" / "broker.pid").exists()


def test_missing_maven_is_named_when_jars_are_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(MissingToolError) as info:
        ensure_kafka_libs(libs_dir=tmp_path / "libs")
    assert info.value.tool == "mvn"
    assert str(info.value).startswith("mvn not found on PATH: the Kafka 4.1.2 jars are not cached")
    assert not (tmp_path / "libs").exists()


def test_failed_jar_download_leaves_no_partial_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Maven run that dies half way must not leave a cache that looks complete."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_mvn = bin_dir / "mvn"
    fake_mvn.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in -DoutputDirectory=*) out="${a#-DoutputDirectory=}";; '
        "esac; done\n"
        'mkdir -p "$out" && : > "$out/kafka_2.13-4.1.2.jar"\n'
        'echo "[ERROR] Could not transfer artifact (simulated)"; exit 1\n'
    )
    fake_mvn.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(BrokerError, match=r"exit 1\): \[ERROR\] Could not transfer artifact"):
        ensure_kafka_libs(libs_dir=tmp_path / "cache" / "libs")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [".libs.lock"]


@pytest.mark.kafka
def test_broker_start_fails_fast_when_the_jvm_exits(java_for_broker: str, tmp_path: Path) -> None:
    """A JVM that dies at start is reported at once with its output, not after the deadline."""
    broker = LocalKafkaBroker(tmp_path / "b", heap="1k")  # -Xmx1k < -Xms256m: cannot start
    began = time.monotonic()
    with pytest.raises(BrokerError) as info:
        broker.start(timeout=90)
    assert str(info.value) == (
        "the Kafka broker exited with code 1 while starting; last log lines: Error occurred "
        "during initialization of VM | Initial heap size set to a larger value than the "
        "maximum heap size"
    )
    assert time.monotonic() - began < 30
    assert broker.pid is None
    assert not broker.pid_file.exists()


def test_cluster_ids_never_start_with_a_dash() -> None:
    """kafka-storage takes `-t -x...` for an option: 1 id in 64 would break the format step."""
    ids = [new_cluster_id() for _ in range(2000)]
    assert not [text for text in ids if text.startswith("-")]
    assert {len(text) for text in ids} == {22}
