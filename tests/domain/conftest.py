"""Shared helpers of the domain tests: the .phd fixture corpus, a registry, a to-do document."""

from __future__ import annotations

from pathlib import Path

import pytest

from reactor_es.document.actions import create_document_actions
from reactor_es.document.reducer import apply_action
from reactor_es.document.types import Document
from reactor_es.models.todo import TodoListModel
from reactor_es.registry import DocumentModelRegistry, default_registry
from tests.corpus import (  # noqa: F401  (re-exported for the domain tests)
    CORPUS_DOCUMENTS,
    CORPUS_OPERATIONS,
    DEFAULT_PHD_FIXTURES,
    REPO_ROOT,
    phd_fixtures_dir,
    require_phd_dir,
)

DOC_ID = "todo-1"
T0 = "2026-01-05T10:00:00.000Z"


@pytest.fixture(scope="session")
def phd_dir() -> Path:
    return require_phd_dir()


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
