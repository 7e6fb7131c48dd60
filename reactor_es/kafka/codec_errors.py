"""Expected failures of the wire contract: schema catalogue, record encoding and decoding.

Kept apart from `exceptions.py` (the broker launcher's) so the two can change independently;
every message is one line that names the schema id, record or field involved.
"""

from __future__ import annotations

from reactor_es.errors import ReactorError

__all__ = [
    "CodecError",
    "InvalidRecordError",
    "RecordDecodeError",
    "RecordEncodeError",
    "SchemaCatalogueError",
    "UnknownSchemaError",
]


class CodecError(ReactorError):
    """A record could not be put on or taken off the wire."""


class SchemaCatalogueError(CodecError):
    """`schemas/catalogue.json` or a schema file it lists is missing, malformed or altered."""


class UnknownSchemaError(CodecError):
    """A record name or version that the catalogue does not hold was asked for."""


class RecordEncodeError(CodecError):
    """A value does not fit the writer schema; nothing was produced."""


class InvalidRecordError(CodecError):
    """A record breaks an invariant of its type (e.g. an action outside the job's scope)."""


class RecordDecodeError(CodecError):
    """Bytes from Kafka are not a record we can read.

    The consumer reports it with topic, partition and offset and carries on, so the message
    says only what is wrong with the bytes; `schema_id` is None when the header was unreadable.
    """

    def __init__(self, message: str, schema_id: int | None = None) -> None:
        super().__init__(message)
        self.schema_id = schema_id
