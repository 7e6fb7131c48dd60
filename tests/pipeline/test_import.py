"""Every real Powerhouse export through the real pipeline: every hash must match, and an
export of the imported document is the original again."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from aiokafka import TopicPartition

from projections.legacy_projector import LEGACY_STORE_FILE
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.actions import create_document_actions
from reactor_es.document.materialize import DocumentStream
from reactor_es.document.phd import PhdExport, read_phd, write_phd
from reactor_es.document.verify import find_exports
from reactor_es.executor.service import JobExecutor
from reactor_es.importer import creation_actions, derived_document_id, import_exports
from reactor_es.kafka.clients import make_consumer
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.operations_log import read_operations
from reactor_es.kafka.records import JobKind, JobStatus, OperationRecord
from reactor_es.kafka.topics import TopicNames
from reactor_es.registry import default_registry
from tests.corpus import (
    APP_MODULE,
    CORPUS_DERIVED,
    CORPUS_DOCUMENTS,
    CORPUS_OPERATIONS,
    require_phd_dir,
)
from tests.pipeline.conftest import cli_env, end_offsets, running_executor
from tests.projections.pipeline import TODO, legacy_runner, make_pipeline_settings
from tests.round_trip import RoundTrip, check_round_trip

REPO_ROOT = Path(__file__).resolve().parents[2]


async def test_every_export_imports_with_every_hash_equal(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor
) -> None:
    exports = [read_phd(path) for path in find_exports([require_phd_dir()])]
    async with Reactor(pipeline_settings, kafka_bootstrap) as reactor:
        results = await import_exports(reactor, exports, timeout=120)
    problems = [r.line() for r in results if not r.ok]
    assert problems == []
    assert len(results) == CORPUS_DOCUMENTS
    assert sum(r.operations for r in results) == CORPUS_OPERATIONS
    assert sum(r.compared for r in results) == CORPUS_OPERATIONS


async def test_every_export_round_trips_through_the_pipeline_and_the_legacy_store(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    """`reactor-es import FILE`, then `export`, then `verify`, for every export: the file
    written from the legacy store verifies and holds the original's operations, ids
    included. Exports of the same document are imported into separate reactors (rounds),
    as a user imports one file, so that each keeps its own document id."""
    registry = default_registry()
    exports = [read_phd(path) for path in find_exports([require_phd_dir()])]
    rounds: list[list[PhdExport]] = []
    taken: list[set[str]] = []
    for export in exports:
        slot = next(
            (
                n
                for n, ids in enumerate(taken)
                if not export.document.id or export.document.id not in ids
            ),
            len(rounds),
        )
        if slot == len(rounds):
            rounds.append([])
            taken.append(set())
        rounds[slot].append(export)
        taken[slot].add(export.document.id)
    assert len(rounds) == 3  # app-module v2, v3 and v4 are one document

    found = RoundTrip()
    for number, batch in enumerate(rounds):
        settings = await make_pipeline_settings(
            kafka_bootstrap, unique_name, tmp_path / f"round-{number}"
        )
        async with (
            running_executor(settings, kafka_bootstrap),
            legacy_runner(settings, kafka_bootstrap) as projector,
            Reactor(settings, kafka_bootstrap) as reactor,
        ):
            results = await import_exports(reactor, batch, timeout=120)
            assert [r.line() for r in results if not r.ok] == []
            await projector.wait_caught_up(timeout=60)
        async with await SqliteLegacyStorage.open(settings.home / LEGACY_STORE_FILE) as store:
            for export, result in zip(batch, results, strict=True):
                assert result.document_id == (export.document.id or result.document_id)
                stored = await store.get_document(result.document_id)
                check_round_trip(export, stored, registry, found)
    assert found.problems == []
    assert (found.documents, found.operations) == (CORPUS_DOCUMENTS, CORPUS_OPERATIONS)
    assert found.replaced_action_ids == 56 + 62 + 2 + 2
    # Operation ids come back as recorded where Powerhouse's reactor wrote them: the four
    # exports with their own CREATE_DOCUMENT and UPGRADE_DOCUMENT (legacy ids were free-form).
    assert found.kept_operation_ids == (2 + 152) + (2 + 122) + (2 + 17) + (2 + 99)


# -- Exports of one document at different times, imported in any order ---------------------

V2 = "powerhouse__b3bc03fc__app-module-v2.phdm.zip"
V3 = "powerhouse__b3aa0145__app-module-v3.phdm.phd"
V4 = "powerhouse__c33750f8__app-module-v4.phdm.phd"
HAS_OTHERS = f"(derived id: document {APP_MODULE} has other operations)"


def corpus_log() -> dict[str, tuple[str, int]]:
    """What the operations topic holds once the whole corpus is imported, in any order:
    document id -> (the export's file, its records: the export's operations, plus the
    CREATE_DOCUMENT and UPGRADE_DOCUMENT made for an export without its own)."""
    out = {}
    for path in find_exports([require_phd_dir()]):
        export = read_phd(path)
        derived = CORPUS_DERIVED.get(path.name)
        document_id = export.document.id if derived is None else derived[0]
        created = 0 if export.document.operations.get("document") else 2
        out[document_id] = (path.name, export.operation_count + created)
    assert len(out) == CORPUS_DOCUMENTS
    return out


async def logged(settings: Settings, bootstrap: str) -> dict[str, int]:
    """Every document of the operations topic (all of it, read directly) and its records."""
    topic = TopicNames.from_settings(settings).operations
    ends = await end_offsets(settings, bootstrap, topic)
    codec = RecordCodec()
    counts: Counter[str] = Counter()
    consumer = make_consumer(settings, bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in ends]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        for tp in tps:
            while await consumer.position(tp) < ends[tp.partition]:
                for message in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                    if message.offset < ends[tp.partition]:
                        record = codec.decode_record(message.value, OperationRecord)
                        counts[record.document_id] += 1
    finally:
        await consumer.stop()
    return dict(counts)


def expected_counts() -> dict[str, int]:
    return {document_id: count for document_id, (_, count) in corpus_log().items()}


class Cli:
    """`reactor-es import`, run as a user runs it, against one system's topics."""

    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if k != "REACTOR_ES_CONFIG"}
        self.env.update(cli_env(settings, bootstrap), REACTOR_ES_LOG_LEVEL="WARNING")

    async def import_(self, *names: str) -> list[str]:
        """Import these corpus files (no name: the folder); its lines, after exit status 0."""
        folder = require_phd_dir()
        paths = [str(folder / name) for name in names] or [str(folder)]
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "reactor_es.cli.main", "import", *paths],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env=self.env,
            timeout=600,
            check=False,
        )
        assert (done.returncode, done.stderr) == (0, "")
        return done.stdout.splitlines()


def line_of(lines: list[str], name: str) -> str:
    """The result line of one corpus file (lines start `ok ID (...) NAME:`; the name is the
    header's, so the line is picked by the id the corpus says the file goes under)."""
    document_id = next(d for d, (file, _) in corpus_log().items() if file == name)
    return next(line for line in lines if line.startswith(f"ok {document_id} "))


async def test_exports_of_one_document_imported_one_by_one_then_together_are_each_there_once(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor
) -> None:
    """The user trial: v4 alone, v2 alone, then the folder; then the folder again."""
    cli = Cli(pipeline_settings, kafka_bootstrap)
    assert await cli.import_(V4) == [
        f"ok {APP_MODULE} app-module-v2: 99 operations, 99 hashes compared, 0 mismatches",
        "imported: 1 document, 99 operations, 0 mismatches",
    ]
    v2 = CORPUS_DERIVED[V2][0]
    assert await cli.import_(V2) == [
        f"ok {v2} {HAS_OTHERS} app-module: 78 operations, 78 hashes compared, 0 mismatches",
        "imported: 1 document, 78 operations, 0 mismatches",
    ]
    lines = await cli.import_()
    assert len(lines) == CORPUS_DOCUMENTS + 1
    assert [line_of(lines, name) for name in (V2, V3, V4)] == [
        f"ok {v2} {HAS_OTHERS} app-module: already imported, 78 operations, "
        "78 hashes compared, 0 mismatches",
        f"ok {CORPUS_DERIVED[V3][0]} {HAS_OTHERS} app-module-v2: 89 operations, "
        "89 hashes compared, 0 mismatches",
        f"ok {APP_MODULE} app-module-v2: already imported, 99 operations, "
        "99 hashes compared, 0 mismatches",
    ]
    assert lines[-1] == (
        "imported: 32 documents, 3003 operations, 0 mismatches; "
        "2 documents already imported, unchanged"
    )
    assert await logged(pipeline_settings, kafka_bootstrap) == expected_counts()

    topics = TopicNames.from_settings(pipeline_settings)
    before = [
        await end_offsets(pipeline_settings, kafka_bootstrap, topic)
        for topic in (topics.operations, topics.actions)
    ]
    again = await cli.import_()
    assert [line.startswith("ok ") and ": already imported, " in line for line in again] == (
        [True] * CORPUS_DOCUMENTS + [False]
    )
    assert again[-1] == (
        "imported: 0 documents, 0 operations, 0 mismatches; "
        "34 documents already imported, unchanged"
    )
    after = [
        await end_offsets(pipeline_settings, kafka_bootstrap, topic)
        for topic in (topics.operations, topics.actions)
    ]
    assert after == before


async def test_the_reversed_order_ends_with_the_same_documents_and_ids(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor
) -> None:
    """The folder first (a fresh system), then v2 alone, then v4 alone."""
    cli = Cli(pipeline_settings, kafka_bootstrap)
    lines = await cli.import_()
    goes_to_v4 = f"(derived id: export id {APP_MODULE} goes to {V4}, with the most operations)"
    assert [line_of(lines, name) for name in (V2, V3, V4)] == [
        f"ok {CORPUS_DERIVED[V2][0]} {goes_to_v4} app-module: 78 operations, "
        "78 hashes compared, 0 mismatches",
        f"ok {CORPUS_DERIVED[V3][0]} {goes_to_v4} app-module-v2: 89 operations, "
        "89 hashes compared, 0 mismatches",
        f"ok {APP_MODULE} app-module-v2: 99 operations, 99 hashes compared, 0 mismatches",
    ]
    assert lines[-1] == "imported: 34 documents, 3180 operations, 0 mismatches"
    assert await cli.import_(V2) == [
        f"ok {CORPUS_DERIVED[V2][0]} {HAS_OTHERS} app-module: already imported, "
        "78 operations, 78 hashes compared, 0 mismatches",
        "imported: 0 documents, 0 operations, 0 mismatches; 1 document already imported, unchanged",
    ]
    assert await cli.import_(V4) == [
        f"ok {APP_MODULE} app-module-v2: already imported, 99 operations, "
        "99 hashes compared, 0 mismatches",
        "imported: 0 documents, 0 operations, 0 mismatches; 1 document already imported, unchanged",
    ]
    assert await logged(pipeline_settings, kafka_bootstrap) == expected_counts()


async def exported(settings: Settings, bootstrap: str, document_id: str, file: Path) -> PhdExport:
    """The document as the log has it now, written to `file` as an export and read back."""
    stream = DocumentStream(model_for=default_registry().get)
    for record in (await read_operations(settings, bootstrap, [document_id]))[document_id]:
        stream.apply(record.streamed())
    document = stream.document(document_id)
    assert document is not None
    file.write_bytes(write_phd(document))
    return read_phd(file)


async def test_an_older_export_of_a_live_document_goes_under_its_derived_id(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor, tmp_path: Path
) -> None:
    """Export a document, add an operation, import the old file: a new document under the
    export's derived id, found there again; the current export is the live document."""
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    add = {"type": "ADD_TODO", "input": {"id": "t1", "text": "milk"}}
    async with Reactor(settings, bootstrap) as reactor:
        for job in (
            await reactor.create_document(TODO, "live-1"),
            await reactor.mutate("live-1", [add]),
        ):
            assert (await reactor.wait_for_job(job.id, 30)).status is JobStatus.WRITE_READY
        old = await exported(settings, bootstrap, "live-1", tmp_path / "old.phd")
        more = {"type": "ADD_TODO", "input": {"id": "t2", "text": "eggs"}}
        job = await reactor.mutate("live-1", [more])
        assert (await reactor.wait_for_job(job.id, 30)).status is JobStatus.WRITE_READY
        derived = derived_document_id(old)
        assert derived not in ("live-1", "")

        first, again = [
            (await import_exports(reactor, [old], timeout=60))[0].line() for _ in range(2)
        ]
        reason = "(derived id: document live-1 has other operations)"
        assert first == f"ok {derived} {reason} -: 3 operations, 3 hashes compared, 0 mismatches"
        assert again == (
            f"ok {derived} {reason} -: already imported, 3 operations, 3 hashes compared, "
            "0 mismatches"
        )
        current = await exported(settings, bootstrap, "live-1", tmp_path / "current.phd")
        assert [r.line() for r in await import_exports(reactor, [current], timeout=60)] == [
            "ok live-1 -: already imported, 4 operations, 4 hashes compared, 0 mismatches"
        ]
        logged = await read_operations(settings, bootstrap, ["live-1", derived])
        assert {
            doc: [(r.scope, r.operation.index) for r in records] for doc, records in logged.items()
        } == {
            "live-1": [("document", 0), ("document", 1), ("global", 0), ("global", 1)],
            derived: [("document", 0), ("document", 1), ("global", 0)],
        }


async def test_an_export_whose_derived_id_is_another_document_is_not_imported(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor, tmp_path: Path
) -> None:
    """Its id and its derived id both hold other operations: refused, nothing written."""
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    model = default_registry().get(TODO)
    async with Reactor(settings, bootstrap) as reactor:
        job = await reactor.create_document(TODO, "live-2")
        assert (await reactor.wait_for_job(job.id, 30)).status is JobStatus.WRITE_READY
        old = await exported(settings, bootstrap, "live-2", tmp_path / "old.phd")
        derived = derived_document_id(old)
        add = {"type": "ADD_TODO", "input": {"id": "t1", "text": "milk"}}
        create = [
            action.model_copy(update={"id": f"other-{n}"})
            for n, action in enumerate(create_document_actions(model, derived))
        ]
        for job in (
            await reactor.mutate("live-2", [add]),
            await reactor.submit_job(derived, create, JobKind.CREATE, document_type=TODO),
        ):
            assert (await reactor.wait_for_job(job.id, 30)).status is JobStatus.WRITE_READY
        topics = TopicNames.from_settings(settings)
        watched = (topics.operations, topics.actions)
        before = [await end_offsets(settings, bootstrap, topic) for topic in watched]
        results = await import_exports(reactor, [old], timeout=60)
        after = [await end_offsets(settings, bootstrap, topic) for topic in watched]
    ours = creation_actions(old, derived, model)[0].id
    assert [r.line() for r in results] == [
        f"ERROR {old.source}: document {derived} (the export's derived id) already exists "
        f"with other operations (scope document index 0: export has CREATE_DOCUMENT {ours}, "
        "the log CREATE_DOCUMENT other-0 at index 0); not imported"
    ]
    assert after == before
