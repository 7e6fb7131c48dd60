"""Every real Powerhouse export through the real pipeline: every hash must match, and an
export of the imported document is the original again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from projections.legacy_projector import LEGACY_STORE_FILE
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.phd import PhdExport, read_phd
from reactor_es.document.verify import find_exports
from reactor_es.executor.service import JobExecutor
from reactor_es.importer import import_exports
from reactor_es.registry import default_registry
from tests.corpus import CORPUS_DOCUMENTS, CORPUS_OPERATIONS, require_phd_dir
from tests.pipeline.conftest import running_executor
from tests.projections.pipeline import legacy_runner, make_pipeline_settings
from tests.round_trip import RoundTrip, check_round_trip


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
