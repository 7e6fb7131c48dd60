"""`make bench`: parts (a), (b) and (c) on one broker, in one run; JSON + docs/benchmarks.md.

    .venv/bin/python -m bench.run            # BENCH_SCALE=small (default, a few minutes)
    BENCH_SCALE=full .venv/bin/python -m bench.run

Environment (all optional):

- BENCH_SCALE: small | full;
- BENCH_JOBS: jobs of the client-driven (c) run (the backlog drain gets twice as many);
- BENCH_RAW_RECORDS: records of (a); BENCH_DOCUMENTS; BENCH_PARTITIONS;
- BENCH_LATENCY_SECONDS: per offered load; BENCH_HISTORY: operations the history grows to;
- BENCH_HOME: broker and run data (default $REACTOR_ES_HOME/bench);
- BENCH_EXECUTOR_PRODUCER: experiments only, JSON options for the executor's producers,
  e.g. '{"retry_backoff_ms": 10}' (the report marks such a run as an experiment).

The broker is chosen as everywhere in the project (`select_broker`): KAFKA_BOOTSTRAP_SERVERS,
else a project-local Apache Kafka in BENCH_HOME/broker, started for the run and stopped after.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.latency import summary
from bench.machine import describe_machine, load_average
from bench.pipeline import Pipeline, PipelineConfig
from bench.raw_kafka import raw_pass_through, transaction_round_trips
from bench.reducer_loop import executor_compute, reducer_loop
from bench.report import write_report
from bench.workload import (
    Workload,
    document_model_workload,
    fixture_folder,
    todo_workload,
    toggle_jobs,
)
from reactor_es.config import Settings
from reactor_es.document.verify import find_exports
from reactor_es.kafka.bootstrap import BrokerSelection, describe_selection, select_broker
from reactor_es.kafka.clients import make_admin
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.topics import document_key
from reactor_es.registry import DocumentModelRegistry, default_registry

__all__ = ["Scale", "main"]


@dataclass(frozen=True)
class Scale:
    name: str
    documents: int
    jobs: int
    raw_records: int
    partitions: int
    latency_seconds: float
    history: int
    history_step: int
    profile_jobs: int
    model_documents: int


SCALES = {
    "small": Scale("small", 30, 5000, 20_000, 3, 8.0, 100_000, 20_000, 2000, 34),
    "full": Scale("full", 100, 20_000, 100_000, 3, 20.0, 200_000, 50_000, 10_000, 102),
}


def _scale() -> Scale:
    name = os.environ.get("BENCH_SCALE", "small")
    if name not in SCALES:
        raise SystemExit(f"BENCH_SCALE must be one of {', '.join(SCALES)}, not {name!r}")
    base = SCALES[name]

    def number(variable: str, default: float) -> Any:
        value = os.environ.get(variable)
        return type(default)(value) if value else default

    return Scale(
        name,
        number("BENCH_DOCUMENTS", base.documents),
        number("BENCH_JOBS", base.jobs),
        number("BENCH_RAW_RECORDS", base.raw_records),
        number("BENCH_PARTITIONS", base.partitions),
        number("BENCH_LATENCY_SECONDS", base.latency_seconds),
        number("BENCH_HISTORY", base.history),
        base.history_step,
        min(base.profile_jobs, number("BENCH_JOBS", base.jobs)),
        base.model_documents,
    )


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


def _payload(workload: Workload, count: int, codec: RecordCodec) -> list[tuple[bytes, bytes]]:
    """`count` (key, value) pairs with the exact bytes the client publishes for `workload`."""
    jobs = workload.jobs
    records = []
    for n in range(count):
        job = jobs[n % len(jobs)]
        envelope = workload.envelope(job, client_id="bench")
        records.append((document_key(envelope.document_id), codec.encode_record(envelope)))
    return records


async def _part_a(
    settings: Settings,
    bootstrap: str,
    workloads: list[Workload],
    scale: Scale,
    broker_pid: int | None,
) -> dict[str, Any]:
    codec = RecordCodec()
    found: dict[str, Any] = {}
    for workload in workloads:
        count = scale.raw_records if workload.name == "todo" else max(workload.actions, 10_000)
        say(f"(a) raw aiokafka pass-through, {workload.name} payload, {count} records")
        results = await raw_pass_through(
            settings,
            bootstrap,
            _payload(workload, count, codec),
            name=workload.name,
            broker_pid=broker_pid,
        )
        found[workload.name] = {r.mode: r.to_json() for r in results}
    say("(a) transaction round trips, default retry backoff and 10 ms, interleaved")
    probes: dict[str, list[float]] = {}
    for _ in range(2):
        for label, overrides in (
            ("retry_backoff_ms=100 (default)", {}),
            ("retry_backoff_ms=10", {"retry_backoff_ms": 10}),
        ):
            probes.setdefault(label, []).extend(
                await transaction_round_trips(
                    settings, bootstrap, name="todo", count=60, **overrides
                )
            )
    found["transactionMs"] = {label: summary(values) for label, values in probes.items()}
    return found


def _part_b(workloads: list[Workload]) -> dict[str, Any]:
    registry = default_registry()
    found: dict[str, Any] = {}
    for workload in workloads:
        say(f"(b) in-process reducer loop, {workload.name}, {workload.actions} actions")
        found[workload.name] = {
            "reducer": reducer_loop(workload, registry).to_json(),
            "executorCompute": executor_compute(workload, registry).to_json(),
        }
    return found


async def _part_c(
    pipeline: Pipeline, todo: Workload, model: Workload | None, scale: Scale
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    memory: list[dict[str, Any]] = []

    async def note(phase: str) -> None:
        answer = await pipeline.executor.ask("mem")
        memory.append({"phase": phase, "operations": pipeline.operations, **answer["mem"]})

    say("(c) starting the executor and projector processes")
    await pipeline.start()
    await pipeline.setup(todo)
    await note("setup")
    found["idle"] = await pipeline.idle()
    documents = len(todo.document_ids)
    cursor = 0

    def next_jobs(count: int, per_job: int = 1) -> list[Any]:
        nonlocal cursor
        jobs = toggle_jobs(documents, count, actions_per_job=per_job, start=cursor)
        cursor += count
        return jobs

    say(f"(c) client-driven maximum, {scale.jobs} jobs")
    found["clientDriven"] = await pipeline.client_driven(todo, next_jobs(scale.jobs))
    await note("client-driven")
    say(f"(c) backlog drain, {2 * scale.jobs} jobs, twice")
    drains = [await pipeline.backlog(todo, next_jobs(2 * scale.jobs)) for _ in range(2)]
    found["backlog"] = {
        **max(drains, key=lambda drain: float(drain["actionsPerSecond"])),
        "attemptsActionsPerSecond": [drain["actionsPerSecond"] for drain in drains],
    }
    await note("backlog")
    maximum = found["clientDriven"]["actionsPerSecond"]
    say(f"(c) latency at {pipeline.config.fractions} of {maximum:.0f} actions/s")
    pipeline.toggle_cursor = cursor
    found["latency"] = await pipeline.latency(todo, maximum)
    found["clientOpenLoopProfile"] = pipeline.client_open_loop_profile
    await note("latency")
    if model is not None:
        say(f"(c) document-model workload, {len(model.document_ids)} documents")
        await pipeline.setup(model)
        found["documentModel"] = await pipeline.backlog(model, model.jobs)
        await note("document-model")
    say(f"(c) history growth to {scale.history} operations")
    found["growth"] = await pipeline.grow(todo)
    say(f"(c) profiled run, {scale.profile_jobs} jobs")
    found["profile"] = await pipeline.profiled(
        todo, toggle_jobs(documents, scale.profile_jobs, start=pipeline.toggle_cursor)
    )
    await note("profiled")
    found["memory"] = memory
    say("(c) restore from offset 0 and from snapshots")
    found["restore"] = await pipeline.restore()
    say("(c) replay of the legacy store from offset 0")
    found["replay"] = await pipeline.replay()
    found["operations"] = pipeline.operations
    return found


def _model_workload(registry: DocumentModelRegistry, scale: Scale) -> Workload | None:
    """The document-model workload, or None (said so) without the Powerhouse exports."""
    folder = fixture_folder()
    if folder.is_dir() and any(path.is_file() for path in find_exports([str(folder)])):
        return document_model_workload(registry, scale.model_documents, folder)
    say(f"no Powerhouse exports in {folder}: the document-model workload is skipped")
    return None


def _ratios(results: dict[str, Any]) -> dict[str, Any]:
    a = results["a"]["todo"]
    b = results["b"]["todo"]
    c = results["c"]
    eos = a["exactly once (transactions)"]["recordsPerSecond"]
    alo = a["at least once"]["recordsPerSecond"]
    reducer = b["reducer"]["actionsPerSecond"]
    backlog = c["backlog"]["actionsPerSecond"]
    driven = c["clientDriven"]["actionsPerSecond"]
    return {
        "cOverAExactlyOnce": round(backlog / eos, 3),
        "cOverAAtLeastOnce": round(backlog / alo, 3),
        "cOverB": round(backlog / reducer, 3),
        "clientDrivenOverAExactlyOnce": round(driven / eos, 3),
        "clientDrivenOverB": round(driven / reducer, 3),
    }


async def _delete_topics(settings: Settings, bootstrap: str) -> None:
    admin = make_admin(settings, bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def run(scale: Scale, base: Settings, bench_home: Path, stamp: str) -> dict[str, Any]:
    run_dir = bench_home / "runs" / stamp
    selection: BrokerSelection = await asyncio.to_thread(
        select_broker, base.with_(home=bench_home), start_local=True
    )
    say(describe_selection(selection))
    bootstrap = selection.bootstrap_servers
    settings = base.with_(
        bootstrap_servers=bootstrap,
        home=run_dir,
        topic_prefix=f"bench-{stamp}.",
        partitions=scale.partitions,
    )
    registry = default_registry()
    results: dict[str, Any] = {
        "startedAt": stamp,
        "scale": scale.__dict__,
        "machine": describe_machine(
            selection.broker.version if selection.broker else None, selection.source
        ),
    }
    overrides = json.loads(os.environ.get("BENCH_EXECUTOR_PRODUCER") or "{}")
    if overrides:
        results["experiment"] = {"executorProducerOverrides": overrides}
    todo = todo_workload(scale.documents, scale.jobs)
    model = _model_workload(registry, scale)
    workloads = [todo] if model is None else [todo, model]
    try:
        results["b"] = _part_b(workloads)
        broker_pid = selection.broker.pid if selection.broker else None
        results["a"] = await _part_a(settings, bootstrap, workloads, scale, broker_pid)
        pipeline = Pipeline(
            settings,
            bootstrap,
            run_dir,
            registry,
            PipelineConfig(
                latency_seconds=scale.latency_seconds,
                memory_milestones=tuple(
                    range(scale.history_step, scale.history + 1, scale.history_step)
                ),
                profile_jobs=scale.profile_jobs,
                producer_overrides=overrides,
            ),
            broker_pid=selection.broker.pid if selection.broker else None,
        )
        try:
            results["c"] = await _part_c(pipeline, todo, model, scale)
        finally:
            await pipeline.close()
        results["ratios"] = _ratios(results)
        with contextlib.suppress(Exception):
            await _delete_topics(settings, bootstrap)
    finally:
        if selection.source == "local-started" and selection.broker is not None:
            pid = selection.broker.stop()
            say(f"stopped the Kafka broker this run started (pid {pid})")
    results["machine"]["loadAverageAtEnd"] = [round(x, 2) for x in load_average()]
    results["finishedAt"] = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results["runDir"] = str(run_dir)
    return results


def main() -> int:
    scale = _scale()
    base = Settings.from_env()
    bench_home = Path(os.environ.get("BENCH_HOME") or base.home / "bench").resolve()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    logs = bench_home / "runs" / stamp / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=logs / "bench.log", level=logging.WARNING)
    say(f"scale {scale.name}; run data in {logs.parent}")
    started = time.perf_counter()
    results = asyncio.run(run(scale, base, bench_home, stamp))
    results["seconds"] = round(time.perf_counter() - started, 1)
    paths = write_report(results)
    say(f"done in {results['seconds']:.0f} s: " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
