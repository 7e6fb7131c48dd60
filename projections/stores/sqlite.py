"""How every SQLite store holds its file: WAL, foreign keys, one writer, idempotent migrations.

Each store opens two connections on its file. The writer runs one explicit transaction per
batch (`BEGIN IMMEDIATE`, so a second process waits instead of failing half-way); the reader
only ever sees committed data: WAL lets it read while the writer works, and a reader never
observes half of a projector's batch.

Calls inside a batch need no savepoints: the stores raise their expected refusals before a
call writes anything, and the one constraint they let SQLite check (the operation store's
unique op key) is cleaned up by row id. Any other SQLite failure marks the batch failed: it
can then only roll back, even if the caller swallowed the error. Each statement is one
aiosqlite call, a hop to its thread of about 0.1 ms, and that is what a small write costs:
the stores keep statements per call few and let a batch write its rows with `executemany`.

`synchronous=NORMAL` is enough for exactly-once effect: a crash may lose the last commits,
but rows and consumed positions are lost together, so the projector simply reads them again.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from projections.stores.exceptions import (
    BatchError,
    SchemaVersionError,
    StoreClosedError,
    StoreIOError,
)
from projections.stores.writer import WriterLock

__all__ = ["BUSY_TIMEOUT_MS", "Migration", "Row", "SqliteConnection", "SqliteDatabase"]

#: A result row: a tuple of SQLite values.
Row = Sequence[Any]

#: How long a writer waits for another process's write transaction before failing.
BUSY_TIMEOUT_MS = 5000


@dataclass(frozen=True, slots=True)
class Migration:
    """Statements that take one component's schema from `version - 1` to `version`."""

    version: int
    statements: tuple[str, ...]


_VERSIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_versions ("
    " component TEXT PRIMARY KEY,"
    " version INTEGER NOT NULL"
    ") WITHOUT ROWID"
)


class SqliteDatabase:
    """A store's SQLite file: the writer (behind one lock), the reader, the schema."""

    def __init__(
        self,
        name: str,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
    ) -> None:
        self.name = name
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = WriterLock(name)
        self._read_lock = WriterLock(f"{name} (reader)")
        self._closed = False

    @classmethod
    async def open(
        cls,
        name: str,
        path: str | Path,
        schemas: Mapping[str, Sequence[Migration]],
    ) -> SqliteDatabase:
        """Open (creating if needed) and bring each component's schema up to date."""
        file = Path(path)
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            writer = await aiosqlite.connect(str(file), isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreIOError(str(file), str(exc)) from exc
        reader: aiosqlite.Connection | None = None
        try:
            mode = await _fetch_value(writer, "PRAGMA journal_mode=WAL")
            if str(mode).lower() != "wal":
                raise StoreIOError(str(file), f"cannot use WAL journal mode (got {mode})")
            await writer.execute("PRAGMA synchronous=NORMAL")
            await writer.execute("PRAGMA foreign_keys=ON")
            await writer.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            await _migrate(writer, str(file), schemas)
            reader = await aiosqlite.connect(str(file), isolation_level=None)
            await reader.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            await reader.execute("PRAGMA query_only=ON")
        except BaseException as exc:
            await writer.close()
            if reader is not None:
                await reader.close()
            if isinstance(exc, sqlite3.Error):
                raise StoreIOError(str(file), str(exc)) from exc
            raise
        return cls(name, file, writer, reader)

    @property
    def closed(self) -> bool:
        return self._closed

    def check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(self.name)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteConnection]:
        """The writer inside one transaction: committed if the body returns, else rolled back."""
        async with self._write_lock.hold():
            self.check_open()
            conn = self._writer
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreIOError(str(self.path), str(exc)) from exc
            writer = SqliteConnection(conn, str(self.path))
            try:
                yield writer
                writer.check_usable()
            except BaseException as exc:
                await _rollback(conn)
                if isinstance(exc, sqlite3.Error):
                    raise StoreIOError(str(self.path), str(exc)) from exc
                raise
            finally:
                writer.end()
            try:
                await conn.execute("COMMIT")
            except sqlite3.Error as exc:
                await _rollback(conn)
                raise StoreIOError(str(self.path), str(exc)) from exc

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[SqliteConnection]:
        """The reader inside one read transaction, so multi-statement reads agree."""
        async with self._read_lock.hold():
            self.check_open()
            conn = self._reader
            try:
                await conn.execute("BEGIN")
                try:
                    yield SqliteConnection(conn, str(self.path))
                finally:
                    await conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreIOError(str(self.path), str(exc)) from exc

    async def read(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """One statement on the reader: a snapshot by itself, in one call."""
        async with self._read_lock.hold():
            self.check_open()
            try:
                return list(await self._reader.execute_fetchall(sql, params))
            except sqlite3.Error as exc:
                raise StoreIOError(str(self.path), str(exc)) from exc

    async def close(self) -> None:
        """Wait for the open batch, if any, then close both connections. Idempotent."""
        if self._closed:
            return
        async with self._write_lock.hold(), self._read_lock.hold():
            if self._closed:
                return
            self._closed = True
            await self._reader.close()
            await self._writer.close()


class SqliteConnection:
    """A connection inside a transaction; remembers the first unexpected SQLite failure."""

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self._path = path
        self._failure: str | None = None
        self._ended = False

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        with self._watch():
            return list(await self._conn.execute_fetchall(sql, params))

    async def execute(self, sql: str, params: Sequence[object] = ()) -> aiosqlite.Cursor:
        with self._watch():
            return await self._conn.execute(sql, params)

    async def executemany(
        self, sql: str, rows: Sequence[Sequence[object]], *, constraints_checked_here: bool = False
    ) -> None:
        """Run `sql` per row; with `constraints_checked_here`, a constraint violation is the
        caller's to clean up (the rows before it stay written) and does not fail the batch."""
        with self._watch(constraints_checked_here):
            await self._conn.executemany(sql, rows)

    def check_usable(self) -> None:
        if self._failure is not None:
            raise StoreIOError(
                self._path, f"batch rolled back after a failed statement: {self._failure}"
            )
        if self._ended:
            raise BatchError(f"SQLite store {self._path}: the batch has ended; open a new one")

    def end(self) -> None:
        self._ended = True

    @contextlib.contextmanager
    def _watch(self, constraints_checked_here: bool = False) -> Iterator[None]:
        self.check_usable()
        try:
            yield
        except sqlite3.IntegrityError as exc:
            if not constraints_checked_here:
                self._failure = self._failure or str(exc)
            raise
        except sqlite3.Error as exc:
            self._failure = self._failure or str(exc)
            raise


async def _fetch_value(
    conn: aiosqlite.Connection, sql: str, params: Sequence[object] = ()
) -> object:
    async with conn.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return None if row is None else row[0]


async def _rollback(conn: aiosqlite.Connection) -> None:
    # SQLite rolls back by itself on some errors; then there is nothing left to undo.
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            await conn.execute("ROLLBACK")


async def _migrate(
    conn: aiosqlite.Connection,
    path: str,
    schemas: Mapping[str, Sequence[Migration]],
) -> None:
    await conn.execute("BEGIN IMMEDIATE")
    try:
        await conn.execute(_VERSIONS_TABLE)
        for component, migrations in schemas.items():
            found = await _fetch_value(
                conn, "SELECT version FROM schema_versions WHERE component = ?", (component,)
            )
            current = 0 if found is None else int(str(found))
            known = max((m.version for m in migrations), default=0)
            if current > known:
                raise SchemaVersionError(path, component, current, known)
            for migration in sorted(migrations, key=lambda m: m.version):
                if migration.version <= current:
                    continue
                for statement in migration.statements:
                    await conn.execute(statement)
                current = migration.version
            await conn.execute(
                "INSERT INTO schema_versions (component, version) VALUES (?, ?)"
                " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                (component, current),
            )
    except BaseException:
        await _rollback(conn)
        raise
    await conn.execute("COMMIT")
