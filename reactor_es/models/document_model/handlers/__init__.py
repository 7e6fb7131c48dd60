"""Handlers of the `powerhouse/document-model` actions, one mixin per action group.

Each handler validates fully before its first mutation, so a refused action leaves the
state exactly as it was (Powerhouse records such an operation with the pre-action hash).
"""

from __future__ import annotations

from reactor_es.models.document_model.handlers.header import HeaderHandlers
from reactor_es.models.document_model.handlers.module import ModuleHandlers
from reactor_es.models.document_model.handlers.operation import OperationHandlers
from reactor_es.models.document_model.handlers.operation_error import OperationErrorHandlers
from reactor_es.models.document_model.handlers.operation_example import (
    OperationExampleHandlers,
)
from reactor_es.models.document_model.handlers.state_schema import StateSchemaHandlers
from reactor_es.models.document_model.handlers.versioning import VersioningHandlers

__all__ = [
    "HeaderHandlers",
    "ModuleHandlers",
    "OperationErrorHandlers",
    "OperationExampleHandlers",
    "OperationHandlers",
    "StateSchemaHandlers",
    "VersioningHandlers",
]
