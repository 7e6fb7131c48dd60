"""Shared helpers of the domain tests: the .phd fixture corpus, a registry, a to-do document."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reactor_es.document.actions import create_document_actions
from reactor_es.document.reducer import apply_action
from reactor_es.document.types import Document
from reactor_es.models.todo import TodoListModel
from reactor_es.registry import DocumentModelRegistry, default_registry

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where the real Powerhouse exports live unless REACTOR_ES_PHD_FIXTURES says otherwise.
DEFAULT_PHD_FIXTURES = "../shared/fixtures/phd/dev"
#: What the corpus holds (MANIFEST.tsv): a replay test that sees less has skipped something.
CORPUS_DOCUMENTS = 34
CORPUS_OPERATIONS = 3180

DOC_ID = "todo-1"
T0 = "2026-01-05T10:00:00.000Z"


def phd_fixtures_dir() -> Path:
    """REACTOR_ES_PHD_FIXTURES (relative paths from the repo root), else the default."""
    configured = Path(os.environ.get("REACTOR_ES_PHD_FIXTURES") or DEFAULT_PHD_FIXTURES)
    return configured if configured.is_absolute() else (REPO_ROOT / configured).resolve()


@pytest.fixture(scope="session")
def phd_dir() -> Path:
    folder = phd_fixtures_dir()
    if not folder.is_dir():
        pytest.fail(
            f"the .phd fixtures are missing: {folder} is not a folder "
            "(set REACTOR_ES_PHD_FIXTURES to the folder of real Powerhouse exports)",
            pytrace=False,
        )
    return folder


@pytest.fixture(scope="session")
def phd_files(phd_dir: Path) -> list[Path]:
    files = sorted(p for p in phd_dir.iterdir() if p.suffix in {".phd", ".zip"})
    if not files:
        pytest.fail(f"no .phd/.zip files in {phd_dir}", pytrace=False)
    return files


@pytest.fixture(scope="session")
def registry() -> DocumentModelRegistry:
    built = default_registry()
    assert built.load_errors == []
    return built


@pytest.fixture
def todo() -> TodoListModel:
    return TodoListModel()


def new_todo_document(model: TodoListModel, document_id: str = DOC_ID) -> Document:
    """A to-do document built from its two genesis actions, with fixed ids and times."""
    create, upgrade = create_document_actions(model, document_id, timestamp=T0)
    create = create.model_copy(update={"id": "a-create"})
    upgrade = upgrade.model_copy(update={"id": "a-upgrade"})
    document = apply_action(None, create, model).document
    apply_action(document, upgrade, model)
    return document
