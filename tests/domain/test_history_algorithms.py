"""The list algorithms of history.py, on Powerhouse's documented examples."""

from __future__ import annotations

import pytest

from reactor_es.document.exceptions import HistoryError
from reactor_es.document.history import (
    IntegrityIssue,
    Slot,
    check_integrity,
    check_operations_integrity,
    clipboard_after_undo,
    effective_history,
    garbage_collect,
    live_operations,
    next_skip_number,
    plan_undo_v1,
    plan_undo_v2,
    removed_operations,
    skip_header_operations,
    sort_operations,
    take_redo,
)
from reactor_es.document.types import Action, Operation


def slots(text: str) -> list[Slot]:
    """'0:0 1:1 2:0' -> slots (index:skip)."""
    return [Slot(*map(int, pair.split(":"))) for pair in text.split()]


def text(items: list[Slot] | list[Operation]) -> str:
    return " ".join(f"{item.index}:{item.skip}" for item in items)


def op(
    index: int, skip: int = 0, action_type: str = "INCREMENT", scope: str = "global"
) -> Operation:
    return Operation.model_validate(
        {
            "id": f"op-{index}-{skip}",
            "index": index,
            "skip": skip,
            "timestampUtcMs": "2026-02-01T10:00:00.000Z",
            "action": {
                "id": f"a-{index}-{skip}",
                "type": action_type,
                "timestampUtcMs": "2026-02-01T10:00:00.000Z",
                "input": {"n": index},
                "scope": scope,
            },
        }
    )


def noop(index: int, skip: int = 1) -> Operation:
    return op(index, skip, "NOOP")


def test_sort_by_index_then_skip() -> None:
    assert text(sort_operations(slots("0:0 2:0 1:0 3:3 3:1"))) == "0:0 1:0 2:0 3:1 3:3"


@pytest.mark.parametrize(
    ("history", "collected"),
    [
        ("", ""),
        ("0:0", "0:0"),
        ("0:0 1:0 2:0", "0:0 1:0 2:0"),
        ("0:0 1:1 2:0", "1:1 2:0"),
        ("0:0 1:1 2:0 3:1", "1:1 3:1"),
        ("0:0 1:0 2:0 3:3", "3:3"),
        ("1:1 2:0 3:0", "1:1 2:0 3:0"),
        ("0:0 1:0 2:0 3:0 4:0 5:0 6:4", "0:0 1:0 6:4"),
        ("0:0 1:0 2:0 3:0 4:0 5:1 5:2", "0:0 1:0 2:0 5:2"),
    ],
)
def test_garbage_collect(history: str, collected: str) -> None:
    assert text(garbage_collect(slots(history))) == collected


def test_protocol_2_markers_collect_nothing() -> None:
    history = [op(0), op(1), op(2), noop(3), noop(4), op(5), op(6, skip=2)]
    # v1 reading: the markers collect too.
    assert text(garbage_collect(history)) == "0:0 1:0 3:1 6:2"
    # v2 reading: only the non-NOOP skip collects (indexes 4 and 5); markers are kept.
    assert text(garbage_collect(history, undo_markers=False)) == "0:0 1:0 2:0 3:1 6:2"


def test_effective_history() -> None:
    plain = [op(0), op(1), op(2)]
    assert effective_history(plain, 2) == plain
    assert effective_history(plain, 2) is not plain
    shuffled = [op(1), op(0), op(2, skip=1), op(3)]
    assert text(effective_history(shuffled, 1)) == "0:0 2:1 3:0"
    markers = [op(0), op(1), noop(2), noop(3)]
    assert text(effective_history(markers, 2)) == "0:0 1:0 2:1 3:1"
    assert text(effective_history(markers, 1)) == "0:0 1:0 3:1"


def test_chain_rule() -> None:
    history = [op(0), op(1), op(2), noop(3), noop(4), op(5), op(6), noop(7)]
    assert text(live_operations(history)) == "0:0 3:1 4:1 5:0 7:1"
    # More markers than operations: everything is cancelled, the markers remain.
    assert text(live_operations([op(0), noop(1), noop(2)])) == "1:1 2:1"
    # A NOOP without skip is an ordinary operation.
    assert text(live_operations([op(0), noop(1, skip=0), noop(2)])) == "0:0 2:1"


@pytest.mark.parametrize(
    ("history", "skip"),
    [
        ("", -1),
        ("0:0", -1),
        ("0:0 1:0", 1),
        ("0:0 1:1", -1),
        ("1:1", -1),
        ("0:0 1:0 2:0", 1),
        ("0:0 1:0 2:0 2:1", 2),
        ("0:0 1:0 2:0 2:1 2:2", -1),
        ("0:0 1:1 2:0", 2),
        ("0:0 1:1 2:2", -1),
        ("0:0 1:1 2:0 3:0", 1),
        ("0:0 1:1 2:0 3:1", 3),
        ("0:0 1:1 2:0 3:3", -1),
    ],
)
def test_next_skip_number(history: str, skip: int) -> None:
    assert next_skip_number(slots(history)) == skip


def test_skip_header_operations() -> None:
    history = slots("0:0 1:0 2:0 3:0 4:0 5:0")
    assert text(skip_header_operations(history, 4)) == "0:0 1:0"
    assert text(skip_header_operations(history, 0)) == "0:0 1:0 2:0 3:0 4:0 5:0"
    assert text(skip_header_operations(history, 1, 7)) == "0:0 1:0 2:0 3:0 4:0 5:0"
    assert text(skip_header_operations(history, 2, 7)) == "0:0 1:0 2:0 3:0 4:0"
    with pytest.raises(ValueError, match=r"^a skip header at index 4 comes before index 5$"):
        skip_header_operations(history, 1, 4)


def test_integrity_of_a_collected_history() -> None:
    assert check_integrity(slots("0:0 1:0 2:0")) == []
    assert check_integrity(slots("0:0 3:2 5:1")) == []
    missing, duplicated = check_integrity(slots("0:0 2:0 2:0"))
    assert missing == IntegrityIssue(2, 0, "MISSING_INDEX", 1)
    assert missing.message == "Expected index 1 with skip 0 or equivalent, got index 2 with skip 0"
    assert duplicated == IntegrityIssue(2, 0, "DUPLICATED_INDEX", 3)
    assert duplicated.message == (
        "Expected index 3 with skip 0 or equivalent, got index 2 with skip 0"
    )
    assert [issue.kind for issue in check_integrity(slots("1:0"))] == ["MISSING_INDEX"]


def test_integrity_of_any_history_collects_first() -> None:
    assert check_operations_integrity(slots("2:0 0:0 1:0 3:3")) == []
    assert check_operations_integrity(slots("0:0 1:0 5:1")) == [
        IntegrityIssue(5, 1, "MISSING_INDEX", 2)
    ]


def test_removed_operations_compare_indexes() -> None:
    assert text(removed_operations(slots("0:0 1:0 2:0 5:1"), slots("0:0 1:0 5:2"))) == "2:0"


def test_clipboard_after_undo_is_newest_first_without_noops() -> None:
    before = [op(0), op(1), op(2), noop(5, 2)]
    after = [op(0), op(1), noop(5, 3)]
    clipboard = clipboard_after_undo([op(4), op(3)], before, after)
    assert text(clipboard) == "4:0 3:0 2:0"


def test_plan_undo_v1() -> None:
    first = plan_undo_v1([op(0), op(1), op(2)], document_id="d", scope="global")
    assert (first.skip, first.reuses_index) == (1, False)
    again = plan_undo_v1([op(0), op(1), noop(3, 1)], document_id="d", scope="global")
    assert (again.skip, again.reuses_index) == (2, True)
    overlap = plan_undo_v1([op(0), op(1), noop(5, 3), noop(8, 2)], document_id="d", scope="g")
    assert (overlap.skip, overlap.reuses_index) == (7, True)
    with pytest.raises(HistoryError) as caught:
        plan_undo_v1([], document_id="d", scope="local")
    assert caught.value.problem == (
        "Cannot undo: you can't undo more operations than the ones in the scope history"
    )
    assert caught.value.scope == "local"


def test_plan_undo_v2() -> None:
    step = plan_undo_v2([op(0), noop(1), op(2), noop(3)], document_id="d", scope="global")
    assert (step.skip, step.reuses_index) == (1, False)
    with pytest.raises(HistoryError, match="no more operations to undo"):
        plan_undo_v2([op(0), noop(1), op(2), noop(3), noop(4)], document_id="d", scope="global")
    with pytest.raises(HistoryError, match="no more operations to undo"):
        plan_undo_v2([], document_id="d", scope="global")


def test_take_redo_picks_the_last_entry_of_the_scope() -> None:
    redo = Action(
        id="a-redo",
        type="REDO",
        timestamp_utc_ms="2026-02-01T11:00:00.000Z",
        input={"count": 1},
        scope="global",
        context={"nonce": "n"},
    )
    clipboard = [op(4), op(3, scope="local"), op(2), op(1, scope="local")]
    action, rest = take_redo(clipboard, redo, 0, document_id="d")
    assert (action.type, action.input, action.scope) == ("INCREMENT", {"n": 2}, "global")
    assert (action.id, action.timestamp_utc_ms, action.context) == (
        "a-redo",
        "2026-02-01T11:00:00.000Z",
        {"nonce": "n"},
    )
    assert text(rest) == "4:0 3:0 1:0"
