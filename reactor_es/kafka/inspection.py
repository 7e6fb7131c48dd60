"""The cluster seen from outside: how far topics go, who is in a group, where a group stands.

Operations tools (`reactor-es status`, `replay`, `rebuild-snapshots`) ask these questions
without joining any group: a `KafkaInspector` holds one admin client and one group-less
read_committed consumer for all of them, so a status report costs two connections.

Ends are read committed, i.e. last stable offsets: what a read_committed consumer can
reach now. An open transaction therefore does not count as lag, and a committed one counts
its commit marker as one offset (lag is measured in offsets, as every Kafka tool does).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

from aiokafka import TopicPartition
from aiokafka.errors import (
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    KafkaError,
    NotCoordinatorError,
)

from reactor_es.config import Settings
from reactor_es.kafka.clients import close_client, make_admin, make_consumer, start_client
from reactor_es.kafka.exceptions import ActiveGroupError, BrokerUnavailable

__all__ = ["GroupMembers", "KafkaInspector", "TopicExtent"]

#: Requests of an inspection fail after this long instead of hanging a status command.
_REQUEST_TIMEOUT_MS = 15_000


@dataclass(frozen=True)
class TopicExtent:
    """Per partition, the first offset still held and the last stable offset."""

    topic: str
    beginnings: dict[int, int] = field(default_factory=dict)
    ends: dict[int, int] = field(default_factory=dict)

    @property
    def partitions(self) -> list[int]:
        return sorted(self.ends)

    @property
    def records(self) -> int:
        """Offsets held across the topic (records plus transaction markers)."""
        return sum(self.ends[p] - self.beginnings.get(p, 0) for p in self.ends)


@dataclass(frozen=True)
class GroupMembers:
    """A consumer group's state and its members (`client-id@host` each)."""

    group_id: str
    state: str
    members: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.members)

    def describe(self) -> str:
        count = len(self.members)
        return f"{count} active member{'' if count == 1 else 's'}" + (
            f" ({', '.join(self.members)})" if self.members else ""
        )


class KafkaInspector:
    """Read-only questions to the cluster; `async with KafkaInspector(settings, bootstrap)`."""

    def __init__(self, settings: Settings, bootstrap_servers: str) -> None:
        self.settings = settings
        self.bootstrap_servers = bootstrap_servers
        #: Seconds a group request retries while the group coordinator is not available.
        self.coordinator_wait = 15.0
        self._admin: Any = None
        self._consumer: Any = None

    async def start(self) -> None:
        admin = make_admin(self.settings, self.bootstrap_servers)
        consumer = make_consumer(
            self.settings,
            self.bootstrap_servers,
            group_id=None,
            request_timeout_ms=_REQUEST_TIMEOUT_MS,
        )
        try:
            await start_client(admin, self.bootstrap_servers)
            await start_client(consumer, self.bootstrap_servers)
        except BaseException:
            await close_client(admin)
            await close_client(consumer)
            raise
        self._admin, self._consumer = admin, consumer

    async def close(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        if consumer is not None:
            await _quietly(consumer.stop())
        if admin is not None:
            await _quietly(admin.close())

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- topics ------------------------------------------------------------------------------

    async def partitions(self, topic: str) -> list[int]:
        """The topic's partition numbers; empty when the topic does not exist."""
        consumer = self._started()
        found = consumer.partitions_for_topic(topic)
        if not found:
            await consumer._client.force_metadata_update()
            found = consumer.partitions_for_topic(topic)
        return sorted(found or ())

    async def extent(self, topic: str) -> TopicExtent:
        """First and last stable offsets of every partition (empty if no such topic)."""
        consumer = self._started()
        tps = [TopicPartition(topic, p) for p in await self.partitions(topic)]
        if not tps:
            return TopicExtent(topic)
        beginnings = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        return TopicExtent(
            topic,
            {tp.partition: int(offset) for tp, offset in beginnings.items()},
            {tp.partition: int(offset) for tp, offset in ends.items()},
        )

    async def wait_stable(
        self, topic: str, partition: int, offset: int, timeout: float = 30.0
    ) -> None:
        """Return once `offset` is below the partition's last stable offset.

        A committed transaction becomes readable only when the coordinator has written its
        markers, a little after the commit returned; a reader that must see it waits here.
        """
        consumer = self._started()
        tp = TopicPartition(topic, partition)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            end = int((await consumer.end_offsets([tp]))[tp])
            if end > offset:
                return
            if loop.time() >= deadline:
                raise BrokerUnavailable(
                    f"{topic} partition {partition}: offset {offset} is still not readable "
                    f"after {timeout:g} s (last stable offset {end})"
                )
            await asyncio.sleep(0.05)

    # -- groups ------------------------------------------------------------------------------

    async def members(self, group_id: str) -> GroupMembers:
        """Who is in the group now (one group per request: replies for several can garble)."""
        admin = self._started_admin()
        try:
            [response] = await _while_coordinator_moves(
                lambda: admin.describe_consumer_groups([group_id]), self.coordinator_wait
            )
        except KafkaError as exc:
            raise BrokerUnavailable(
                f"cannot describe consumer group '{group_id}' at {self.bootstrap_servers}: {exc}"
            ) from exc
        groups = response.to_object()["groups"]
        for group in groups:
            if group["group"] == group_id and group["error_code"] == 0:
                members = tuple(
                    f"{m['client_id']}@{str(m['client_host']).lstrip('/')}"
                    for m in group["members"]
                )
                return GroupMembers(group_id, str(group["state"]), members)
        return GroupMembers(group_id, "Dead")

    async def require_idle(self, group_id: str, *, action: str, stop: str) -> GroupMembers:
        """Refuse (`ActiveGroupError`) while the group has members; else its description."""
        members = await self.members(group_id)
        if members.active:
            raise ActiveGroupError(group_id, members.describe(), action=action, stop=stop)
        return members

    async def committed(self, group_id: str, topic: str) -> dict[int, int]:
        """The group's committed next offsets on `topic`, per partition that has one."""
        admin = self._started_admin()
        try:
            offsets = await _while_coordinator_moves(
                lambda: admin.list_consumer_group_offsets(group_id), self.coordinator_wait
            )
        except KafkaError as exc:
            raise BrokerUnavailable(
                f"cannot read the offsets of consumer group '{group_id}' at "
                f"{self.bootstrap_servers}: {exc}"
            ) from exc
        return {
            tp.partition: int(meta.offset)
            for tp, meta in offsets.items()
            if tp.topic == topic and meta.offset >= 0
        }

    def _started(self) -> Any:
        if self._consumer is None:
            raise BrokerUnavailable("the Kafka inspector is not started (use `async with`)")
        return self._consumer

    def _started_admin(self) -> Any:
        self._started()
        return self._admin


async def _quietly(call: Any) -> None:
    # Closing after a failure: the first error is the one to show.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(call, 10)


T = TypeVar("T")

#: What a group request meets while the broker creates `__consumer_offsets` (the first
#: group request of a fresh broker) or moves a group's coordinator: it passes in seconds.
_COORDINATOR_MOVING = (
    CoordinatorNotAvailableError,
    CoordinatorLoadInProgressError,
    NotCoordinatorError,
)


async def _while_coordinator_moves(call: Callable[[], Awaitable[T]], wait: float) -> T:
    """`call()`, repeated for up to `wait` seconds while the group coordinator is not there."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        try:
            return await call()
        except _COORDINATOR_MOVING:
            if loop.time() >= deadline:
                raise
            await asyncio.sleep(0.2)
