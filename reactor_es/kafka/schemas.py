"""The schema catalogue: every Avro schema a record on our topics may have been written with.

Why a catalogue with assigned ids (and not ids derived from fingerprints): every value on the
wire starts with the Confluent header (magic byte 0 + a 4-byte big-endian schema id), so a
reader must map 4 bytes back to the exact writer schema, for as long as records written with
it exist (the operations topic keeps them forever). `schemas/catalogue.json` assigns those
ids explicitly, append-only, as a schema registry would:

- ids are small integers like a Confluent Schema Registry's, so the byte format is the interop
  contract and moving to a real registry later only means registering the same files;
- 4 bytes of a 64-bit fingerprint could collide and would silently mis-read a record; an
  assigned id cannot, and a conflicting id from two branches is a visible merge conflict;
- each entry also records the CRC-64-AVRO fingerprint of the schema's parsing canonical form
  (Avro's own identity of the binary layout), checked at load: editing a published `.avsc`
  file in place, which would corrupt every record written with it, fails at start-up.

Each `.avsc` file is self-contained (nested records are defined inline, not shared between
files), so a published version never changes because some other file changed. The current
version of a record name is its highest; older versions stay listed so their records stay
readable (`RecordCodec` resolves them against the current one).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from reactor_es.kafka.codec_errors import SchemaCatalogueError, UnknownSchemaError

__all__ = [
    "ACTION_ENVELOPE",
    "CATALOGUE_FILE",
    "DOCUMENT_SNAPSHOT",
    "JOB_EVENT",
    "OPERATION_RECORD",
    "SCHEMAS_DIR",
    "SNAPSHOT_CHECKPOINT",
    "SchemaCatalogue",
    "SchemaVersion",
    "default_catalogue",
    "schema_fingerprint",
]

#: The repository's `schemas/` directory (the package is used from a checkout).
SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
CATALOGUE_FILE = "catalogue.json"

ACTION_ENVELOPE = "reactor_es.ActionEnvelope"
OPERATION_RECORD = "reactor_es.OperationRecord"
JOB_EVENT = "reactor_es.JobEvent"
DOCUMENT_SNAPSHOT = "reactor_es.DocumentSnapshot"
SNAPSHOT_CHECKPOINT = "reactor_es.SnapshotCheckpoint"

_MAX_SCHEMA_ID = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """One catalogued schema: its wire id, record name, version and parsed form."""

    schema_id: int
    name: str
    version: int
    file: str
    fingerprint: str
    parsed: dict[str, Any] = field(repr=False, compare=False)

    def describe(self) -> str:
        return f"{self.name} v{self.version} (schema id {self.schema_id})"


def schema_fingerprint(parsed: dict[str, Any]) -> str:
    """CRC-64-AVRO (Rabin) of the parsing canonical form, as 16 hex digits."""
    return str(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))


class SchemaCatalogue:
    """Schema versions by id and by (name, version), each parsed once."""

    def __init__(self, versions: Iterable[SchemaVersion]) -> None:
        self._by_id: dict[int, SchemaVersion] = {}
        self._by_name: dict[str, dict[int, SchemaVersion]] = {}
        for entry in versions:
            if not 0 <= entry.schema_id <= _MAX_SCHEMA_ID:
                raise SchemaCatalogueError(
                    f"schema id {entry.schema_id} of {entry.name} v{entry.version} does not "
                    "fit in 4 unsigned bytes"
                )
            other = self._by_id.get(entry.schema_id)
            if other is not None:
                raise SchemaCatalogueError(
                    f"schema id {entry.schema_id} is given to both {other.name} "
                    f"v{other.version} and {entry.name} v{entry.version}"
                )
            versions_of_name = self._by_name.setdefault(entry.name, {})
            if entry.version in versions_of_name:
                raise SchemaCatalogueError(
                    f"{entry.name} v{entry.version} is catalogued twice (schema ids "
                    f"{versions_of_name[entry.version].schema_id} and {entry.schema_id})"
                )
            self._by_id[entry.schema_id] = entry
            versions_of_name[entry.version] = entry
        self._current = {
            name: by_version[max(by_version)] for name, by_version in self._by_name.items()
        }

    @classmethod
    def load(cls, directory: Path | str = SCHEMAS_DIR) -> SchemaCatalogue:
        """Read `catalogue.json` and every schema it lists; verify names and fingerprints."""
        directory = Path(directory)
        path = directory / CATALOGUE_FILE
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SchemaCatalogueError(f"schema catalogue {path} does not exist") from None
        except (OSError, ValueError) as exc:
            raise SchemaCatalogueError(f"schema catalogue {path} is unreadable: {exc}") from exc
        entries = document.get("schemas") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise SchemaCatalogueError(f"schema catalogue {path} has no 'schemas' list")
        return cls(
            _load_entry(directory, path, position, raw) for position, raw in enumerate(entries)
        )

    def by_id(self, schema_id: int) -> SchemaVersion | None:
        return self._by_id.get(schema_id)

    def current(self, name: str) -> SchemaVersion:
        """The version new records of `name` are written with and old ones are read as."""
        try:
            return self._current[name]
        except KeyError:
            raise UnknownSchemaError(f"no schema for record {name} in the catalogue") from None

    def version(self, name: str, version: int) -> SchemaVersion:
        entry = self._by_name.get(name, {}).get(version)
        if entry is None:
            raise UnknownSchemaError(f"no schema for record {name} v{version} in the catalogue")
        return entry

    def versions(self, name: str) -> tuple[SchemaVersion, ...]:
        """Every catalogued version of `name`, oldest first."""
        by_version = self._by_name.get(name, {})
        return tuple(by_version[v] for v in sorted(by_version))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_name))

    def __iter__(self) -> Iterator[SchemaVersion]:
        return iter(sorted(self._by_id.values(), key=lambda e: e.schema_id))

    def __len__(self) -> int:
        return len(self._by_id)


def _load_entry(directory: Path, catalogue: Path, position: int, raw: object) -> SchemaVersion:
    where = f"{catalogue} entry {position}"
    if not isinstance(raw, Mapping):
        raise SchemaCatalogueError(f"{where} is not an object")
    schema_id, version = raw.get("id"), raw.get("version")
    if not (isinstance(schema_id, int) and not isinstance(schema_id, bool)):
        raise SchemaCatalogueError(f"{where}: 'id' must be an integer, got {schema_id!r}")
    if not (isinstance(version, int) and not isinstance(version, bool) and version >= 1):
        raise SchemaCatalogueError(f"{where}: 'version' must be an integer >= 1, got {version!r}")
    name, file, expected = (
        _required_text(raw, key, where) for key in ("name", "file", "fingerprint")
    )
    path = directory / file
    label = f"schema file {path} (id {schema_id}, {name} v{version})"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaCatalogueError(f"{label} does not exist") from None
    try:
        parsed = parse_schema(json.loads(text))
    except Exception as exc:  # fastavro raises several types for a bad schema
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SchemaCatalogueError(f"{label} is not a valid Avro schema: {message}") from exc
    if not (isinstance(parsed, dict) and parsed.get("type") == "record"):
        raise SchemaCatalogueError(f"{label} does not define a record")
    if parsed.get("name") != name:
        raise SchemaCatalogueError(f"{label} defines record {parsed.get('name')}, not {name}")
    actual = schema_fingerprint(parsed)
    if actual != expected:
        raise SchemaCatalogueError(
            f"{label} has fingerprint {actual}, catalogued {expected}: a published schema "
            "must not change; add a new version with a new id instead"
        )
    return SchemaVersion(schema_id, name, version, file, actual, parsed)


def _required_text(raw: Mapping[str, object], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise SchemaCatalogueError(f"{where}: '{key}' must be a non-empty string")
    return value


@lru_cache(maxsize=1)
def default_catalogue() -> SchemaCatalogue:
    """The repository's catalogue, loaded (and verified) once per process."""
    return SchemaCatalogue.load(SCHEMAS_DIR)
