""".phd export files: a zip of header.json, state.json, current-state.json, operations.json.

Powerhouse's layout changed over the years and the exports we must read span them all:

- header.json: today's header, or the pre-v4 one (`created`, `lastModified`, an integer
  `revision`, sometimes no `id`).
- state.json: the initial state, or a whole legacy document whose `state` holds it.
- operations.json: `{scope: [operation]}` (keys are not reliable: drive-sync exports put
  document-scope operations under `global`) or a bare list. An operation nests its action
  (today), or IS the action flattened with `index`, `timestamp`, `hash` (older exports);
  `skip`, ids and action timestamps may be missing.

The reader normalises all of that into one `Document`: operations regrouped by their
action's scope and sorted by (index, skip), the initial state taken from the
UPGRADE_DOCUMENT operation when there is one (document-model-ops.md §8), base scopes and a
protocol version filled in where the file predates them. The writer writes today's layout,
and reading what it wrote gives the same document back.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from pydantic import ValidationError

from reactor_es.document.exceptions import PhdFormatError
from reactor_es.document.model import DocumentModel, parse_instant
from reactor_es.document.state import DOCUMENT_SCOPE, backfill_base_state
from reactor_es.document.types import (
    BASE_REDUCER,
    Document,
    DocumentHeader,
    JsonDict,
    Operation,
)

__all__ = [
    "LEGACY_PROTOCOL_VERSION",
    "PHD_MEMBERS",
    "PhdExport",
    "StateImporter",
    "read_phd",
    "write_phd",
]

PHD_MEMBERS = ("header.json", "state.json", "current-state.json", "operations.json")

#: Protocol assumed for an export whose header has no `protocolVersions`: such files were
#: written before the key existed, by the legacy (v1) base reducer. Their histories are
#: already garbage-collected, which only v1 replay semantics read correctly.
LEGACY_PROTOCOL_VERSION = 1

_SCOPE_KEYS = frozenset({"global", "local", "auth", "document"})


@dataclass(frozen=True)
class PhdExport:
    """A read export: the document, and the current state the file claims (if any)."""

    source: str
    document: Document
    #: current-state.json (base scopes filled in), or None when the file has none.
    current_state: JsonDict | None

    @property
    def operation_count(self) -> int:
        return sum(len(ops) for ops in self.document.operations.values())


class StateImporter(Protocol):
    """Gives the model of a document type, whose `import_state` upgrades old layouts."""

    def get(self, document_type: str, version: int | None = None) -> DocumentModel: ...


def read_phd(
    source: str | Path | bytes | IO[bytes], *, models: StateImporter | None = None
) -> PhdExport:
    """Read an export; anything unreadable raises `PhdFormatError` naming file and part.

    With `models`, states pass through the document model's `import_state`, which lets a
    model read layouts it has since left (Powerhouse's own was unscoped before Dec 2023).
    """
    name = _source_name(source)
    if isinstance(source, str | Path) and not Path(source).is_file():
        raise PhdFormatError(f"{name}: no such file")
    try:
        archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise PhdFormatError(f"{name}: not a readable zip archive ({exc})") from None
    with archive:
        members = set(archive.namelist())
        for required in ("header.json", "state.json", "operations.json"):
            if required not in members:
                raise PhdFormatError(f"{name}: {required} is missing")
        header_json = _load_member(archive, name, "header.json")
        state_json = _load_member(archive, name, "state.json")
        operations_json = _load_member(archive, name, "operations.json")
        current_json = (
            _load_member(archive, name, "current-state.json")
            if "current-state.json" in members
            else None
        )

    operations = _read_operations(name, operations_json)
    header = _read_header(name, header_json)
    importer = models.get(header.document_type).import_state if models is not None else None
    initial = _initial_state(name, state_json, operations, importer)
    current = None
    if current_json is not None:
        if not isinstance(current_json, dict):
            raise PhdFormatError(f"{name}: current-state.json is not an object")
        if importer is not None:
            current_json = importer(current_json)
        current = backfill_base_state(_scoped(name, "current-state.json", current_json))
    document = Document.model_construct(
        header=header,
        state=current if current is not None else json.loads(json.dumps(initial)),
        initial_state=initial,
        operations=operations,
        clipboard=[],
    )
    return PhdExport(source=name, document=document, current_state=current)


def write_phd(document: Document, target: str | Path | IO[bytes] | None = None) -> bytes:
    """The export of `document` in today's layout; also written to `target` when given.

    Member order and timestamps are fixed, so one document always gives the same bytes.
    """
    members: dict[str, Any] = {
        "header.json": document.header.to_json(),
        "state.json": document.initial_state,
        "current-state.json": document.state,
        "operations.json": {
            scope: [operation.to_json() for operation in ops]
            for scope, ops in document.operations.items()
        },
    }
    stamp = _zip_time(document.header.last_modified_at_utc_iso)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, value in members.items():
            info = zipfile.ZipInfo(member, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, json.dumps(value, indent=2, ensure_ascii=False))
    data = buffer.getvalue()
    if isinstance(target, str | Path):
        Path(target).write_bytes(data)
    elif target is not None:
        target.write(data)
    return data


# -- reading, part by part ---------------------------------------------------------------


def _source_name(source: object) -> str:
    if isinstance(source, str | Path):
        return str(source)
    return str(getattr(source, "name", "<bytes>"))


def _load_member(archive: zipfile.ZipFile, name: str, member: str) -> Any:
    try:
        return json.loads(archive.read(member).decode("utf-8"))
    except UnicodeDecodeError:
        raise PhdFormatError(f"{name}: {member} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise PhdFormatError(f"{name}: {member} is not valid JSON ({exc})") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:  # corrupt member
        raise PhdFormatError(f"{name}: {member} cannot be extracted ({exc})") from None


def _read_header(name: str, raw: Any) -> DocumentHeader:
    if not isinstance(raw, dict):
        raise PhdFormatError(f"{name}: header.json is not an object")
    data = dict(raw)
    # Pre-v4 names (see Powerhouse's PHDocument migration guide).
    if "createdAtUtcIso" not in data and "created" in data:
        data["createdAtUtcIso"] = data.pop("created")
    if "lastModifiedAtUtcIso" not in data and "lastModified" in data:
        data["lastModifiedAtUtcIso"] = data.pop("lastModified")
    if isinstance(data.get("revision"), int) and not isinstance(data["revision"], bool):
        data["revision"] = {"global": data["revision"]}
    data.setdefault("id", "")
    data.setdefault("createdAtUtcIso", "")
    if not data.get("protocolVersions"):
        data["protocolVersions"] = {BASE_REDUCER: LEGACY_PROTOCOL_VERSION}
    try:
        return DocumentHeader.model_validate(data)
    except ValidationError as exc:
        raise PhdFormatError(f"{name}: header.json: {_first_problem(exc)}") from None


def _read_operations(name: str, raw: Any) -> dict[str, list[Operation]]:
    if isinstance(raw, list):
        listed: list[tuple[str, list[Any]]] = [("operations", raw)]
        grouped: dict[str, list[Operation]] = {}
    elif isinstance(raw, dict):
        listed = []
        for key, records in raw.items():
            if not isinstance(records, list):
                raise PhdFormatError(f"{name}: operations.json: '{key}' is not a list")
            listed.append((key, records))
        grouped = {key: [] for key in raw}
    else:
        raise PhdFormatError(f"{name}: operations.json is neither an object nor a list")
    for key, records in listed:
        for position, record in enumerate(records):
            where = f"{name}: operations.json {key}[{position}]"
            operation = _read_operation(where, record)
            # Keys are not reliable scopes: the action's scope decides.
            grouped.setdefault(operation.action.scope, []).append(operation)
    for ops in grouped.values():
        ops.sort(key=lambda op: (op.index, op.skip))
    return grouped


def _read_operation(where: str, record: Any) -> Operation:
    if not isinstance(record, dict):
        raise PhdFormatError(f"{where}: not an object")
    nested = record.get("action")
    source: Mapping[str, Any] = nested if isinstance(nested, dict) else record
    op_stamp = record.get("timestampUtcMs") or record.get("timestamp") or ""
    action = {
        # v4 operations were the action itself, so their `id` is the action id.
        "id": source.get("id") or record.get("actionId") or record.get("id") or "",
        "type": source.get("type", record.get("type")),
        "timestampUtcMs": source.get("timestampUtcMs") or op_stamp,
        "input": source["input"] if "input" in source else record.get("input", {}),
        "scope": source.get("scope") or record.get("scope") or "global",
        "context": source.get("context"),
    }
    if not isinstance(action["type"], str) or not action["type"]:
        raise PhdFormatError(f"{where}: no action type")
    index = record.get("index")
    if not isinstance(index, int) or isinstance(index, bool):
        raise PhdFormatError(f"{where}: 'index' must be an integer, got {index!r}")
    data = {
        "id": record.get("id") or "",
        "index": index,
        "skip": record.get("skip") or 0,
        "timestampUtcMs": op_stamp or action["timestampUtcMs"],
        "hash": record.get("hash") or "",
        "error": record.get("error") or None,
        "deniedReason": record.get("deniedReason"),
        "resultingState": record.get("resultingState"),
        "action": action,
    }
    try:
        return Operation.model_validate(data)
    except ValidationError as exc:
        raise PhdFormatError(f"{where}: {_first_problem(exc)}") from None


def _initial_state(
    name: str,
    raw: Any,
    operations: Mapping[str, list[Operation]],
    importer: Callable[[JsonDict], JsonDict] | None,
) -> JsonDict:
    for operation in operations.get(DOCUMENT_SCOPE, ()):
        if operation.action.type == "UPGRADE_DOCUMENT" and isinstance(operation.input, dict):
            initial = operation.input.get("initialState")
            if isinstance(initial, dict) and operation.input.get("fromVersion") == 0:
                return backfill_base_state(
                    _scoped(name, "UPGRADE_DOCUMENT initialState", json.loads(json.dumps(initial)))
                )
    if not isinstance(raw, dict):
        raise PhdFormatError(f"{name}: state.json is not an object")
    if isinstance(raw.get("state"), dict) and not (_SCOPE_KEYS & raw.keys()):
        raw = raw["state"]  # a whole legacy document; its `state` is the initial state
    if importer is not None:
        raw = importer(raw)
    return backfill_base_state(_scoped(name, "state.json", raw))


def _scoped(name: str, part: str, state: JsonDict) -> JsonDict:
    if "global" not in state:
        raise PhdFormatError(
            f"{name}: {part} has no 'global' scope (the unscoped 2023 layout is not supported)"
        )
    return state


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "value"
    return f"field '{where}': {first['msg']}"


def _zip_time(stamp: str) -> tuple[int, int, int, int, int, int]:
    try:
        when = parse_instant(stamp)
    except ValueError:
        return (1980, 1, 1, 0, 0, 0)
    if when.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    return (when.year, when.month, when.day, when.hour, when.minute, when.second)
