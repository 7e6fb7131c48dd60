"""DocumentModelRegistry: which document models this reactor can run (powerhouse-semantics §2.10).

Models are keyed by (document type, version). Registering reports per model, as
Powerhouse's `registerModules` does: a duplicate or a broken model is an error result and
the others still register. Third-party models arrive as entry points of the group
`reactor_es.document_models`, each naming a `DocumentModel` subclass or instance:

    [project.entry-points."reactor_es.document_models"]
    invoice = "my_package.invoice:InvoiceModel"
"""

from __future__ import annotations

import builtins
import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Literal

from reactor_es.document.exceptions import (
    DuplicateDocumentModelError,
    InvalidDocumentModelError,
    UnknownDocumentTypeError,
)
from reactor_es.document.model import DocumentModel
from reactor_es.errors import ReactorError
from reactor_es.models import BUILTIN_MODELS

__all__ = [
    "ENTRY_POINT_GROUP",
    "DocumentModelRegistry",
    "RegistrationResult",
    "default_registry",
]

ENTRY_POINT_GROUP = "reactor_es.document_models"

ModelLike = DocumentModel | type[DocumentModel]


@dataclass(frozen=True)
class RegistrationResult:
    """What became of one model offered to `register`."""

    status: Literal["success", "error"]
    #: What was offered: the model, or the name it was loaded by (entry point, import path).
    item: object
    model: DocumentModel | None = None
    error: ReactorError | None = None

    @property
    def ok(self) -> bool:
        return self.status == "success"


class DocumentModelRegistry:
    """Document models by (document type, version)."""

    def __init__(self) -> None:
        self._models: dict[str, dict[int, DocumentModel]] = {}
        #: Failed registrations of `default_registry()` (built-ins and plug-ins).
        self.load_errors: builtins.list[RegistrationResult] = []

    def register(self, *models: ModelLike) -> list[RegistrationResult]:
        """Register each model (class or instance); one result per model, in order."""
        return [self._register_loaded(item, item, repr(item)) for item in models]

    def register_paths(self, paths: Iterable[str]) -> list[RegistrationResult]:
        """Register models named `module:attribute` (how built-ins are listed)."""
        results = []
        for path in paths:
            try:
                loaded = _import(path)
            except ReactorError as exc:
                results.append(RegistrationResult("error", path, error=exc))
            else:
                results.append(self._register_loaded(path, loaded, path))
        return results

    def register_entry_points(self, group: str = ENTRY_POINT_GROUP) -> list[RegistrationResult]:
        """Register every model published in the entry-point `group`."""
        results = []
        for entry in sorted(metadata.entry_points(group=group), key=lambda e: e.name):
            label = f"entry point '{entry.name}' ({entry.value})"
            try:
                loaded = entry.load()
            except Exception as exc:  # a broken plug-in must not take the reactor down
                error = InvalidDocumentModelError(f"{label} failed to load: {exc}")
                results.append(RegistrationResult("error", label, error=error))
                continue
            results.append(self._register_loaded(label, loaded, label))
        return results

    def unregister(self, *document_types: str) -> bool:
        """Remove every version of each type; False if any type was not registered."""
        found = True
        for document_type in document_types:
            if self._models.pop(document_type, None) is None:
                found = False
        return found

    def get(self, document_type: str, version: int | None = None) -> DocumentModel:
        """The model of `document_type` at `version` (the latest when None)."""
        versions = self._models.get(document_type)
        if not versions:
            raise UnknownDocumentTypeError(document_type)
        if version is None:
            return versions[max(versions)]
        model = versions.get(version)
        if model is None:
            raise UnknownDocumentTypeError(document_type, version)
        return model

    def list(self) -> list[DocumentModel]:
        """Every registered model, by type then version."""
        return [
            versions[version]
            for _, versions in sorted(self._models.items())
            for version in sorted(versions)
        ]

    def document_types(self) -> builtins.list[str]:
        return sorted(self._models)

    def versions(self, document_type: str) -> builtins.list[int]:
        """Registered versions of a type, ascending."""
        versions = self._models.get(document_type)
        if not versions:
            raise UnknownDocumentTypeError(document_type)
        return sorted(versions)

    def latest_version(self, document_type: str) -> int:
        return self.versions(document_type)[-1]

    def __contains__(self, document_type: object) -> bool:
        return document_type in self._models

    def _register_loaded(self, offered: object, loaded: object, label: str) -> RegistrationResult:
        """Register a loaded model (class or instance); the result names what was `offered`."""
        try:
            model = _as_model(loaded, label)
            self._add(model)
        except ReactorError as exc:
            return RegistrationResult("error", offered, error=exc)
        return RegistrationResult("success", offered, model=model)

    def _add(self, model: DocumentModel) -> None:
        versions = self._models.setdefault(model.document_type, {})
        if model.version in versions:
            raise DuplicateDocumentModelError(model.document_type, model.version)
        versions[model.version] = model


def _import(path: str) -> object:
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attribute)
    except Exception as exc:  # import errors of any kind become a registration error
        raise InvalidDocumentModelError(f"model '{path}' cannot be imported: {exc}") from None


def _as_model(item: object, label: str) -> DocumentModel:
    if isinstance(item, type) and issubclass(item, DocumentModel):
        try:
            item = item()
        except Exception as exc:
            raise InvalidDocumentModelError(f"{label} cannot be instantiated: {exc}") from None
    if not isinstance(item, DocumentModel):
        raise InvalidDocumentModelError(f"{label} is not a DocumentModel")
    document_type = getattr(item, "document_type", None)
    if not isinstance(document_type, str) or not document_type:
        raise InvalidDocumentModelError(f"{label} has no document_type")
    if not isinstance(item.version, int) or isinstance(item.version, bool) or item.version < 1:
        raise InvalidDocumentModelError(f"{label} has an invalid version {item.version!r}")
    return item


def default_registry(*, entry_points: bool = True) -> DocumentModelRegistry:
    """The built-in models, then every plug-in model; failures are kept in `load_errors`."""
    registry = DocumentModelRegistry()
    results = registry.register_paths(BUILTIN_MODELS)
    if entry_points:
        results += registry.register_entry_points()
    registry.load_errors = [result for result in results if not result.ok]
    return registry
