"""The oracle: every real Powerhouse export replays with every hash equal.

The counts are asserted, so this cannot pass by skipping a file or an operation.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from reactor_es.document.phd import read_phd
from reactor_es.document.reducer import ReducerOptions, replay_document
from reactor_es.document.verify import verify_paths
from reactor_es.registry import DocumentModelRegistry

from .conftest import CORPUS_DOCUMENTS, CORPUS_OPERATIONS


def test_every_export_replays_with_every_hash_equal(
    phd_dir: Path, registry: DocumentModelRegistry
) -> None:
    results = list(verify_paths([phd_dir], registry))

    assert [r.error for r in results if r.error] == []
    assert [(r.source, m.describe()) for r in results for m in r.mismatches] == []
    assert len(results) == CORPUS_DOCUMENTS
    assert sum(r.operations for r in results) == CORPUS_OPERATIONS
    # No operation of the corpus has an empty hash, so every one was compared.
    assert sum(r.compared for r in results) == CORPUS_OPERATIONS
    assert sum(r.unhashed for r in results) == 0
    assert Counter(r.document_type for r in results) == {
        "powerhouse/document-model": CORPUS_DOCUMENTS
    }


def test_restoring_with_stored_hashes_reaches_the_exported_state(
    phd_files: list[Path], registry: DocumentModelRegistry
) -> None:
    restored = 0
    for path in phd_files:
        export = read_phd(path)
        model = registry.get(export.document.document_type)
        document = replay_document(
            export.document, model, options=ReducerOptions(check_final_hashes=True)
        )
        assert document.operations == export.document.operations, path.name
        if export.current_state is not None:
            assert document.state == export.current_state, path.name
            restored += 1
    # Two 2023/2024 exports carry no current-state.json.
    assert restored == CORPUS_DOCUMENTS - 2
