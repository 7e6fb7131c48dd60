"""Expected failures of the topic layout: names, creation and co-partitioning."""

from __future__ import annotations

from reactor_es.errors import ReactorError

__all__ = [
    "TopicCreationError",
    "TopicDeletionError",
    "TopicError",
    "TopicLayoutError",
    "TopicNameError",
]


class TopicError(ReactorError):
    """The topics a service needs cannot be named, created or trusted."""


class TopicNameError(TopicError):
    """A topic prefix would give names Kafka refuses."""


class TopicCreationError(TopicError):
    """The broker refused to create a topic (other than because it already exists)."""


class TopicDeletionError(TopicError):
    """The broker refused to delete a topic (other than because it is already gone)."""


class TopicLayoutError(TopicError):
    """The topics exist but break the layout every service relies on; services refuse to start.

    Raised when co-partitioned topics differ in partition count or are missing, and when the
    operations topic (the source of truth) could lose records to retention or compaction.
    """
