"""Importing Powerhouse exports through the pipeline, and checking what came out.

Each export becomes a new document with the export's id: one CREATE job (the export's
own CREATE_DOCUMENT and UPGRADE_DOCUMENT when it has them, else built from its name and
initial state), then load jobs carrying the export's operations scope by scope (each
applied under the rules of its recorded era, keeping its recorded timestamp). Then the
operations are read back from the operations topic and every recorded hash is compared
with ours. Exporting the document again gives the file's operations back, with operation
ids derived as Powerhouse's reactor derives them (below).

Document ids: an export's id is kept unless it is empty or another export of the same
import already took it (the same document exported at different times): then the document
gets a deterministic id derived from the original id and the file name, and the result
says so. The creation actions have deterministic ids too, so importing the same files into
the same reactor again is a no-op that reports the same operations.

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
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reactor_es.client import Reactor
from reactor_es.document.actions import create_document_actions
from reactor_es.document.model import DocumentModel
from reactor_es.document.phd import PhdExport
from reactor_es.document.state import DOCUMENT_SCOPE
from reactor_es.document.types import Action, Operation
from reactor_es.errors import ReactorError
from reactor_es.jobs import JobInfo
from reactor_es.kafka.operations_log import read_operations
from reactor_es.kafka.records import JobKind, JobStatus, OperationRecord

__all__ = [
    "ImportResult",
    "creation_actions",
    "import_exports",
    "loaded_operations",
    "plan_document_ids",
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

    @property
    def ok(self) -> bool:
        return self.error is None and not self.mismatches

    def line(self) -> str:
        if self.error is not None:
            return f"ERROR {self.source}: {self.error}"
        status = "ok" if self.ok else "MISMATCH"
        renamed = (
            f" (export id {self.original_id or 'empty'} taken)"
            if self.original_id != self.document_id
            else ""
        )
        text = (
            f"{status} {self.document_id}{renamed} {self.name or '-'}: "
            + ("already imported, " if self.already else "")
            + f"{self.operations} operations, {self.compared} hashes compared, "
            f"{len(self.mismatches)} mismatches"
        )
        return text + "".join(f"\n    {m}" for m in self.mismatches[:10])


def _stable_id(*parts: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, ":".join(parts)))


def plan_document_ids(exports: Sequence[PhdExport]) -> list[str]:
    """The id each export is imported under: its own, unless empty or taken by an earlier one."""
    taken: set[str] = set()
    planned = []
    for export in exports:
        original = export.document.id
        document_id = original
        if not original or original in taken:
            document_id = _stable_id(original, Path(export.source).name)
        taken.add(document_id)
        planned.append(document_id)
    return planned


def loaded_operations(export: PhdExport, document_id: str) -> dict[str, list[Operation]]:
    """The export's operations to load, by scope (the document scope is the creation's),
    with empty or repeated action ids replaced (see the module docstring)."""
    document = export.document
    seen: set[str] = set()
    out: dict[str, list[Operation]] = {}
    for scope, operations in document.operations.items():
        if scope == DOCUMENT_SCOPE:
            continue
        fixed = []
        for op in operations:
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
    ours: dict[str, list[OperationRecord]] = {}
    for record in records:
        ours.setdefault(record.scope, []).append(record)
    for scope, recorded in export.document.operations.items():
        mine = ours.get(scope, [])
        if len(mine) != len(recorded):
            result.mismatches.append(
                f"scope {scope}: export has {len(recorded)} operations, pipeline wrote {len(mine)}"
            )
        for position, (theirs, produced) in enumerate(zip(recorded, mine, strict=False)):
            result.operations += 1
            if not theirs.hash:
                continue
            result.compared += 1
            if theirs.hash != produced.operation.hash:
                result.mismatches.append(
                    f"scope {scope} index {theirs.index} (position {position}, "
                    f"{theirs.action.type}): recorded {theirs.hash}, "
                    f"pipeline {produced.operation.hash}"
                )


async def import_exports(
    reactor: Reactor, exports: Sequence[PhdExport], *, timeout: float = 120.0
) -> list[ImportResult]:
    """Publish every export, wait for every job, read back and compare; one result each."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    results = {export.source: ImportResult(export.source) for export in exports}
    submitted: dict[str, list[JobInfo]] = {}
    planned = plan_document_ids(exports)
    # A document already in the log is compared, not sent again: a re-import must not
    # depend on whether the executor still remembers every action id (its idempotency
    # window is bounded), and a different document under the same id must not be touched.
    existing = await read_operations(reactor.settings, reactor.bootstrap_servers, planned)
    for export, document_id in zip(exports, planned, strict=True):
        result = results[export.source]
        result.document_id = document_id
        result.original_id = export.document.id
        result.name = export.document.header.name
        found = existing.get(document_id)
        if found:
            _compare(export, found, result)
            if result.mismatches:
                result.error = (
                    f"document {document_id} already exists with other operations "
                    f"({result.mismatches[0]}); not imported"
                )
                result.mismatches = []
            result.already = True
            continue
        try:
            submitted[export.source] = await _submit(reactor, export, document_id)
        except ReactorError as exc:
            result.error = str(exc)
    written: dict[str, set[tuple[str, int, str]]] = {}
    for source, jobs in submitted.items():
        result = results[source]
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
        [results[source].document_id for source in submitted],
        expect={document_id: len(refs) for document_id, refs in written.items()},
    )
    for export in exports:
        result = results[export.source]
        if result.error is None and not result.already:
            _compare(export, by_document.get(result.document_id, []), result)
        result.seconds = loop.time() - started
    return [results[export.source] for export in exports]
