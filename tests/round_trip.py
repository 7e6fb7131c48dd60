"""Import -> export -> verify of real Powerhouse exports: the checks shared by the in-process
round trip (`tests/test_importer.py`) and the one through Kafka (`tests/pipeline`).

An exported document must verify (every hash recomputed, the final state compared), and
its operations must be the original file's: indexes, skips, hashes, timestamps, types,
scopes, inputs, errors and action ids. Ids follow `reactor_es.importer`: an empty or
repeated action id gets a replacement, and every operation id is the one derived from its
document, scope, branch and action, which is the recorded one whenever Powerhouse's
reactor wrote the file (legacy exports carry free-form ids). An export without
document-scope operations comes back with the CREATE_DOCUMENT and UPGRADE_DOCUMENT that
created it here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from reactor_es.document.ids import derive_operation_id
from reactor_es.document.materialize import DocumentStream
from reactor_es.document.phd import PhdExport, read_phd, write_phd
from reactor_es.document.state import DOCUMENT_SCOPE
from reactor_es.document.types import Document, Operation
from reactor_es.document.verify import verify_export
from reactor_es.executor.book import DocumentBook
from reactor_es.executor.jobs import JobRunner
from reactor_es.importer import LOAD_CHUNK, creation_actions, loaded_operations
from reactor_es.kafka.records import ActionEnvelope, JobKind, load_meta
from reactor_es.registry import DocumentModelRegistry

__all__ = ["RoundTrip", "check_round_trip", "import_in_process"]

CREATED_AT = "2026-04-01T00:00:00.000Z"


@dataclass
class RoundTrip:
    """What the round trips of a set of exports found."""

    problems: list[str] = field(default_factory=list)
    documents: int = 0
    operations: int = 0
    #: Action ids the import replaced (empty or repeated in their export).
    replaced_action_ids: int = 0
    #: Operations whose exported id is their recorded one (the recorded id was derived).
    kept_operation_ids: int = 0


def import_in_process(
    export: PhdExport, document_id: str, registry: DocumentModelRegistry
) -> Document:
    """What `import_exports` and the legacy projector make of `export`, without Kafka: the
    same jobs (as `Reactor.submit_job` and `Reactor.load` build them) through the executor's
    job runner, and its records through the stream the projectors rebuild documents with."""
    model = registry.get(export.document.header.document_type)
    jobs = [
        ActionEnvelope(
            job_id=str(uuid.uuid4()),
            document_id=document_id,
            scope=DOCUMENT_SCOPE,
            kind=JobKind.CREATE,
            actions=creation_actions(export, document_id, model),
            created_at_utc_iso=CREATED_AT,
            document_type=model.document_type,
        )
    ]
    for scope, operations in loaded_operations(export, document_id).items():
        for start in range(0, len(operations), LOAD_CHUNK):
            chunk = operations[start : start + LOAD_CHUNK]
            jobs.append(
                ActionEnvelope(
                    job_id=str(uuid.uuid4()),
                    document_id=document_id,
                    scope=scope,
                    kind=JobKind.MUTATE,
                    actions=[op.action for op in chunk],
                    created_at_utc_iso=CREATED_AT,
                    meta=load_meta(
                        [op.timestamp_utc_ms or op.action.timestamp_utc_ms for op in chunk]
                    ),
                )
            )
    runner = JobRunner(DocumentBook(registry))
    stream = DocumentStream(model_for=registry.get)
    for job in jobs:
        outcome = runner.run(job)
        assert outcome.error is None, f"{export.source}: job failed: {outcome.error}"
        for record in outcome.records:
            stream.apply(record.streamed())
    document = stream.document(document_id)
    assert document is not None
    return document


def check_round_trip(
    original: PhdExport, exported: Document, registry: DocumentModelRegistry, found: RoundTrip
) -> None:
    """Write `exported` as a file, read and verify it, compare it with `original`."""
    name = original.source.rsplit("/", 1)[-1]
    again = read_phd(write_phd(exported), models=registry)
    verified = verify_export(again, registry)
    if not verified.ok:
        found.problems.append(f"{name}: {verified.line()}")
    found.documents += 1
    theirs_doc, ours_doc = original.document, again.document
    seen: set[str] = set()
    for scope, theirs in theirs_doc.operations.items():
        ours = ours_doc.operations.get(scope, [])
        if len(ours) != len(theirs):
            found.problems.append(f"{name}: scope {scope}: {len(theirs)} != {len(ours)} ops")
            continue
        for recorded, mine in zip(theirs, ours, strict=True):
            found.operations += 1
            replaced = scope != DOCUMENT_SCOPE and (
                not recorded.action.id or recorded.action.id in seen
            )
            if scope != DOCUMENT_SCOPE:
                seen.add(recorded.action.id)
            found.replaced_action_ids += replaced
            expected_id = derive_operation_id(
                ours_doc.id, scope, ours_doc.header.branch, mine.action.id
            )
            found.kept_operation_ids += expected_id == recorded.id
            expected = _fields(recorded, expected_id, mine.action.id if replaced else None)
            if _fields(mine, mine.id, None) != expected:
                found.problems.append(
                    f"{name}: {scope}[{recorded.index}]: exported {_fields(mine, mine.id, None)}"
                    f" != original {expected}"
                )
    if not theirs_doc.operations.get(DOCUMENT_SCOPE):
        created = [op.action.type for op in ours_doc.operations.get(DOCUMENT_SCOPE, [])]
        if created != ["CREATE_DOCUMENT", "UPGRADE_DOCUMENT"]:
            found.problems.append(f"{name}: document scope {created}")
    if original.current_state is not None and again.current_state != original.current_state:
        found.problems.append(f"{name}: the exported state is not the original's")


def _fields(op: Operation, op_id: str, action_id: str | None) -> Sequence[object]:
    action = op.action
    return (
        op_id,
        op.index,
        op.skip,
        op.hash,
        op.timestamp_utc_ms,
        op.error,
        action_id or action.id,
        action.type,
        action.scope,
        action.timestamp_utc_ms,
        action.input,
    )
