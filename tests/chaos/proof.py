"""The exactly-once proof: the committed log and job events against the reference.

Checked per document: every action id once, per-scope indexes 0..n-1, every operation
equal to the reference's (index, skip, id, hash, error, timestamp, action), the final state
and its hash; per job: exactly one terminal event (WRITE_READY or FAILED) from the
executor, with the status, error and operation refs the reference predicts.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reactor_es.document.hashing import hash_scope_state
from reactor_es.document.types import Document, Operation
from reactor_es.kafka.records import JobEvent, JobStatus, OperationRecord
from tests.chaos.stream import SCOPE, Reference, StreamPlan

__all__ = ["ChaosReport", "verify_stream"]

EXECUTOR_SOURCE = "executor"
TERMINAL = (JobStatus.WRITE_READY, JobStatus.FAILED)


def _operation_key(operation: Operation) -> tuple[Any, ...]:
    action = operation.action
    return (
        operation.index,
        operation.skip,
        operation.id,
        operation.hash,
        operation.error,
        operation.timestamp_utc_ms,
        action.id,
        action.type,
        json.dumps(action.input, sort_keys=True),
    )


@dataclass
class ChaosReport:
    """What the read-back found: figures for the report, and every problem seen."""

    plan: StreamPlan
    operations: int = 0
    #: Operation records that read_uncommitted sees and read_committed does not: writes of
    #: transactions that were aborted (executors killed mid-transaction).
    aborted_operation_records: int = 0
    terminal_events: int = 0
    jobs_submitted: int = 0
    send_failures: int = 0
    unknown_job_events: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.plan.describe()}; submitted {self.jobs_submitted} jobs "
            f"({self.send_failures} send failures re-sent); committed {self.operations} "
            f"operations, {self.terminal_events} terminal job events; aborted operation "
            f"records hidden from read_committed: {self.aborted_operation_records}; "
            f"problems: {len(self.problems)}"
        )


def verify_stream(
    plan: StreamPlan,
    reference: Reference,
    submitted: dict[str, int],
    records: dict[str, list[OperationRecord]],
    events: Sequence[JobEvent],
    *,
    send_failures: int = 0,
) -> ChaosReport:
    """Check the committed log and job events against the reference (see module docstring)."""
    report = ChaosReport(plan=plan, jobs_submitted=len(submitted), send_failures=send_failures)
    problems = report.problems
    for document_id in plan.documents:
        want = reference.documents[document_id]
        got = records.get(document_id, [])
        report.operations += len(got)
        problems.extend(_check_document(document_id, want, got))
    for ghost in plan.ghosts:
        if records.get(ghost):
            problems.append(f"ghost document {ghost}: {len(records[ghost])} operations written")

    by_job: dict[str, list[JobEvent]] = defaultdict(list)
    for event in events:
        if event.source == EXECUTOR_SOURCE and event.status in TERMINAL:
            by_job[event.job_id].append(event)
            report.terminal_events += 1
    for job_id, number in sorted(submitted.items(), key=lambda item: item[1]):
        job = plan.jobs[number]
        expected = reference.jobs[number]
        outcomes = by_job.get(job_id, [])
        where = f"job #{number} ({job.role.value}, {job.document_id}, id {job_id})"
        if len(outcomes) != 1:
            statuses = [e.status.value for e in outcomes]
            problems.append(f"{where}: {len(outcomes)} terminal events {statuses} (want 1)")
            continue
        outcome = outcomes[0]
        if (outcome.status, outcome.error) != (expected.status, expected.error):
            problems.append(
                f"{where}: ended {outcome.status.value} {outcome.error!r}, want "
                f"{expected.status.value} {expected.error!r}"
            )
        elif tuple(outcome.operations) != expected.refs:
            problems.append(
                f"{where}: reported {list(outcome.operations)}, want {list(expected.refs)}"
            )
    unknown = set(by_job) - set(submitted)
    report.unknown_job_events = len(unknown)
    if unknown and not send_failures:
        problems.append(f"{len(unknown)} terminal events of jobs nobody submitted: {unknown}")
    return report


def _check_document(document_id: str, want: Document, got: list[OperationRecord]) -> Iterable[str]:
    counts = Counter(record.operation.action.id for record in got)
    for action_id, count in sorted(counts.items()):
        if count > 1:
            yield f"document {document_id}: action {action_id} written {count} times"
    expected_ids = {op.action.id for ops in want.operations.values() for op in ops}
    missing = sorted(expected_ids - set(counts))
    if missing:
        yield f"document {document_id}: actions never written: {missing}"
    stray = sorted(set(counts) - expected_ids)
    if stray:
        yield f"document {document_id}: actions written that must not be: {stray}"
    scopes = sorted(set(want.operations) | {record.scope for record in got})
    for scope in scopes:
        mine = [record for record in got if record.scope == scope]
        indexes = [record.operation.index for record in mine]
        if indexes != list(range(len(indexes))):
            yield f"document {document_id} scope {scope}: indexes {indexes} are not 0..n-1"
        theirs = want.operations.get(scope, [])
        keys = [_operation_key(record.operation) for record in mine]
        wanted = [_operation_key(op) for op in theirs]
        if keys != wanted:
            first = next(
                (i for i, pair in enumerate(zip(keys, wanted, strict=False)) if pair[0] != pair[1]),
                min(len(keys), len(wanted)),
            )
            yield (
                f"document {document_id} scope {scope}: {len(keys)} operations, reference "
                f"{len(wanted)}; first difference at position {first}: "
                f"{keys[first] if first < len(keys) else None} vs "
                f"{wanted[first] if first < len(wanted) else None}"
            )
    state = want.state.get(SCOPE)
    last = [record for record in got if record.scope == SCOPE][-1:]
    if not last:
        yield f"document {document_id}: no {SCOPE} operation committed"
        return
    if json.loads(last[0].resulting_state or "null") != state:
        yield f"document {document_id}: final state {last[0].resulting_state} != {state}"
    if last[0].operation.hash != hash_scope_state(state):
        yield (
            f"document {document_id}: final hash {last[0].operation.hash} != reference "
            f"{hash_scope_state(state)}"
        )
