"""Running one job against a book of documents: pure, no Kafka.

A job is all or nothing. Every action is applied in order; if any is refused (bad input,
unknown document or type, a deleted document or its id created again, a revision conflict,
a drive signal naming a child document type that is not registered) the job fails, the
document is put back as it was and no operation is published: no index is used up. A
model handler that raises is not a refusal: Powerhouse records it as an operation with
`error`, and so do we.

Retries are safe: an action whose id the document has already applied is not applied
again; the job reports the operation it produced the first time.

A *load* job (Powerhouse's `load`, used to import history) carries operations recorded
elsewhere: each is applied as a stored operation would be replayed, under the rules of the
era its recorded timestamp falls in, keeping that timestamp; its index is the next one of
the scope here and its hash is computed here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from reactor_es.document.exceptions import DocumentDeletedError
from reactor_es.document.ids import derive_operation_id
from reactor_es.document.model import DocumentModel, Signal
from reactor_es.document.reducer import (
    BASE_ACTIONS,
    AppliedAction,
    ReducerOptions,
    apply_action,
    replay_operation,
)
from reactor_es.document.state import is_deleted
from reactor_es.document.types import Action, Document, Operation
from reactor_es.errors import ReactorError
from reactor_es.executor.book import DocumentBook, copy_document
from reactor_es.executor.exceptions import RevisionConflictError, UnrecoverableJobError
from reactor_es.executor.signals import COPY_CONTROL, ENSURE_META_KEY, copy_job, follow_up_jobs
from reactor_es.kafka.records import (
    LOAD_META_KEY,
    ActionEnvelope,
    HeaderHint,
    JobEvent,
    JobKind,
    JobStatus,
    OperationRecord,
    OperationRef,
)

__all__ = ["HISTORY_ACTIONS", "JobOutcome", "JobRunner"]

#: Actions that rewrite history (rewind, rebuild): a failed job must put the document back.
HISTORY_ACTIONS = frozenset({"UNDO", "REDO", "PRUNE", "LOAD_STATE", "NOOP"})


@dataclass(frozen=True)
class JobOutcome:
    """What a job did: its operations (new and already applied), or why it failed."""

    job: ActionEnvelope
    #: Where the job's operations are (new ones and those a retry found applied already).
    operations: Sequence[OperationRef] = ()
    #: Records of the operations this run produced, to publish on `operations`.
    records: Sequence[OperationRecord] = ()
    signals: Sequence[Signal] = ()
    error: str | None = None
    #: Jobs this one causes (a drive's child documents), published with its operations.
    follow_ups: Sequence[ActionEnvelope] = ()
    #: The very job again (same job id) after its transaction committed though this worker
    #: could not know it (a commit whose answer was lost, then a rebuild and a replay from a
    #: committed offset Kafka had not yet advanced): its events are already out, so nothing
    #: is published again.
    redelivered: bool = False

    @property
    def status(self) -> JobStatus:
        return JobStatus.FAILED if self.error is not None else JobStatus.WRITE_READY

    def event(self, at_utc_iso: str, source: str) -> JobEvent:
        meta = {"childJobs": [j.job_id for j in self.follow_ups]} if self.follow_ups else None
        return JobEvent(
            job_id=self.job.job_id,
            document_id=self.job.document_id,
            status=self.status,
            at_utc_iso=at_utc_iso,
            source=source,
            operations=self.operations,
            error=self.error,
            meta=meta,
        )


@dataclass
class JobRunner:
    """Applies jobs to the documents of one book."""

    book: DocumentBook
    #: Records carry the JSON of the scope's state after each operation (for projectors and
    #: for a fast restore); turning it off makes records small but restores slower.
    resulting_state: bool = True
    _failures: int = field(default=0, init=False)

    def run(self, job: ActionEnvelope) -> JobOutcome:
        try:
            return self._run(job)
        except ReactorError as exc:
            self._failures += 1
            return JobOutcome(job=job, error=str(exc))

    def _run(self, job: ActionEnvelope) -> JobOutcome:
        registry = self.book.registry
        document = self.book.document(job.document_id)
        existed = document is not None
        meta = job.meta or {}
        ensure = bool(meta.get(ENSURE_META_KEY))
        if meta.get("control") == COPY_CONTROL:
            if document is None:
                raise ReactorError(f"source document {job.document_id} of a copy not found")
            model = registry.get(document.header.document_type)
            return JobOutcome(job=job, follow_ups=[copy_job(job, document, model)])
        if job.kind is JobKind.CREATE:
            if document is not None and is_deleted(document.state) and not self._all_applied(job):
                # A deleted document's id is taken for good (its DELETE_DOCUMENT is the last
                # word of its log), whoever asks: a client, or a drive's ADD_FILE.
                raise DocumentDeletedError(job.document_id, "CREATE_DOCUMENT")
            if document is not None and ensure:
                held_type = document.header.document_type
                if job.document_type and held_type != job.document_type:
                    raise ReactorError(
                        f"document {job.document_id} already exists as a {held_type}, not a "
                        f"{job.document_type}: a drive file cannot take it over"
                    )
                return JobOutcome(job=job)  # the child document exists already: reuse it
            if document is not None and not self._all_applied(job):
                raise ReactorError(f"document {job.document_id} already exists")
            model = registry.get(job.document_type or "")
        else:
            if document is None:
                if ensure:
                    return JobOutcome(job=job)  # nothing to delete
                raise ReactorError(f"document {job.document_id} not found")
            if ensure and is_deleted(document.state):
                return JobOutcome(job=job)
            held_type = document.header.document_type
            if ensure and job.kind is JobKind.DELETE and job.document_type not in (None, held_type):
                # The drive's file named a document it never created (ADD_FILE of an id
                # taken by another type): deleting the node must not delete that document.
                raise ReactorError(
                    f"document {job.document_id} is a {held_type}, not the "
                    f"{job.document_type} file its drive deleted: left in place"
                )
            model = registry.get(document.header.document_type)
        # A retry whose actions all applied already reports them (below): its expected
        # revision was checked when it ran first, and the scope has moved on since.
        retry = document is not None and self._all_applied(job)
        if retry and job.actions and job.job_id in self.book.restored_jobs:
            return JobOutcome(job=job, redelivered=True)
        if job.expected_revision is not None and document is not None and not retry:
            actual = document.header.revision.get(job.scope, 0)
            if actual != job.expected_revision:
                raise RevisionConflictError(
                    job.document_id, job.scope, job.expected_revision, actual
                )

        timestamps = _load_timestamps(job)
        indexes = _load_indexes(job) if timestamps is not None else None
        rewrites = any(a.type in HISTORY_ACTIONS for a in job.actions) or any(job.skips)
        # The reducer edits the document in place. Whatever can refuse the job after an
        # action was applied needs a copy to put back: a later action, a history rewrite,
        # or a signal that cannot be carried out (a child document of an unregistered type,
        # found only once the drive's handler has run). Load jobs raise no signals.
        signalling = model.emits_signals and timestamps is None
        saved = (
            copy_document(document)
            if document is not None and (len(job.actions) > 1 or rewrites or signalling)
            else None
        )
        operations: list[OperationRef] = []
        new: list[Operation] = []
        records: list[OperationRecord] = []
        signals: list[Signal] = []
        try:
            for position, action in enumerate(job.actions):
                existing = self.book.applied(job.document_id, action.id)
                if existing is not None:
                    operations.append(existing.ref())
                    continue
                if timestamps is None or document is None:
                    if timestamps is None:
                        _check_fresh(action, model)
                    skip = job.skip_of(position)
                    options = ReducerOptions(skip=skip) if skip else None
                    next_index = document.next_index(action.scope) if document else 0
                    applied = apply_action(document, action, model, options=options)
                    if applied.operation.index < next_index:
                        raise ReactorError(
                            f"document {job.document_id} scope {action.scope}: {action.type} "
                            f"would reuse index {applied.operation.index} (protocol 1 undo); "
                            "an append-only log cannot store that: use protocol 2 documents"
                        )
                else:
                    applied = _load(
                        document,
                        action,
                        timestamps[position],
                        model,
                        index=indexes[position] if indexes is not None else None,
                        skip=job.skip_of(position),
                    )
                document = applied.document
                operations.append(OperationRef.of(applied.operation))
                new.append(applied.operation)
                signals.extend(applied.signals)
                records.append(self._record(job, document, applied.operation, applied.state_json))
            # Signals become jobs before anything is committed: a signal that cannot be
            # carried out fails the whole job, as the legacy server refused the operation
            # when its child document could not be created, and no index is used up.
            follow_ups: list[ActionEnvelope] = []
            if signals and document is not None and timestamps is None:
                follow_ups = follow_up_jobs(
                    job, document, new[-1], signals, registry.get, before=saved
                )
        except ReactorError as exc:
            if saved is not None:
                self.book.replace(saved)
            elif new and existed:
                raise UnrecoverableJobError(
                    f"job {job.job_id}: {exc}; document {job.document_id} was changed in place "
                    f"and cannot be put back (does model {model.document_type} emit signals "
                    "without declaring emits_signals?)"
                ) from exc
            raise
        if document is not None and new:
            self.book.commit(document, new)
        return JobOutcome(
            job=job,
            operations=operations,
            records=records,
            signals=signals,
            follow_ups=follow_ups,
        )

    def _all_applied(self, job: ActionEnvelope) -> bool:
        return all(self.book.applied(job.document_id, a.id) is not None for a in job.actions)

    def _record(
        self,
        job: ActionEnvelope,
        document: Document,
        operation: Operation,
        state_json: str | None = None,
    ) -> OperationRecord:
        scope = operation.action.scope
        header = document.header
        state_text = None
        if self.resulting_state:
            # The text the reducer hashed is the state's JSON too: no second serialisation.
            state_text = state_json or json.dumps(
                document.state.get(scope), separators=(",", ":"), ensure_ascii=False
            )
        return OperationRecord(
            document_id=document.id,
            document_type=header.document_type,
            job_id=job.job_id,
            operation=operation,
            branch=header.branch,
            resulting_state=state_text,
            header=HeaderHint(
                name=header.name,
                revision=dict(header.revision),
                last_modified_at_utc_iso=header.last_modified_at_utc_iso,
            ),
        )


def _load_timestamps(job: ActionEnvelope) -> list[str] | None:
    spec = (job.meta or {}).get(LOAD_META_KEY)
    if spec is None:
        return None
    stamps = spec.get("timestamps") if isinstance(spec, dict) else None
    if (
        not isinstance(stamps, list)
        or len(stamps) != len(job.actions)
        or not all(isinstance(stamp, str) and stamp for stamp in stamps)
    ):
        raise ReactorError(
            f"load job {job.job_id}: meta.load.timestamps must list one timestamp per action"
        )
    return stamps


def _check_fresh(action: Action, model: DocumentModel) -> None:
    """Refuse a new action the model cannot mean: an unknown type, or a scope its handler
    (or the document) does not have. Any client may publish, so the executor checks what
    the CLI and a client with the model check before publishing. The reducer stays lenient
    (Powerhouse records unknown types as no-ops), so stored and imported history replays."""
    if action.type in BASE_ACTIONS:
        model.check_scope(action)
    else:
        model.check_action(action)


def _load_indexes(job: ActionEnvelope) -> list[int] | None:
    spec = (job.meta or {}).get(LOAD_META_KEY)
    indexes = spec.get("indexes") if isinstance(spec, dict) else None
    if indexes is None:
        return None  # a load job written before indexes travelled: the next index each
    if (
        not isinstance(indexes, list)
        or len(indexes) != len(job.actions)
        or not all(isinstance(index, int) and index >= 0 for index in indexes)
    ):
        raise ReactorError(
            f"load job {job.job_id}: meta.load.indexes must list one index (an integer >= 0) "
            "per action"
        )
    return indexes


def _load(
    document: Document,
    action: Action,
    timestamp: str,
    model: DocumentModel,
    *,
    index: int | None = None,
    skip: int = 0,
) -> AppliedAction:
    """Apply a recorded action as history: its era's rules, its timestamp, its index and
    skip as recorded (gaps and undo markers stay what they were), a fresh hash."""
    scope = action.scope
    next_index = document.next_index(scope)
    if index is None:
        index = next_index
    elif index < next_index:
        raise ReactorError(
            f"document {document.id} scope {scope}: recorded index {index} of {action.type} "
            f"is below the next index {next_index}: a log already holds it"
        )
    operation = Operation.model_construct(
        id=derive_operation_id(document.id, scope, document.header.branch, action.id),
        index=index,
        skip=skip,
        timestamp_utc_ms=timestamp,
        hash="",
        error=None,
        denied_reason=None,
        resulting_state=None,
        action=action,
    )
    return replay_operation(document, operation, model)
