"""Fixtures of the projection suites: the real Powerhouse exports, read once per session for
the store suites, and pipeline settings on the real broker for the projector suites."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from reactor_es.config import Settings
from reactor_es.document.phd import read_phd
from reactor_es.document.types import Document
from tests.corpus import (  # noqa: F401  (re-exported for the projection suites)
    CORPUS_DOCUMENTS,
    CORPUS_OPERATIONS,
    require_phd_dir,
)
from tests.projections.pipeline import make_pipeline_settings


@dataclass(frozen=True)
class Export:
    """One export, renamed `export-NN`: several files are snapshots of the same document."""

    name: str
    document: Document


@pytest.fixture(scope="session")
def phd_exports() -> list[Export]:
    folder = require_phd_dir()
    files = sorted(p for p in folder.iterdir() if p.suffix in {".phd", ".zip"})
    if not files:
        pytest.fail(
            f"no .phd/.zip exports in {folder} (set REACTOR_ES_PHD_FIXTURES to their folder)",
            pytrace=False,
        )
    exports = []
    for number, path in enumerate(files):
        document = read_phd(path).document
        renamed = document.model_copy(deep=True)
        renamed.header.id = f"export-{number:02d}"
        renamed.header.slug = ""
        exports.append(Export(path.name, renamed))
    return exports


@pytest.fixture
async def settings(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> Settings:
    """Settings with topics of the test's own on the real broker (a module may override it)."""
    return await make_pipeline_settings(kafka_bootstrap, unique_name, tmp_path)
