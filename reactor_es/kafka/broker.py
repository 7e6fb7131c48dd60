"""A single-node Apache Kafka 4.x broker (KRaft, combined broker+controller) run from Maven jars.

Why this exists: the project must run against a real broker on machines without Docker. The
broker's runtime jars are resolved once with Maven into a per-user cache shared by every clone,
and the JVM is started with the machine's `java`. The process runs in its own session and is
described by a pid file and a JSON state file in its data dir, so that another process (the
`reactor-es broker status|stop` commands) can find, check and stop it later.

Data dir layout::

    server.properties   rewritten at every start (ports may be chosen at run time)
    log4j2.properties   broker logging to logs/server.log
    kafka-data/         Kafka's log.dirs (formatted once; kept across restarts)
    logs/server.log     the broker's log; logs/jvm.out has the JVM's own stdout/stderr
    broker.pid          pid of the running JVM (absent when stopped)
    broker.json         pid, ports, bootstrap, version, cluster id (kept when stopped)
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import fcntl
import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reactor_es.kafka.exceptions import BrokerError, MissingToolError

__all__ = [
    "KAFKA_VERSION",
    "LOG4J_VERSION",
    "BrokerStatus",
    "LocalKafkaBroker",
    "ensure_kafka_libs",
    "find_java",
    "find_maven",
    "free_port",
    "kafka_libs_dir",
    "libs_version",
    "new_cluster_id",
    "port_is_free",
    "port_is_open",
    "render_pom",
]

# Pinned broker release. 4.1+ brings log4j-core in transitively (KAFKA-19260); 4.1.2 is the
# newest patch of the 4.1 line, whose runtime tree was checked to resolve from Maven Central.
KAFKA_VERSION = "4.1.2"
# The log4j 2 line kafka-server 4.1.2 itself depends on; the BOM keeps api/core/binding aligned.
LOG4J_VERSION = "2.25.3"
DEPENDENCY_PLUGIN_VERSION = "3.8.1"
MIN_JAVA_MAJOR = 17

PID_FILE = "broker.pid"
STATE_FILE = "broker.json"
PROPERTIES_FILE = "server.properties"
LOG4J_FILE = "log4j2.properties"
KAFKA_DATA_DIR = "kafka-data"
LOGS_DIR = "logs"
LOCAL_HOST = "127.0.0.1"

_KAFKA_JAR = re.compile(r"^kafka_2\.13-(\d[^-]*)\.jar$")


# --------------------------------------------------------------------------------------------
# Tools and jars


def find_java() -> str:
    """Return the `java` to run, checked to be Java 17+; `JAVA_HOME` wins over PATH.

    A set but broken JAVA_HOME is an error rather than silently ignored, so the user learns
    which setting is wrong.
    """
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            raise MissingToolError(
                "java",
                f"java not found: JAVA_HOME={java_home} has no bin/java "
                "(fix or unset JAVA_HOME; the local Kafka broker needs Java 17+)",
            )
        java = str(candidate)
    else:
        found = shutil.which("java")
        if found is None:
            raise MissingToolError(
                "java",
                "java not found on PATH: the local Kafka broker needs a Java 17+ runtime "
                "(e.g. `apt-get install openjdk-17-jre-headless`, or set JAVA_HOME), "
                "or set KAFKA_BOOTSTRAP_SERVERS to use a running broker",
            )
        java = found
    major = _java_major_version(java)
    if major < MIN_JAVA_MAJOR:
        raise MissingToolError(
            "java",
            f"java at {java} is Java {major}; Kafka {KAFKA_VERSION} needs Java "
            f"{MIN_JAVA_MAJOR}+ (install it or point JAVA_HOME at it)",
        )
    return java


@functools.lru_cache(maxsize=8)
def _java_major_version(java: str) -> int:
    """Major version from `java -version` (cached: it costs a JVM start)."""
    try:
        proc = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MissingToolError("java", f"java at {java} does not run: {exc}") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if proc.returncode != 0 or match is None:
        raise MissingToolError("java", f"java at {java} does not run (`java -version` failed)")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_x" style
        major = int(match.group(2))
    return major


def find_maven() -> str:
    """Return the `mvn` on PATH; only needed when the broker jars are not cached yet."""
    found = shutil.which("mvn")
    if found is None:
        raise MissingToolError(
            "mvn",
            f"mvn not found on PATH: the Kafka {KAFKA_VERSION} jars are not cached yet and "
            "fetching them needs Maven 3 (e.g. `apt-get install maven`); or set "
            "REACTOR_ES_KAFKA_LIBS to a folder with the jars, or KAFKA_BOOTSTRAP_SERVERS",
        )
    return found


def kafka_libs_dir(version: str = KAFKA_VERSION) -> Path:
    """Where the broker jars live: `REACTOR_ES_KAFKA_LIBS`, else a per-user cache.

    The cache (`$XDG_CACHE_HOME/reactor-es/kafka-<version>/libs`, default under `~/.cache`) is
    shared by every clone so the ~100 MB download happens once per machine and version.
    """
    override = os.environ.get("REACTOR_ES_KAFKA_LIBS")
    if override:
        return Path(override).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "reactor-es" / f"kafka-{version}" / "libs"


def render_pom(version: str = KAFKA_VERSION, log4j_version: str = LOG4J_VERSION) -> str:
    """A throwaway POM whose runtime classpath is the broker's (kafka_2.13 + log4j binding).

    The published POMs leave out the SLF4J-1 binding (`log4j-slf4j-impl`), without which the
    broker logs nothing, so it is added here; the log4j BOM keeps all log4j jars on one version.
    """
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.reactor-es</groupId>
  <artifactId>kafka-broker-runtime</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencyManagement>
    <dependencies>
      <dependency>
        <groupId>org.apache.logging.log4j</groupId>
        <artifactId>log4j-bom</artifactId>
        <version>{log4j_version}</version>
        <type>pom</type>
        <scope>import</scope>
      </dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>{DEPENDENCY_PLUGIN_VERSION}</version>
      </plugin>
    </plugins>
  </build>
</project>
"""


def libs_version(libs: Path) -> str | None:
    """The Kafka version whose jars `libs` holds, or None if it is not a usable jar folder."""
    if not libs.is_dir():
        return None
    names = [p.name for p in libs.iterdir()]
    if not any(n.startswith("log4j-slf4j-impl-") for n in names):
        return None
    for name in names:
        match = _KAFKA_JAR.match(name)
        if match:
            return match.group(1)
    return None


def ensure_kafka_libs(
    version: str = KAFKA_VERSION, libs_dir: Path | None = None, *, timeout: float = 900.0
) -> Path:
    """Return a folder holding the broker's runtime jars, resolving them with Maven if needed.

    Maven writes into a temporary folder next to the target which is renamed into place only
    after a complete, successful resolve, so an interrupted download never leaves a half cache.
    A file lock keeps concurrent first runs from downloading twice.
    """
    target = libs_dir if libs_dir is not None else kafka_libs_dir(version)
    if libs_version(target) is not None:
        return target
    mvn = find_maven()
    target.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(target.parent / f".{target.name}.lock"):
        if libs_version(target) is not None:  # another process finished meanwhile
            return target
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}-partial-", dir=target.parent))
        try:
            pom = work / "pom.xml"
            pom.write_text(render_pom(version), encoding="utf-8")
            out = work / "libs"
            command = [
                mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
                "-DincludeScope=runtime", f"-DoutputDirectory={out}",
            ]  # fmt: skip
            try:
                proc = subprocess.run(
                    command, capture_output=True, text=True, timeout=timeout, check=False
                )
            except subprocess.TimeoutExpired as exc:
                raise BrokerError(
                    f"mvn did not fetch the Kafka {version} jars within {timeout:.0f}s"
                ) from exc
            if proc.returncode != 0:
                detail = _tail(proc.stdout + proc.stderr, prefer="[ERROR]")
                raise BrokerError(
                    f"mvn could not fetch the Kafka {version} jars (exit {proc.returncode}): "
                    f"{detail}"
                )
            if libs_version(out) != version:
                raise BrokerError(f"mvn ran but {out} lacks kafka_2.13-{version}.jar")
            if target.exists():  # an unusable leftover (e.g. an empty override folder)
                if any(target.iterdir()):
                    raise BrokerError(f"{target} exists but holds no usable Kafka jars")
                target.rmdir()
            os.replace(out, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


# --------------------------------------------------------------------------------------------
# Small helpers


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 chars).

    Never one that starts with "-" (1 in 64 would): `kafka-storage format -t -x...` takes
    it for an option and fails; Kafka's own `Uuid.randomUuid()` skips them for that reason.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not text.startswith("-"):
            return text


def free_port(exclude: tuple[int, ...] = ()) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOCAL_HOST, 0))
            port: int = sock.getsockname()[1]
        if port not in exclude:
            return port


def port_is_free(port: int) -> bool:
    """Whether the broker could bind `port` (SO_REUSEADDR, as the JVM does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOCAL_HOST, port))
        except OSError:
            return False
    return True


def port_is_open(port: int, host: str = LOCAL_HOST, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock held for the block (released if the process dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(text: str, lines: int = 4, prefer: str | None = None, width: int = 600) -> str:
    """The last meaningful lines of a log, joined on one line for an error message."""
    all_lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if prefer:
        preferred = [ln for ln in all_lines if prefer in ln]
        if preferred:
            all_lines = preferred
    joined = " | ".join(all_lines[-lines:]) or "(no output)"
    return joined if len(joined) <= width else "..." + joined[-width:]


def _read_tail(path: Path, since: int = 0, max_bytes: int = 64_000) -> str:
    """Up to the last `max_bytes` of `path` written after byte offset `since`."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(since, size - max_bytes))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _pid_alive(pid: int, marker: str) -> bool:
    """Whether `pid` is a live (non-zombie) process whose command line contains `marker`.

    The marker (our server.properties path) guards against a recycled pid being taken for
    our broker. Without /proc (non-Linux) only existence can be checked.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    proc_root = Path("/proc")
    if not proc_root.is_dir():
        return True
    try:
        cmdline = (proc_root / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False
    return bool(cmdline) and marker.encode() in cmdline  # empty cmdline = zombie


def _die_with_parent() -> None:
    """preexec_fn: have Linux SIGTERM the broker when the forking thread (see `_spawner`) dies.

    Test runs use it so a killed pytest leaves no orphan JVM; the CLI's broker must not.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


_SPAWNER: concurrent.futures.ThreadPoolExecutor | None = None
_SPAWNER_LOCK = threading.Lock()


def _spawner() -> concurrent.futures.ThreadPoolExecutor:
    """One thread for the life of the process, from which die-with-parent JVMs are forked."""
    global _SPAWNER
    with _SPAWNER_LOCK:
        if _SPAWNER is None:
            _SPAWNER = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="reactor-es-broker-spawner"
            )
        return _SPAWNER


async def _probe_cluster(bootstrap: str, limit_s: float) -> int:
    """One admin metadata call; returns the number of brokers the cluster reports."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="reactor-es-readiness",
        request_timeout_ms=max(1000, int(limit_s * 1000)),
    )
    try:
        async with asyncio.timeout(limit_s):
            await admin.start()
            info: dict[str, Any] = await admin.describe_cluster()
    finally:
        await admin.close()
    return len(info.get("brokers", []))


def _run_in_fresh_loop(factory: Callable[[], Any], timeout: float) -> Any:
    """Run a coroutine to completion on a private loop in a worker thread.

    This works whether or not the caller already runs an event loop (CLI vs. async fixtures).
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result(timeout=timeout + 5)


# --------------------------------------------------------------------------------------------
# The broker


@dataclass(frozen=True)
class BrokerStatus:
    """What `status()` reports; `stale_pid` means a pid file named a process that is gone."""

    running: bool
    pid: int | None
    bootstrap_servers: str | None
    data_dir: Path
    version: str
    port: int | None
    controller_port: int | None
    log_file: Path
    stale_pid: bool = False


class LocalKafkaBroker:
    """A single-node KRaft broker (static quorum of one) in `data_dir`.

    Ports left as None are taken from the data dir's state file when it has one (so a restart
    keeps the bootstrap address), else picked free at start. The object can attach to a broker
    started by another process: `status()` and `stop()` work from the pid/state files alone.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        controller_port: int | None = None,
        *,
        heap: str = "512m",
        libs_dir: Path | None = None,
        die_with_parent: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self._explicit_controller_port = controller_port
        self.heap = heap
        self._libs_dir = libs_dir
        self.die_with_parent = die_with_parent
        self._process: subprocess.Popen[bytes] | None = None
        self._log_marks: tuple[int, int] = (0, 0)  # log sizes when the JVM was spawned
        state = self._read_state()
        self.port: int | None = port if port is not None else _int_or_none(state.get("port"))
        self.controller_port: int | None = (
            controller_port
            if controller_port is not None
            else _int_or_none(state.get("controller_port"))
        )
        self.version: str = str(state.get("version") or KAFKA_VERSION)

    # -- paths ---------------------------------------------------------------------------
    @property
    def properties_file(self) -> Path:
        return self.data_dir / PROPERTIES_FILE

    @property
    def log_file(self) -> Path:
        return self.data_dir / LOGS_DIR / "server.log"

    @property
    def jvm_output_file(self) -> Path:
        return self.data_dir / LOGS_DIR / "jvm.out"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / PID_FILE

    @property
    def state_file(self) -> Path:
        return self.data_dir / STATE_FILE

    @property
    def bootstrap_servers(self) -> str:
        """`127.0.0.1:<port>`; the port is known once started (or read from the state file)."""
        if self.port is None:
            raise BrokerError(f"the broker in {self.data_dir} has no port yet (never started)")
        return f"{LOCAL_HOST}:{self.port}"

    @property
    def formatted(self) -> bool:
        return (self.data_dir / KAFKA_DATA_DIR / "meta.properties").is_file()

    # -- state ---------------------------------------------------------------------------
    def _read_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_state(self, **fields: Any) -> None:
        state = self._read_state()
        state.update(fields)
        tmp = self.state_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.state_file)

    def _recorded_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None

    @property
    def pid(self) -> int | None:
        """Pid of the running broker, or None (stale pid files count as not running)."""
        pid = self._recorded_pid()
        if pid is None or not _pid_alive(pid, str(self.properties_file)):
            return None
        return pid

    def is_running(self) -> bool:
        return self.pid is not None

    def status(self) -> BrokerStatus:
        """Running or not, from the pid file; also re-reads the state file for the ports."""
        recorded = self._recorded_pid()
        pid = self.pid
        state = self._read_state()
        port = self.port if self.port is not None else _int_or_none(state.get("port"))
        cport = self.controller_port or _int_or_none(state.get("controller_port"))
        return BrokerStatus(
            running=pid is not None,
            pid=pid,
            bootstrap_servers=f"{LOCAL_HOST}:{port}" if port is not None else None,
            data_dir=self.data_dir,
            version=str(state.get("version") or self.version),
            port=port,
            controller_port=cport,
            log_file=self.log_file,
            stale_pid=recorded is not None and pid is None,
        )

    # -- start ---------------------------------------------------------------------------
    def start(self, timeout: float = 90.0) -> None:
        """Start the broker and return once it serves metadata requests.

        Formats storage on first use (fresh cluster id); later starts reuse the data and ports.
        `timeout` covers the JVM start only, not a first-time jar download. Raises
        `MissingToolError` without java (or mvn, when jars must be fetched) and `BrokerError`
        if the JVM exits or is not ready in time (the JVM is then stopped).
        """
        java = find_java()
        libs = ensure_kafka_libs(libs_dir=self._libs_dir or kafka_libs_dir(KAFKA_VERSION))
        self.version = libs_version(libs) or KAFKA_VERSION
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.data_dir / ".broker.lock"):
            running = self.pid
            if running is not None:
                raise BrokerError(
                    f"a broker already runs from {self.data_dir} (pid {running}, "
                    f"{self.bootstrap_servers})"
                )
            self._clear_pid_file()
            self._choose_ports()
            self._write_config()
            state = self._read_state()
            cluster_id = str(state.get("cluster_id") or "")
            if not self.formatted:
                cluster_id = new_cluster_id()
                self._format(java, libs, cluster_id)
            self._spawn(java, libs)
            assert self._process is not None
            self.pid_file.write_text(f"{self._process.pid}\n", encoding="utf-8")
            self._write_state(
                pid=self._process.pid,
                port=self.port,
                controller_port=self.controller_port,
                bootstrap_servers=self.bootstrap_servers,
                version=self.version,
                cluster_id=cluster_id,
                data_dir=str(self.data_dir),
                log_file=str(self.log_file),
                started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
        try:
            self._await_ready(timeout)
        except BaseException:
            self._kill_after_failed_start()
            raise

    def restart(self, timeout: float = 90.0) -> None:
        """Stop (if running) and start again on the same data dir and client port."""
        self.stop()
        self.start(timeout=timeout)

    def _choose_ports(self) -> None:
        """Keep the recorded client port (clients keep their bootstrap); pick free ones if new.

        The controller port is internal to this node (static quorum, re-read from the config at
        each start), so a recorded one that is now taken is silently replaced.
        """
        if self.port is None:
            self.port = free_port()
        elif not port_is_free(self.port):
            raise BrokerError(
                f"port {self.port} for the broker in {self.data_dir} is in use by another "
                "process; free it, or pass another port"
            )
        if self.controller_port is None or (
            self._explicit_controller_port is None and not port_is_free(self.controller_port)
        ):
            self.controller_port = free_port(exclude=(self.port,))

    def _write_config(self) -> None:
        (self.data_dir / LOGS_DIR).mkdir(parents=True, exist_ok=True)
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{LOCAL_HOST}:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://{LOCAL_HOST}:{self.port},CONTROLLER://{LOCAL_HOST}:"
                f"{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://{LOCAL_HOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir / KAFKA_DATA_DIR),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            # Tests and the app create topics explicitly; a typo must not create a topic.
            "auto.create.topics.enable": "false",
            # A single node can only host RF 1 internal topics; 1 partition starts faster.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # The default 3 s delay only slows every first group join.
            "group.initial.rebalance.delay.ms": "0",
            # Let clients choose short session timeouts (a killed member is noticed sooner).
            "group.min.session.timeout.ms": "1000",
            # On a busy 2-core machine the broker's own heartbeats to its controller can be
            # late; the default 9 s would fence it and empty its ISRs (NotEnoughReplicas).
            "broker.session.timeout.ms": "30000",
            # Sized for a 2-core machine.
            "num.network.threads": "2",
            "num.io.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "background.threads": "4",
        }
        body = "".join(f"{k}={v}\n" for k, v in properties.items())
        self.properties_file.write_text(
            "# Written by reactor_es.kafka.broker at each start; edits are overwritten.\n" + body,
            encoding="utf-8",
        )
        (self.data_dir / LOG4J_FILE).write_text(_LOG4J2_PROPERTIES, encoding="utf-8")

    def _jvm_base(self, java: str, libs: Path) -> list[str]:
        return [
            java,
            f"-Dkafka.logs.dir={self.data_dir / LOGS_DIR}",
            f"-Dlog4j2.configurationFile={self.data_dir / LOG4J_FILE}",
            "-Djava.awt.headless=true",
            "-cp",
            f"{libs}{os.sep}*",
        ]

    def _format(self, java: str, libs: Path, cluster_id: str) -> None:
        command = [
            *self._jvm_base(java, libs), "-Xmx256m", "kafka.tools.StorageTool",
            "format", "--ignore-formatted", "-t", cluster_id, "-c", str(self.properties_file),
        ]  # fmt: skip
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        except subprocess.TimeoutExpired as exc:
            raise BrokerError(f"formatting Kafka storage in {self.data_dir} timed out") from exc
        if proc.returncode != 0:
            raise BrokerError(
                f"formatting Kafka storage in {self.data_dir} failed (exit {proc.returncode}): "
                f"{_tail(proc.stdout + proc.stderr)}"
            )

    def _spawn(self, java: str, libs: Path) -> None:
        self._log_marks = (_file_size(self.log_file), _file_size(self.jvm_output_file))
        command = [
            *self._jvm_base(java, libs),
            "-Xms256m",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-XX:+ExitOnOutOfMemoryError",
            "kafka.Kafka",
            str(self.properties_file),
        ]
        with self.jvm_output_file.open("ab") as out:
            # Own session: the broker outlives `reactor-es broker start` and its terminal.
            def popen() -> subprocess.Popen[bytes]:
                return subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.data_dir,
                    start_new_session=True,
                    close_fds=True,
                    preexec_fn=_die_with_parent if self.die_with_parent else None,
                )

            # The death signal follows the *thread* that forked, so fork from one long-lived
            # thread: a broker started from a short-lived worker thread must not die with it.
            self._process = _spawner().submit(popen).result() if self.die_with_parent else popen()

    def _await_ready(self, timeout: float) -> None:
        """Ready = PLAINTEXT port open (Kafka opens it only when serving) + metadata answered."""
        assert self._process is not None
        assert self.port is not None
        deadline = time.monotonic() + timeout
        last_error = "port not open yet"
        while True:
            code = self._process.poll()
            if code is not None:
                raise BrokerError(
                    f"the Kafka broker exited with code {code} while starting; last log "
                    f"lines: {self._log_tail()}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerError(
                    f"the Kafka broker was not ready within {timeout:.0f}s ({last_error}); "
                    f"see {self.log_file}: {self._log_tail()}"
                )
            if port_is_open(self.port):
                probe_timeout = min(10.0, max(1.0, remaining))
                try:
                    probe = functools.partial(_probe_cluster, self.bootstrap_servers, probe_timeout)
                    brokers = _run_in_fresh_loop(probe, probe_timeout)
                except Exception as exc:  # any client error means "not yet"
                    last_error = f"metadata request failed: {type(exc).__name__}: {exc}"
                else:
                    if brokers >= 1:
                        return
                    last_error = "metadata lists no broker yet"
            time.sleep(0.2)

    def _log_tail(self) -> str:
        """This start's most telling output: ERROR lines, else the JVM's own output, else log."""
        log_since, jvm_since = self._log_marks
        text = _read_tail(self.log_file, log_since)
        errors = [ln for ln in text.splitlines() if " ERROR " in ln or "Exception" in ln]
        if errors:
            return _tail("\n".join(errors), lines=3)
        jvm = _read_tail(self.jvm_output_file, jvm_since)
        return _tail(jvm if jvm.strip() else text, lines=3)

    def _kill_after_failed_start(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._clear_pid_file()
        self._write_state(pid=None)

    # -- stop ----------------------------------------------------------------------------
    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM the broker (clean shutdown hook), SIGKILL after `timeout`; returns its pid.

        Returns None when nothing was running; a stale pid file is removed either way.
        """
        if not self.data_dir.is_dir():
            return None
        with _file_lock(self.data_dir / ".broker.lock"):
            pid = self.pid
            if pid is None:
                self._clear_pid_file()
                self._reap_own_child()
                return None
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not self._wait_gone(pid, timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                self._wait_gone(pid, 15.0)
            self._clear_pid_file()
            self._write_state(pid=None, stopped_at=datetime.now(UTC).isoformat(timespec="seconds"))
            return pid

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        marker = str(self.properties_file)
        while time.monotonic() < deadline:
            if self._process is not None and self._process.pid == pid:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(timeout=0.2)
                if self._process.poll() is not None:
                    self._process = None
                    return True
            elif not _pid_alive(pid, marker):
                return True
            else:
                time.sleep(0.2)
        return False

    def _reap_own_child(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            self._process = None

    def _clear_pid_file(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()

    # -- context manager -----------------------------------------------------------------
    def __enter__(self) -> LocalKafkaBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalKafkaBroker(data_dir={str(self.data_dir)!r}, port={self.port})"


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# Broker logging: one rolling file in the data dir, quiet request logging.
_LOG4J2_PROPERTIES = """\
status = warn
name = reactor-es-kafka
# Kafka logs during its own shutdown hook; keep log4j alive until the JVM exits.
shutdownHook = disable
appender.server.type = RollingFile
appender.server.name = SERVER
appender.server.fileName = ${sys:kafka.logs.dir}/server.log
appender.server.filePattern = ${sys:kafka.logs.dir}/server.log.%i
appender.server.layout.type = PatternLayout
appender.server.layout.pattern = [%d] %p %m (%c)%n
appender.server.policies.type = Policies
appender.server.policies.size.type = SizeBasedTriggeringPolicy
appender.server.policies.size.size = 50MB
appender.server.strategy.type = DefaultRolloverStrategy
appender.server.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.server.ref = SERVER
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
"""
