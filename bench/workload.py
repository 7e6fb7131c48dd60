"""The actions every part of the benchmark runs: the same jobs for (a), (b) and (c).

Two workloads:

- `todo`: `reactor-es/todo-list` documents seeded with a fixed number of items, then
  TOGGLE_TODO on them round robin. The state keeps its size while the history grows, so
  memory measured over a long run shows what history costs, not what state costs.
- `document-model`: `powerhouse/document-model` documents, each replaying the global-scope
  action stream of one real Powerhouse export (fresh ids and timestamps, inputs as
  recorded; inputs today's rules refuse are left out). States are kilobytes of schema text.

Jobs carry one action each unless asked otherwise; actions of one document keep their order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reactor_es.document.actions import new_action
from reactor_es.document.ids import new_id
from reactor_es.document.phd import read_phd
from reactor_es.document.reducer import BASE_ACTIONS
from reactor_es.document.types import Action
from reactor_es.document.verify import find_exports
from reactor_es.errors import ReactorError
from reactor_es.exports_folder import exports_folder
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.records import ActionEnvelope, JobKind
from reactor_es.registry import DocumentModelRegistry

__all__ = [
    "DOCUMENT_MODEL",
    "TODO",
    "BenchJob",
    "Workload",
    "document_model_workload",
    "fixture_folder",
    "todo_workload",
]

TODO = "reactor-es/todo-list"
DOCUMENT_MODEL = "powerhouse/document-model"
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class BenchJob:
    """One job: actions for the document at `document` (an index into the workload)."""

    document: int
    actions: tuple[Action, ...]


@dataclass
class Workload:
    """Documents (by index), the actions that prepare them, and the measured jobs."""

    name: str
    document_type: str
    document_ids: list[str]
    #: Actions applied before anything is measured (one job per document).
    setup: list[list[Action]]
    jobs: list[BenchJob] = field(default_factory=list)

    @property
    def actions(self) -> int:
        return sum(len(job.actions) for job in self.jobs)

    def by_document(self) -> list[list[BenchJob]]:
        """The jobs of each document, in order (what one submitting task sends)."""
        streams: list[list[BenchJob]] = [[] for _ in self.document_ids]
        for job in self.jobs:
            streams[job.document].append(job)
        return streams

    def envelopes(self, codec: RecordCodec, client_id: str = "bench") -> Iterator[bytes]:
        """Each job encoded as the client would put it on `actions`."""
        for job in self.jobs:
            yield codec.encode_record(self.envelope(job, client_id))

    def envelope(self, job: BenchJob, client_id: str = "bench") -> ActionEnvelope:
        return ActionEnvelope(
            job_id=new_id(),
            document_id=self.document_ids[job.document],
            scope=job.actions[0].scope,
            kind=JobKind.MUTATE,
            actions=list(job.actions),
            created_at_utc_iso=job.actions[0].timestamp_utc_ms,
            document_type=self.document_type,
            client_id=client_id,
        )


def todo_workload(
    documents: int, jobs: int, *, items: int = 20, actions_per_job: int = 1, start: int = 0
) -> Workload:
    """`jobs` jobs of TOGGLE_TODO spread round robin over `documents` seeded lists.

    `start` shifts the round robin, so later batches of jobs continue where one stopped.
    """
    ids = [new_id() for _ in range(documents)]
    setup = [
        [
            new_action("ADD_TODO", {"id": f"item-{i:02d}", "text": f"Task number {i}"})
            for i in range(items)
        ]
        for _ in ids
    ]
    workload = Workload("todo", TODO, ids, setup)
    workload.jobs = toggle_jobs(
        documents, jobs, items=items, actions_per_job=actions_per_job, start=start
    )
    return workload


def toggle_jobs(
    documents: int, jobs: int, *, items: int = 20, actions_per_job: int = 1, start: int = 0
) -> list[BenchJob]:
    made = []
    for n in range(start, start + jobs):
        document, round_ = n % documents, n // documents
        actions = tuple(
            new_action("TOGGLE_TODO", {"id": f"item-{(round_ * actions_per_job + k) % items:02d}"})
            for k in range(actions_per_job)
        )
        made.append(BenchJob(document, actions))
    return made


def fixture_folder() -> Path:
    """The Powerhouse exports (`REACTOR_ES_PHD_FIXTURES`, relative to the repository root)."""
    return exports_folder()


def _fixture_streams(registry: DocumentModelRegistry, folder: Path) -> list[list[Action]]:
    model = registry.get(DOCUMENT_MODEL)
    rules = model.rules_at(None)
    streams = []
    for path in find_exports([str(folder)]):
        document = read_phd(path).document
        stream: list[Action] = []
        for operation in document.operations.get("global", []):
            action = operation.action
            if action.type in BASE_ACTIONS:
                continue
            fresh = new_action(action.type, action.input, action.scope)
            try:
                model.validate_input(fresh, rules)
            except ReactorError:
                continue
            stream.append(fresh)
        if stream:
            streams.append(stream)
    return streams


def document_model_workload(
    registry: DocumentModelRegistry, documents: int, folder: Path | None = None
) -> Workload:
    """`documents` document models, document i replaying export i (round robin)."""
    streams = _fixture_streams(registry, folder or fixture_folder())
    if not streams:
        raise ReactorError(f"no Powerhouse exports with global actions in {folder}")
    ids = [new_id() for _ in range(documents)]
    workload = Workload("document-model", DOCUMENT_MODEL, ids, [[] for _ in ids])
    for index in range(documents):
        for action in streams[index % len(streams)]:
            copy = new_action(action.type, action.input, action.scope)
            workload.jobs.append(BenchJob(index, (copy,)))
    return workload


def envelope_sizes(workload: Workload, codec: RecordCodec) -> Sequence[int]:
    return [len(data) for data in workload.envelopes(codec)]
