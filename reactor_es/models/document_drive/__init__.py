"""The built-in `powerhouse/document-drive` document model (folders and files of a drive)."""

from __future__ import annotations

from reactor_es.models.document_drive.collation import COLLATION_BACKEND
from reactor_es.models.document_drive.model import DocumentDriveModel
from reactor_es.models.document_drive.state import LOCAL_ACTION_TYPES, action_scope
from reactor_es.models.document_drive.tree import descendants, generate_nodes_copy

__all__ = [
    "COLLATION_BACKEND",
    "LOCAL_ACTION_TYPES",
    "DocumentDriveModel",
    "action_scope",
    "descendants",
    "generate_nodes_copy",
]
