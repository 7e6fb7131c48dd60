"""Expected failures shared by every store; each store interface adds its own next to it.

`legacy.py` and `operation_store.py` declare the errors of their own contracts (they are part
of those contracts); this module holds the root of the family and the failures that any store
can raise: bad queries, bad positions, misuse of batches, the file itself.
"""

from __future__ import annotations

from reactor_es.errors import ReactorError

__all__ = [
    "BatchError",
    "InvalidOperationError",
    "InvalidPositionError",
    "InvalidQueryError",
    "PositionRegressionError",
    "PositionTimeoutError",
    "SchemaVersionError",
    "StoreClosedError",
    "StoreError",
    "StoreIOError",
]


class StoreError(ReactorError):
    """A store refused a call or could not complete it; nothing of the call was written."""


class StoreClosedError(StoreError):
    """The store was used after `close()`."""

    def __init__(self, store: str) -> None:
        self.store = store
        super().__init__(f"{store} is closed")


class StoreIOError(StoreError):
    """SQLite itself failed (locked past the busy timeout, disk full, corrupt file)."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"SQLite store {path}: {problem}")


class SchemaVersionError(StoreError):
    """The file was written by a newer reactor-es; opening it could corrupt it."""

    def __init__(self, path: str, component: str, found: int, known: int) -> None:
        self.path = path
        self.component = component
        self.found = found
        self.known = known
        super().__init__(
            f"SQLite store {path}: schema of {component} is at version {found}, "
            f"this reactor-es knows versions up to {known}"
        )


class BatchError(StoreError):
    """A batch was misused: written to after it ended, or nested in the task that holds it."""


class InvalidQueryError(StoreError):
    """A read was asked with a bad cursor, limit or filter; the message names the parameter."""


class InvalidOperationError(StoreError):
    """An operation cannot be stored as given (bad index, skip, scope, action id, timestamp)."""

    def __init__(
        self,
        document_id: str,
        scope: str,
        index: int,
        problem: str,
        branch: str | None = None,
    ) -> None:
        self.document_id = document_id
        self.scope = scope
        self.index = index
        self.problem = problem
        self.branch = branch
        where = f"document {document_id}, scope {scope}"
        if branch is not None:
            where += f", branch {branch}"
        super().__init__(f"Invalid operation at index {index} ({where}): {problem}")


class InvalidPositionError(StoreError):
    """A consumed position has an empty name or topic, or a negative partition or offset."""


class PositionRegressionError(StoreError):
    """A position would move backwards: two projectors are writing the same store."""

    def __init__(self, consumer: str, topic: str, partition: int, stored: int, offset: int):
        self.consumer = consumer
        self.topic = topic
        self.partition = partition
        self.stored = stored
        self.offset = offset
        super().__init__(
            f"position of consumer {consumer} on {topic}[{partition}] would move back "
            f"from offset {stored} to {offset}"
        )


class PositionTimeoutError(StoreError):
    """`wait_for_position` gave up before the consumer reached the offset."""

    def __init__(
        self,
        consumer: str,
        topic: str,
        partition: int,
        offset: int,
        reached: int | None,
        timeout: float,
    ) -> None:
        self.consumer = consumer
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.reached = reached
        at = "no position" if reached is None else f"offset {reached}"
        super().__init__(
            f"consumer {consumer} did not reach offset {offset} on {topic}[{partition}] "
            f"within {timeout:g} s (it is at {at})"
        )
