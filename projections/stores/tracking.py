"""Consumed Kafka positions, written in the same transaction as the rows they produced.

This is how a projector gets exactly-once effect without Kafka transactions: it never
commits offsets to Kafka; it records `(consumer, topic, partition) -> next offset` in its
store, in the batch that wrote the rows of those records, and seeks to the stored offsets
when it starts. A crash before the commit loses rows and positions together, so the records
are read again; a crash after it loses nothing.

The projector runner uses every store the same way::

    positions = await store.get_positions("legacy-projector")   # {TopicPartition: offset}
    # ... seek each assigned partition to positions.get(tp, 0), poll records, then:
    async with store.batch() as batch:
        for record in records:
            await batch.add_document_operations(...)             # or batch.apply(...)
        batch.record_position("legacy-projector", "operations", 3, last_offset + 1)

A call inside the batch that raises writes nothing, and the batch goes on (so a projector
can note a rejected operation and still move past it); an exception that leaves the `async
with` rolls back the whole batch, positions included. Positions only move forward: a lower
offset than the stored one means two projectors share a store, and the batch is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Generic, NamedTuple, TypeVar

from projections.stores.exceptions import (
    BatchError,
    InvalidPositionError,
    PositionRegressionError,
    PositionTimeoutError,
    StoreClosedError,
)
from projections.stores.sqlite import Migration, SqliteConnection, SqliteDatabase
from projections.stores.writer import WriterLock

__all__ = [
    "TRACKING_MIGRATIONS",
    "MemoryPositions",
    "MemoryTrackedStore",
    "PositionKey",
    "PositionRecorder",
    "SqliteTrackedStore",
    "TopicPartition",
    "TrackedStore",
    "read_positions",
    "write_positions",
]


class TopicPartition(NamedTuple):
    """A Kafka partition; equal (and hashing equal) to aiokafka's `TopicPartition`."""

    topic: str
    partition: int


#: `(consumer, topic, partition)`: whose position, on which partition.
PositionKey = tuple[str, str, int]


class PositionRecorder:
    """The position half of every batch: stages positions until the batch commits."""

    def __init__(self, store: str) -> None:
        self._store = store
        self._positions: dict[PositionKey, int] = {}
        self._open = True

    def record_position(self, consumer: str, topic: str, partition: int, offset: int) -> None:
        """Record that `consumer` has consumed `topic[partition]` up to `offset - 1`.

        `offset` is the NEXT offset to read (Kafka's committed-offset convention), so a
        projector that wrote the record at offset 41 records 42.
        """
        self._check_open()
        _check_position(consumer, topic, partition, offset)
        key = (consumer, topic, partition)
        staged = self._positions.get(key)
        if staged is not None and offset < staged:
            raise PositionRegressionError(consumer, topic, partition, staged, offset)
        self._positions[key] = offset

    @property
    def staged_positions(self) -> Mapping[PositionKey, int]:
        return self._positions

    def _check_open(self) -> None:
        if not self._open:
            raise BatchError(f"{self._store}: the batch has ended; open a new one")

    def _end(self) -> None:
        self._open = False


class TrackedStore(ABC):
    """What a projector reads back at start, and what tests wait on for read-your-writes."""

    _commit_event: asyncio.Event | None = None

    @abstractmethod
    async def get_positions(self, consumer: str) -> dict[TopicPartition, int]:
        """Committed next offsets of `consumer`, per partition it has recorded."""

    async def wait_for_position(
        self,
        consumer: str,
        topic: str,
        partition: int,
        offset: int,
        within: float = 10.0,
        poll_interval: float = 0.05,
    ) -> None:
        """Return once `consumer` has committed `offset` (or beyond) on `topic[partition]`.

        Gives up with `PositionTimeoutError` after `within` seconds.

        Commits made through this object wake the waiter at once; commits made by another
        process are seen within `poll_interval`.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        tp = TopicPartition(topic, partition)
        while True:
            event = self._commit_waiter()
            reached = (await self.get_positions(consumer)).get(tp)
            if reached is not None and reached >= offset:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise PositionTimeoutError(consumer, topic, partition, offset, reached, within)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, poll_interval))

    def _commit_waiter(self) -> asyncio.Event:
        if self._commit_event is None:
            self._commit_event = asyncio.Event()
        return self._commit_event

    def _notify_commit(self) -> None:
        """Wake every `wait_for_position`; called by stores after each commit."""
        event, self._commit_event = self._commit_event, None
        if event is not None:
            event.set()


def _check_position(consumer: str, topic: str, partition: int, offset: int) -> None:
    if not isinstance(consumer, str) or not consumer:
        raise InvalidPositionError(f"position needs a consumer name, got {consumer!r}")
    if not isinstance(topic, str) or not topic:
        raise InvalidPositionError(f"position of consumer {consumer} needs a topic, got {topic!r}")
    for what, value in (("partition", partition), ("offset", offset)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidPositionError(
                f"position of consumer {consumer} on {topic}: {what} must be a "
                f"non-negative integer, got {value!r}"
            )


class MemoryPositions:
    """Positions of an in-memory store; `commit` checks and applies a batch's positions."""

    def __init__(self) -> None:
        self._offsets: dict[PositionKey, int] = {}

    def read(self, consumer: str) -> dict[TopicPartition, int]:
        return {
            TopicPartition(topic, partition): offset
            for (name, topic, partition), offset in sorted(self._offsets.items())
            if name == consumer
        }

    def check(self, staged: Mapping[PositionKey, int]) -> None:
        for key, offset in staged.items():
            stored = self._offsets.get(key)
            if stored is not None and offset < stored:
                raise PositionRegressionError(*key, stored, offset)

    def apply(self, staged: Mapping[PositionKey, int]) -> None:
        self._offsets.update(staged)


TRACKING_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        (
            "CREATE TABLE tracking_positions ("
            " consumer TEXT NOT NULL,"
            " topic TEXT NOT NULL,"
            " partition INTEGER NOT NULL,"
            " next_offset INTEGER NOT NULL,"
            " PRIMARY KEY (consumer, topic, partition)"
            ") WITHOUT ROWID",
        ),
    ),
)


_POSITION_COLUMNS = "consumer, topic, partition, next_offset"


async def read_positions(conn: SqliteConnection, consumer: str) -> dict[TopicPartition, int]:
    """The committed positions of `consumer`, as the projector seeks to them."""
    rows = await conn.fetch(
        "SELECT topic, partition, next_offset FROM tracking_positions"
        " WHERE consumer = ? ORDER BY topic, partition",
        (consumer,),
    )
    return {TopicPartition(topic, partition): offset for topic, partition, offset in rows}


async def write_positions(conn: SqliteConnection, staged: Mapping[PositionKey, int]) -> None:
    """Write a batch's positions inside its transaction, refusing any that move back."""
    if not staged:
        return
    consumers = sorted({consumer for consumer, _, _ in staged})
    marks = ", ".join("?" * len(consumers))
    # Placeholders only: every consumer name is a bound parameter.
    query = f"SELECT {_POSITION_COLUMNS} FROM tracking_positions WHERE consumer IN ({marks})"  # noqa: S608
    for consumer, topic, partition, stored in await conn.fetch(query, consumers):
        offset = staged.get((consumer, topic, partition))
        if offset is not None and offset < stored:
            raise PositionRegressionError(consumer, topic, partition, stored, offset)
    await conn.executemany(
        "INSERT INTO tracking_positions (consumer, topic, partition, next_offset)"
        " VALUES (?, ?, ?, ?)"
        " ON CONFLICT (consumer, topic, partition)"
        " DO UPDATE SET next_offset = excluded.next_offset",
        [(c, t, p, offset) for (c, t, p), offset in staged.items()],
    )


# --- the two ways a store commits a batch -------------------------------------------------

B = TypeVar("B", bound=PositionRecorder)


class MemoryTrackedStore(TrackedStore, Generic[B]):
    """A tracked store held in this process only; `B` is its batch type.

    A batch commits as in SQLite: its positions are checked (they only move forward) before
    anything becomes visible, then its rows and positions are taken together and waiters
    are woken. A batch whose body raises is dropped whole.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._positions = MemoryPositions()
        self._writer = WriterLock(name)
        self._closed = False

    @abstractmethod
    def _start_batch(self) -> B:
        """A batch over the committed data (called holding the writer)."""

    @abstractmethod
    def _commit(self, batch: B) -> None:
        """Make what the batch wrote the committed data (its positions are taken after)."""

    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[B]:
        async with self._writer.hold():
            self._check_open()
            batch = self._start_batch()
            try:
                yield batch
                self._positions.check(batch.staged_positions)
            finally:
                batch._end()
            self._commit(batch)
            self._positions.apply(batch.staged_positions)
        self._notify_commit()

    async def close(self) -> None:
        async with self._writer.hold():
            self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(self.name)

    async def get_positions(self, consumer: str) -> dict[TopicPartition, int]:
        self._check_open()
        return self._positions.read(consumer)


class SqliteTrackedStore(TrackedStore, Generic[B]):
    """A tracked store in one SQLite file (with `TRACKING_MIGRATIONS`); `B` is its batch type.

    A batch is one transaction: its rows, then its positions, commit together or not at all.
    """

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    @property
    def path(self) -> Path:
        return self._db.path

    @abstractmethod
    def _start_batch(self, conn: SqliteConnection) -> B:
        """A batch writing through `conn`, the transaction's connection."""

    async def _flush(self, batch: B, conn: SqliteConnection) -> None:
        """Write what the batch kept back until its end (by default it wrote as it went)."""

    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[B]:
        async with self._db.transaction() as conn:
            batch = self._start_batch(conn)
            try:
                yield batch
                await self._flush(batch, conn)
                await write_positions(conn, batch.staged_positions)
            finally:
                batch._end()
        self._notify_commit()

    async def close(self) -> None:
        await self._db.close()

    async def get_positions(self, consumer: str) -> dict[TopicPartition, int]:
        async with self._db.snapshot() as conn:
            return await read_positions(conn, consumer)
