"""`make demo`: the whole job end to end on a real broker, then everything stopped again.

1. A broker: the configured one, or the project-local Apache Kafka (started, then stopped).
2. The services in this process: the JobExecutor and the legacy and job-status projectors,
   on topics of their own (`demo-<time>.`, deleted at the end, also when the demo fails),
   with stores in a temporary folder (removed at the end).
3. A scripted session of `powerhouse/document-model` actions through Kafka, one job each,
   including a refused input and an action that the model records as an error.
4. Checks: the document read back from the legacy store equals the one the pure reducer
   builds from the same actions, operation by operation (index, id, hash); the operations
   topic holds exactly those operations.
5. The real Powerhouse exports (arguments, else the fixture folder if present) imported
   through Kafka with every recorded hash compared.
6. Job latencies (mutate → WRITE_READY and → READ_READY) as seen by the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError

from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.actions import new_action
from reactor_es.document.phd import read_phd
from reactor_es.document.reducer import apply_action
from reactor_es.document.types import Action, Document
from reactor_es.document.verify import counted, error_line, find_exports, summary_line
from reactor_es.errors import ReactorError
from reactor_es.executor.service import JobExecutor
from reactor_es.exports_folder import exports_folder
from reactor_es.importer import import_exports
from reactor_es.kafka.bootstrap import describe_selection, select_broker
from reactor_es.kafka.operations_log import read_operations
from reactor_es.kafka.records import JobStatus
from reactor_es.kafka.topics import TopicNames, delete_topics, ensure_topics
from reactor_es.logs import configure_logging
from reactor_es.registry import default_registry

__all__ = ["main"]

MODEL_TYPE = "powerhouse/document-model"


def session_actions() -> list[Action]:
    """A small document model written the way Powerhouse Studio would write it."""
    m, op1, op2, err = "mod-lines", "op-add-line", "op-remove-line", "err-no-line"
    steps: list[tuple[str, dict[str, Any]]] = [
        ("SET_MODEL_NAME", {"name": "Invoice"}),
        ("SET_MODEL_ID", {"id": "acme/invoice"}),
        ("SET_MODEL_EXTENSION", {"extension": "inv"}),
        ("SET_MODEL_DESCRIPTION", {"description": "Invoices with line items — and €"}),
        ("SET_AUTHOR_NAME", {"authorName": "Acme"}),
        ("SET_AUTHOR_WEBSITE", {"authorWebsite": "https://acme.example"}),
        (
            "SET_STATE_SCHEMA",
            {"scope": "global", "schema": "type InvoiceState { lines: [Line!]! }"},
        ),
        ("SET_INITIAL_STATE", {"scope": "global", "initialValue": '{"lines": []}'}),
        ("ADD_MODULE", {"id": m, "name": "lines", "description": "Line items"}),
        ("ADD_OPERATION", {"id": op1, "moduleId": m, "name": "ADD_LINE", "description": "Add"}),
        ("ADD_OPERATION", {"id": op2, "moduleId": m, "name": "REMOVE_LINE"}),
        ("SET_OPERATION_SCHEMA", {"id": op1, "schema": "input AddLineInput { id: ID! }"}),
        ("ADD_OPERATION_ERROR", {"id": err, "operationId": op2, "errorName": "NoSuchLine"}),
        # Today's rules refuse an unknown module: the operation is recorded with `error`.
        ("SET_MODULE_NAME", {"id": "no-such-module", "name": "x"}),
        ("SET_NAME", {"name": "Invoice model"}),
    ]
    return [new_action(kind, payload) for kind, payload in steps]


def _ms(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"p50 {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
        f"max {ordered[-1] * 1000:.1f} ms"
    )


async def _scripted_session(reactor: Reactor, settings: Settings, bootstrap: str) -> bool:
    print("\n== 1. A document built through Kafka ==")
    registry = reactor.registry
    model = registry.get(MODEL_TYPE)
    created = await reactor.create_document(MODEL_TYPE, name="Invoice model")
    created = await reactor.wait_for_job(created.id, 30, until=JobStatus.READ_READY)
    document_id = created.document_id
    print(f"created {document_id}: {created.status.value}")

    # Refused before anything is sent: the error names the field.
    try:
        await reactor.mutate(document_id, [{"type": "ADD_MODULE", "input": {"id": 7}}])
        print("UNEXPECTED: bad input was accepted")
        return False
    except ReactorError as exc:
        print(f"refused as expected: {exc}")

    write_ready: list[float] = []
    read_ready: list[float] = []
    actions = session_actions()
    for action in actions:
        started = time.perf_counter()
        job = await reactor.mutate(document_id, [action], document_type=MODEL_TYPE)
        info = await reactor.wait_for_job(job.id, 30, until=JobStatus.WRITE_READY)
        write_ready.append(time.perf_counter() - started)
        info = await reactor.wait_for_job(job.id, 30, until=JobStatus.READ_READY)
        read_ready.append(time.perf_counter() - started)
        ref = info.operations[-1]
        print(f"  {action.type:<24} -> {info.status.value:<10} {ref.scope}[{ref.index}] {ref.hash}")

    stored = await reactor.get_document(document_id)
    # The same actions through the pure reducer, no Kafka: every operation must agree.
    offline: Document | None = None
    genesis = [op.action for op in stored.operations["document"]]
    for action in [*genesis, *actions]:
        offline = apply_action(offline, action, model).document
    assert offline is not None
    ok = True
    compared = 0
    for scope, operations in offline.operations.items():
        mine = stored.operations.get(scope, [])
        if [(o.index, o.id, o.hash, o.error) for o in operations] != [
            (o.index, o.id, o.hash, o.error) for o in mine
        ]:
            ok = False
            print(f"MISMATCH in scope {scope}")
        compared += len(operations)
    log = (await read_operations(settings, bootstrap, [document_id]))[document_id]
    on_topic = [(r.scope, r.operation.index, r.operation.hash) for r in log]
    in_store = [(s, o.index, o.hash) for s, ops in stored.operations.items() for o in ops]
    ok = ok and sorted(on_topic) == sorted(in_store) and stored.state == offline.state
    errored = [o for o in stored.operations["global"] if o.error]
    print(
        f"legacy store vs pure reducer: {compared} operations compared, "
        f"{'all equal' if ok else 'DIFFERENT'}; operations topic holds {len(log)} records; "
        f"{len(errored)} operation recorded with an error ({errored[0].error if errored else '-'})"
    )
    print(f"document name {stored.header.name!r}, revision {stored.header.revision}")
    print(f"job latency mutate -> WRITE_READY: {_ms(write_ready)}")
    print(f"job latency mutate -> READ_READY:  {_ms(read_ready)}")
    return ok


async def _import(reactor: Reactor, paths: Sequence[str]) -> bool:
    print("\n== 2. Real Powerhouse exports through Kafka ==")
    exports = []
    unreadable = 0
    for path in find_exports(paths):
        try:
            exports.append(read_phd(path))
        except ReactorError as exc:
            print(error_line(path, str(exc)))
            unreadable += 1
    if not exports:
        print(f"no export found in {', '.join(paths)}")
        return False
    started = time.perf_counter()
    results = await import_exports(reactor, exports, timeout=120)
    seconds = time.perf_counter() - started
    imported = [r for r in results if r.error is None]
    operations = sum(r.operations for r in imported)
    mismatches = sum(len(r.mismatches) for r in imported)
    for result in results:
        if not result.ok:
            print(result.line())
    failed = unreadable + len(results) - len(imported)
    summary = summary_line(
        "imported", len(imported), operations, mismatches, failed=failed, not_done="not imported"
    )
    print(f"{summary} ({seconds:.1f} s, {operations / seconds:.0f} operations/s end to end)")
    return mismatches == 0 and failed == 0


async def run_demo(paths: Sequence[str]) -> bool:
    """Parts 1 and 2 (part 2 only when `paths` names exports); True when all verified."""
    home = Path(tempfile.mkdtemp(prefix="reactor-es-demo-"))
    try:
        return await _run_demo(paths, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)  # the demo's stores: nothing to keep


async def _run_demo(paths: Sequence[str], home: Path) -> bool:
    from projections.service import build_runners, open_document_reader, open_job_store

    base = Settings.from_env()
    selection = await asyncio.to_thread(select_broker, base, start_local=True)
    print(describe_selection(selection))
    settings = base.with_(
        bootstrap_servers=selection.bootstrap_servers,
        home=home,
        topic_prefix=f"demo-{int(time.time())}.",
        partitions=3,
    )
    bootstrap = selection.bootstrap_servers
    services: list[Any] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        await ensure_topics(bootstrap, settings)
        registry = default_registry()
        services = [
            JobExecutor(settings, bootstrap, registry=registry),
            *build_runners(settings, bootstrap, registry, ["legacy", "jobs"]),
        ]
        for service in services:
            await service.start()
        tasks = [asyncio.create_task(service.run()) for service in services]
        print(
            "services: executor, legacy projector, job-status projector; topics "
            f"{settings.topic_prefix}* (deleted at the end); stores in {home} (removed at the end)"
        )
        documents = await open_document_reader(settings)
        jobs = await open_job_store(settings)
        try:
            async with Reactor(settings, bootstrap, documents=documents, jobs=jobs) as reactor:
                ok = await _scripted_session(reactor, settings, bootstrap)
                if paths:
                    ok = await _import(reactor, paths) and ok
        finally:
            await documents.close()
            await jobs.close()
        return ok
    finally:
        for service in services:
            service.stop()
        for task in tasks:
            with contextlib.suppress(Exception):
                await task
        await _delete_topics(settings, bootstrap)
        if selection.source == "local-started" and selection.broker is not None:
            pid = selection.broker.stop()
            print(f"stopped the Kafka broker this demo started (pid {pid})")


async def _delete_topics(settings: Settings, bootstrap: str) -> None:
    """Delete the demo's topics: each run has a prefix of its own, so on the user's broker
    every run would otherwise leave five more behind."""
    prefix = settings.topic_prefix
    try:
        deleted = await delete_topics(bootstrap, settings, TopicNames.from_settings(settings).all())
    except (ReactorError, KafkaError) as exc:
        print(f"could not delete the demo's topics ({prefix}*): {exc}")
        return
    if deleted:
        print(f"deleted the {counted(len(deleted), 'topic')} this demo created ({prefix}*)")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    skipped: str | None = None
    if not args:
        # Part 2 replays the real exports. Without them (neither beside this checkout nor
        # beside the local repository it was cloned from) part 1 still shows the whole
        # pipeline: part 2 is skipped and the last line says so, rather than failing a demo
        # that had nothing to import.
        fixtures = exports_folder()
        if fixtures.is_dir():
            args = [str(fixtures)]
        else:
            skipped = f"no Powerhouse exports at {fixtures}"
    try:
        configure_logging(Settings.from_env().with_(log_level="WARNING"))
        ok = asyncio.run(run_demo(args))
    except ReactorError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        print("\ndemo: FAILED")
        return 2
    if skipped is not None:
        print("\n== 2. Real Powerhouse exports through Kafka ==")
        print(
            f"skipped: {skipped} (set REACTOR_ES_PHD_FIXTURES to a folder of .phd/.zip "
            'exports, or `make demo EXPORTS="a.phd b.zip"`)'
        )
    verdict = "verified" if ok else "FAILED"
    print(f"\ndemo: {verdict}" + (f" (part 2 skipped: {skipped})" if skipped else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
