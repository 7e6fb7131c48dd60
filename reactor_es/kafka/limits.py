"""How large a record Kafka takes, measured before it is sent.

The broker refuses a record batch larger than the topic's `max.message.bytes` (Kafka's
default: 1 MiB plus the 12-byte log overhead) only when the batch arrives: the send fails
after the fact, and inside the executor's transaction that aborts the whole poll batch, which
would then be retried as it is, forever. So every record we write is measured first, the way
the producer measures it (aiokafka's upper bound of a one-record v2 batch: the batch header,
the record's largest varint overhead, key, value and headers) against the lower of the
producer's `max_request_size` and the topic's `max.message.bytes`.

Why checking each record suffices: our producers do not compress, and aiokafka puts a record
larger than the batch size (256 KiB) in a batch of its own, while smaller records share
batches of at most 256 KiB. That assumes every topic takes at least 256 KiB, as any sane
configuration does. Topic configs are read once, when a service or client starts; a change
made later is seen at the next start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from reactor_es.config import Settings
from reactor_es.errors import ReactorError
from reactor_es.kafka.clients import MAX_REQUEST_SIZE, make_admin

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "RecordLimits",
    "RecordTooLargeError",
    "read_record_limits",
    "record_size",
]

log = logging.getLogger(__name__)

#: Kafka's default `message.max.bytes` (every topic's `max.message.bytes` unless set).
DEFAULT_MAX_MESSAGE_BYTES = 1_048_588


class RecordTooLargeError(ReactorError):
    """A record is larger than Kafka would take: nothing of it was sent."""

    def __init__(self, what: str, size: int, limit: int, topic: str) -> None:
        self.size = size
        self.limit = limit
        self.topic = topic
        super().__init__(
            f"{what} is {size:,} bytes, over the {limit:,}-byte limit of topic '{topic}' "
            "(max.request.size / max.message.bytes)"
        )


def record_size(
    key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]] = ()
) -> int:
    """Bytes of a one-record batch holding this record, as the producer bounds it."""
    size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, list(headers))
    return size


@dataclass(frozen=True)
class RecordLimits:
    """The largest record each topic takes. Topics not listed get Kafka's default."""

    topics: Mapping[str, int] = field(default_factory=dict)
    max_request_size: int = MAX_REQUEST_SIZE

    def limit(self, topic: str) -> int:
        return min(self.max_request_size, self.topics.get(topic, DEFAULT_MAX_MESSAGE_BYTES))

    def check(
        self,
        what: str,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """`RecordTooLargeError` (naming `what`, e.g. "operation record of document D")
        when the record is over the topic's limit."""
        size = record_size(key, value, headers)
        limit = self.limit(topic)
        if size > limit:
            raise RecordTooLargeError(what, size, limit, topic)


async def read_record_limits(
    settings: Settings, bootstrap_servers: str, topics: Iterable[str]
) -> RecordLimits:
    """Each topic's `max.message.bytes` as the cluster has it. When the configs cannot be
    read (no DescribeConfigs permission, say) Kafka's default is assumed, with a warning:
    a record over the real limit would then fail its send instead of being refused first."""
    names = list(topics)
    found: dict[str, int] = {}
    admin = make_admin(settings, bootstrap_servers)
    try:
        await admin.start()
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
        for response in responses:
            for resource in response.to_object()["resources"]:
                entries = {e["config_names"]: e["config_value"] for e in resource["config_entries"]}
                value = entries.get("max.message.bytes")
                if resource["error_code"] == 0 and value is not None:
                    found[resource["resource_name"]] = int(value)
    except Exception as exc:
        log.warning(
            "cannot read max.message.bytes of topics %s (%s); assuming Kafka's default %d",
            ", ".join(names),
            str(exc) or type(exc).__name__,
            DEFAULT_MAX_MESSAGE_BYTES,
        )
    finally:
        await admin.close()
    return RecordLimits(found)
