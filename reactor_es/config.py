"""Settings, declared once and tied to environment variables.

Every service, the CLI and the tests read their configuration from `Settings`; the
environment variable of each field is given in its comment so the README can list them
(docs/configuration.md). A TOML file named by `REACTOR_ES_CONFIG` may hold any of these
variables too; the environment wins over the file (`reactor_es.config_file`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reactor_es.config_file import config_file_values
from reactor_es.errors import SettingsError

__all__ = ["COMPRESSIONS", "ENV_NAMES", "Settings", "check_bootstrap_servers", "log_level_is_set"]

#: Every variable `Settings.from_env` reads: also the keys a `REACTOR_ES_CONFIG` file may hold.
ENV_NAMES = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "REACTOR_ES_HOME",
    "REACTOR_ES_TOPIC_PREFIX",
    "REACTOR_ES_PARTITIONS",
    "REACTOR_ES_PHASE",
    "REACTOR_ES_REPLICATION_FACTOR",
    "REACTOR_ES_LINGER_MS",
    "REACTOR_ES_COMPRESSION",
    "REACTOR_ES_TRANSACTION_TIMEOUT_MS",
    "REACTOR_ES_SNAPSHOT_EVERY",
    "REACTOR_ES_IDEMPOTENCY_WINDOW",
    "REACTOR_ES_SESSION_TIMEOUT_MS",
    "REACTOR_ES_FETCH_MAX_WAIT_MS",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SSL_CAFILE",
    "KAFKA_SSL_CERTFILE",
    "KAFKA_SSL_KEYFILE",
    "KAFKA_SSL_PASSWORD",
    "KAFKA_SSL_CHECK_HOSTNAME",
    "REACTOR_ES_METRICS_PORT",
    "REACTOR_ES_METRICS_ADDR",
    "REACTOR_ES_LOG_FORMAT",
    "REACTOR_ES_LOG_LEVEL",
)
#: Values of REACTOR_ES_COMPRESSION (Kafka's batch codecs).
COMPRESSIONS = ("none", "gzip", "snappy", "lz4", "zstd")

#: Settings holding a path (relative ones in a config file are relative to the file).
_PATH_NAMES = ("REACTOR_ES_HOME", "KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE")


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        value = config_file_values(ENV_NAMES, _PATH_NAMES).get(name)
    return default if value is None or value == "" else value


def _path(name: str) -> Path | None:
    value = _env(name, "")
    return Path(value).expanduser() if value else None


def _flag(name: str, default: bool) -> bool:
    value = _env(name, "true" if default else "false").strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, not {value!r}")


def _choice(name: str, default: str, choices: Collection[str]) -> str:
    value = _env(name, default).strip().lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _int(name: str, default: int, minimum: int = 0) -> int:
    value = _env(name, str(default)).strip()
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise SettingsError(f"{name} must be a whole number of at least {minimum}, not {value!r}")
    return number


def log_level_is_set() -> bool:
    """True when REACTOR_ES_LOG_LEVEL comes from the environment or the config file."""
    return bool(_env("REACTOR_ES_LOG_LEVEL", "").strip())


_HOST = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]")


def check_bootstrap_servers(value: str, name: str = "KAFKA_BOOTSTRAP_SERVERS") -> str:
    """`value` if it is a comma-separated list of `host:port`; else `SettingsError` naming
    `name` and the entry at fault (aiokafka would raise ValueError or quietly use 9092)."""
    for raw in value.split(","):
        entry = raw.strip()
        host, colon, port = entry.rpartition(":")
        if not entry:
            problem = "an entry is empty"
        elif not colon:
            problem = f"{entry!r} has no port"
        elif not _HOST.fullmatch(host):
            problem = f"{host!r} is not a host name or address"
        elif not port.isdigit() or not 0 < int(port) <= 65535:
            problem = f"{port!r} is not a port number (1-65535)"
        else:
            continue
        raise SettingsError(
            f"{name} must be a comma-separated list of host:port, not {value!r}: {problem}"
        )
    return value


def _bootstrap(name: str) -> str | None:
    value = _env(name, "").strip()
    return check_bootstrap_servers(value, name) if value else None


def _port(name: str) -> int | None:
    value = _env(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) > 65535:
        raise SettingsError(f"{name} must be a TCP port number (0-65535), not {value!r}")
    return int(value)


@dataclass(frozen=True)
class Settings:
    # KAFKA_BOOTSTRAP_SERVERS: when set, used as is (no broker is started).
    bootstrap_servers: str | None = None
    # REACTOR_ES_HOME: where the local broker, stores and caches live (project-local).
    home: Path = field(default_factory=lambda: Path(".reactor-es"))
    # REACTOR_ES_TOPIC_PREFIX: prepended to `actions`, `operations`, `job-events`, ...
    topic_prefix: str = ""
    # REACTOR_ES_PARTITIONS: partition count used when the topics are created.
    partitions: int = 6
    # REACTOR_ES_PHASE: migration phase 4, 5 or 6 (which projectors run, which store reads).
    phase: int = 4
    # REACTOR_ES_REPLICATION_FACTOR: replication factor of the topics we create.
    replication_factor: int = 1
    # REACTOR_ES_LINGER_MS: producer linger; a few ms batch records without hurting latency.
    producer_linger_ms: int = 2
    # REACTOR_ES_COMPRESSION: how producers compress record batches (none, gzip, snappy, lz4,
    # zstd). An operation record carries its scope's whole state, so the log grows with
    # state size times operations; zstd shrinks that by one to two orders of magnitude.
    compression: str = "zstd"
    # REACTOR_ES_TRANSACTION_TIMEOUT_MS: executor transactions abort after this long.
    transaction_timeout_ms: int = 60_000
    # REACTOR_ES_SNAPSHOT_EVERY: operations of a partition between two snapshot checkpoints.
    snapshot_every: int = 2000
    # REACTOR_ES_IDEMPOTENCY_WINDOW: recent actions per document recognised when retried.
    idempotency_window: int = 256
    # REACTOR_ES_SESSION_TIMEOUT_MS: a consumer-group member silent this long is dropped and
    # its partitions move (how soon a killed executor's partitions are taken over).
    session_timeout_ms: int = 10_000
    # REACTOR_ES_FETCH_MAX_WAIT_MS: how long a consumer's fetch may wait at the broker for
    # records. A read_committed fetch that arrives while a transaction is open is not woken
    # when it commits: it waits the whole time (aiokafka's default 500 ms made every job of a
    # lone client take ~500 ms; 50 ms: ~45 ms, 20 ms: ~30 ms for 5x the idle fetches).
    fetch_max_wait_ms: int = 50
    # KAFKA_SECURITY_PROTOCOL: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    security_protocol: str = "PLAINTEXT"
    # KAFKA_SASL_MECHANISM: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_* protocols); None
    # (unset) means PLAIN, and tells a mechanism set under PLAINTEXT or SSL, which is refused.
    sasl_mechanism: str | None = None
    # KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD: SASL credentials (required with SASL_*).
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    # KAFKA_SSL_CAFILE: PEM CA bundle that signed the brokers' certificates (default: system CAs).
    ssl_cafile: Path | None = None
    # KAFKA_SSL_CERTFILE / KAFKA_SSL_KEYFILE / KAFKA_SSL_PASSWORD: client certificate (mTLS).
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_password: str | None = field(default=None, repr=False)
    # KAFKA_SSL_CHECK_HOSTNAME: check the broker's certificate names its host (true).
    ssl_check_hostname: bool = True
    # REACTOR_ES_METRICS_PORT: serve Prometheus metrics on this port (unset: no metrics).
    metrics_port: int | None = None
    # REACTOR_ES_METRICS_ADDR: address the metrics endpoint binds (all interfaces).
    metrics_addr: str = "0.0.0.0"  # noqa: S104 - Prometheus scrapes from another host
    # REACTOR_ES_LOG_FORMAT: `plain` lines or `json` lines on stderr.
    log_format: str = "plain"
    # REACTOR_ES_LOG_LEVEL: DEBUG, INFO, WARNING, ERROR or CRITICAL.
    log_level: str = "INFO"

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            bootstrap_servers=_bootstrap("KAFKA_BOOTSTRAP_SERVERS"),
            home=Path(_env("REACTOR_ES_HOME", ".reactor-es")),
            topic_prefix=_env("REACTOR_ES_TOPIC_PREFIX", ""),
            partitions=_int("REACTOR_ES_PARTITIONS", 6, minimum=1),
            phase=_int("REACTOR_ES_PHASE", 4, minimum=4),
            replication_factor=_int("REACTOR_ES_REPLICATION_FACTOR", 1, minimum=1),
            producer_linger_ms=_int("REACTOR_ES_LINGER_MS", 2),
            compression=_choice("REACTOR_ES_COMPRESSION", "zstd", COMPRESSIONS),
            transaction_timeout_ms=_int("REACTOR_ES_TRANSACTION_TIMEOUT_MS", 60000, minimum=1000),
            snapshot_every=_int("REACTOR_ES_SNAPSHOT_EVERY", 2000, minimum=1),
            idempotency_window=_int("REACTOR_ES_IDEMPOTENCY_WINDOW", 256, minimum=1),
            session_timeout_ms=_int("REACTOR_ES_SESSION_TIMEOUT_MS", 10_000, minimum=1000),
            fetch_max_wait_ms=_int("REACTOR_ES_FETCH_MAX_WAIT_MS", 50),
            security_protocol=_env("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").strip().upper(),
            sasl_mechanism=_env("KAFKA_SASL_MECHANISM", "").strip().upper() or None,
            sasl_username=_env("KAFKA_SASL_USERNAME", "") or None,
            sasl_password=_env("KAFKA_SASL_PASSWORD", "") or None,
            ssl_cafile=_path("KAFKA_SSL_CAFILE"),
            ssl_certfile=_path("KAFKA_SSL_CERTFILE"),
            ssl_keyfile=_path("KAFKA_SSL_KEYFILE"),
            ssl_password=_env("KAFKA_SSL_PASSWORD", "") or None,
            ssl_check_hostname=_flag("KAFKA_SSL_CHECK_HOSTNAME", True),
            metrics_port=_port("REACTOR_ES_METRICS_PORT"),
            metrics_addr=_env("REACTOR_ES_METRICS_ADDR", "0.0.0.0"),  # noqa: S104
            log_format=_env("REACTOR_ES_LOG_FORMAT", "plain").strip().lower(),
            log_level=_env("REACTOR_ES_LOG_LEVEL", "INFO").strip().upper(),
        )

    def kafka_security_options(self) -> dict[str, Any]:
        """SASL/SSL keyword arguments for every Kafka client, checked (`SettingsError`)."""
        from reactor_es.kafka.security import security_options  # Kafka stays out of imports

        return security_options(self)

    @property
    def executor_group(self) -> str:
        return f"{self.topic_prefix}executor"

    def projector_group(self, name: str) -> str:
        return f"{self.topic_prefix}projector-{name}"

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
