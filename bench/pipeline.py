"""Part (c): reactor-es end to end, exactly once, on the same broker as (a).

Services run as in a deployment: the JobExecutor in one process, the phase-4 projectors
(legacy storage, job status) in another, the client (`Reactor`) in this one. Every job goes
client → `actions` → executor (one Kafka transaction per poll and partition) →
`operations` + `job-events` → legacy projector (SQLite) → READ_READY on `job-events` →
client. An action counts once its job is READ_READY: committed as an operation and
projected into the legacy store.

Phases, in order, on the same documents:

1. setup: documents created and seeded (not measured);
2. client-driven maximum: every document's jobs sent by one task per document as fast as
   the client can, until the last job of each document is READ_READY;
3. backlog drain, the headline (c) and the counterpart of (a): the executor is stopped,
   the jobs are published, the executor is started again (its restore from snapshots is
   measured too) and drains them; timed from the executor being ready to the last
   READ_READY;
4. latency at fixed offered loads (fractions of the client-driven maximum), open loop;
5. the `powerhouse/document-model` workload, backlog drain;
6. history growth: jobs of many actions on the same documents, executor memory sampled at
   operation-count milestones;
7. a profiled run (cProfile in the executor, the projectors and the client);
8. restore of every partition from offset 0 and from snapshots (separate processes);
9. replay: the legacy store rebuilt from offset 0 into a fresh database
   (`projections.replay.replay_store`), checked against the live store.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cpu import CpuMeter
from bench.latency import open_loop
from bench.processes import ServiceProcess, log_path
from bench.profiling import summarize
from bench.workload import BenchJob, Workload, toggle_jobs
from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.jobs import JobInfo
from reactor_es.kafka.records import JobStatus
from reactor_es.kafka.topics import ensure_topics
from reactor_es.registry import DocumentModelRegistry

__all__ = ["Pipeline", "PipelineConfig"]

WAIT = 900.0
#: Operations a document starts with (CREATE_DOCUMENT, UPGRADE_DOCUMENT).
CREATION_OPERATIONS = 2


@dataclass(frozen=True)
class PipelineConfig:
    fractions: tuple[float, ...] = (0.25, 0.5, 0.75)
    latency_seconds: float = 10.0
    memory_milestones: tuple[int, ...] = (10_000, 50_000)
    grow_actions_per_job: int = 20
    profile_jobs: int = 3000
    max_batch: int = 500
    snapshot_every: int = 2000
    #: Experiments only (BENCH_EXECUTOR_PRODUCER, JSON): options for the executor's producers.
    producer_overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Drained:
    jobs: int
    actions: int
    started: float
    write_ready: float
    read_ready: float
    failed: int

    def to_json(self, **extra: Any) -> dict[str, Any]:
        write = self.write_ready - self.started
        read = self.read_ready - self.started
        return {
            "jobs": self.jobs,
            "actions": self.actions,
            "failed": self.failed,
            "secondsToLastWriteReady": round(write, 3),
            "secondsToLastReadReady": round(read, 3),
            "writeReadyActionsPerSecond": round(self.actions / write, 1),
            "actionsPerSecond": round(self.actions / read, 1),
            **extra,
        }


@dataclass
class Pipeline:
    settings: Settings
    bootstrap: str
    run_dir: Path
    registry: DocumentModelRegistry
    config: PipelineConfig
    broker_pid: int | None = None
    results: dict[str, Any] = field(default_factory=dict)
    operations: int = 0
    _executor: ServiceProcess | None = None
    _projectors: ServiceProcess | None = None
    _reactor: Reactor | None = None
    #: Where the TOGGLE_TODO round robin goes on (any toggle is valid, in any order).
    toggle_cursor: int = 0
    client_open_loop_profile: dict[str, Any] = field(default_factory=dict)

    # -- services ------------------------------------------------------------------------

    def service_config(self, role: str, **extra: Any) -> dict[str, Any]:
        return {
            "bootstrap": self.bootstrap,
            "home": str(self.run_dir),
            "prefix": self.settings.topic_prefix,
            "partitions": self.settings.partitions,
            "log": log_path(self.run_dir / "logs", role),
            "maxBatch": self.config.max_batch,
            "snapshotEvery": self.config.snapshot_every,
            **extra,
        }

    async def start_executor(self) -> dict[str, Any]:
        extra = {"producerOverrides": self.config.producer_overrides}
        self._executor = ServiceProcess("executor", self.service_config("executor", **extra))
        return await self._executor.start()

    async def stop_executor(self) -> dict[str, Any]:
        executor, self._executor = self._executor, None
        return await executor.stop() if executor is not None else {}

    @property
    def executor(self) -> ServiceProcess:
        assert self._executor is not None
        return self._executor

    @property
    def projectors(self) -> ServiceProcess:
        assert self._projectors is not None
        return self._projectors

    @property
    def reactor(self) -> Reactor:
        assert self._reactor is not None
        return self._reactor

    def meter(self) -> CpuMeter:
        pids = {"client": os.getpid()}
        if self._executor is not None:
            pids["executor"] = self._executor.pid
        if self._projectors is not None:
            pids["projectors"] = self._projectors.pid
        if self.broker_pid is not None:
            pids["broker"] = self.broker_pid
        return CpuMeter(pids).start()

    async def close(self) -> None:
        if self._reactor is not None:
            await self._reactor.close()
        for service in (self._executor, self._projectors):
            if service is not None:
                with contextlib.suppress(Exception):
                    await service.stop(timeout=60)
                await service.kill()

    # -- jobs ----------------------------------------------------------------------------

    async def _send_stream(
        self, workload: Workload, jobs: Sequence[BenchJob], times: dict[str, float], wait: bool
    ) -> JobInfo | None:
        """Send one document's jobs in order; with `wait`, then wait for the last one."""
        reactor = self.reactor
        info: JobInfo | None = None
        for job in jobs:
            info = await reactor.mutate(
                workload.document_ids[job.document],
                list(job.actions),
                document_type=workload.document_type,
            )
            times.setdefault("firstSent", time.perf_counter())
        times["lastSent"] = max(times.get("lastSent", 0.0), time.perf_counter())
        if wait and info is not None:
            await self._wait_last(info, times)
        return info

    async def _wait_last(self, info: JobInfo, times: dict[str, float]) -> None:
        reactor = self.reactor
        done = await reactor.wait_for_job(info.id, WAIT, until=JobStatus.WRITE_READY)
        times["writeReady"] = max(times.get("writeReady", 0.0), time.perf_counter())
        if done.status is JobStatus.FAILED:
            times["failed"] = times.get("failed", 0) + 1
            return
        done = await reactor.wait_for_job(info.id, WAIT, until=JobStatus.READ_READY)
        times["readReady"] = max(times.get("readReady", 0.0), time.perf_counter())

    async def send_all(
        self, workload: Workload, jobs: Sequence[BenchJob], *, wait: bool
    ) -> tuple[dict[str, float], list[JobInfo]]:
        """Jobs of every document at once (one task per document, each in order)."""
        streams: dict[int, list[BenchJob]] = {}
        for job in jobs:
            streams.setdefault(job.document, []).append(job)
        times: dict[str, float] = {}
        last = await asyncio.gather(
            *(self._send_stream(workload, stream, times, wait) for stream in streams.values())
        )
        self.operations += sum(len(job.actions) for job in jobs)
        return times, [info for info in last if info is not None]

    async def setup(self, workload: Workload) -> None:
        """Create and seed the workload's documents; wait until they are readable."""
        reactor = self.reactor
        created = await asyncio.gather(
            *(
                reactor.create_document(workload.document_type, document_id)
                for document_id in workload.document_ids
            )
        )
        for info in created:
            await reactor.wait_for_job(info.id, WAIT, until=JobStatus.WRITE_READY)
        self.operations += CREATION_OPERATIONS * len(created)
        seeds = [
            await reactor.mutate(document_id, setup, document_type=workload.document_type)
            for document_id, setup in zip(workload.document_ids, workload.setup, strict=True)
            if setup
        ]
        self.operations += sum(len(setup) for setup in workload.setup)
        for info in [*created, *seeds]:
            done = await reactor.wait_for_job(info.id, WAIT, until=JobStatus.READ_READY)
            if done.status is JobStatus.FAILED:
                raise RuntimeError(f"setup job {info.id} failed: {done.error}")

    # -- phases ----------------------------------------------------------------------------

    async def start(self) -> None:
        await ensure_topics(self.bootstrap, self.settings)
        self._projectors = ServiceProcess("projectors", self.service_config("projectors"))
        await asyncio.gather(self._projectors.start(), self.start_executor())
        self._reactor = Reactor(
            self.settings, self.bootstrap, registry=self.registry, client_id="bench"
        )
        await self._reactor.start()

    async def idle(self, seconds: float = 3.0) -> dict[str, float]:
        """CPU the processes use with nothing to do (polling, timers)."""
        meter = self.meter()
        await asyncio.sleep(seconds)
        return meter.stop()

    async def client_driven(self, workload: Workload, jobs: Sequence[BenchJob]) -> dict[str, Any]:
        meter = self.meter()
        times, _ = await self.send_all(workload, jobs, wait=True)
        cpu = meter.stop()
        drained = _Drained(
            len(jobs),
            sum(len(j.actions) for j in jobs),
            times["firstSent"],
            times["writeReady"],
            times["readReady"],
            int(times.get("failed", 0)),
        )
        return drained.to_json(
            clientSendPerSecond=round(len(jobs) / (times["lastSent"] - times["firstSent"]), 1),
            cpuCoresUsed=cpu,
        )

    async def backlog(self, workload: Workload, jobs: Sequence[BenchJob]) -> dict[str, Any]:
        """Stop the executor, publish the jobs, start it again, time the drain."""
        stopped = await self.stop_executor()
        times, last = await self.send_all(workload, jobs, wait=False)
        published = times["lastSent"] - times["firstSent"]
        waits: dict[str, float] = {}
        waiting = asyncio.gather(*(self._wait_last(info, waits) for info in last))
        launched = time.perf_counter()
        ready = await self.start_executor()
        ready_at = time.perf_counter() - (time.time() - ready["at"])
        meter = self.meter()
        await waiting
        cpu = meter.stop()
        drained = _Drained(
            len(jobs),
            sum(len(j.actions) for j in jobs),
            ready_at,
            waits["writeReady"],
            waits["readReady"],
            int(waits.get("failed", 0)),
        )
        return drained.to_json(
            clientPublishPerSecond=round(len(jobs) / published, 1),
            executorStartSeconds=round(ready_at - launched, 3),
            restoreOnStart=ready["restores"],
            executorMemoryBeforeStop=stopped.get("mem"),
            cpuCoresUsed=cpu,
        )

    async def latency(self, workload: Workload, maximum: float) -> list[dict[str, Any]]:
        runs = []
        documents = len(workload.document_ids)
        for fraction in self.config.fractions:
            rate = maximum * fraction
            cursor = self.toggle_cursor

            def job(i: int, cursor: int = cursor) -> tuple[str, list[Any]]:
                made = toggle_jobs(documents, 1, start=cursor + i)[0]
                return workload.document_ids[made.document], list(made.actions)

            await asyncio.gather(
                self.executor.ask("timings-reset"), self.projectors.ask("timings-reset")
            )
            meter = self.meter()
            run = await open_loop(
                self.reactor,
                rate=rate,
                fraction=fraction,
                duration=self.config.latency_seconds,
                job=job,
                document_type=workload.document_type,
            )
            cpu = meter.stop()
            executor, projectors = await asyncio.gather(
                self.executor.ask("timings"), self.projectors.ask("timings")
            )
            self.toggle_cursor += run.sent
            self.operations += run.sent
            runs.append(
                {
                    **run.to_json(),
                    "cpuCoresUsed": cpu,
                    "timings": {
                        "executor": executor["timings"],
                        "projectors": projectors["timings"],
                    },
                }
            )
            await asyncio.sleep(1.0)
        # The client's own cost while it waits for many jobs at once (not a measurement).
        rate = maximum * self.config.fractions[0]
        cursor = self.toggle_cursor

        def probe_job(i: int) -> tuple[str, list[Any]]:
            made = toggle_jobs(documents, 1, start=cursor + i)[0]
            return workload.document_ids[made.document], list(made.actions)

        profile = cProfile.Profile(time.thread_time)
        profile.enable()
        probe = await open_loop(
            self.reactor,
            rate=rate,
            fraction=self.config.fractions[0],
            duration=4.0,
            job=probe_job,
            document_type=workload.document_type,
        )
        profile.disable()
        self.toggle_cursor += probe.sent
        self.operations += probe.sent
        path = self.run_dir / "profiles" / "client-open-loop.prof"
        path.parent.mkdir(parents=True, exist_ok=True)
        profile.dump_stats(str(path))
        self.client_open_loop_profile = {
            "offeredPerSecond": round(rate, 1),
            "jobs": probe.sent,
            "seconds": round(probe.duration, 3),
            **summarize([str(path)]),
        }
        return runs

    async def grow(self, workload: Workload) -> list[dict[str, Any]]:
        """Add history in jobs of many actions; executor memory at each milestone."""
        per_job = self.config.grow_actions_per_job
        documents = len(workload.document_ids)
        points = [{"operations": self.operations, **(await self.executor.ask("mem"))["mem"]}]
        for target in self.config.memory_milestones:
            need = target - self.operations
            if need <= 0:
                continue
            count = math.ceil(need / per_job)
            jobs = toggle_jobs(documents, count, actions_per_job=per_job, start=self.toggle_cursor)
            self.toggle_cursor += count * per_job
            started = time.perf_counter()
            times, _ = await self.send_all(workload, jobs, wait=True)
            seconds = times["readReady"] - started
            stats = await self.executor.ask("mem")
            points.append(
                {
                    "operations": self.operations,
                    **stats["mem"],
                    "checkpoints": stats["checkpoints"],
                    "actionsPerSecond": round(count * per_job / seconds, 1),
                    "actionsPerJob": per_job,
                }
            )
        return points

    async def profiled(self, workload: Workload, jobs: Sequence[BenchJob]) -> dict[str, Any]:
        folder = self.run_dir / "profiles"
        folder.mkdir(parents=True, exist_ok=True)
        paths = {
            name: str(folder / f"{name}.prof") for name in ("executor", "projectors", "client")
        }
        await self.executor.ask("profile-start")
        await self.projectors.ask("profile-start")
        profile = cProfile.Profile(time.thread_time)
        meter = self.meter()
        profile.enable()
        times, _ = await self.send_all(workload, jobs, wait=True)
        profile.disable()
        cpu = meter.stop()
        profile.dump_stats(paths["client"])
        await self.executor.ask(f"profile-stop {paths['executor']}")
        await self.projectors.ask(f"profile-stop {paths['projectors']}")
        seconds = times["readReady"] - times["firstSent"]
        return {
            "jobs": len(jobs),
            "actionsPerSecondUnderProfiler": round(len(jobs) / seconds, 1),
            "cpuCoresUsed": cpu,
            "files": paths,
            **{name: summarize([path]) for name, path in paths.items()},
        }

    async def restore(self) -> dict[str, Any]:
        """Executor stopped; every partition rebuilt from offset 0, then from snapshots."""
        stopped = await self.stop_executor()
        found: dict[str, Any] = {"executorMemoryBeforeStop": stopped.get("mem")}
        for mode in ("zero", "snapshots"):
            service = ServiceProcess("restore", self.service_config(f"restore-{mode}", mode=mode))
            answer = await service.start(until="restored")
            await service.wait()
            reports = answer["reports"]
            seconds = sum(r["seconds"] for r in reports)
            operations = sum(r["operations"] for r in reports)
            found[mode] = {
                "seconds": round(seconds, 3),
                "operationsRead": operations,
                "documents": sum(r["documents"] for r in reports),
                "snapshotsLoaded": sum(r["snapshots"] for r in reports),
                "peakMemory": answer["mem"],
                "partitions": reports,
            }
        profile = str(self.run_dir / "profiles" / "restore-zero.prof")
        service = ServiceProcess(
            "restore", self.service_config("restore-profiled", mode="zero", profile=profile)
        )
        await service.start(until="restored")
        await service.wait()
        found["profile"] = summarize([profile])
        history = found["zero"]["operationsRead"]
        for mode in ("zero", "snapshots"):
            found[mode]["historyOperations"] = history
            found[mode]["operationsPerSecond"] = round(history / found[mode]["seconds"], 1)
        ready = await self.start_executor()
        found["executorRestart"] = {"restores": ready["restores"], "memory": ready["mem"]}
        await self.stop_executor()
        return found

    async def replay(self) -> dict[str, Any]:
        caught = await self.projectors.ask("caught-up")
        await self.projectors.stop()
        self._projectors = None
        service = ServiceProcess("replay", self.service_config("replay"))
        answer = await service.start(until="replayed")
        await service.wait()
        profile = str(self.run_dir / "profiles" / "replay.prof")
        home = self.run_dir / "replay-profiled"
        home.mkdir(parents=True, exist_ok=True)
        profiled = ServiceProcess(
            "replay", {**self.service_config("replay-profiled", profile=profile), "home": str(home)}
        )
        await profiled.start(until="replayed")
        await profiled.wait()
        return {
            "profile": summarize([profile]),
            "operations": answer["operations"],
            "seconds": answer["seconds"],
            "wallSeconds": answer["wallSeconds"],
            "operationsPerSecond": round(answer["operations"] / answer["seconds"], 1),
            "verified": answer["verified"],
            "verification": answer["verification"],
            "peakMemory": answer["mem"],
            "expectedOperations": self.operations,
            "projectedBeforeStop": caught["records"],
        }
