"""The dated rule versions (eras E0..E7) of Powerhouse's `powerhouse/document-model` reducer.

Powerhouse changed this reducer many times; an export's hashes were computed by the code of
its day, so a replayed operation is reduced under the era its timestamp falls in, and a new
action under the newest one. Each era is the previous one plus/minus a few flags, and the
handlers ask `ctx.rules.has(FLAG)` instead of comparing dates. `since` is midnight UTC of
the Powerhouse commit date that introduced the change (document-model-ops.md §7); the
corpus exports agree with those boundaries.
"""

from __future__ import annotations

from reactor_es.document.model import RuleVersion

__all__ = [
    "ERAS",
    "LEGACY_REORDER",
    "LITERAL_OPERATION_SCOPE",
    "MINTED_IDS",
    "NAME_FORMAT",
    "NAME_VALIDATION",
    "OPERATION_SCOPE",
    "RELEASE_NEW_VERSION",
    "RESERVED_PREFERRED_EDITOR",
    "RULE_VERSIONS",
    "STRICT_LOOKUP",
    "STRICT_TARGET",
    "UNSCOPED_LAYOUT",
]

#: E0: ADD_MODULE/ADD_OPERATION/ADD_OPERATION_ERROR/ADD_*_EXAMPLE mint the new item's id.
MINTED_IDS = "minted_ids"
#: E0-E2: no scopes; the state is the model object and `spec.state` a single StateSpec.
UNSCOPED_LAYOUT = "unscoped_layout"
#: E2+: ADD_OPERATION writes `scope`, SET_OPERATION_SCOPE exists.
OPERATION_SCOPE = "operation_scope"
#: Until E3z: an operation's scope input must be "global" or "local".
LITERAL_OPERATION_SCOPE = "literal_operation_scope"
#: E4+: RELEASE_NEW_VERSION appends a specification instead of raising.
RELEASE_NEW_VERSION = "release_new_version"
#: E5+: operation names are checked (reserved, duplicate) by ADD/SET_OPERATION_NAME.
NAME_VALIDATION = "name_validation"
#: 2026-05-12+: SET_PREFERRED_EDITOR joins the reserved operation names.
RESERVED_PREFERRED_EDITOR = "reserved_preferred_editor"
#: E6+: ADD_OPERATION, ADD_OPERATION_ERROR, SET_OPERATION_SCOPE raise on a missing target.
STRICT_TARGET = "strict_target"
#: 2026-05-25+: operation names must match ^[A-Z][A-Z0-9_]*$.
NAME_FORMAT = "name_format"
#: E7: every by-id action raises on unknown/duplicated ids; ADD_* refuse existing ids.
STRICT_LOOKUP = "strict_lookup"
#: Until E7: REORDER_* use the old (buggy) descending comparator instead of `orderBy`.
LEGACY_REORDER = "legacy_reorder"


def _era(
    name: str,
    since: str,
    previous: RuleVersion | None,
    add: frozenset[str] = frozenset(),
    remove: frozenset[str] = frozenset(),
) -> RuleVersion:
    base = previous.flags if previous is not None else frozenset()
    return RuleVersion(name, f"{since}T00:00:00.000Z", (base | add) - remove)


_E0 = _era(
    "E0",
    "2023-07-01",
    None,
    add=frozenset({MINTED_IDS, UNSCOPED_LAYOUT, LITERAL_OPERATION_SCOPE, LEGACY_REORDER}),
)
_E1 = _era("E1", "2023-08-02", _E0, remove=frozenset({MINTED_IDS}))
_E2 = _era("E2", "2023-11-16", _E1, add=frozenset({OPERATION_SCOPE}))
_E3 = _era("E3", "2023-12-14", _E2, remove=frozenset({UNSCOPED_LAYOUT}))
_E3Z = _era("E3z", "2025-07-30", _E3, remove=frozenset({LITERAL_OPERATION_SCOPE}))
_E4 = _era("E4", "2025-12-23", _E3Z, add=frozenset({RELEASE_NEW_VERSION}))
_E5 = _era("E5", "2025-12-30", _E4, add=frozenset({NAME_VALIDATION}))
_E5A = _era("E5a", "2026-05-12", _E5, add=frozenset({RESERVED_PREFERRED_EDITOR}))
_E6 = _era("E6", "2026-05-14", _E5A, add=frozenset({STRICT_TARGET}))
_E6A = _era("E6a", "2026-05-25", _E6, add=frozenset({NAME_FORMAT}))
_E7 = _era(
    "E7",
    "2026-05-27",
    _E6A,
    add=frozenset({STRICT_LOOKUP}),
    remove=frozenset({LEGACY_REORDER}),
)

#: Oldest first, as `DocumentModel.rule_versions` wants them.
RULE_VERSIONS: tuple[RuleVersion, ...] = (
    _E0,
    _E1,
    _E2,
    _E3,
    _E3Z,
    _E4,
    _E5,
    _E5A,
    _E6,
    _E6A,
    _E7,
)

#: The same versions by name ("E0", ..., "E7").
ERAS: dict[str, RuleVersion] = {version.name: version for version in RULE_VERSIONS}
