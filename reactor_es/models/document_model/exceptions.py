"""Refusals of the `powerhouse/document-model` reducer.

An errored operation stores the message as its `error`, and Powerhouse exports carry
Powerhouse's own text, so every message here is Powerhouse's, word for word (quotes
included); each names the id, scope or name at fault.
"""

from __future__ import annotations

from reactor_es.document.exceptions import DocumentError, InvalidActionInputError

__all__ = [
    "DocumentModelRefusal",
    "EmptyInputExpectedError",
    "InvalidScopeError",
    "JsTypeError",
    "NullInputError",
    "OperationNameFormatError",
    "OperationNameTakenError",
    "ReducerNotImplementedError",
    "ReservedOperationNameError",
    "SpecTargetDuplicatedError",
    "SpecTargetExistsError",
    "SpecTargetNotFoundError",
    "StateExampleNotFoundError",
    "UnknownReorderIdError",
]


class DocumentModelRefusal(DocumentError):
    """The document-model reducer refused an action; the state is unchanged."""


class SpecTargetNotFoundError(DocumentModelRefusal):
    """No module/operation/error/example with that id in the latest specification."""

    def __init__(self, kind: str, target_id: str) -> None:
        self.kind = kind
        self.target_id = target_id
        super().__init__(f'{kind} "{target_id}" not found in the latest specification')


class SpecTargetDuplicatedError(DocumentModelRefusal):
    """The id to edit occurs more than once, so the target is ambiguous."""

    def __init__(self, kind: str, target_id: str) -> None:
        self.kind = kind
        self.target_id = target_id
        super().__init__(f'{kind} "{target_id}" is duplicated in the latest specification')


class SpecTargetExistsError(DocumentModelRefusal):
    """An ADD_* action reuses an id that the latest specification already has."""

    def __init__(self, kind: str, target_id: str) -> None:
        self.kind = kind
        self.target_id = target_id
        super().__init__(f'{kind} "{target_id}" already exists in the latest specification')


class StateExampleNotFoundError(DocumentModelRefusal):
    def __init__(self, example_id: str, scope: str) -> None:
        self.example_id = example_id
        self.scope = scope
        super().__init__(f'State example "{example_id}" not found in scope "{scope}"')


class InvalidScopeError(DocumentModelRefusal):
    """The scope is not a key of the latest specification's `state`."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__(f"Invalid scope: {scope}")


class OperationNameFormatError(DocumentModelRefusal):
    """An operation name that is not SCREAMING_SNAKE_CASE (with a suggestion when one fits)."""

    def __init__(self, name: str, suggestion: str | None) -> None:
        self.name = name
        self.suggestion = suggestion
        hint = f' Did you mean "{suggestion}"?' if suggestion else ""
        super().__init__(
            f'Operation name "{name}" is invalid. Names must be SCREAMING_SNAKE_CASE '
            f"(matching ^[A-Z][A-Z0-9_]*$).{hint}"
        )


class ReservedOperationNameError(DocumentModelRefusal):
    """The name of a base-reducer action (UNDO, SET_NAME, ...), in any letter case."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f'Operation name "{name}" is reserved. Please use a different name.')


class OperationNameTakenError(DocumentModelRefusal):
    """Another operation of the latest specification has that name (any letter case)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f'Operation name "{name}" is already used by another operation. '
            "Operation names must be unique across all modules."
        )


class UnknownReorderIdError(DocumentModelRefusal):
    def __init__(self, item_id: str) -> None:
        self.item_id = item_id
        super().__init__(f'Cannot reorder: unknown id "{item_id}"')


class ReducerNotImplementedError(DocumentModelRefusal):
    """Powerhouse never implemented this handler (change log) or not yet in that era."""

    def __init__(self, handler_name: str) -> None:
        self.handler_name = handler_name
        super().__init__(f'Reducer "{handler_name}" not yet implemented')


class EmptyInputExpectedError(DocumentModelRefusal, InvalidActionInputError):
    """An input with keys where none are wanted (RELEASE_NEW_VERSION): bad input, refused
    before a fresh action changes anything; `field` is the first key (or "input")."""

    def __init__(self, action_type: str, field: str = "input") -> None:
        self.action_type = action_type
        self.field = field
        self.problem = f"Expected empty input for action {action_type}"
        DocumentError.__init__(self, self.problem)


class JsTypeError(DocumentModelRefusal):
    """Where Powerhouse's handler dies on a JavaScript TypeError, we refuse with its text."""


class NullInputError(JsTypeError, InvalidActionInputError):
    """A null input where Powerhouse reads the input's keys: bad input, with the TypeError's
    text Powerhouse recorded."""

    def __init__(self, action_type: str) -> None:
        self.action_type = action_type
        self.field = "input"
        self.problem = "Cannot convert undefined or null to object"
        DocumentError.__init__(self, self.problem)
