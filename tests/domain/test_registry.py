"""DocumentModelRegistry: per-model results, lookups, and real entry-point plug-ins."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from reactor_es.document.exceptions import (
    DuplicateDocumentModelError,
    InvalidDocumentModelError,
    UnknownDocumentTypeError,
)
from reactor_es.document.model import DocumentModel
from reactor_es.models.todo import TodoListModel
from reactor_es.registry import ENTRY_POINT_GROUP, DocumentModelRegistry, default_registry


class NotesV1(DocumentModel):
    document_type: ClassVar[str] = "test/notes"


class NotesV2(NotesV1):
    version: ClassVar[int] = 2


class Nameless(DocumentModel):
    pass


def test_register_reports_per_model_and_keeps_going() -> None:
    registry = DocumentModelRegistry()
    results = registry.register(NotesV1, TodoListModel(), NotesV1(), NotesV2, "not a model")  # type: ignore[arg-type]

    assert [r.status for r in results] == ["success", "success", "error", "success", "error"]
    duplicate = results[2].error
    assert isinstance(duplicate, DuplicateDocumentModelError)
    assert str(duplicate) == "document model 'test/notes' version 1 is already registered"
    assert isinstance(results[4].error, InvalidDocumentModelError)
    assert str(results[4].error) == "'not a model' is not a DocumentModel"
    assert registry.document_types() == ["reactor-es/todo-list", "test/notes"]
    assert [(m.document_type, m.version) for m in registry.list()] == [
        ("reactor-es/todo-list", 1),
        ("test/notes", 1),
        ("test/notes", 2),
    ]


def test_a_model_without_type_is_refused() -> None:
    [result] = DocumentModelRegistry().register(Nameless)
    assert result.status == "error"
    assert "has no document_type" in str(result.error)


def test_get_picks_the_latest_or_the_asked_version() -> None:
    registry = DocumentModelRegistry()
    registry.register(NotesV2, NotesV1)
    assert registry.get("test/notes").version == 2
    assert registry.get("test/notes", 1).version == 1
    assert registry.versions("test/notes") == [1, 2]
    assert registry.latest_version("test/notes") == 2
    assert "test/notes" in registry

    with pytest.raises(UnknownDocumentTypeError) as caught:
        registry.get("test/notes", 3)
    assert str(caught.value) == "unknown document type 'test/notes' version 3"
    with pytest.raises(UnknownDocumentTypeError) as caught:
        registry.get("acme/invoice")
    assert str(caught.value) == "unknown document type 'acme/invoice'"
    assert caught.value.document_type == "acme/invoice"
    with pytest.raises(UnknownDocumentTypeError):
        registry.versions("acme/invoice")


def test_unregister_removes_every_version() -> None:
    registry = DocumentModelRegistry()
    registry.register(NotesV1, NotesV2, TodoListModel)
    assert registry.unregister("test/notes") is True
    assert registry.document_types() == ["reactor-es/todo-list"]
    assert registry.unregister("reactor-es/todo-list", "test/notes") is False
    assert registry.document_types() == []


def test_default_registry_has_the_built_in_models() -> None:
    registry = default_registry(entry_points=False)
    assert registry.load_errors == []
    assert registry.document_types() == [
        "powerhouse/document-drive",
        "powerhouse/document-model",
        "reactor-es/todo-list",
    ]


PLUGIN_SOURCE = """
from typing import ClassVar

from reactor_es.document.model import DocumentModel


class CounterModel(DocumentModel):
    document_type: ClassVar[str] = "rx-demo/counter"

    def initial_state(self):
        return {"global": {"count": 0}, "local": {}}


class CounterV2(CounterModel):
    version: ClassVar[int] = 2


COUNTER_V2 = CounterV2()
NOT_A_MODEL = 42
"""

ENTRY_POINTS = f"""
[{ENTRY_POINT_GROUP}]
counter = rx_demo_plugin:CounterModel
counter_v2 = rx_demo_plugin:COUNTER_V2
not_a_model = rx_demo_plugin:NOT_A_MODEL
missing = rx_demo_plugin_gone:Model
todo_again = reactor_es.models.todo:TodoListModel
"""


@pytest.fixture
def demo_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real installed distribution (package + .dist-info with entry points) on sys.path."""
    package = tmp_path / "rx_demo_plugin"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    dist_info = tmp_path / "rx_demo_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: rx-demo-plugin\nVersion: 0.1\n"
    )
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("rx_demo_plugin", None)


def test_plug_ins_load_through_entry_points(demo_plugin: Path) -> None:
    registry = default_registry()

    assert registry.versions("rx-demo/counter") == [1, 2]
    assert registry.get("rx-demo/counter").initial_state() == {"global": {"count": 0}, "local": {}}
    errors = {str(result.item): str(result.error) for result in registry.load_errors}
    assert errors == {
        "entry point 'missing' (rx_demo_plugin_gone:Model)": (
            "entry point 'missing' (rx_demo_plugin_gone:Model) failed to load: "
            "No module named 'rx_demo_plugin_gone'"
        ),
        "entry point 'not_a_model' (rx_demo_plugin:NOT_A_MODEL)": (
            "entry point 'not_a_model' (rx_demo_plugin:NOT_A_MODEL) is not a DocumentModel"
        ),
        "entry point 'todo_again' (reactor_es.models.todo:TodoListModel)": (
            "document model 'reactor-es/todo-list' version 1 is already registered"
        ),
    }
    # The built-ins are untouched by the broken and duplicate plug-ins.
    assert "powerhouse/document-model" in registry
    assert registry.get("reactor-es/todo-list").__class__ is TodoListModel


def test_without_the_distribution_there_is_no_plug_in() -> None:
    assert "rx-demo/counter" not in default_registry()
