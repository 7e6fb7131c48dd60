"""Expected failures of the Kafka layer.

Each message is one line a user can act on, because the CLI prints it as is.
"""

from __future__ import annotations

from reactor_es.errors import ReactorError, SettingsError

__all__ = [
    "ActiveGroupError",
    "BrokerError",
    "BrokerSettingError",
    "BrokerUnavailable",
    "KafkaUnreachable",
    "MissingToolError",
]


class BrokerError(ReactorError):
    """The local broker could not be prepared, started, reached or stopped."""


class BrokerSettingError(BrokerError, SettingsError):
    """A broker-selection setting (`REACTOR_ES_BROKER`) is unusable: a configuration error."""


class BrokerUnavailable(BrokerError):
    """No broker can be had by any of the selection paths (env, Docker, local)."""


class KafkaUnreachable(BrokerUnavailable):
    """The configured cluster did not answer (refused, unknown host, timed out, ...).

    `bootstrap_servers` is the address tried; the message says it and why, in one line.
    """

    def __init__(self, bootstrap_servers: str, reason: str) -> None:
        super().__init__(f"cannot reach Kafka at {bootstrap_servers}: {reason}")
        self.bootstrap_servers = bootstrap_servers
        self.reason = reason


class MissingToolError(BrokerError):
    """A program the local broker needs (`java` or `mvn`) is absent or unusable.

    `tool` names the program so callers (and tests) need not parse the message.
    """

    def __init__(self, tool: str, message: str) -> None:
        super().__init__(message)
        self.tool = tool


class ActiveGroupError(ReactorError):
    """A stop-the-world operation met a consumer group that still has members."""

    def __init__(self, group_id: str, members: str, *, action: str, stop: str) -> None:
        self.group_id = group_id
        super().__init__(f"{action}: consumer group '{group_id}' has {members}; stop {stop} first")
