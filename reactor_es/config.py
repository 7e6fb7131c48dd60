"""Settings, declared once and tied to environment variables.

Every service, the CLI and the tests read their configuration from `Settings`; the
environment variable of each field is given in its comment so the README can list them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["Settings"]


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


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
    # REACTOR_ES_TRANSACTION_TIMEOUT_MS: executor transactions abort after this long.
    transaction_timeout_ms: int = 60_000

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            home=Path(_env("REACTOR_ES_HOME", ".reactor-es")),
            topic_prefix=_env("REACTOR_ES_TOPIC_PREFIX", ""),
            partitions=int(_env("REACTOR_ES_PARTITIONS", "6")),
            phase=int(_env("REACTOR_ES_PHASE", "4")),
            replication_factor=int(_env("REACTOR_ES_REPLICATION_FACTOR", "1")),
            producer_linger_ms=int(_env("REACTOR_ES_LINGER_MS", "2")),
            transaction_timeout_ms=int(_env("REACTOR_ES_TRANSACTION_TIMEOUT_MS", "60000")),
        )

    def kafka_security_options(self) -> dict[str, object]:
        """SASL/SSL options for every Kafka client (none yet: plaintext)."""
        return {}

    @property
    def executor_group(self) -> str:
        return f"{self.topic_prefix}executor"

    def projector_group(self, name: str) -> str:
        return f"{self.topic_prefix}projector-{name}"

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
