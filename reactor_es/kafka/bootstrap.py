"""Which Kafka broker the CLI and the demo talk to.

One order everywhere, so a developer always knows which broker is in use:

1. `KAFKA_BOOTSTRAP_SERVERS` (`settings.bootstrap_servers`), used as is;
2. a project-local broker already running from `settings.home / "broker"`;
3. a Docker engine that answers: the broker of `docker/compose.yml` on localhost:9092. This
   module does not start containers itself (that needs the repository's compose file and the
   compose plugin); if nothing listens there it says to run
   `docker compose -f docker/compose.yml up -d`;
4. otherwise the project-local broker is started in `settings.home / "broker"` (it keeps
   running for later commands, so the service that started it says so on stderr, see
   `started_note`; `reactor-es broker stop` stops it).

`REACTOR_ES_BROKER=local` skips the Docker step (use the project-local broker even where Docker
runs); `REACTOR_ES_BROKER=docker` insists on it.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from reactor_es.config import Settings
from reactor_es.kafka.broker import LocalKafkaBroker, port_is_open
from reactor_es.kafka.exceptions import BrokerSettingError, BrokerUnavailable

__all__ = [
    "COMPOSE_BOOTSTRAP",
    "BrokerSelection",
    "describe_selection",
    "docker_engine_answers",
    "local_broker",
    "local_broker_dir",
    "resolve_bootstrap",
    "select_broker",
    "started_note",
]

COMPOSE_BOOTSTRAP = "localhost:9092"
COMPOSE_HINT = "docker compose -f docker/compose.yml up -d"

Source = Literal["env", "local-running", "docker", "local-started"]


@dataclass(frozen=True)
class BrokerSelection:
    """The chosen broker and why; `broker` is set when it is the project-local one."""

    bootstrap_servers: str
    source: Source
    broker: LocalKafkaBroker | None = None


def local_broker_dir(settings: Settings) -> Path:
    """The project-local broker's data dir (shared by the CLI, the demo and `make broker-*`)."""
    return settings.home / "broker"


def local_broker(settings: Settings) -> LocalKafkaBroker:
    """The project-local broker object (running or not) for these settings."""
    return LocalKafkaBroker(local_broker_dir(settings))


def docker_engine_answers(timeout: float = 2.0) -> bool:
    """Whether a Docker engine answers a ping within `timeout` seconds.

    Uses the docker SDK when installed (it honours DOCKER_HOST and TLS settings); otherwise
    pings the default unix socket directly, so the runtime needs no Docker dependency.
    """
    try:
        # Optional (a dev dependency via testcontainers); typed loosely on purpose.
        docker: Any = importlib.import_module("docker")
    except ImportError:
        return _ping_unix_socket(os.environ.get("DOCKER_HOST", ""), timeout)
    try:
        client = docker.from_env(timeout=max(1, int(timeout)))
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # any SDK/connection error means "no engine here"
        return False


def _ping_unix_socket(docker_host: str, timeout: float) -> bool:
    if docker_host and not docker_host.startswith("unix://"):
        return False  # remote engines need the SDK (TLS, contexts)
    path = docker_host.removeprefix("unix://") or "/var/run/docker.sock"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = sock.recv(256)
    except OSError:
        return False
    return reply.startswith(b"HTTP/") and b" 200 " in reply.split(b"\r\n", 1)[0]


def select_broker(
    settings: Settings, *, start_local: bool = True, timeout: float = 90.0
) -> BrokerSelection:
    """Pick (and if needed start) a broker in the project's order; see the module docstring.

    Blocking: it may start a JVM. Raises `BrokerUnavailable` (or `MissingToolError` naming
    java/mvn) when no path gives a broker.
    """
    if settings.bootstrap_servers:
        return BrokerSelection(settings.bootstrap_servers, "env")
    mode = os.environ.get("REACTOR_ES_BROKER", "auto").strip().lower() or "auto"
    if mode not in {"auto", "local", "docker"}:
        raise BrokerSettingError(f"REACTOR_ES_BROKER must be auto, local or docker, not {mode!r}")
    broker = local_broker(settings)
    if mode != "docker" and broker.is_running():
        return BrokerSelection(broker.bootstrap_servers, "local-running", broker)
    if mode != "local" and (mode == "docker" or docker_engine_answers()):
        host, _, port = COMPOSE_BOOTSTRAP.partition(":")
        if port_is_open(int(port), host=host, timeout=1.0):
            return BrokerSelection(COMPOSE_BOOTSTRAP, "docker")
        raise BrokerUnavailable(
            f"a Docker engine answers but no broker listens on {COMPOSE_BOOTSTRAP}: run "
            f"`{COMPOSE_HINT}`, or set REACTOR_ES_BROKER=local (project-local broker) or "
            "KAFKA_BOOTSTRAP_SERVERS"
        )
    if not start_local:
        # REACTOR_ES_HOME is relative by default: from another folder the running local
        # broker is not found, so say where we looked.
        raise BrokerUnavailable(
            "no Kafka broker: set KAFKA_BOOTSTRAP_SERVERS, run `reactor-es broker start`, "
            f"or `{COMPOSE_HINT}` (no project-local broker runs in {_home(settings)}: is it "
            "the one `reactor-es run` uses?)"
        )
    broker.start(timeout=timeout)
    return BrokerSelection(broker.bootstrap_servers, "local-started", broker)


def _home(settings: Settings) -> str:
    """`REACTOR_ES_HOME H`, with the folder it means here when H is relative."""
    home = settings.home
    return f"REACTOR_ES_HOME {home}" + ("" if home.is_absolute() else f", i.e. {home.absolute()}")


async def resolve_bootstrap(settings: Settings, *, start_local: bool = True) -> str:
    """The bootstrap string for async callers (the broker start runs in a worker thread)."""
    selection = await asyncio.to_thread(select_broker, settings, start_local=start_local)
    return selection.bootstrap_servers


def describe_selection(selection: BrokerSelection) -> str:
    """One line saying which broker is used and why, for the demo and CLI output."""
    where = selection.bootstrap_servers
    if selection.source == "env":
        return f"Kafka: {where} (from KAFKA_BOOTSTRAP_SERVERS)"
    if selection.source == "docker":
        return f"Kafka: {where} (Docker engine found; broker of docker/compose.yml)"
    assert selection.broker is not None
    broker = selection.broker
    verb = "already running" if selection.source == "local-running" else "started"
    return (
        f"Kafka: {where} (project-local Apache Kafka {broker.version} {verb}, "
        f"pid {broker.pid}, data {broker.data_dir})"
    )


def started_note(selection: BrokerSelection) -> str | None:
    """The line a service prints when it started the project-local broker (else None): the
    broker outlives the service, for later commands, so it must not run unannounced."""
    if selection.source != "local-started" or selection.broker is None:
        return None
    broker = selection.broker
    return (
        f"started a local Kafka broker (pid {broker.pid}, data in {broker.data_dir}); it keeps "
        "running: stop it with `reactor-es broker stop`"
    )
