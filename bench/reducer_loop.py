"""Part (b): the compute ceiling, no Kafka.

- `reducer`: Powerhouse's legacy server loop, action by action: `apply_action` on the
  document held in memory (index, reducer, hash). Nothing is copied or encoded.
- `executor compute`: what the executor does per job apart from Kafka I/O, in the same
  order: decode the envelope, run the job (`JobRunner`: copy on multi-action jobs, reducer,
  resulting-state JSON), encode the operation records and the job event, trim the book.
  The gap between the two is the executor's own overhead; the gap to (c) is Kafka, the
  projectors and the client.

Setup (creating and seeding documents, encoding the envelopes) is not timed. Each is the
best of three rounds: on a shared machine the best round is the one least disturbed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from bench.workload import Workload
from reactor_es.document.actions import create_document_actions
from reactor_es.document.ids import utc_now_iso
from reactor_es.document.reducer import apply_action
from reactor_es.document.types import Document
from reactor_es.executor.book import DocumentBook
from reactor_es.executor.jobs import JobRunner
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.records import ActionEnvelope, JobKind, JobStatus
from reactor_es.registry import DocumentModelRegistry

__all__ = ["LoopResult", "executor_compute", "reducer_loop"]


@dataclass(frozen=True)
class LoopResult:
    name: str
    workload: str
    actions: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.actions / self.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "workload": self.workload,
            "actions": self.actions,
            "seconds": round(self.seconds, 4),
            "actionsPerSecond": round(self.rate, 1),
        }


def _created(workload: Workload, registry: DocumentModelRegistry) -> list[Document]:
    model = registry.get(workload.document_type)
    documents = []
    for document_id, setup in zip(workload.document_ids, workload.setup, strict=True):
        document: Document | None = None
        for action in [*create_document_actions(model, document_id), *setup]:
            document = apply_action(document, action, model).document
        assert document is not None
        documents.append(document)
    return documents


def reducer_loop(
    workload: Workload, registry: DocumentModelRegistry, rounds: int = 3
) -> LoopResult:
    """Every action of the workload through `apply_action`, documents kept in memory;
    the best of `rounds` rounds, each on fresh documents."""
    model = registry.get(workload.document_type)
    best = float("inf")
    for _ in range(rounds):
        documents = _created(workload, registry)
        actions = [(documents[job.document], a) for job in workload.jobs for a in job.actions]
        started = time.perf_counter()
        for document, action in actions:
            apply_action(document, action, model)
        best = min(best, time.perf_counter() - started)
    return LoopResult("reducer", workload.name, workload.actions, best)


def executor_compute(
    workload: Workload, registry: DocumentModelRegistry, rounds: int = 3
) -> LoopResult:
    """The executor's per-job work without Kafka (see the module docstring); best of
    `rounds` rounds, each with a fresh book."""
    return min(
        (_executor_compute(workload, registry) for _ in range(rounds)), key=lambda r: r.seconds
    )


def _executor_compute(workload: Workload, registry: DocumentModelRegistry) -> LoopResult:
    codec = RecordCodec()
    book = DocumentBook(registry)
    runner = JobRunner(book)
    model = registry.get(workload.document_type)
    for document_id, setup in zip(workload.document_ids, workload.setup, strict=True):
        create = ActionEnvelope(
            job_id=f"create-{document_id}",
            document_id=document_id,
            scope="document",
            kind=JobKind.CREATE,
            actions=create_document_actions(model, document_id),
            created_at_utc_iso=utc_now_iso(),
            document_type=workload.document_type,
        )
        runner.run(create)
        if setup:
            runner.run(
                replace(
                    create,
                    job_id=f"seed-{document_id}",
                    scope="global",
                    kind=JobKind.MUTATE,
                    actions=setup,
                )
            )
    values = list(workload.envelopes(codec))
    started = time.perf_counter()
    touched: set[str] = set()
    for value in values:
        job = codec.decode_record(value, ActionEnvelope)
        outcome = runner.run(job)
        for record in outcome.records:
            codec.encode_record(record)
        codec.encode_record(outcome.event(utc_now_iso(), "executor"))
        if outcome.status is not JobStatus.WRITE_READY:
            raise RuntimeError(f"job {job.job_id} failed: {outcome.error}")
        touched.add(job.document_id)
        book.trim_all((job.document_id,))
    seconds = time.perf_counter() - started
    return LoopResult("executor compute", workload.name, workload.actions, seconds)
