"""One writer per store, and a clear error instead of a deadlock when a task nests writes.

A batch holds the writer for its whole body. A plain write made by the same task inside that
body (through the store instead of the batch) would wait for the batch forever; the lock
knows its owner task and refuses it at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from projections.stores.exceptions import BatchError

__all__ = ["WriterLock"]


class WriterLock:
    """An asyncio lock that remembers the task holding it."""

    def __init__(self, store: str) -> None:
        self._store = store
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None

    @property
    def locked(self) -> bool:
        return self._lock.locked()

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None and task is self._owner:
            raise BatchError(
                f"{self._store}: this task already holds a batch; write through the batch"
            )
        async with self._lock:
            self._owner = task
            try:
                yield
            finally:
                self._owner = None
