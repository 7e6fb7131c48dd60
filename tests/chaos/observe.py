"""What the harness sees of the cluster: commits, open transactions, whole topics.

Everything here reads Kafka from outside, as an operator would: the executor group's
committed offsets (progress), the gap between a partition's high watermark and its last
stable offset (a transaction in flight), and every record of a topic (the read-back).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiokafka import TopicPartition

from reactor_es.config import Settings
from reactor_es.kafka.clients import make_admin, make_consumer
from reactor_es.kafka.topics import TopicNames
from tests.chaos.exceptions import ChaosFailure

__all__ = ["CommitWatch", "OpenTransactions", "read_topic"]


class CommitWatch:
    """The executor group's committed offsets on `actions`, polled in the background.

    The executor commits its consumed offsets inside each batch's transaction, so their sum
    moves exactly when a transaction commits: it is how the harness sees progress, and the
    history of its changes is what recovery times are measured on.
    """

    def __init__(self, settings: Settings, bootstrap: str, *, poll: float = 0.05) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.poll = poll
        self.topic = TopicNames.from_settings(settings).actions
        self.group = settings.executor_group
        #: (time.monotonic(), total) each time the total changed.
        self.history: list[tuple[float, int]] = []
        #: (time.monotonic(), total) of the latest successful poll.
        self.polled: tuple[float, int] | None = None
        self._admin: Any = None
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    @property
    def latest(self) -> int:
        return self.history[-1][1] if self.history else 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
        await self._drop_admin()

    async def wait_beyond(self, mark: int, timeout: float) -> float:
        """Wait until the total exceeds `mark`; the `time.monotonic()` it was first seen."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.latest > mark), timeout)
            except TimeoutError:
                raise ChaosFailure(
                    f"group {self.group} committed nothing beyond {mark} in {timeout:g}s "
                    f"(at {self.latest})"
                ) from None
        return next(at for at, total in self.history if total > mark)

    def first_commit_after(self, moment: float) -> float | None:
        """When the total first moved after `moment` (None: not yet)."""
        return next((at for at, _ in self.history if at > moment), None)

    async def polled_after(self, moment: float, timeout: float) -> int:
        """The total of the first successful poll that started after `moment`."""
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(
                        lambda: self.polled is not None and self.polled[0] > moment
                    ),
                    timeout,
                )
            except TimeoutError:
                raise ChaosFailure(
                    f"offsets of group {self.group} unreadable for {timeout:g}s"
                ) from None
        assert self.polled is not None
        return self.polled[1]

    async def members(self) -> tuple[str, int] | None:
        """The group's state and member count, as the coordinator describes it."""
        try:
            if self._admin is None:
                return None
            described = await asyncio.wait_for(
                self._admin.describe_consumer_groups([self.group]), 5
            )
        except Exception:
            return None
        group = described[0].groups[0]
        # DescribeGroups v0: (error_code, group_id, state, protocol_type, protocol, members)
        return str(group[2]), len(group[5])

    async def wait_members(self, count: int, timeout: float) -> float:
        """Wait until the group is Stable with `count` members; when it was seen so."""
        deadline = time.monotonic() + timeout
        seen: tuple[str, int] | None = None
        while time.monotonic() < deadline:
            seen = await self.members()
            if seen == ("Stable", count):
                return time.monotonic()
            await asyncio.sleep(self.poll)
        raise ChaosFailure(f"group {self.group} not Stable with {count} members: {seen}")

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            total = await self._committed()
            # Committed offsets never go back; a lower total is a coordinator still loading
            # its offsets after a broker restart: not an answer yet.
            if total is not None and total >= self.latest:
                async with self._changed:
                    self.polled = (started, total)
                    if total > self.latest:
                        self.history.append((time.monotonic(), total))
                    self._changed.notify_all()
            await asyncio.sleep(self.poll)

    async def _committed(self) -> int | None:
        try:
            if self._admin is None:
                admin = make_admin(self.settings, self.bootstrap)
                await asyncio.wait_for(admin.start(), 5)
                self._admin = admin
            offsets = await asyncio.wait_for(self._admin.list_consumer_group_offsets(self.group), 5)
        except Exception:  # broker down or restarting: a fresh admin next time
            await self._drop_admin()
            return None
        return sum(
            int(max(meta.offset, 0)) for tp, meta in offsets.items() if tp.topic == self.topic
        )

    async def _drop_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()


class OpenTransactions:
    """Records on `operations` that no transaction has decided yet: high watermark - LSO.

    A read_uncommitted reader's end offset is the high watermark; a read_committed reader's
    is the last stable offset, held back at the first record of the oldest open
    transaction. A difference after a SIGKILL means the kill left a transaction open with
    writes in it: those records must end up aborted, never seen by read_committed readers.
    """

    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.topic = TopicNames.from_settings(settings).operations
        self._readers: dict[str, Any] = {}
        self._tps: list[TopicPartition] = []

    async def start(self) -> None:
        for isolation in ("read_uncommitted", "read_committed"):
            reader = make_consumer(
                self.settings, self.bootstrap, group_id=None, isolation_level=isolation
            )
            await reader.start()
            self._readers[isolation] = reader
        self._tps = [TopicPartition(self.topic, p) for p in range(self.settings.partitions)]
        for reader in self._readers.values():
            reader.assign(self._tps)
            # No fetching: a long-polling fetch would queue every ListOffsets behind it.
            reader.pause(*self._tps)

    async def close(self) -> None:
        for reader in self._readers.values():
            with contextlib.suppress(Exception):
                await reader.stop()
        self._readers.clear()

    async def offsets(self) -> tuple[dict[int, int], dict[int, int]]:
        """(last stable offset, high watermark) by partition of `operations`."""
        # Stable first: both only grow, so stable <= high holds for the pair read.
        stable = await self._readers["read_committed"].end_offsets(self._tps)
        high = await self._readers["read_uncommitted"].end_offsets(self._tps)
        return (
            {tp.partition: stable[tp] for tp in self._tps},
            {tp.partition: high[tp] for tp in self._tps},
        )

    async def wait_open(
        self, since: dict[int, int], timeout: float, *, poll: float = 0.003
    ) -> bool:
        """Wait until a transaction has written operations past `since` and not committed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stable, high = await self.offsets()
            if any(high[p] > max(since.get(p, 0), stable[p]) for p in high):
                return True
            await asyncio.sleep(poll)
        return False


async def read_topic(
    settings: Settings,
    bootstrap: str,
    topic: str,
    *,
    isolation_level: str = "read_committed",
) -> list[Any]:
    """Every record of every partition of `topic` up to its end (LSO for read_committed)."""
    consumer = make_consumer(
        settings,
        bootstrap,
        group_id=None,
        isolation_level=isolation_level,
        max_poll_records=5000,
    )
    await consumer.start()
    messages: list[Any] = []
    try:
        partitions = consumer.partitions_for_topic(topic)
        for _ in range(50):  # an unsubscribed topic's metadata is fetched on demand
            if partitions:
                break
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
            partitions = consumer.partitions_for_topic(topic)
        tps = [TopicPartition(topic, p) for p in sorted(partitions or ())]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=500)
            for tp, batch in batches.items():
                messages.extend(m for m in batch if m.offset < ends[tp])
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    return messages
