"""Commands that talk to Kafka: run the services, create, publish, read documents and jobs,
import and export Powerhouse files.

Services (`run`, `executor`, `project`) start the project-local broker when no other broker
is configured; client commands never start one and say how to get one instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reactor_es.cli.runtime import (
    bootstrap_for,
    document_id_arg,
    job_id_arg,
    non_negative_int,
    run_async,
    run_until_signalled,
    seconds,
)
from reactor_es.client import Reactor, check_document_id
from reactor_es.config import Settings
from reactor_es.document.phd import PhdExport, read_phd, write_phd
from reactor_es.document.types import Document
from reactor_es.document.verify import (
    counted,
    error_line,
    find_exports,
    summary_line,
    verify_export,
)
from reactor_es.errors import ClientError, JobTimeoutError, ReactorError
from reactor_es.jobs import JobInfo
from reactor_es.kafka.records import JobStatus
from reactor_es.kafka.topics import TopicNames, ensure_topics
from reactor_es.registry import DocumentModelRegistry, default_registry

__all__ = ["register"]


def register(subparsers: Any) -> None:
    run = subparsers.add_parser(
        "run", help="run the executor and the projectors of the phase in one process"
    )
    run.add_argument(
        "--phase", type=int, choices=(4, 5, 6), default=None, help="default $REACTOR_ES_PHASE"
    )
    run.set_defaults(handler=_run)

    executor = subparsers.add_parser("executor", help="run the JobExecutor only")
    executor.set_defaults(handler=_executor)

    project = subparsers.add_parser("project", help="run one projector")
    project.add_argument("name", choices=("legacy", "jobs", "operations"))
    project.set_defaults(handler=_project)

    create = subparsers.add_parser("create", help="create a document")
    create.add_argument("--type", required=True, dest="document_type", metavar="TYPE")
    create.add_argument(
        "--id", dest="document_id", type=document_id_arg, default=None, help="default: a new UUID"
    )
    create.add_argument("--name", default=None)
    _wait_options(create)
    create.set_defaults(handler=_create)

    publish = subparsers.add_parser(
        "publish",
        help="publish actions (one job per action)",
        description=(
            "Publish one action from options, or JSON lines from FILE or stdin (-): one action "
            'a line, {"document": ID, "type": T, "scope": S, "input": {...}, "skip": N} '
            "(scope and skip optional). "
            "Every line is checked before anything is published."
        ),
    )
    publish.add_argument("file", nargs="?", default=None, help="JSON lines file, or - for stdin")
    publish.add_argument("--document", type=document_id_arg, default=None, metavar="ID")
    publish.add_argument("--type", dest="action_type", default=None, metavar="TYPE")
    publish.add_argument("--scope", default=None)
    publish.add_argument("--input", dest="input_json", default=None, metavar="JSON")
    publish.add_argument(
        "--skip", type=non_negative_int, default=0, help="apply the action with this skip"
    )
    publish.add_argument(
        "--expected-revision",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="fail the job (writing nothing) unless the scope is at revision N",
    )
    _wait_options(publish)
    publish.set_defaults(handler=_publish)

    doc = subparsers.add_parser("doc", help="print a document as Powerhouse-shaped JSON")
    doc.add_argument("document_id", metavar="ID", type=document_id_arg)
    doc.set_defaults(handler=_doc)

    job = subparsers.add_parser("job", help="print a job's status as JSON")
    job.add_argument("job_id", metavar="ID", type=job_id_arg)
    job.set_defaults(handler=_job)

    imp = subparsers.add_parser(
        "import",
        help="import .phd exports through Kafka and compare every hash",
        description=(
            "Verify each export offline with our reducers first (as `reactor-es verify`); one "
            "that does not verify is not published (unless --force). Then publish the rest "
            "through Kafka, read the operations back and compare every recorded hash. Exit "
            "status 1 when a file is refused, fails or differs, or a folder holds no export."
        ),
    )
    imp.add_argument("paths", nargs="+", metavar="PATH")
    imp.add_argument("--timeout", type=seconds, default=120.0, help="seconds per job (default 120)")
    imp.add_argument(
        "--force",
        action="store_true",
        help="publish exports even when their recorded hashes or states do not verify",
    )
    imp.set_defaults(handler=_import)

    export = subparsers.add_parser("export", help="write a document to a .phd file")
    export.add_argument("document_id", metavar="ID", type=document_id_arg)
    export.add_argument("file", metavar="FILE.phd")
    export.set_defaults(handler=_export)


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait until the job is readable (READ_READY) or failed",
    )
    parser.add_argument(
        "--timeout", type=seconds, default=30.0, help="seconds to wait (default 30)"
    )


# -- services ----------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.phase is not None:
        settings = settings.with_(phase=args.phase)
    from projections.service import projector_names_for_phase

    return _serve(settings, executor=True, projectors=projector_names_for_phase(settings.phase))


def _executor(args: argparse.Namespace) -> int:
    return _serve(Settings.from_env(), executor=True, projectors=())


def _project(args: argparse.Namespace) -> int:
    return _serve(Settings.from_env(), executor=False, projectors=(args.name,))


def _serve(settings: Settings, *, executor: bool, projectors: Sequence[str]) -> int:
    bootstrap = bootstrap_for(settings, start_local=True)

    async def main() -> None:
        from reactor_es.executor.service import JobExecutor
        from reactor_es.metrics import start_metrics

        endpoint = start_metrics(settings)
        if endpoint is not None:
            print(f"metrics: {endpoint.url}", flush=True)
        await ensure_topics(bootstrap, settings)
        registry = default_registry()
        services: list[Any] = []
        if executor:
            services.append(JobExecutor(settings, bootstrap, registry=registry))
        if projectors:  # the executor alone needs nothing from `projections`
            from projections.service import build_runners

            services.extend(build_runners(settings, bootstrap, registry, list(projectors)))
        for service in services:
            await service.start()
        names = (["executor"] if executor else []) + list(projectors)

        def announce() -> None:
            print(
                f"reactor-es running on {bootstrap} (phase {settings.phase}, topics "
                f"'{TopicNames.from_settings(settings).actions}'...): {', '.join(names)}",
                flush=True,
            )

        def stop() -> None:
            for service in services:
                service.stop()

        await run_until_signalled(stop, _gather_runs(services), ready=announce)
        print("reactor-es stopped", flush=True)

    run_async(main)
    return 0


async def _gather_runs(services: Iterable[Any]) -> None:
    await asyncio.gather(*(service.run() for service in services))


# -- client commands ---------------------------------------------------------------------------


@dataclass
class _Line:
    number: int
    document_id: str
    action: dict[str, Any]


def _client_settings() -> tuple[Settings, str]:
    settings = Settings.from_env()
    return settings, bootstrap_for(settings, start_local=False)


@contextlib.asynccontextmanager
async def _reactor_session(settings: Settings, bootstrap: str) -> AsyncIterator[Reactor]:
    """A started client with the read stores of the phase; everything closed afterwards."""
    async with _read_stores(settings) as (documents, jobs):
        reactor = Reactor(settings, bootstrap, documents=documents, jobs=jobs)
        try:
            await reactor.start()
            yield reactor
        finally:
            await reactor.close()


@contextlib.asynccontextmanager
async def _read_stores(settings: Settings) -> AsyncIterator[tuple[Any, Any]]:
    """The phase's document reader and job store, both closed afterwards."""
    from projections.service import open_document_reader, open_job_store

    documents, jobs = await open_document_reader(settings), await open_job_store(settings)
    try:
        yield documents, jobs
    finally:
        await documents.close()
        await jobs.close()


def _print_job(info: JobInfo) -> None:
    refs = ", ".join(
        f"{r.scope}[{r.index}]" + (f" error: {r.error}" if r.error else "") for r in info.operations
    )
    text = f"job {info.id} document {info.document_id}: {info.status.value}"
    if refs:
        text += f" ({refs})"
    if info.error:
        text += f": {info.error}"
    print(text, flush=True)


async def _finish(reactor: Reactor, info: JobInfo, args: argparse.Namespace) -> JobInfo:
    """Print the job; with --wait, once it (and the jobs it caused, e.g. a drive's file
    documents) is readable or failed. A failed child fails the whole."""
    if not args.wait:
        _print_job(info)
        return info
    try:
        tree = await reactor.wait_for_jobs_tree(info.id, args.timeout, until=JobStatus.READ_READY)
    except JobTimeoutError as exc:
        raise await _explain_timeout(reactor, info, exc) from None
    _print_job(tree[0])
    for child in tree[1:]:
        print("  caused ", end="")
        _print_job(child)
    failed = next((job for job in tree if job.status is JobStatus.FAILED), None)
    return failed or tree[0]


async def _explain_timeout(reactor: Reactor, info: JobInfo, exc: JobTimeoutError) -> ReactorError:
    """The timeout, and why when the dead-letter topic knows: the document is parked."""
    from reactor_es.cli.executor_commands import parked_letters

    try:
        letters = await parked_letters(
            reactor.settings, reactor.bootstrap_servers, info.document_id
        )
    except ReactorError:  # the cluster went away meanwhile: the timeout is the news
        return exc
    if not letters:
        idle = await _idle_worker(reactor, exc.status)
        return exc if idle is None else ClientError(f"{exc}: {idle}")
    first = letters[0]
    return ClientError(
        f"{exc}: document {info.document_id} is parked (since "
        f"{first.source_topic}[{first.source_partition}]@{first.source_offset}: {first.reason}); "
        f"its jobs wait until `reactor-es unpark {info.document_id}`"
    )


async def _idle_worker(reactor: Reactor, status: str) -> str | None:
    """Who should have moved a job that is still `status`, when no such process runs."""
    from aiokafka.errors import KafkaError

    from projections.service import phase_plan
    from reactor_es.kafka.inspection import KafkaInspector

    settings = reactor.settings
    if status == JobStatus.PENDING.value:
        group, who = settings.executor_group, "no executor is running"
        then = (
            "the job waits on the actions topic and runs when one starts "
            "(`reactor-es run` or `reactor-es executor`): do not publish it again"
        )
    elif status == JobStatus.WRITE_READY.value:
        projector = phase_plan(settings.phase).read_ready_by
        group, who = settings.projector_group(projector), f"no {projector} projector is running"
        then = (
            "its operations are written and become readable when one starts "
            "(`reactor-es run` or `reactor-es project`)"
        )
    else:
        return None
    try:
        async with KafkaInspector(settings, reactor.bootstrap_servers) as kafka:
            members = await asyncio.wait_for(kafka.members(group), timeout=10)
    except (ReactorError, KafkaError, OSError, TimeoutError):
        return None
    if members.active:
        return None
    return f"{who} (consumer group '{group}' has no members); {then}"


def _create(args: argparse.Namespace) -> int:
    settings, bootstrap = _client_settings()
    default_registry().get(args.document_type)  # unknown type: refused before connecting

    async def main() -> int:
        async with _reactor_session(settings, bootstrap) as reactor:
            if args.document_id is not None:
                held = await _held_type(reactor, args.document_id)
                when = await _deleted_at(reactor.documents_store, args.document_id)
                # The executor would fail the job: say it, send nothing.
                problem = (
                    f"already exists (a {held})"
                    if held is not None
                    else f"was deleted at {when}: its id is not used again"
                    if when is not None
                    else None
                )
                if problem is not None:
                    print(
                        f"reactor-es: error: document {args.document_id} {problem}",
                        file=sys.stderr,
                    )
                    return 1
            info = await reactor.create_document(
                args.document_type, args.document_id, name=args.name
            )
            info = await _finish(reactor, info, args)
            if info.status is not JobStatus.FAILED:
                return 0
            if "already exists" in (info.error or ""):
                other_phase = await _other_phase(reactor.settings, reactor.bootstrap_servers)
                if other_phase is not None:
                    print(f"reactor-es: note: {other_phase}", file=sys.stderr)
            return 1

    return run_async(main)


#: The keys of a line of `reactor-es publish FILE`.
_LINE_KEYS = ("document", "type", "scope", "input", "skip")


class _DuplicateKeyError(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are unique: JSON lets the last of two win, silently."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKeyError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _loads(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_unique_keys)


def _parse_lines(text: str, source: str) -> list[_Line]:
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{source} line {number}"
        try:
            item = _loads(raw)
        except json.JSONDecodeError as exc:
            raise ClientError(f"{where}: malformed JSON: {exc.msg} (column {exc.colno})") from None
        except _DuplicateKeyError as exc:
            raise ClientError(f"{where}: {exc} in a JSON object") from None
        if not isinstance(item, dict):
            raise ClientError(f"{where}: expected a JSON object, got {type(item).__name__}")
        unknown = [key for key in item if key not in _LINE_KEYS]
        if unknown:
            raise ClientError(
                f"{where}: unknown key {unknown[0]!r} (a line has {', '.join(_LINE_KEYS)})"
            )
        document_id = item.get("document")
        action_type = item.get("type")
        if not isinstance(document_id, str) or not document_id:
            raise ClientError(f"{where}: 'document' must be a non-empty string")
        if not isinstance(action_type, str) or not action_type:
            raise ClientError(f"{where}: 'type' must be a non-empty string")
        scope = item.get("scope", "global")
        if not isinstance(scope, str) or not scope:
            raise ClientError(f"{where}: 'scope' must be a non-empty string")
        action = {"type": action_type, "scope": scope, "input": item.get("input", {})}
        if "skip" in item:
            skip = item["skip"]
            if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
                raise ClientError(f"{where}: 'skip' must be a whole number of at least 0")
            action["skip"] = skip
        lines.append(_Line(number, document_id, action))
    if not lines:
        raise ClientError(f"{source}: no actions")
    return lines


def _utf8(data: bytes, source: str) -> str:
    """JSON lines as text; bytes that are not UTF-8 are refused naming the line, as any other
    bad line is (decoded leniently, they would reach Kafka as lone surrogates)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        number = data.count(b"\n", 0, exc.start) + 1
        before = data[data.rfind(b"\n", 0, exc.start) + 1 : exc.start].decode("utf-8")
        raise ClientError(
            f"{source} line {number}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at "
            f"column {len(before) + 1})"
        ) from None


def _publish_lines(args: argparse.Namespace) -> tuple[list[_Line], str]:
    if args.file is not None:
        if any(v is not None for v in (args.document, args.action_type, args.input_json)):
            raise ClientError("give either FILE or --document/--type/--input, not both")
        if args.file == "-":
            return _parse_lines(_utf8(sys.stdin.buffer.read(), "stdin"), "stdin"), "stdin"
        path = Path(args.file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ClientError(f"cannot read {path}: {exc.strerror}") from None
        return _parse_lines(_utf8(data, str(path)), str(path)), str(path)
    if args.document is None or args.action_type is None:
        raise ClientError("publish needs --document and --type (or a FILE of JSON lines)")
    try:
        payload = _loads(args.input_json) if args.input_json is not None else {}
    except json.JSONDecodeError as exc:
        raise ClientError(f"--input: malformed JSON: {exc.msg} (column {exc.colno})") from None
    except _DuplicateKeyError as exc:
        raise ClientError(f"--input: {exc} in a JSON object") from None
    action = {"type": args.action_type, "scope": args.scope or "global", "input": payload}
    if args.skip:
        action["skip"] = args.skip
    return [_Line(0, args.document, action)], "options"


def _publish(args: argparse.Namespace) -> int:
    lines, source = _publish_lines(args)
    if args.expected_revision is not None and len(lines) > 1:
        raise ClientError(f"--expected-revision is for one action; {source} has {len(lines)} lines")
    settings, bootstrap = _client_settings()

    async def main() -> int:
        async with _reactor_session(settings, bootstrap) as reactor:
            # Check every line (document known, input valid) before publishing any.
            types: dict[str, str] = {}
            for line in lines:
                where = f"{source} line {line.number}: " if line.number else ""
                if line.document_id not in types:
                    try:
                        check_document_id(line.document_id)
                        types[line.document_id] = await _document_type(reactor, line.document_id)
                    except ReactorError as exc:
                        raise ClientError(f"{where}{exc}") from None
                try:
                    reactor.check_actions(
                        line.document_id, [line.action], document_type=types[line.document_id]
                    )
                except ReactorError as exc:
                    raise ClientError(f"{where}{exc}") from None
            # Publish every line first, then wait: the jobs run side by side, and a timeout
            # can no longer leave the rest of the file unpublished.
            published = [
                await reactor.mutate(
                    line.document_id,
                    [line.action],
                    document_type=types[line.document_id],
                    expected_revision=args.expected_revision,
                )
                for line in lines
            ]
            failed = False
            for position, info in enumerate(published):
                try:
                    info = await _finish(reactor, info, args)
                except ReactorError as exc:
                    if len(published) == 1:
                        raise
                    raise ClientError(
                        f"all {len(published)} jobs were published; waiting for job "
                        f"{position + 1} ({source} line {lines[position].number}): {exc}"
                    ) from None
                failed = failed or info.status is JobStatus.FAILED
            return 1 if failed else 0

    return run_async(main)


async def _deleted_at(documents: Any, document_id: str) -> str | None:
    """When the document was deleted, if the read store says it was (None: it was not)."""
    deletion = await documents.get_deletion(document_id)
    return None if deletion is None else str(deletion.deleted_at)


async def _other_phase(settings: Settings, bootstrap_servers: str | None = None) -> str | None:
    """Why this shell's store may lack what the services wrote: they run another phase
    (phase 6 writes only the operation store). None when they do not, or nobody can tell."""
    from aiokafka.errors import KafkaError

    from reactor_es.status import running_phase

    try:
        bootstrap = bootstrap_servers or bootstrap_for(settings, start_local=False)
        running = await asyncio.wait_for(running_phase(settings, bootstrap), timeout=10)
    except (ReactorError, KafkaError, OSError, TimeoutError):
        return None
    if running is None or running == settings.phase:
        return None
    return (
        f"the running services are in phase {running} and this shell in phase "
        f"{settings.phase}: set REACTOR_ES_PHASE={running} to use their stores"
    )


async def _document_type(reactor: Reactor, document_id: str) -> str:
    """The type of an existing document; a document the read store lacks is refused."""
    try:
        document = await reactor.get_document(document_id)
    except ReactorError as exc:
        when = await _deleted_at(reactor.documents_store, document_id)
        if when is not None:
            raise ClientError(
                f"document {document_id} was deleted at {when}: it takes no more actions"
            ) from None
        other_phase = await _other_phase(reactor.settings, reactor.bootstrap_servers)
        if other_phase is not None:
            raise ClientError(f"{exc} ({other_phase})") from None
        raise ClientError(
            f"{exc} (is `reactor-es run` running and the document created?)"
        ) from None
    return document.header.document_type


async def _held_type(reactor: Reactor, document_id: str) -> str | None:
    """The type of the document the read store holds under this id; None when it holds
    none (or is behind: the executor still refuses a document that exists)."""
    try:
        document = await reactor.get_document(document_id)
    except ReactorError:
        return None
    return document.header.document_type


async def _shown_document(settings: Settings, documents: Any, document_id: str) -> Document:
    """The document to print or export; a deleted one is refused saying when it went."""
    from projections.stores.legacy import DocumentNotFoundError

    try:
        document: Document = await documents.get_document(document_id)
    except DocumentNotFoundError as exc:
        when = await _deleted_at(documents, document_id)
        if when is None:
            other_phase = await _other_phase(settings)
            if other_phase is None:
                raise
            raise ClientError(f"{exc} ({other_phase})") from None
        raise ClientError(f"document {document_id} was deleted at {when} ({exc})") from None
    return document


def _store_missing(what: str, path: Path) -> ClientError:
    return ClientError(
        f"{what}: the store {path} does not exist yet (REACTOR_ES_HOME is {path.parent}: "
        "is it the one `reactor-es run` uses?)"
    )


@contextlib.asynccontextmanager
async def _existing_document_reader(settings: Settings, document_id: str) -> AsyncIterator[Any]:
    """The phase's document reader, for reading only: a store that does not exist yet is
    not created (an empty file would only hide the wrong REACTOR_ES_HOME)."""
    from projections.service import (
        legacy_store_path,
        open_document_reader,
        operation_store_path,
        phase_plan,
    )

    from_operations = phase_plan(settings.phase).documents_from == "operations"
    path = operation_store_path(settings) if from_operations else legacy_store_path(settings)
    if not path.is_file():
        other_phase = await _other_phase(settings)
        if other_phase is not None:
            raise ClientError(
                f"no such document {document_id}: the store {path} does not exist yet "
                f"({other_phase})"
            )
        raise _store_missing(f"no such document {document_id}", path)
    documents = await open_document_reader(settings)
    try:
        yield documents
    finally:
        await documents.close()


def _doc(args: argparse.Namespace) -> int:
    settings = Settings.from_env()

    async def main() -> int:
        async with _existing_document_reader(settings, args.document_id) as documents:
            document = await _shown_document(settings, documents, args.document_id)
        data = document.to_json()
        shaped = {
            "header": data["header"],
            "state": data["state"],
            "operations": data["operations"],
        }
        print(json.dumps(shaped, indent=2, ensure_ascii=False))
        return 0

    return run_async(main)


def _job(args: argparse.Namespace) -> int:
    settings = Settings.from_env()

    async def main() -> int:
        from projections.service import job_store_path, open_job_store

        path = job_store_path(settings)
        if not path.is_file():
            raise _store_missing(f"no such job {args.job_id}", path)
        jobs = await open_job_store(settings)
        try:
            info = await jobs.get_job(args.job_id)
        finally:
            await jobs.close()
        if info is None:
            raise ClientError(f"job {args.job_id} not found")
        print(json.dumps(info.to_json(), indent=2))
        return 0

    return run_async(main)


def _import(args: argparse.Namespace) -> int:
    from reactor_es.cli.domain_commands import refused_empty_folder
    from reactor_es.importer import import_exports

    if refused_empty_folder(args.paths):
        return 1
    settings, bootstrap = _client_settings()
    registry = default_registry()
    exports = []
    refused = 0
    for path in find_exports(args.paths):
        try:
            export = read_phd(path)
        except ReactorError as exc:
            print(error_line(path, str(exc)), flush=True)
            refused += 1
            continue
        problem = _verification_problem(export, registry)
        if problem is not None and not args.force:
            print(error_line(path, problem), flush=True)
            refused += 1
            continue
        exports.append(export)

    async def main() -> int:
        results = []
        if exports:
            async with Reactor(settings, bootstrap) as reactor:
                results = await import_exports(reactor, exports, timeout=args.timeout)
        documents = operations = mismatches = failed = already = 0
        for result in results:
            print(result.line(), flush=True)
            if result.error is not None:  # not (completely) imported: not counted
                failed += 1
                continue
            if result.already:  # the log already holds exactly these operations
                already += 1
                continue
            documents += 1
            operations += result.operations
            mismatches += len(result.mismatches)
        print(
            summary_line(
                "imported",
                documents,
                operations,
                mismatches,
                failed=refused + failed,
                not_done="not imported",
            )
            + (f"; {counted(already, 'document')} already imported, unchanged" if already else "")
        )
        return 1 if refused or failed or mismatches else 0

    return run_async(main)


def _verification_problem(export: PhdExport, registry: DocumentModelRegistry) -> str | None:
    """Why an export does not replay to what it records (first difference), or None."""
    result = verify_export(export, registry)
    if result.error is not None:
        return result.error
    if not result.mismatches:
        return None
    more = len(result.mismatches) - 1
    return (
        f"does not verify: {result.mismatches[0].describe()}"
        + (f" (and {counted(more, 'more mismatch')})" if more else "")
        + "; not imported (--force imports it anyway)"
    )


def _export_target(file: str) -> Path:
    """Where `export` may write: refused before reading anything when it cannot be."""
    path = Path(file)
    if path.is_dir():
        raise ClientError(f"cannot write {path}: it is a folder (give a file name in it)")
    if not path.parent.is_dir():
        raise ClientError(f"cannot write {path}: folder {path.parent} does not exist")
    return path


def _export(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    target = _export_target(args.file)

    async def main() -> int:
        async with _existing_document_reader(settings, args.document_id) as documents:
            document = await _shown_document(settings, documents, args.document_id)
        data = write_phd(document)
        existed = target.exists()
        try:
            target.write_bytes(data)
        except OSError as exc:
            if not existed:
                with contextlib.suppress(OSError):
                    target.unlink()  # a partly written file is no export
            raise ClientError(f"cannot write {target}: {exc.strerror or exc}") from None
        total = sum(len(ops) for ops in document.operations.values())
        print(f"exported {document.id} ({total} operations) to {args.file}")
        return 0

    return run_async(main)
