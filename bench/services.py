"""The services under test, each in a process of its own: `python -m bench.services ROLE CONFIG`.

Roles: `executor` (the JobExecutor), `projectors` (legacy + job-status projectors, phase 4),
`restore` (rebuild every partition's documents as an executor would, from offset 0 or from
the snapshots, then exit) and `replay` (rebuild the legacy store from offset 0 into a fresh
database with `projections.replay`, check it against the live one, then exit). A process
per role keeps the executor's memory its own and lets the services use both cores, as a
deployment with `reactor-es executor` and `reactor-es project` would.

The parent talks to a service with one command per stdin line (`mem`, `stats`, `caught-up`,
`profile-start`, `profile-stop PATH`, `stop`) and reads one JSON object per stdout line;
logs go to the file named in the config.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from bench.instrument import Timings, instrument_executor, instrument_projectors
from bench.memory import sample
from reactor_es.config import Settings
from reactor_es.executor.book import DocumentBook
from reactor_es.executor.restore import RestoreReport, restore_partition
from reactor_es.executor.service import JobExecutor
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.topics import TopicNames
from reactor_es.registry import default_registry

__all__ = ["main"]


def emit(event: str, **fields: Any) -> None:
    print(
        json.dumps({"event": event, "at": time.time(), "mem": sample().to_json(), **fields}),
        flush=True,
    )


def _settings(config: dict[str, Any]) -> Settings:
    return Settings.from_env().with_(
        bootstrap_servers=config["bootstrap"],
        home=Path(config["home"]),
        topic_prefix=config["prefix"],
        partitions=config["partitions"],
        phase=4,
    )


def _restore_json(report: RestoreReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        "partition": report.partition,
        "documents": report.documents,
        "operations": report.operations,
        "snapshots": report.snapshots,
        "startOffset": report.start_offset,
        "endOffset": report.end_offset,
        "seconds": round(report.seconds, 4),
    }


class _Commands:
    """stdin lines as an async iterator (the parent's commands)."""

    async def __aenter__(self) -> _Commands:
        loop = asyncio.get_running_loop()
        self.reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(self.reader), sys.stdin)
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def next(self) -> list[str]:
        line = await self.reader.readline()
        return line.decode().split() or ["stop"]  # EOF: the parent is gone


class _Profiler:
    def __init__(self) -> None:
        self.profile: cProfile.Profile | None = None

    def handle(self, words: list[str]) -> bool:
        if words[0] == "profile-start":
            self.profile = cProfile.Profile(time.thread_time)
            self.profile.enable()
        elif words[0] == "profile-stop" and self.profile is not None:
            self.profile.disable()
            self.profile.dump_stats(words[1])
            self.profile = None
        else:
            return False
        emit(words[0])
        return True


def _override_producers(overrides: dict[str, Any]) -> None:
    """Experiments only: extra options for the executor's transactional producers."""
    from reactor_es.executor import partition
    from reactor_es.kafka.clients import make_producer

    def patched(*args: Any, **kwargs: Any) -> Any:
        return make_producer(*args, **{**kwargs, **overrides})

    setattr(partition, "make_producer", patched)  # noqa: B010 - patched on purpose


def _timings(timings: Timings, words: list[str]) -> bool:
    if words[0] == "timings-reset":
        timings.reset()
        emit(words[0])
    elif words[0] == "timings":
        emit(words[0], timings=timings.to_json())
    else:
        return False
    return True


async def run_executor(config: dict[str, Any]) -> None:
    if config.get("producerOverrides"):
        _override_producers(config["producerOverrides"])
    timings = Timings()
    instrument_executor(timings)
    settings = _settings(config)
    started = time.time()
    executor = JobExecutor(
        settings,
        config["bootstrap"],
        registry=default_registry(),
        max_batch=config.get("maxBatch", 500),
        snapshot_every=config.get("snapshotEvery", 2000),
    )
    await executor.start()
    task = asyncio.create_task(executor.run())
    while not executor.ready():  # finer than wait_ready: the drain timing starts here
        await asyncio.sleep(0.005)
    restores = [_restore_json(w.last_restore) for w in executor.workers.values()]
    emit("ready", startedAt=started, restores=restores)
    profiler = _Profiler()
    async with _Commands() as commands:
        while True:
            words = await commands.next()
            if profiler.handle(words):
                continue
            if words[0] == "stop":
                break
            if _timings(timings, words):
                continue
            if words[0] in ("mem", "stats"):
                workers = list(executor.workers.values())
                emit(
                    words[0],
                    jobs=executor.stats.jobs,
                    documents=sum(len(w.book) for w in workers),
                    checkpoints=sum(w.checkpoints for w in workers),
                    historiesLoaded=sum(w.histories_loaded for w in workers),
                    batchFailures=executor.stats.batch_failures,
                )
    executor.stop()
    await task
    emit("stopped")


async def run_projectors(config: dict[str, Any]) -> None:
    from projections.service import build_runners

    timings = Timings()
    instrument_projectors(timings)
    settings = _settings(config)
    runners: list[Any] = build_runners(
        settings, config["bootstrap"], default_registry(), ["legacy", "jobs"]
    )
    for runner in runners:
        await runner.start()
    tasks = [asyncio.create_task(runner.run()) for runner in runners]
    while not all(runner.assigned for runner in runners):
        await asyncio.sleep(0.05)
    emit("ready")
    profiler = _Profiler()
    async with _Commands() as commands:
        while True:
            words = await commands.next()
            if profiler.handle(words):
                continue
            if words[0] == "stop":
                break
            if _timings(timings, words):
                continue
            if words[0] == "caught-up":
                for runner in runners:
                    await runner.wait_caught_up(timeout=900)
            if words[0] in ("caught-up", "mem", "stats"):
                emit(
                    words[0],
                    records={r.name: r.stats.records for r in runners},
                    failures={r.name: r.stats.failures for r in runners},
                )
    for runner in runners:
        runner.stop()
    await asyncio.gather(*tasks)
    emit("stopped")


async def run_restore(config: dict[str, Any]) -> None:
    """Every partition restored in turn, as a newly assigned executor worker does it."""
    settings = _settings(config)
    topics = TopicNames.from_settings(settings)
    registry = default_registry()
    codec = RecordCodec()
    from_snapshots = config["mode"] == "snapshots"
    reports = []
    for partition in range(settings.partitions):
        book = DocumentBook(registry)
        report = await restore_partition(
            book,
            settings=settings,
            bootstrap_servers=config["bootstrap"],
            operations_topic=topics.operations,
            partition=partition,
            codec=codec,
            snapshots_topic=topics.snapshots if from_snapshots else None,
        )
        reports.append(_restore_json(report))
        del book
    emit("restored", mode=config["mode"], reports=reports)


async def run_replay(config: dict[str, Any]) -> None:
    """The legacy store rebuilt from offset 0 into a fresh file by `projections.replay`,
    then checked against the live store when one is in `home` (the projectors stopped)."""
    from projections.replay import replay_store

    settings = _settings(config)
    started = time.perf_counter()
    report = await replay_store(
        settings,
        config["bootstrap"],
        default_registry(),
        "legacy",
        Path(config["home"]) / f"replayed-legacy-{int(time.time())}.db",
        stream=io.StringIO(),
        tty=False,
    )
    comparison = report.comparison
    emit(
        "replayed",
        operations=report.records,
        seconds=round(report.seconds, 4),
        wallSeconds=round(time.perf_counter() - started, 4),
        verified=None if comparison is None else comparison.equal,
        verification=None if comparison is None else comparison.summary(),
    )


ROLES = {
    "executor": run_executor,
    "projectors": run_projectors,
    "restore": run_restore,
    "replay": run_replay,
}


def main() -> None:
    role, config = sys.argv[1], json.loads(sys.argv[2])
    logging.basicConfig(
        filename=config["log"],
        level=logging.WARNING,
        format=f"%(asctime)s {role} %(levelname)s %(name)s: %(message)s",
    )
    profile = cProfile.Profile(time.thread_time) if config.get("profile") else None
    try:
        if profile is not None:
            profile.enable()
        asyncio.run(ROLES[role](config))
        if profile is not None:
            profile.disable()
            profile.dump_stats(config["profile"])
    except Exception as exc:
        logging.exception("service %s failed", role)
        emit("failed", error=f"{type(exc).__name__}: {exc}")
        raise SystemExit(1) from exc


if __name__ == "__main__":
    main()
