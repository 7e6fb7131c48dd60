"""Record values on the wire: Confluent framing around schemaless Avro.

Every value is `0x00` + the writer schema's 4-byte big-endian catalogue id + the Avro body
(fastavro's schemaless encoding). The id is what keeps old records readable after a schema
change: a reader looks the writer schema up in the catalogue and resolves it against the
current version of the same record (new fields take their defaults, dropped ones are
skipped). See `reactor_es.kafka.schemas` for why ids are catalogued rather than derived.

Hot path: schemas are parsed once (by the catalogue), the 5-byte header of each id is built
once, and a record written with the current schema is read without resolution.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Self, TypeVar

from fastavro import schemaless_reader, schemaless_writer

from reactor_es.kafka.codec_errors import InvalidRecordError, RecordDecodeError, RecordEncodeError
from reactor_es.kafka.schemas import SchemaCatalogue, SchemaVersion, default_catalogue

__all__ = [
    "HEADER_SIZE",
    "MAGIC_BYTE",
    "DecodedRecord",
    "RecordCodec",
    "WireRecord",
    "frame_header",
    "schema_id_of",
]

MAGIC_BYTE = 0
_HEADER = struct.Struct(">BI")
HEADER_SIZE = _HEADER.size  # 5


class WireRecord(Protocol):
    """A typed record that knows its Avro record name and its Avro dict form."""

    AVRO_NAME: ClassVar[str]

    def to_avro(self) -> dict[str, Any]: ...

    @classmethod
    def from_avro(cls, value: dict[str, Any]) -> Self: ...


R = TypeVar("R", bound=WireRecord)


@dataclass(frozen=True, slots=True)
class DecodedRecord:
    """A decoded value (in the current schema's shape) and the schema it was written with."""

    writer: SchemaVersion
    value: dict[str, Any]

    @property
    def name(self) -> str:
        return self.writer.name


@dataclass(frozen=True, slots=True)
class _ReadPlan:
    writer: SchemaVersion
    # None when the writer is the current version: no resolution needed.
    reader: dict[str, Any] | None


def frame_header(schema_id: int) -> bytes:
    """The 5 bytes every value written with `schema_id` starts with."""
    return _HEADER.pack(MAGIC_BYTE, schema_id)


def schema_id_of(data: bytes) -> int:
    """The writer schema id of a framed value, without decoding the body."""
    if len(data) < HEADER_SIZE:
        raise RecordDecodeError(
            f"value of {len(data)} bytes is shorter than the {HEADER_SIZE}-byte header "
            "(magic byte + schema id)"
        )
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC_BYTE:
        raise RecordDecodeError(
            f"value starts with byte 0x{magic:02x}, not the magic byte 0x00 of the "
            "schema-id framing"
        )
    return int(schema_id)


class RecordCodec:
    """Encodes and decodes record values against one schema catalogue."""

    def __init__(self, catalogue: SchemaCatalogue | None = None) -> None:
        self.catalogue = catalogue if catalogue is not None else default_catalogue()
        self._headers = {entry.schema_id: frame_header(entry.schema_id) for entry in self.catalogue}
        self._plans: dict[int, _ReadPlan] = {}
        for entry in self.catalogue:
            current = self.catalogue.current(entry.name)
            reader = None if current.schema_id == entry.schema_id else current.parsed
            self._plans[entry.schema_id] = _ReadPlan(entry, reader)

    # -- dict level ------------------------------------------------------------------------
    def encode(self, name: str, value: dict[str, Any], *, version: int | None = None) -> bytes:
        """Frame and encode `value` as record `name`, with its current schema by default.

        An older `version` is for rolling upgrades (keep writing what not-yet-upgraded readers
        know); readers always accept every catalogued version.
        """
        schema = (
            self.catalogue.current(name)
            if version is None
            else self.catalogue.version(name, version)
        )
        out = io.BytesIO()
        out.write(self._headers[schema.schema_id])
        try:
            schemaless_writer(out, schema.parsed, value)
        except Exception as exc:  # fastavro signals a misfit with TypeError/ValueError/...
            raise RecordEncodeError(f"cannot encode {schema.describe()}: {_one_line(exc)}") from exc
        return out.getvalue()

    def decode(self, data: bytes, *, name: str | None = None) -> DecodedRecord:
        """Decode a framed value into the current schema's shape of its record.

        With `name`, a value of another record type is refused (a record on the wrong topic).
        Anything unreadable raises `RecordDecodeError`; nothing else escapes.
        """
        schema_id = schema_id_of(data)
        plan = self._plans.get(schema_id)
        if plan is None:
            raise RecordDecodeError(
                f"unknown schema id {schema_id} (not in the schema catalogue; written by a "
                "newer or foreign producer?)",
                schema_id,
            )
        writer = plan.writer
        if name is not None and writer.name != name:
            raise RecordDecodeError(f"value is a {writer.describe()}, expected a {name}", schema_id)
        body = io.BytesIO(data)
        body.seek(HEADER_SIZE)
        try:
            value = schemaless_reader(body, writer.parsed, plan.reader)
        # Bad bytes make fastavro raise EOFError, IndexError, UnicodeDecodeError, ...
        except Exception as exc:
            raise RecordDecodeError(
                f"cannot decode {writer.describe()} from {len(data)} bytes: "
                f"{type(exc).__name__}: {_one_line(exc) or 'body ends early'}",
                schema_id,
            ) from exc
        left = len(data) - body.tell()
        if left:
            raise RecordDecodeError(
                f"{writer.describe()} body leaves {left} trailing bytes of {len(data)} "
                "(written with another schema under this id?)",
                schema_id,
            )
        if not isinstance(value, dict):
            raise RecordDecodeError(f"{writer.describe()} did not decode to a record", schema_id)
        return DecodedRecord(writer, value)

    # -- typed level -----------------------------------------------------------------------
    def encode_record(self, record: WireRecord, *, version: int | None = None) -> bytes:
        return self.encode(record.AVRO_NAME, record.to_avro(), version=version)

    def decode_record(self, data: bytes, record_type: type[R]) -> R:
        """Decode a value into `record_type`; a value breaking its invariants is undecodable."""
        decoded = self.decode(data, name=record_type.AVRO_NAME)
        try:
            return record_type.from_avro(decoded.value)
        except InvalidRecordError as exc:
            raise RecordDecodeError(
                f"{decoded.writer.describe()} is invalid: {exc}", decoded.writer.schema_id
            ) from exc


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
