"""Stores the projectors write into: legacy storage, the operation store, consumed positions.

Interfaces live in `legacy.py`, `operation_store.py` and `tracking.py`; each has a SQLite
adapter (`*_sqlite.py`, the real thing) and an in-memory one (`*_memory.py`, for tests and
tools), all held to the same contract test suites in `tests/projections/contracts.py`.
"""

from __future__ import annotations

from projections.stores.legacy import LegacyStorage, LegacyStorageBatch, LegacyStorageReader
from projections.stores.legacy_memory import MemoryLegacyStorage
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from projections.stores.operation_store import (
    OperationFilter,
    OperationStore,
    OperationStoreBatch,
    Revisions,
    StoredOperation,
)
from projections.stores.operation_store_memory import MemoryOperationStore
from projections.stores.operation_store_sqlite import SqliteOperationStore
from projections.stores.paging import Page, Paging
from projections.stores.tracking import TopicPartition, TrackedStore

__all__ = [
    "LegacyStorage",
    "LegacyStorageBatch",
    "LegacyStorageReader",
    "MemoryLegacyStorage",
    "MemoryOperationStore",
    "OperationFilter",
    "OperationStore",
    "OperationStoreBatch",
    "Page",
    "Paging",
    "Revisions",
    "SqliteLegacyStorage",
    "SqliteOperationStore",
    "StoredOperation",
    "TopicPartition",
    "TrackedStore",
]
