"""Built-in document models.

Named by import path and loaded on demand, so importing this package stays cheap and a
model that fails to import shows up as one registration error instead of breaking the rest.
"""

from __future__ import annotations

__all__ = ["BUILTIN_MODELS"]

#: `module:attribute` of every built-in model class, registered by `default_registry()`.
BUILTIN_MODELS: tuple[str, ...] = (
    "reactor_es.models.document_model:DocumentModelModel",
    "reactor_es.models.document_drive:DocumentDriveModel",
    "reactor_es.models.todo:TodoListModel",
)
