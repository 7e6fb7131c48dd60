"""Importing Powerhouse exports through the pipeline, and checking what came out.

Each export becomes a new document (under the id below): one CREATE job (the export's
own CREATE_DOCUMENT and UPGRADE_DOCUMENT when it has them, else built from its name and
initial state), then load jobs carrying the export's operations scope by scope (each
applied under the rules of its recorded era, keeping its recorded timestamp). Then the
operations are read back from the operations topic and every recorded hash is compared
with ours. Exporting the document again gives the file's operations back, with operation
ids derived as Powerhouse's reactor derives them (below).

Document ids: where an export goes depends on its content and on what the log already
holds, never on the order of the files in an import. An export keeps its own id
unless that id is empty or held by another document (the same document exported at
different times shares one id); then it goes under its derived id, a UUID v5 of its own id
and a digest of its content (`export_digest`: document type, initial state, operations).
Before anything is sent, the operations topic is read for both ids of every export:
  - the log already holds what importing the export writes (same operation indexes, action
    ids and hashes, the same creation) under its id or its derived id: already imported,
    nothing sent;
  - its id is held by a document with other operations (another export of it, or the live
    document it was exported from, since changed): its derived id;
  - its id is free and several exports of this import have it: the one with the most
    operations (then the latest last operation, then the greater derived id) keeps it, the
    others get their derived ids;
  - the same content twice in one import (another file name): imported once, the copy
    reported as already imported.
So any set of exports, imported in any order and in any number of commands, ends with each
distinct export imported once and found again by every later import. Which export of a
shared id holds the id itself is decided when the first of them is imported (a command
importing the older export alone gives it the id). The creation actions have
deterministic ids too (derived from the document id).

Action ids: Powerhouse derives operation ids from action ids, and our executor treats a
repeated action id as a retry. Some legacy exports carry empty or repeated action ids (the
legacy server stored an action twice); those actions get a deterministic replacement id
(UUID v5 of document, scope and index) so that every recorded operation is applied once.
These are the only action ids an import does not keep (Powerhouse's own reactor requires
action ids and drops repeated ones).

Operation ids: derived from document, scope, branch and action id, as for any operation
(Powerhouse's `deriveOperationId`, which its reactor recomputes for the operations it
replays or loads). An export written by Powerhouse's reactor comes back with its own
operation ids; one written by the legacy server, whose ids were free-form, does not, and
cannot: two different documents of the corpus (one a legacy copy of the other) carry the
same operation ids, which an operation store keyed by operation id (ours keeps (id, index,
skip) unique) cannot hold twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reactor_es.client import Reactor
from reactor_es.document.actions import create_document_actions
from reactor_es.document.hashing import hash_scope_state
from reactor_es.document.history import effective_history
from reactor_es.document.model import DocumentModel
from reactor_es.document.phd import PhdExport
from reactor_es.document.reducer import protocol_version
from reactor_es.document.state import DOCUMENT_SCOPE
from reactor_es.document.types import Action, Document, Operation
from reactor_es.document.verify import ModelLookup, counted
from reactor_es.errors import ReactorError
from reactor_es.jobs import JobInfo
from reactor_es.kafka.operations_log import read_operations
from reactor_es.kafka.records import JobKind, JobStatus, OperationRecord

__all__ = [
    "ImportResult",
    "Placement",
    "candidate_ids",
    "creation_actions",
    "derived_document_id",
    "export_digest",
    "import_exports",
    "loaded_operations",
    "plan_imports",
]

#: Operations per load job: big enough to batch, small enough for one Kafka record.
LOAD_CHUNK = 200
_ID_NAMESPACE = uuid.UUID("3f1d7c52-2b8e-4c56-9d0a-7be0c5b3a8e1")


@dataclass
class ImportResult:
    """How one export went through the pipeline."""

    source: str
    document_id: str = ""
    original_id: str = ""
    name: str = ""
    operations: int = 0
    compared: int = 0
    mismatches: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    #: The document was already in `operations` with these very operations: nothing sent.
    already: bool = False
    #: Why the document id is not the export's ("" when it is).
    reason: str = ""
    #: Another file of this import with the same content, imported in its place.
    same_as: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None and not self.mismatches

    def line(self) -> str:
        if self.error is not None:
            return f"ERROR {self.source}: {self.error}"
        status = "ok" if self.ok else "MISMATCH"
        renamed = f" ({self.reason})" if self.reason else ""
        if self.same_as:
            already = f"already imported (same content as {Path(self.same_as).name}), "
        else:
            already = "already imported, " if self.already else ""
        text = (
            f"{status} {self.document_id}{renamed} {self.name or '-'}: {already}"
            f"{counted(self.operations, 'operation')}, {counted(self.compared, 'hash')} "
            f"compared, {counted(len(self.mismatches), 'mismatch')}"
        )
        return text + "".join(f"\n    {m}" for m in self.mismatches[:10])


def _stable_id(*parts: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, ":".join(parts)))


def export_digest(export: PhdExport) -> str:
    """SHA-256 of what the export holds: document type, initial state and every operation
    (as exported, ids and inputs included), independent of the file's name and format."""
    document = export.document
    content = {
        "documentType": document.header.document_type,
        "initialState": document.initial_state,
        "operations": {
            scope: [op.to_json() for op in operations]
            for scope, operations in sorted(document.operations.items())
            if operations
        },
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def derived_document_id(export: PhdExport) -> str:
    """The id the export goes under when its own is empty or taken: from its id and content."""
    return _stable_id(export.document.id, export_digest(export))


@dataclass(frozen=True)
class Placement:
    """Where one export goes, decided before anything is sent (see the module docstring)."""

    document_id: str
    #: Why the id is derived ("" when the export keeps its own).
    reason: str = ""
    #: The log already holds exactly what importing the export writes: nothing to send.
    already: bool = False
    #: The position of an earlier export of this import with the same content: imported
    #: once, as that one.
    copy_of: int | None = None
    #: Why the export cannot be imported (its derived id holds other operations).
    error: str | None = None


def _latest_timestamp(export: PhdExport) -> str:
    return max(
        (op.timestamp_utc_ms for ops in export.document.operations.values() for op in ops),
        default="",
    )


def plan_imports(
    exports: Sequence[PhdExport],
    existing: Mapping[str, Sequence[OperationRecord]],
    models: ModelLookup,
) -> list[Placement]:
    """Where each export goes, given the log's records of every id in `candidate_ids`:
    the same for any order of `exports` (see the module docstring)."""
    derived = [derived_document_id(export) for export in exports]
    placements: list[Placement | None] = [None] * len(exports)
    first: dict[str, int] = {}  # derived id (= id and content) -> the first such export
    contenders: dict[str, list[int]] = {}  # free id -> the exports that have it
    for position, export in enumerate(exports):
        if derived[position] in first:
            continue  # a copy: placed as its first below
        first[derived[position]] = position
        original = export.document.id
        try:
            models.get(export.document.header.document_type)
        except ReactorError as exc:
            placements[position] = Placement(original or derived[position], error=str(exc))
            continue
        if not original:
            placements[position] = _derived(export, derived[position], existing, models, "")
        elif original in existing:
            if _difference(export, original, existing[original], models) is None:
                placements[position] = Placement(original, already=True)
            else:
                placements[position] = _derived(
                    export, derived[position], existing, models, original
                )
        else:
            contenders.setdefault(original, []).append(position)
    for original, positions in contenders.items():
        free = []
        for position in positions:
            at_derived = existing.get(derived[position])
            export = exports[position]
            if at_derived and _difference(export, derived[position], at_derived, models) is None:
                placements[position] = Placement(
                    derived[position], reason=_taken(original), already=True
                )
            else:
                free.append(position)
        if not free:
            continue
        winner = max(
            free,
            key=lambda n: (
                exports[n].operation_count,
                _latest_timestamp(exports[n]),
                derived[n],
            ),
        )
        placements[winner] = Placement(original)
        for position in free:
            if position != winner:
                placements[position] = _derived(
                    exports[position],
                    derived[position],
                    existing,
                    models,
                    original,
                    holder=Path(exports[winner].source).name,
                )
    out = []
    for position in range(len(exports)):
        origin = first[derived[position]]
        placement = placements[origin]
        assert placement is not None
        if origin != position:
            placement = replace(placement, already=True, copy_of=origin)
        out.append(placement)
    return out


def _taken(original: str, holder: str = "") -> str:
    if not original:
        return "derived id: the export has no id"
    if holder:
        return f"derived id: export id {original} goes to {holder}, with the most operations"
    return f"derived id: document {original} has other operations"


def _derived(
    export: PhdExport,
    document_id: str,
    existing: Mapping[str, Sequence[OperationRecord]],
    models: ModelLookup,
    original: str,
    *,
    holder: str = "",
) -> Placement:
    reason = _taken(original, holder)
    found = existing.get(document_id)
    if not found:
        return Placement(document_id, reason=reason)
    difference = _difference(export, document_id, found, models)
    if difference is None:
        return Placement(document_id, reason=reason, already=True)
    return Placement(
        document_id,
        reason=reason,
        error=(
            f"document {document_id} (the export's derived id) already exists with other "
            f"operations ({difference}); not imported"
        ),
    )


def candidate_ids(exports: Sequence[PhdExport]) -> list[str]:
    """Every id an export may go under: its own (when it has one) and its derived one."""
    ids = {export.document.id for export in exports if export.document.id}
    return sorted(ids | {derived_document_id(export) for export in exports})


#: (index, action id, action type, hash or "" when not known beforehand, input or None).
_Expected = tuple[int, str, str, str, Any]


def _expected(
    export: PhdExport, document_id: str, models: ModelLookup
) -> dict[str, list[_Expected]]:
    """What importing `export` under `document_id` writes, by scope."""
    document = export.document
    model = models.get(document.header.document_type)
    out: dict[str, list[_Expected]] = {}
    if _recorded_creation(export, document_id) is not None:
        creation = [
            (op.index, op.action.id, op.action.type, op.hash, None)
            for op in document.operations[DOCUMENT_SCOPE][:2]
        ]
    else:
        recorded = document.operations.get(DOCUMENT_SCOPE, [])
        creation = [
            (
                position,
                action.id,
                action.type,
                recorded[position].hash if position < len(recorded) else "",
                action.input,
            )
            for position, action in enumerate(creation_actions(export, document_id, model))
        ]
    out[DOCUMENT_SCOPE] = creation
    for scope, operations in loaded_operations(export, document_id).items():
        out[scope] = [(op.index, op.action.id, op.action.type, op.hash, None) for op in operations]
    return out


def _difference(
    export: PhdExport,
    document_id: str,
    records: Sequence[OperationRecord],
    models: ModelLookup,
) -> str | None:
    """The first way the log's `records` of `document_id` differ from what importing
    `export` under that id writes, or None when they are the same."""
    document_type = export.document.header.document_type
    if records and records[0].document_type != document_type:
        return f"it is a {records[0].document_type}, the export a {document_type}"
    expected = _expected(export, document_id, models)
    found: dict[str, list[OperationRecord]] = {}
    for record in records:
        found.setdefault(record.scope, []).append(record)
    for scope in sorted(set(expected) | set(found)):
        want, have = expected.get(scope, []), found.get(scope, [])
        if len(want) != len(have):
            return f"scope {scope}: export has {len(want)} operations, the log {len(have)}"
        for (index, action_id, action_type, hash_, input_), record in zip(want, have, strict=True):
            op = record.operation
            where = f"scope {scope} index {index}"
            if (op.index, op.action.id, op.action.type) != (index, action_id, action_type):
                return (
                    f"{where}: export has {action_type} {action_id}, "
                    f"the log {op.action.type} {op.action.id} at index {op.index}"
                )
            if hash_ and op.hash != hash_:
                return f"{where}: export has hash {hash_}, the log {op.hash}"
            if input_ is not None and op.action.input != input_:
                return f"{where}: the log's {action_type} has another input"
    return None


def loaded_operations(export: PhdExport, document_id: str) -> dict[str, list[Operation]]:
    """The export's operations to load, by scope (the document scope is the creation's),
    with empty or repeated action ids replaced (see the module docstring).

    Each scope's history is the one replay sees (`effective_history`: sorted, and what a
    skip replaced garbage collected, as Powerhouse does before it replays), and every
    operation keeps its index and skip, so that the loaded document is the exported one.
    """
    document = export.document
    seen: set[str] = set()
    out: dict[str, list[Operation]] = {}
    for scope, operations in document.operations.items():
        if scope == DOCUMENT_SCOPE:
            continue
        fixed = []
        for op in _replayed_history(document, operations):
            action = op.action
            if not action.id or action.id in seen:
                replacement = _stable_id(document_id, scope, str(op.index))
                action = action.model_copy(update={"id": replacement})
                op = op.model_copy(update={"action": action})
            seen.add(action.id)
            fixed.append(op)
        if fixed:
            out[scope] = fixed
    return out


def _replayed_history(document: Document, operations: Sequence[Operation]) -> list[Operation]:
    if not any(op.skip for op in operations):
        return list(operations)
    return effective_history(operations, protocol_version(document))


def creation_actions(export: PhdExport, document_id: str, model: DocumentModel) -> list[Action]:
    """The actions of the job that creates the imported document.

    An export that records its own creation (CREATE_DOCUMENT, UPGRADE_DOCUMENT, as
    Powerhouse's reactor writes them) is created by those very actions, so the document
    scope keeps its ids, timestamps and inputs. Older exports have none: the creation is
    built from the header and the initial state, with ids derived from the document id.
    """
    recorded = _recorded_creation(export, document_id)
    if recorded is not None:
        return recorded
    document = export.document
    create = create_document_actions(
        model,
        document_id,
        name=document.header.name or None,
        initial_state=document.initial_state,
        timestamp=document.header.created_at_utc_iso or None,
    )
    return [
        action.model_copy(update={"id": _stable_id(document_id, "create", str(position))})
        for position, action in enumerate(create)
    ]


def _recorded_creation(export: PhdExport, document_id: str) -> list[Action] | None:
    """The export's CREATE_DOCUMENT and UPGRADE_DOCUMENT actions, if it has them for this id."""
    ops = export.document.operations.get(DOCUMENT_SCOPE, [])
    if len(ops) < 2 or document_id != export.document.id:
        return None  # a derived id: the recorded inputs name the original one
    create, upgrade = ops[0].action, ops[1].action
    if (
        (ops[0].index, ops[1].index) != (0, 1)
        or (create.type, upgrade.type) != ("CREATE_DOCUMENT", "UPGRADE_DOCUMENT")
        or not create.id
        or not upgrade.id
        or not isinstance(create.input, dict)
        or create.input.get("documentId") != document_id
    ):
        return None
    return [create, upgrade]


async def _submit(reactor: Reactor, export: PhdExport, document_id: str) -> list[JobInfo]:
    document_type = export.document.header.document_type
    create = creation_actions(export, document_id, reactor.registry.get(document_type))
    jobs = [
        await reactor.submit_job(document_id, create, JobKind.CREATE, document_type=document_type)
    ]
    for operations in loaded_operations(export, document_id).values():
        for start in range(0, len(operations), LOAD_CHUNK):
            jobs.append(await reactor.load(document_id, operations[start : start + LOAD_CHUNK]))
    return jobs


def _compare(export: PhdExport, records: Sequence[OperationRecord], result: ImportResult) -> None:
    """Operation by operation (index, skip, hash where one was recorded), then each scope's
    final state: an operation without a hash (a protocol-2 undo marker) is still checked."""
    ours: dict[str, list[OperationRecord]] = {}
    for record in records:
        ours.setdefault(record.scope, []).append(record)
    document = export.document
    for scope, operations in document.operations.items():
        recorded = (
            operations if scope == DOCUMENT_SCOPE else _replayed_history(document, operations)
        )
        mine = ours.get(scope, [])
        result.operations += len(operations)
        if len(mine) != len(recorded):
            result.mismatches.append(
                f"scope {scope}: export has {len(recorded)} operations to replay, pipeline "
                f"wrote {len(mine)}"
            )
        for position, (theirs, produced) in enumerate(zip(recorded, mine, strict=False)):
            ours_op = produced.operation
            if (theirs.index, theirs.skip) != (ours_op.index, ours_op.skip):
                result.mismatches.append(
                    f"scope {scope} position {position} ({theirs.action.type}): recorded index "
                    f"{theirs.index} skip {theirs.skip}, pipeline index {ours_op.index} skip "
                    f"{ours_op.skip}"
                )
                continue
            if not theirs.hash:
                continue
            result.compared += 1
            if theirs.hash != ours_op.hash:
                result.mismatches.append(
                    f"scope {scope} index {theirs.index} (position {position}, "
                    f"{theirs.action.type}): recorded {theirs.hash}, pipeline {ours_op.hash}"
                )
        final = export.current_state
        if final is None or scope == DOCUMENT_SCOPE or not mine or scope not in final:
            continue
        if mine[-1].resulting_state is None:
            continue  # records written without their state (REACTOR_ES_RESULTING_STATE off)
        if json.loads(mine[-1].resulting_state) != final[scope]:
            result.mismatches.append(
                f"scope {scope}: final state differs (export {hash_scope_state(final[scope])}, "
                f"pipeline {hash_scope_state(json.loads(mine[-1].resulting_state))})"
            )


async def import_exports(
    reactor: Reactor, exports: Sequence[PhdExport], *, timeout: float = 120.0
) -> list[ImportResult]:
    """Publish every export, wait for every job, read back and compare; one result each."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    results = [ImportResult(export.source) for export in exports]
    submitted: dict[int, list[JobInfo]] = {}
    # What the log holds decides where each export goes, and whether it is there already:
    # a re-import must not depend on whether the executor still remembers every action id
    # (its idempotency window is bounded), and a different document under the same id must
    # not be touched.
    existing = await read_operations(
        reactor.settings, reactor.bootstrap_servers, candidate_ids(exports)
    )
    placements = plan_imports(exports, existing, reactor.registry)
    for position, (export, placement) in enumerate(zip(exports, placements, strict=True)):
        result = results[position]
        result.document_id = placement.document_id
        result.original_id = export.document.id
        result.name = export.document.header.name
        result.reason = placement.reason
        result.already = placement.already
        if placement.copy_of is not None:
            result.same_as = exports[placement.copy_of].source
        elif placement.error is not None:
            result.error = placement.error
        elif placement.already:
            _compare(export, existing[placement.document_id], result)
        else:
            try:
                submitted[position] = await _submit(reactor, export, placement.document_id)
            except ReactorError as exc:
                result.error = str(exc)
    written: dict[str, set[tuple[str, int, str]]] = {}
    for position, jobs in submitted.items():
        result = results[position]
        refs = written.setdefault(result.document_id, set())
        for job in jobs:
            info = await reactor.wait_for_job(job.id, timeout, until=JobStatus.WRITE_READY)
            if info.status is JobStatus.FAILED:
                result.error = f"job {job.id} failed: {info.error}"
                break
            refs.update((ref.scope, ref.index, ref.id) for ref in info.operations)
    by_document = await read_operations(
        reactor.settings,
        reactor.bootstrap_servers,
        list(written),
        expect={document_id: len(refs) for document_id, refs in written.items()},
    )
    for position in submitted:
        result = results[position]
        if result.error is None:
            _compare(exports[position], by_document.get(result.document_id, []), result)
    for placement, result in zip(placements, results, strict=True):
        if placement.copy_of is not None:  # as its first went
            first = results[placement.copy_of]
            if first.error is not None:
                result.error = f"same content as {first.source}, which was not imported"
            result.operations, result.compared = first.operations, first.compared
            result.mismatches = list(first.mismatches)
        result.seconds = loop.time() - started
    return results
