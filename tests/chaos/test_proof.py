"""The chaos proof itself, without Kafka: it must see every kind of damage it claims to.

A checker that cannot fail proves nothing, so each test feeds `verify_stream` the log and
events a perfect run would produce (built from the reference), damages them one way, and
asserts the exact problem reported. It also pins the plan: same seed, same stream.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from reactor_es.kafka.records import JobEvent, JobStatus, OperationRecord
from tests.chaos.proof import verify_stream
from tests.chaos.stream import (
    TODO_LIST,
    JobRole,
    Reference,
    StreamPlan,
    plan_stream,
    reference_run,
)

Log = dict[str, list[OperationRecord]]


@pytest.fixture(scope="module")
def plan() -> StreamPlan:
    return plan_stream(7, documents=3, actions=40)


@pytest.fixture(scope="module")
def reference(plan: StreamPlan) -> Reference:
    return reference_run(plan)


def perfect(plan: StreamPlan, reference: Reference) -> tuple[dict[str, int], Log, list[JobEvent]]:
    """What a flawless pipeline commits for the plan: log, job events, submitted jobs."""
    log: Log = {}
    for document_id, document in reference.documents.items():
        records = []
        for operations in document.operations.values():
            for operation in operations:
                records.append(
                    OperationRecord(document_id, TODO_LIST, "job", operation, "main", None)
                )
        last = max(
            (i for i, r in enumerate(records) if r.scope == "global"),
            default=None,
        )
        assert last is not None
        records[last] = replace(records[last], resulting_state=json.dumps(document.state["global"]))
        log[document_id] = records
    submitted = {f"job-{job.number}": job.number for job in plan.jobs}
    events = [
        JobEvent(
            job_id=f"job-{job.number}",
            document_id=job.document_id,
            status=reference.jobs[job.number].status,
            at_utc_iso="2026-01-01T00:00:00.000Z",
            source="executor",
            operations=reference.jobs[job.number].refs,
            error=reference.jobs[job.number].error,
        )
        for job in plan.jobs
    ]
    return submitted, log, events


def test_the_plan_is_the_same_for_the_same_seed(plan: StreamPlan) -> None:
    again = plan_stream(7, documents=3, actions=40)
    assert again == plan
    assert plan_stream(8, documents=3, actions=40) != plan
    assert plan.model_actions == 40
    assert plan.describe() == (
        "3 documents, 40 model actions, 29 jobs (create 3, mutate 17, checked 4, "
        "conflict 0, retry 3, ghost 2)"
    )
    roles = {job.role for job in plan.jobs}
    assert JobRole.RETRY in roles
    assert JobRole.GHOST in roles


def test_a_perfect_log_passes(plan: StreamPlan, reference: Reference) -> None:
    submitted, log, events = perfect(plan, reference)
    report = verify_stream(plan, reference, submitted, log, events)
    assert report.problems == []
    assert report.operations == sum(len(records) for records in log.values())
    assert report.terminal_events == len(plan.jobs)


def test_a_duplicated_operation_is_found(plan: StreamPlan, reference: Reference) -> None:
    submitted, log, events = perfect(plan, reference)
    records = log["doc-00"]
    third = records[2]
    records.insert(3, third)
    report = verify_stream(plan, reference, submitted, log, events)
    action = third.operation.action.id
    assert report.problems[0] == f"document doc-00: action {action} written 2 times"
    assert report.problems[1].startswith("document doc-00 scope global: indexes [0, 0, 1, 2,")


def test_a_lost_operation_is_found(plan: StreamPlan, reference: Reference) -> None:
    submitted, log, events = perfect(plan, reference)
    lost = log["doc-01"].pop(4)
    report = verify_stream(plan, reference, submitted, log, events)
    assert report.problems[0] == (
        f"document doc-01: actions never written: ['{lost.operation.action.id}']"
    )
    assert any("first difference at position 2" in problem for problem in report.problems)


def test_a_different_hash_is_found(plan: StreamPlan, reference: Reference) -> None:
    submitted, log, events = perfect(plan, reference)
    records = log["doc-02"]
    records[-1] = replace(
        records[-1], operation=records[-1].operation.model_copy(update={"hash": "forged="})
    )
    report = verify_stream(plan, reference, submitted, log, events)
    assert len(report.problems) == 2
    assert "first difference at position" in report.problems[0]
    assert report.problems[1].startswith("document doc-02: final hash forged= != reference ")


def test_lost_and_doubled_job_outcomes_are_found(plan: StreamPlan, reference: Reference) -> None:
    submitted, log, events = perfect(plan, reference)
    lost, doubled = events[5], events[9]
    events = [e for e in events if e is not lost] + [doubled]
    report = verify_stream(plan, reference, submitted, log, events)
    first, second = plan.jobs[5], plan.jobs[9]
    assert report.problems == [
        f"job #5 ({first.role.value}, {first.document_id}, id job-5): 0 terminal events [] "
        "(want 1)",
        f"job #9 ({second.role.value}, {second.document_id}, id job-9): 2 terminal events "
        f"['{doubled.status.value}', '{doubled.status.value}'] (want 1)",
    ]


def test_a_wrong_outcome_is_found(plan: StreamPlan, reference: Reference) -> None:
    submitted, log, events = perfect(plan, reference)
    ghost = next(job for job in plan.jobs if job.role is JobRole.GHOST)
    events[ghost.number] = replace(events[ghost.number], status=JobStatus.WRITE_READY, error=None)
    report = verify_stream(plan, reference, submitted, log, events)
    assert report.problems == [
        f"job #{ghost.number} (ghost, {ghost.document_id}, id job-{ghost.number}): ended "
        f"WRITE_READY None, want FAILED 'document {ghost.document_id} not found'"
    ]
