"""The chaos harness: real executor processes, a deterministic job stream, and its proof.

Executors run as OS processes (`reactor-es executor`), each with its own environment,
`REACTOR_ES_HOME` and log file; the harness kills them by pid with SIGKILL and talks to
them only through Kafka. The stream is planned up front from a seed: documents of the
built-in to-do list model and jobs with fixed action ids, inputs and timestamps; some
jobs are repeated on purpose (same action ids: idempotency), some carry the right
expected revision, some a wrong one (they must fail and write nothing), some name a
document that was never created.

The proof compares three things produced independently:

1. the `operations` topic as a read_committed reader sees it,
2. the committed job events,
3. a single-process reference run: the same actions in the same per-document order through
   the pure reducer (`apply_action`), no Kafka at all.

Exactly once holds when every action id appears once per document, per-scope indexes are
0..n-1, every operation equals the reference's (id, index, skip, hash, error, action,
timestamp), final states and hashes are the reference's, and every job has exactly one
terminal event: the one the reference predicts.

The pieces live beside this module: `processes` (executors as OS processes), `stream`
(the plan, the reference run, the publisher), `observe` (committed offsets, open
transactions, reading topics back) and `proof` (the checks). This module ties them into
scenarios: `ChaosRun` and the SIGKILL loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import random
import time
import zlib
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.operations_log import read_operations
from reactor_es.kafka.records import JobEvent
from reactor_es.kafka.topics import TopicNames
from tests.chaos.exceptions import ChaosFailure
from tests.chaos.observe import CommitWatch, OpenTransactions, read_topic
from tests.chaos.processes import ExecutorProcess
from tests.chaos.proof import ChaosReport, verify_stream
from tests.chaos.stream import StreamPlan, StreamPublisher, reference_run

__all__ = [
    "SEED_VARIABLE",
    "ChaosRun",
    "KillMoment",
    "KillPoint",
    "chaos_seed",
    "sigkill_loop",
]

SEED_VARIABLE = "REACTOR_ES_CHAOS_SEED"


def chaos_seed(test_name: str) -> int:
    """The test's seed: derived from its name, or `REACTOR_ES_CHAOS_SEED` to replay one."""
    text = os.environ.get(SEED_VARIABLE, "").strip()
    seed = int(text) if text else zlib.crc32(test_name.encode("utf-8"))
    print(f"[chaos] {test_name}: seed {seed} (replay with {SEED_VARIABLE}={seed})", flush=True)
    return seed


class KillMoment(enum.Enum):
    #: 0-300 ms after a commit was seen: between batches, or inside the next one.
    AFTER_COMMIT = "after-commit"
    #: As soon as a transaction is seen open with operations written: mid-transaction,
    #: unless it commits in the milliseconds before the kill lands (counted after).
    IN_TRANSACTION = "in-transaction"


@dataclass(frozen=True)
class KillPoint:
    number: int
    executor: str
    moment: KillMoment
    #: AFTER_COMMIT: the wait between seeing the commit and the SIGKILL.
    delay_ms: int
    #: Committed offsets (sum over `actions`) when the kill landed.
    committed: int
    #: Operation records of transactions left open by the kill (high watermark - LSO).
    undecided: int
    at: float
    restarted_at: float
    #: Restart of the killed executor → first new commit of the group (None: killed again
    #: before any commit).
    recovery_s: float | None = None


class ChaosRun:
    """One scenario: the plan, its reference, the executors, the client and the timeline."""

    def __init__(self, settings: Settings, bootstrap: str, workdir: Path, plan: StreamPlan) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.workdir = workdir
        self.plan = plan
        self.reference = reference_run(plan)
        self.reactor = Reactor(settings, bootstrap)
        self.watch = CommitWatch(settings, bootstrap)
        self.transactions = OpenTransactions(settings, bootstrap)
        self.executors: list[ExecutorProcess] = []
        self.publisher: StreamPublisher | None = None
        self.timeline: list[str] = []
        self._t0 = time.monotonic()

    async def __aenter__(self) -> ChaosRun:
        await self.reactor.start()
        await self.transactions.start()
        self.watch.start()
        self.note(f"plan: {self.plan.describe()}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        # Each step is bounded: a step that hangs is named in the timeline instead of
        # holding the test until pytest's timeout.
        if self.publisher is not None:
            await self._bounded("cancel the publisher", self.publisher.cancel())
        for executor in self.executors:
            with contextlib.suppress(Exception):
                await self._bounded(f"reap {executor.name}", executor.reap())
        await self._bounded("close the commit watch", self.watch.close())
        await self._bounded("close the transaction probe", self.transactions.close())
        await self._bounded("close the client", self.reactor.close())

    async def _bounded(self, step: str, awaitable: Awaitable[None], timeout: float = 60) -> None:
        try:
            await asyncio.wait_for(awaitable, timeout)
        except TimeoutError:
            self.note(f"teardown: '{step}' did not end within {timeout:g}s; left behind")

    def note(self, text: str) -> None:
        line = f"{time.monotonic() - self._t0:7.2f}s {text}"
        self.timeline.append(line)
        print(f"[chaos] {line}", flush=True)

    def executor(self, name: str) -> ExecutorProcess:
        process = ExecutorProcess(name, self.settings, self.bootstrap, self.workdir)
        self.executors.append(process)
        return process

    async def start_executor(self, executor: ExecutorProcess) -> None:
        await executor.start()
        self.note(f"started {executor.name} #{executor.starts} (pid {executor.pid})")

    def publish(
        self, *, rate: float | None = None, allowance: int | None = None, burst: int = 1
    ) -> StreamPublisher:
        self.publisher = StreamPublisher(
            self.reactor, self.plan, self.reference, rate=rate, allowance=allowance, burst=burst
        )
        self.publisher.start()
        return self.publisher

    async def settled_commits(self) -> int:
        """The committed total once the background poll has caught up with the present."""
        await asyncio.sleep(3 * self.watch.poll)
        return self.watch.latest

    def context(self) -> str:
        """Seed, timeline and every executor's log tail: attached to a failure."""
        parts = [f"seed {self.plan.seed} ({SEED_VARIABLE}={self.plan.seed} replays it)"]
        parts.append("timeline:\n" + "\n".join(self.timeline))
        for executor in self.executors:
            parts.append(
                f"--- {executor.name} ({executor.log_path}, exits {executor.exits}) ---\n"
                + executor.log_tail()
            )
        return "\n".join(parts)

    async def finish(self, timeout: float = 120.0) -> ChaosReport:
        """Let the rest of the stream through, wait for every job's outcome, verify."""
        publisher = self.publisher
        assert publisher is not None
        publisher.release()
        started = time.monotonic()
        await publisher.finished(timeout)
        for job_id in list(publisher.submitted):
            left = max(0.1, timeout - (time.monotonic() - started))
            await self.reactor.wait_for_job(job_id, timeout=left)
        self.note(f"all {len(publisher.submitted)} jobs have an outcome")
        topics = TopicNames.from_settings(self.settings)
        codec = RecordCodec()
        events = [
            codec.decode_record(message.value, JobEvent)
            for message in await read_topic(self.settings, self.bootstrap, topics.job_events)
        ]
        # The outcomes seen say which operations were committed; their records may become
        # readable a moment later (commit markers are written partition by partition).
        reported: dict[str, set[tuple[str, int, str]]] = {}
        for event in events:
            reported.setdefault(event.document_id, set()).update(
                (ref.scope, ref.index, ref.id) for ref in event.operations
            )
        records = await read_operations(
            self.settings,
            self.bootstrap,
            [*self.plan.documents, *self.plan.ghosts],
            expect={document: len(refs) for document, refs in reported.items()},
        )
        everything = await read_topic(
            self.settings, self.bootstrap, topics.operations, isolation_level="read_uncommitted"
        )
        report = verify_stream(
            self.plan,
            self.reference,
            publisher.submitted,
            records,
            events,
            send_failures=len(publisher.send_failures),
        )
        committed = sum(len(ops) for ops in records.values())
        report.aborted_operation_records = len(everything) - committed
        self.note(report.summary())
        return report

    def assert_exactly_once(self, report: ChaosReport) -> None:
        if report.problems:
            shown = "\n".join(report.problems[:40])
            logs = ", ".join(str(executor.log_path) for executor in self.executors)
            raise ChaosFailure(
                f"exactly-once violated: {len(report.problems)} problems\n{shown}\n"
                f"seed {self.plan.seed}; executor logs {logs} (timeline and log tails in "
                "the 'chaos run' section of this report)"
            )


async def sigkill_loop(
    run: ChaosRun,
    targets: Sequence[ExecutorProcess],
    kills: int,
    rng: random.Random,
    *,
    segment: int,
    in_transaction_share: float = 0.5,
    open_timeout: float = 20.0,
    step_timeout: float = 120.0,
) -> list[KillPoint]:
    """SIGKILL `kills` times at random moments while the stream is processed.

    Each round picks a moment (see `KillMoment`), SIGKILLs one running target by pid,
    restarts it at once and lets `segment` more jobs into the stream. Recovery (restart →
    first new commit of the group) is read afterwards from the commit history.
    """
    assert run.publisher is not None
    points: list[KillPoint] = []
    mark = run.watch.latest
    _, since = await run.transactions.offsets()
    counted = dict(since)  # per partition: offsets up to here are accounted for
    for number in range(kills):
        moment = (
            KillMoment.IN_TRANSACTION
            if rng.random() < in_transaction_share
            else KillMoment.AFTER_COMMIT
        )
        delay_ms = rng.randint(0, 300)
        if moment is KillMoment.IN_TRANSACTION and not await run.transactions.wait_open(
            since, open_timeout
        ):
            moment = KillMoment.AFTER_COMMIT  # the stream is idle: kill after a commit then
        if moment is KillMoment.AFTER_COMMIT:
            await run.watch.wait_beyond(mark, step_timeout)
            await asyncio.sleep(delay_ms / 1000)
        else:
            delay_ms = 0
        target = rng.choice([t for t in targets if t.running])
        await target.kill()
        killed_at = time.monotonic()
        stable, since = await run.transactions.offsets()
        # Records past the stable offset that no earlier kill accounted for: the writes of
        # transactions this kill left open.
        undecided = sum(max(0, since[p] - max(stable[p], counted[p])) for p in since)
        counted = {p: max(counted[p], since[p]) for p in since}
        mark = await run.settled_commits()
        run.note(
            f"kill {number + 1}/{kills} {moment.value}: SIGKILL {target.name}"
            + (f" {delay_ms} ms after a commit" if moment is KillMoment.AFTER_COMMIT else "")
            + f" (committed {mark}, open transaction records {undecided}, "
            f"published {run.publisher.published})"
        )
        run.publisher.allow(segment)
        await run.start_executor(target)
        points.append(
            KillPoint(
                number + 1,
                target.name,
                moment,
                delay_ms,
                mark,
                undecided,
                killed_at,
                target.started_at,
            )
        )
    await run.watch.wait_beyond(mark, step_timeout)
    return [_with_recovery(run.watch, point, points) for point in points]


def _with_recovery(watch: CommitWatch, point: KillPoint, points: list[KillPoint]) -> KillPoint:
    later = [p.at for p in points if p.at > point.at]
    first = watch.first_commit_after(point.restarted_at)
    if first is None or (later and first > later[0]):
        return point
    return replace(point, recovery_s=round(first - point.restarted_at, 3))
