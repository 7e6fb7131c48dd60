"""The job stream: planned from a seed, predicted by a single-process reference, published.

`plan_stream` fixes every job up front (documents of the built-in to-do list model, action
ids, inputs, timestamps; retries, right and wrong expected revisions, unknown documents).
`reference_run` applies the plan in one process with the pure reducer, no Kafka: what the
pipeline must end up holding, and how each job must end. `StreamPublisher` sends the plan
through the Reactor client while the chaos runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from reactor_es.client import Reactor
from reactor_es.document.actions import (
    create_document_action,
    new_action,
    upgrade_document_action,
)
from reactor_es.document.model import DocumentModel
from reactor_es.document.reducer import apply_action
from reactor_es.document.state import backfill_base_state
from reactor_es.document.types import Action, Document
from reactor_es.kafka.records import JobKind, JobStatus, OperationRef
from reactor_es.registry import default_registry

__all__ = [
    "SCOPE",
    "TODO_LIST",
    "Expected",
    "JobRole",
    "PlannedJob",
    "Reference",
    "StreamPlan",
    "StreamPublisher",
    "plan_stream",
    "reference_run",
]

TODO_LIST = "reactor-es/todo-list"
SCOPE = "global"

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class JobRole(enum.Enum):
    CREATE = "create"  # CREATE_DOCUMENT + UPGRADE_DOCUMENT
    MUTATE = "mutate"  # model actions
    CHECKED = "checked"  # model actions, with the right expected revision
    CONFLICT = "conflict"  # a wrong expected revision: fails, writes nothing
    RETRY = "retry"  # an earlier job again, same action ids: reports its operations
    GHOST = "ghost"  # a document that was never created: fails


@dataclass(frozen=True)
class PlannedJob:
    number: int
    document_id: str
    role: JobRole
    kind: JobKind
    actions: tuple[Action, ...]
    #: RETRY: the number of the job repeated.
    repeats: int | None = None
    #: CONFLICT: how far the expected revision is from the actual one.
    revision_offset: int = 0


@dataclass(frozen=True)
class StreamPlan:
    seed: int
    documents: tuple[str, ...]
    ghosts: tuple[str, ...]
    jobs: tuple[PlannedJob, ...]

    def count(self, role: JobRole) -> int:
        return sum(1 for job in self.jobs if job.role is role)

    @property
    def model_actions(self) -> int:
        """Model actions that must be applied (once each): the N of the stream."""
        return sum(
            len(job.actions) for job in self.jobs if job.role in (JobRole.MUTATE, JobRole.CHECKED)
        )

    def describe(self) -> str:
        roles = ", ".join(f"{role.value} {self.count(role)}" for role in JobRole)
        return (
            f"{len(self.documents)} documents, {self.model_actions} model actions, "
            f"{len(self.jobs)} jobs ({roles})"
        )


@dataclass
class _Draft:
    document_id: str
    role: JobRole
    kind: JobKind
    actions: tuple[Action, ...]
    repeats: _Draft | None = None
    revision_offset: int = 0


def plan_stream(
    seed: int,
    *,
    documents: int,
    actions: int,
    ghosts: int = 2,
    retry_rate: float = 0.12,
    checked_rate: float = 0.1,
    conflict_rate: float = 0.04,
) -> StreamPlan:
    """A deterministic stream: `actions` model actions over `documents` to-do lists.

    Per document: the create job, then jobs of 1-3 actions (ADD_TODO `t<k>`, TOGGLE_TODO,
    REMOVE_TODO, and now and then a TOGGLE_TODO of a missing item, which the model records
    as an operation with an error). Retries repeat a job 0-2 jobs later; conflicts and
    ghosts are extra jobs that must fail. Documents interleave at random.
    """
    rng = random.Random(seed)
    clock = itertools.count()
    model = default_registry().get(TODO_LIST)

    def stamp() -> str:
        moment = _EPOCH + timedelta(milliseconds=next(clock))
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    ids = tuple(f"doc-{i:02d}" for i in range(documents))
    queues: dict[str, deque[_Draft]] = {}
    for position, document_id in enumerate(ids):
        share = actions // documents + (1 if position < actions % documents else 0)
        queues[document_id] = deque(
            _document_jobs(
                document_id,
                share,
                rng,
                stamp,
                model,
                retry_rate=retry_rate,
                checked_rate=checked_rate,
                conflict_rate=conflict_rate,
            )
        )
    drafts: list[_Draft] = []
    while queues:
        names = list(queues)
        chosen = rng.choices(names, weights=[len(queues[name]) for name in names])[0]
        drafts.append(queues[chosen].popleft())
        if not queues[chosen]:
            del queues[chosen]
    ghost_ids = tuple(f"ghost-{i}" for i in range(ghosts))
    for number, ghost in enumerate(ghost_ids):
        action = new_action(
            "ADD_TODO",
            {"id": "t0", "text": "nobody home"},
            action_id=f"{ghost}-a{number}",
            timestamp=stamp(),
        )
        at = rng.randrange(len(drafts) + 1)
        drafts.insert(at, _Draft(ghost, JobRole.GHOST, JobKind.MUTATE, (action,)))

    numbers = {id(draft): number for number, draft in enumerate(drafts)}
    jobs = tuple(
        PlannedJob(
            number=number,
            document_id=draft.document_id,
            role=draft.role,
            kind=draft.kind,
            actions=draft.actions,
            repeats=None if draft.repeats is None else numbers[id(draft.repeats)],
            revision_offset=draft.revision_offset,
        )
        for number, draft in enumerate(drafts)
    )
    return StreamPlan(seed=seed, documents=ids, ghosts=ghost_ids, jobs=jobs)


def _document_jobs(
    document_id: str,
    share: int,
    rng: random.Random,
    stamp: Callable[[], str],
    model: DocumentModel,
    *,
    retry_rate: float = 0.12,
    checked_rate: float = 0.1,
    conflict_rate: float = 0.04,
) -> list[_Draft]:
    created_at = stamp()
    create = _Draft(
        document_id,
        JobRole.CREATE,
        JobKind.CREATE,
        (
            create_document_action(
                TODO_LIST,
                document_id,
                name=f"list {document_id}",
                action_id=f"{document_id}-create",
                timestamp=created_at,
            ),
            upgrade_document_action(
                TODO_LIST,
                document_id,
                0,
                model.version,
                backfill_base_state(model.initial_state()),
                action_id=f"{document_id}-upgrade",
                timestamp=created_at,
            ),
        ),
    )
    live: list[str] = []
    made = 0
    model_actions: list[Action] = []
    for k in range(share):
        roll = rng.random()
        if not live or roll < 0.45:
            todo, made = f"t{made}", made + 1
            live.append(todo)
            payload: tuple[str, dict[str, str]] = ("ADD_TODO", {"id": todo, "text": f"item {k}"})
        elif roll < 0.80:
            payload = ("TOGGLE_TODO", {"id": rng.choice(live)})
        elif roll < 0.93:
            payload = ("REMOVE_TODO", {"id": live.pop(rng.randrange(len(live)))})
        else:
            payload = ("TOGGLE_TODO", {"id": "t-missing"})  # an operation with an error
        model_actions.append(
            new_action(
                payload[0], payload[1], action_id=f"{document_id}-a{k:03d}", timestamp=stamp()
            )
        )

    jobs: list[_Draft] = []
    pending: list[list[Any]] = []  # [jobs still to wait, retry]

    def emit(draft: _Draft) -> None:
        jobs.append(draft)
        if draft.role in (JobRole.CREATE, JobRole.MUTATE, JobRole.CHECKED) and (
            rng.random() < retry_rate
        ):
            retry = _Draft(document_id, JobRole.RETRY, draft.kind, draft.actions, repeats=draft)
            pending.append([rng.randrange(3), retry])
        for entry in [entry for entry in pending if entry[0] == 0]:
            jobs.append(entry[1])
            pending.remove(entry)
        for entry in pending:
            entry[0] -= 1

    emit(create)
    position = 0
    conflicts = 0
    while position < len(model_actions):
        if rng.random() < conflict_rate:
            extra = new_action(
                "ADD_TODO",
                {"id": f"x{conflicts}", "text": "must not land"},
                action_id=f"{document_id}-x{conflicts}",
                timestamp=stamp(),
            )
            conflicts += 1
            emit(
                _Draft(
                    document_id,
                    JobRole.CONFLICT,
                    JobKind.MUTATE,
                    (extra,),
                    revision_offset=rng.choice((-2, -1, 1, 3)),
                )
            )
        size = rng.randint(1, 3)
        chunk = tuple(model_actions[position : position + size])
        position += size
        role = JobRole.CHECKED if rng.random() < checked_rate else JobRole.MUTATE
        emit(_Draft(document_id, role, JobKind.MUTATE, chunk))
    jobs.extend(entry[1] for entry in pending)
    return jobs


# -- the single-process reference -------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What a job must end as, and the expected revision it carries (None: no check)."""

    status: JobStatus
    refs: tuple[OperationRef, ...] = ()
    error: str | None = None
    expected_revision: int | None = None


@dataclass
class Reference:
    documents: dict[str, Document]
    jobs: dict[int, Expected]


def reference_run(plan: StreamPlan) -> Reference:
    """Apply the plan in one process with the pure reducer: what Kafka must end up holding."""
    model = default_registry().get(TODO_LIST)
    documents: dict[str, Document] = {}
    jobs: dict[int, Expected] = {}
    for job in plan.jobs:
        document = documents.get(job.document_id)
        if job.role is JobRole.GHOST:
            jobs[job.number] = Expected(
                JobStatus.FAILED, error=f"document {job.document_id} not found"
            )
        elif job.role is JobRole.RETRY:
            assert job.repeats is not None
            jobs[job.number] = replace(jobs[job.repeats], expected_revision=None)
        elif job.role is JobRole.CONFLICT:
            assert document is not None
            actual = document.header.revision.get(SCOPE, 0)
            sent = actual + job.revision_offset
            if sent < 0:
                sent = actual + 1
            jobs[job.number] = Expected(
                JobStatus.FAILED,
                error=(
                    f"revision conflict on document {job.document_id} scope {SCOPE}: the job "
                    f"expected revision {sent}, the document is at revision {actual}"
                ),
                expected_revision=sent,
            )
        else:
            revision = None
            if job.role is JobRole.CHECKED:
                assert document is not None
                revision = document.header.revision.get(SCOPE, 0)
            refs = []
            for action in job.actions:
                applied = apply_action(document, action, model)
                document = applied.document
                refs.append(OperationRef.of(applied.operation))
            assert document is not None
            documents[job.document_id] = document
            jobs[job.number] = Expected(
                JobStatus.WRITE_READY, tuple(refs), expected_revision=revision
            )
    return Reference(documents=documents, jobs=jobs)


# -- publishing ----------------------------------------------------------------------------------


class StreamPublisher:
    """Publishes the plan in order through `Reactor.submit_job`, in bursts, paced and gated.

    Jobs go out in bursts of 1-`burst` back to back (so executors see multi-job batches and
    longer transactions), at `rate` jobs per second on average. While the chaos runs the
    publisher sends at most `allowance` jobs; the chaos widens it after each kill, so every
    restarted executor has new work. `release()` lifts both limits. A submission that
    raises is sent again (same action ids, new job id): the executor must treat it as a
    retry.
    """

    def __init__(
        self,
        reactor: Reactor,
        plan: StreamPlan,
        reference: Reference,
        *,
        rate: float | None = None,
        allowance: int | None = None,
        burst: int = 1,
    ) -> None:
        self.reactor = reactor
        self.plan = plan
        self.reference = reference
        self.rate = rate
        self.allowance = allowance
        self.burst = burst
        #: job id -> plan number, for every job whose submission returned.
        self.submitted: dict[str, int] = {}
        self.published = 0
        self.send_failures: list[str] = []
        self._rng = random.Random(plan.seed)
        self._widened = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def allow(self, more: int) -> None:
        if self.allowance is not None:
            self.allowance += more
            self._widened.set()

    def release(self) -> None:
        self.allowance = None
        self.rate = None
        self._widened.set()

    async def finished(self, timeout: float) -> None:
        assert self._task is not None
        await asyncio.wait_for(asyncio.shield(self._task), timeout)

    async def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def _run(self) -> None:
        burst_left = 0
        for position, job in enumerate(self.plan.jobs):
            while self.allowance is not None and position >= self.allowance:
                self._widened.clear()
                await self._widened.wait()
            if burst_left == 0:
                burst_left = self._rng.randint(1, self.burst)
                if self.rate:
                    await asyncio.sleep(burst_left / self.rate)
            await self._submit(job)
            self.published += 1
            burst_left -= 1

    async def _submit(self, job: PlannedJob) -> None:
        expected = self.reference.jobs[job.number]
        while True:
            try:
                info = await asyncio.wait_for(
                    self.reactor.submit_job(
                        job.document_id,
                        list(job.actions),
                        job.kind,
                        document_type=TODO_LIST if job.kind is JobKind.CREATE else None,
                        expected_revision=expected.expected_revision,
                    ),
                    60,
                )
            except Exception as exc:  # broker away: send again, same action ids
                self.send_failures.append(f"job {job.number}: {exc!r}")
                await asyncio.sleep(0.5)
                continue
            self.submitted[info.id] = job.number
            return
