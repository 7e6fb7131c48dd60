"""The `powerhouse/document-drive` model: a folder tree of child documents plus settings.

Implements Powerhouse's HEAD semantics (no dated rule versions yet): histories written
under older drive rules (sync units, id regex, append order, raw listeners) replay with
their stored hashes but would not re-hash identically.
"""

from __future__ import annotations

from typing import ClassVar

from reactor_es.document.model import DocumentModel
from reactor_es.document.types import JsonDict
from reactor_es.models.document_drive.drive import DriveActions
from reactor_es.models.document_drive.nodes import NodeActions
from reactor_es.models.document_drive.state import (
    DOCUMENT_TYPE,
    EXTENSION,
    initial_global_state,
    initial_local_state,
)

__all__ = ["DocumentDriveModel"]


class DocumentDriveModel(NodeActions, DriveActions, DocumentModel):
    """Node actions edit `global.nodes`; drive actions edit the name, icon and `local`.

    Signals (`CREATE_CHILD_DOCUMENT`, `DELETE_CHILD_DOCUMENT`, `COPY_CHILD_DOCUMENT`) are
    emitted on the `ReduceContext` after a successful mutation; the caller acts on them.
    """

    document_type: ClassVar[str] = DOCUMENT_TYPE
    version: ClassVar[int] = 1
    name: ClassVar[str] = "DocumentDrive"
    extension: ClassVar[str] = EXTENSION
    emits_signals: ClassVar[bool] = True

    def initial_state(self) -> JsonDict:
        return {"global": initial_global_state(), "local": initial_local_state()}
