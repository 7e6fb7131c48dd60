"""Undo history: sorting, garbage collection, integrity, skips, and UNDO/REDO planning.

An operation at index `I` with skip `S` says "before applying me, discard the operations
whose index lies in (I-S-1, I)" (powerhouse-semantics.md §1.10). Two protocols read that:

- protocol 1 (legacy): an UNDO is a NOOP whose skip grows (reusing the index of the NOOP
  it supersedes); every skip collects, and histories are garbage collected (pruned).
- protocol 2 (reactor): an UNDO is a NOOP with skip 1 at the next index; nothing is
  pruned; N consecutive NOOP markers cancel the N nearest live operations before them
  (the chain rule). A marker's skip belongs to the chain rule alone: here it never
  collects, or a skip action after it would undo the marked operation a second time.

The functions here are pure list algorithms over anything with `index` and `skip`; the
base reducer (`reducer.py`) replays what they select.

Garbage collection at use time. Histories travel append-only: the operations topic, the
stream materializer (`materialize.py`) and the projectors keep every operation, including
ones a later skip collected (a protocol-1 NOOP superseded by the next UNDO at the same
index, or operations pruned by a skip action). That is sound because collecting is
idempotent and every reader that gives skips meaning collects first: `effective_history`
before an UNDO is planned or a scope rebuilt, `replay_document` before it replays. The
materializer itself needs no history semantics: each record carries the state its
operation left (an UNDO's NOOP carries the rewound state), so appending and taking that
state is exact. What a stream cannot carry is the protocol-1 clipboard (the operations
an UNDO removed, which REDO takes back): it lives in memory only and is empty after a
restore. Protocol 2 never fills it (REDO always reports an empty clipboard there), and
new documents are protocol 2. Nor can collecting reconcile a protocol-1 UNDO that follows
an UNDO: its NOOP takes the index of the NOOP it supersedes, and an append-only store
holds one operation per index (both of ours refuse it, as Powerhouse's operation store
would; its reactor runs protocol 2).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from reactor_es.document.exceptions import HistoryError
from reactor_es.document.types import Action, Operation

__all__ = [
    "NOOP",
    "IntegrityIssue",
    "Slot",
    "UndoStep",
    "check_integrity",
    "check_operations_integrity",
    "clipboard_after_undo",
    "effective_history",
    "garbage_collect",
    "is_undo_marker",
    "live_operations",
    "next_skip_number",
    "plan_undo_v1",
    "plan_undo_v2",
    "removed_operations",
    "skip_header_operations",
    "sort_operations",
    "take_redo",
]

NOOP = "NOOP"


class _Positioned(Protocol):
    @property
    def index(self) -> int: ...

    @property
    def skip(self) -> int: ...


P = TypeVar("P", bound=_Positioned)


@dataclass(frozen=True)
class Slot:
    """A position without an operation: the virtual head that skip computations add."""

    index: int
    skip: int = 0


def is_undo_marker(operation: object) -> bool:
    """A NOOP with a skip: an UNDO's trace (or a sync retraction)."""
    return isinstance(operation, Operation) and operation.skip > 0 and operation.action.type == NOOP


def sort_operations(operations: Iterable[P]) -> list[P]:
    """By index, then skip (Powerhouse's `sortOperations`); stable for equal pairs."""
    return sorted(operations, key=lambda op: (op.index, op.skip))


def garbage_collect(sorted_operations: Sequence[P], *, undo_markers: bool = True) -> list[P]:
    """The operations no later skip discards (walk from the end, jump over what each covers).

    `[0:0, 1:0, 2:0, 3:3]` gives `[3:3]`; `[0:0, 1:1, 2:0, 3:1]` gives `[1:1, 3:1]`. With
    `undo_markers=False` (protocol 2) NOOP markers are kept but collect nothing.
    """
    kept: list[P] = []
    position = len(sorted_operations) - 1
    while position >= 0:
        operation = sorted_operations[position]
        kept.append(operation)
        skip = operation.skip
        if skip and not undo_markers and is_undo_marker(operation):
            skip = 0
        bound = operation.index - skip - 1
        position -= 1
        while position >= 0 and sorted_operations[position].index > bound:
            position -= 1
    kept.reverse()
    return kept


def effective_history(operations: Sequence[Operation], protocol: int) -> list[Operation]:
    """A scope's history as skips define it: sorted and garbage collected.

    Cheap when nothing was skipped (the usual case): the list comes back as it is.
    """
    previous: tuple[int, int] | None = None
    ordered = True
    skipped = False
    for operation in operations:
        key = (operation.index, operation.skip)
        if previous is not None and key < previous:
            ordered = False
        previous = key
        skipped = skipped or operation.skip > 0
    if ordered and not skipped:
        return list(operations)
    ops = list(operations) if ordered else sort_operations(operations)
    return garbage_collect(ops, undo_markers=protocol < 2) if skipped else ops


def live_operations(sorted_operations: Sequence[Operation]) -> list[Operation]:
    """Protocol 2's chain rule: walking back, each NOOP marker cancels one live operation.

    The markers stay in the result (they are history); the cancelled operations do not.
    """
    kept: list[Operation] = []
    pending = 0
    for operation in reversed(sorted_operations):
        if is_undo_marker(operation):
            pending += 1
            kept.append(operation)
        elif pending:
            pending -= 1
        else:
            kept.append(operation)
    kept.reverse()
    return kept


def skip_header_operations(
    operations: Sequence[P], skip: int, index: int | None = None, *, undo_markers: bool = True
) -> list[P]:
    """What survives a new operation at `index` (default: next) with `skip`, without it."""
    ordered = sort_operations(operations)
    last_index = ordered[-1].index if ordered else -1
    head = Slot(last_index + 1 if index is None else index, skip)
    if head.index < last_index:
        raise ValueError(f"a skip header at index {head.index} comes before index {last_index}")
    collected: list[Any] = garbage_collect(
        sort_operations([*ordered, head]), undo_markers=undo_markers
    )
    return collected[:-1]


def next_skip_number(sorted_operations: Sequence[_Positioned]) -> int:
    """Protocol 1's skip for the next UNDO; -1 when it would reach past the first operation.

    On the collected history: the last skip + 1, plus the skip before it (an UNDO that
    follows an UNDO also covers what that one covered).
    """
    if not sorted_operations:
        return -1
    cleaned = garbage_collect(sorted_operations)
    skip = cleaned[-1].skip + 1
    if len(cleaned) > 1:
        skip += cleaned[-2].skip
    # Powerhouse reads the last index with `|| -1`: an index of 0 counts as -1.
    last_index = cleaned[-1].index or -1
    return -1 if last_index < skip else skip


@dataclass(frozen=True)
class IntegrityIssue:
    """A position where `index - skip` does not follow the previous index."""

    index: int
    skip: int
    kind: Literal["MISSING_INDEX", "DUPLICATED_INDEX"]
    expected: int

    @property
    def message(self) -> str:
        return (
            f"Expected index {self.expected} with skip 0 or equivalent, "
            f"got index {self.index} with skip {self.skip}"
        )


def check_integrity(cleaned_operations: Sequence[_Positioned]) -> list[IntegrityIssue]:
    """Gaps (MISSING_INDEX) and overlaps (DUPLICATED_INDEX) of a sorted, collected history."""
    issues: list[IntegrityIssue] = []
    current = -1
    for operation in cleaned_operations:
        logical = operation.index - operation.skip
        if logical != current + 1:
            kind: Literal["MISSING_INDEX", "DUPLICATED_INDEX"] = (
                "MISSING_INDEX" if logical > current + 1 else "DUPLICATED_INDEX"
            )
            issues.append(IntegrityIssue(operation.index, operation.skip, kind, current + 1))
        current = operation.index
    return issues


def check_operations_integrity(operations: Iterable[_Positioned]) -> list[IntegrityIssue]:
    """`check_integrity` of any history: sorted and collected first."""
    return check_integrity(garbage_collect(sort_operations(operations)))


def removed_operations(before: Sequence[P], after: Sequence[P]) -> list[P]:
    """Operations of `before` whose index `after` no longer holds (Powerhouse's diff)."""
    remaining = {operation.index for operation in after}
    return [operation for operation in before if operation.index not in remaining]


# -- UNDO / REDO ---------------------------------------------------------------------------


@dataclass(frozen=True)
class UndoStep:
    """Where an UNDO's NOOP goes: its skip, and whether it takes over the last index."""

    skip: int
    reuses_index: bool


def plan_undo_v1(operations: Sequence[Operation], *, document_id: str, scope: str) -> UndoStep:
    """Protocol 1: a NOOP after a NOOP reuses its index with a larger skip."""
    ordered = sort_operations(operations)
    last = ordered[-1] if ordered else None
    reuses = last is not None and last.action.type == NOOP
    history: list[_Positioned] = list(ordered)
    if not reuses:
        history.append(Slot((last.index if last is not None else -1) + 1))
    skip = next_skip_number(history)
    if last is not None and skip > last.skip + 1:
        skip += 1  # it overlaps an earlier skip: one more for the NOOP being added
    if skip < 0:
        raise HistoryError(
            "Cannot undo: you can't undo more operations than the ones in the scope history",
            document_id=document_id,
            scope=scope,
        )
    return UndoStep(skip, reuses)


def plan_undo_v2(operations: Sequence[Operation], *, document_id: str, scope: str) -> UndoStep:
    """Protocol 2: always skip 1 at the next index, while live operations may remain.

    Powerhouse's test: more non-NOOP operations than the NOOPs that end the history.
    """
    ordered = sort_operations(operations)
    trailing = 0
    for operation in reversed(ordered):
        if operation.action.type != NOOP:
            break
        trailing += 1
    live_candidates = sum(1 for operation in ordered if operation.action.type != NOOP)
    if live_candidates <= trailing:
        raise HistoryError(
            "Cannot undo: no more operations to undo in scope history",
            document_id=document_id,
            scope=scope,
        )
    return UndoStep(1, False)


def clipboard_after_undo(
    clipboard: Sequence[Operation], before: Sequence[Operation], after: Sequence[Operation]
) -> list[Operation]:
    """Protocol 1: the old clipboard plus what the UNDO removed (no NOOPs), newest first.

    `before` is the collected history without the UNDO's NOOP, `after` the collected
    history with it.
    """
    gathered = [
        operation
        for operation in (*clipboard, *removed_operations(before, after))
        if operation.action.type != NOOP
    ]
    return list(reversed(sort_operations(gathered)))


def take_redo(
    clipboard: Sequence[Operation], redo: Action, skip: int, *, document_id: str
) -> tuple[Action, list[Operation]]:
    """The action REDO re-applies (the last clipboard entry of its scope) and the rest.

    The re-applied action keeps the REDO's id, timestamp and context: Powerhouse sends it
    with neither id nor timestamp, and our operation ids derive from action ids.
    """
    scope = redo.scope

    def refuse(problem: str) -> HistoryError:
        return HistoryError(problem, document_id=document_id, scope=scope)

    if skip > 0:
        raise refuse("Cannot redo: skip value from reducer cannot be used with REDO action")
    raw = redo.input
    count = raw.get("count") if isinstance(raw, Mapping) and "count" in raw else raw
    if isinstance(count, bool) or not isinstance(count, int | float) or count > 1:
        raise refuse("Cannot redo: you can only redo one operation at a time")
    if count < 1:
        raise refuse("Invalid REDO action: invalid redo input value")
    if not clipboard:
        raise refuse("Cannot redo: no operations in the clipboard")
    for position in range(len(clipboard) - 1, -1, -1):
        if clipboard[position].action.scope == scope:
            taken = clipboard[position].action
            rest = [*clipboard[:position], *clipboard[position + 1 :]]
            action = Action.model_construct(
                id=redo.id,
                type=taken.type,
                timestamp_utc_ms=redo.timestamp_utc_ms,
                input=taken.input,
                scope=taken.scope,
                context=redo.context,
            )
            return action, rest
    raise refuse(f'Cannot redo: no operations in clipboard for scope "{scope}"')
