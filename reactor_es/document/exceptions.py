"""Expected failures of the pure document domain."""

from __future__ import annotations

from reactor_es.errors import ReactorError

__all__ = [
    "DocumentDeletedError",
    "DocumentError",
    "DocumentExistsError",
    "DocumentModelError",
    "DocumentNotFoundError",
    "DocumentTypeMismatchError",
    "DuplicateDocumentModelError",
    "HashMismatchError",
    "HistoryActionNotAllowedError",
    "HistoryError",
    "InvalidActionError",
    "InvalidActionInputError",
    "InvalidDocumentModelError",
    "MissingOperationsError",
    "PhdFormatError",
    "ProtocolVersionMissingError",
    "UnknownActionTypeError",
    "UnknownDocumentTypeError",
    "UnknownScopeError",
    "UnsupportedActionError",
    "WrongActionScopeError",
]


class DocumentError(ReactorError):
    """A document could not be changed or read as asked."""


class InvalidActionError(DocumentError):
    """The action itself is malformed (type, scope, id, timestamp)."""


class InvalidActionInputError(InvalidActionError):
    """The action's input does not match its schema; the message names the field."""

    def __init__(self, action_type: str, field: str, problem: str) -> None:
        self.action_type = action_type
        self.field = field
        self.problem = problem
        super().__init__(f"invalid input for {action_type}: field '{field}': {problem}")


class UnknownActionTypeError(InvalidActionError):
    """The model has no such action: a typo would otherwise be stored as a no-op for good."""

    def __init__(self, action_type: str, document_type: str, known: tuple[str, ...]) -> None:
        self.action_type = action_type
        self.document_type = document_type
        super().__init__(
            f"unknown action type '{action_type}' for {document_type} "
            f"(its actions: {', '.join(known)}; or a base action such as NOOP, UNDO, SET_NAME)"
        )


class UnknownScopeError(InvalidActionError):
    """The action names a scope the document does not have: it would add one for good."""

    def __init__(self, action_type: str, document_type: str, scope: str, known: list[str]) -> None:
        self.scope = scope
        super().__init__(
            f"{action_type}: scope '{scope}' is not a scope of {document_type} "
            f"(its scopes: {', '.join(known)})"
        )


class WrongActionScopeError(InvalidActionError):
    """The action names a scope its handler does not act on."""

    def __init__(self, action_type: str, document_type: str, scope: str, wanted: str) -> None:
        self.action_type = action_type
        self.scope = scope
        super().__init__(
            f"{action_type} of {document_type} acts on the '{wanted}' scope, not '{scope}'"
        )


class MissingOperationsError(DocumentError):
    """Replay found an operation beyond the next index (a gap not bridged by skip)."""

    def __init__(
        self,
        expected: int,
        index: int,
        skip: int,
        *,
        document_id: str | None = None,
        scope: str | None = None,
    ) -> None:
        # The text is Powerhouse's, verbatim; document and scope ride along as attributes.
        self.expected = expected
        self.index = index
        self.skip = skip
        self.document_id = document_id
        self.scope = scope
        super().__init__(
            f"Missing operations: expected {expected} with skip 0 or equivalent, "
            f"got index {index} with skip {skip}"
        )


class HashMismatchError(DocumentError):
    """A recomputed state hash differs from the recorded one."""

    def __init__(self, document_id: str, scope: str, index: int, expected: str, actual: str):
        self.document_id = document_id
        self.scope = scope
        self.index = index
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"hash mismatch in document {document_id} scope {scope} index {index}: "
            f"recorded {expected}, computed {actual}"
        )


class ProtocolVersionMissingError(DocumentError):
    """The header lacks `protocolVersions["base-reducer"]`, which Powerhouse requires."""

    def __init__(self, document_id: str) -> None:
        super().__init__(f'document {document_id} has no header.protocolVersions["base-reducer"]')


class UnknownDocumentTypeError(DocumentError):
    """No document model is registered for a type (and version)."""

    def __init__(self, document_type: str, version: int | None = None) -> None:
        self.document_type = document_type
        self.version = version
        at = "" if version is None else f" version {version}"
        super().__init__(f"unknown document type '{document_type}'{at}")


class PhdFormatError(DocumentError):
    """A `.phd` export cannot be read; the message names the file and the part."""


class DocumentNotFoundError(DocumentError):
    """An action reached no document: only CREATE_DOCUMENT may start one."""


class DocumentExistsError(DocumentError):
    """CREATE_DOCUMENT was applied to a document that already exists."""

    def __init__(self, document_id: str) -> None:
        self.document_id = document_id
        super().__init__(f"document {document_id} already exists")


class DocumentDeletedError(DocumentError):
    """The document was deleted (DELETE_DOCUMENT); it takes no further actions."""

    def __init__(self, document_id: str, action_type: str) -> None:
        self.document_id = document_id
        self.action_type = action_type
        super().__init__(f"document {document_id} is deleted: {action_type} refused")


class DocumentTypeMismatchError(DocumentError):
    """A document was handed to the model of another document type."""

    def __init__(self, document_id: str, document_type: str, model_type: str) -> None:
        self.document_id = document_id
        self.document_type = document_type
        self.model_type = model_type
        super().__init__(f"document {document_id} is of type '{document_type}', not '{model_type}'")


class UnsupportedActionError(DocumentError):
    """A base action, or a form of one, that we do not implement (e.g. a stored UNDO)."""

    def __init__(self, action_type: str, detail: str = "not supported yet") -> None:
        self.action_type = action_type
        super().__init__(f"{action_type}: {detail}")


class HistoryError(DocumentError):
    """UNDO or REDO refused (nothing to undo, nothing to redo): Powerhouse's text, then where."""

    def __init__(self, problem: str, *, document_id: str, scope: str) -> None:
        self.problem = problem
        self.document_id = document_id
        self.scope = scope
        super().__init__(f"{problem} (document {document_id}, scope {scope})")


class HistoryActionNotAllowedError(DocumentError):
    """UNDO, REDO, PRUNE or a skip aimed at a scope whose history may not be rewritten."""

    def __init__(self, document_id: str, action_type: str, scope: str) -> None:
        self.document_id = document_id
        self.action_type = action_type
        self.scope = scope
        super().__init__(
            f"document {document_id}: {action_type} is not permitted on the {scope} scope"
        )


class DocumentModelError(DocumentError):
    """A document model cannot be registered or loaded."""


class DuplicateDocumentModelError(DocumentModelError):
    """A model with the same (document type, version) is already registered."""

    def __init__(self, document_type: str, version: int) -> None:
        self.document_type = document_type
        self.version = version
        super().__init__(
            f"document model '{document_type}' version {version} is already registered"
        )


class InvalidDocumentModelError(DocumentModelError):
    """Something offered as a document model is not one (or could not be loaded)."""
