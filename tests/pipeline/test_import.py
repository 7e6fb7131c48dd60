"""Every real Powerhouse export through the real pipeline: every hash must match."""

from __future__ import annotations

from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.phd import read_phd
from reactor_es.document.verify import find_exports
from reactor_es.executor.service import JobExecutor
from reactor_es.importer import import_exports
from tests.corpus import CORPUS_DOCUMENTS, CORPUS_OPERATIONS, require_phd_dir


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
