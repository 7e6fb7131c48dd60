"""Undo history on the pure reducer: Powerhouse's worked examples, with exact outcomes.

The examples come from powerhouse-semantics.md §1.10-§1.12 (Powerhouse's tests
undo-redo.test.ts, undo-redo-v2.test.ts and skip-operations.test.ts), run against our
counter model. Hashes of `{"count": n}` were computed by node; count 5's is the one
Powerhouse's own undo test carries.
"""

from __future__ import annotations

import pytest

from reactor_es.document.exceptions import (
    HistoryActionNotAllowedError,
    HistoryError,
    InvalidActionError,
    InvalidActionInputError,
    ProtocolVersionMissingError,
)
from reactor_es.document.ids import derive_operation_id
from reactor_es.document.reducer import (
    BASE_ACTIONS,
    BaseAction,
    NoopInput,
    ReducerOptions,
    apply_action,
)
from reactor_es.document.types import Action, Document, JsonDict

from .counter_model import CounterModel, counter_action, counter_document, layout, run

COUNT_HASH = {
    0: "ch7MNww9+xUYoTgutbGr6VU0GaU=",
    1: "qA97yBec1rrOyf2eVsYdWwFPOso=",
    2: "hRuIfkAGnfwKvpTzajm4bAWdKxE=",
    3: "hHT/1Nh4XgR62StLvgLwTLfXBhs=",
    4: "O/8g2/aV0rjihFyRXiCxNYHH0pg=",
    5: "Ki38EB6gkUcnU3ceRsc88njPo3U=",
}
INC = "INCREMENT"


def count(document: Document) -> int:
    value: int = document.state["global"]["count"]
    return value


def snapshot(document: Document) -> JsonDict:
    return document.model_dump()


def incremented(protocol: int, times: int) -> Document:
    document = counter_document(protocol)
    run(document, *[INC] * times)
    return document


# -- protocol 1: UNDO reuses the NOOP's index with a growing skip ---------------------------


def test_v1_five_increments_then_undo() -> None:
    document = incremented(1, 5)
    undo = counter_action("UNDO", {"count": 1})

    applied = apply_action(document, undo, CounterModel())

    ops = document.operations["global"]
    assert layout(ops) == [(INC, 0, 0), (INC, 1, 0), (INC, 2, 0), (INC, 3, 0), ("NOOP", 5, 1)]
    assert count(document) == 4
    assert document.header.revision["global"] == 6
    assert layout(document.clipboard) == [(INC, 4, 0)]
    noop = applied.operation
    assert noop is ops[-1]
    assert noop.hash == applied.computed_hash == COUNT_HASH[4]
    # The NOOP carries the UNDO's id and timestamp, so its operation id is deterministic.
    assert (noop.action.id, noop.timestamp_utc_ms, noop.action.input) == (
        undo.id,
        undo.timestamp_utc_ms,
        {},
    )
    assert noop.id == derive_operation_id("counter-1", "global", "main", undo.id)
    assert document.header.last_modified_at_utc_iso == undo.timestamp_utc_ms


def test_v1_three_undos_grow_one_noop() -> None:
    document = incremented(1, 5)

    noops = [run(document, "UNDO").operation for _ in range(3)]

    assert [(op.index, op.skip, op.hash) for op in noops] == [
        (5, 1, COUNT_HASH[4]),
        (5, 2, COUNT_HASH[3]),
        (5, 3, COUNT_HASH[2]),
    ]
    assert layout(document.operations["global"]) == [(INC, 0, 0), (INC, 1, 0), ("NOOP", 5, 3)]
    assert document.operations["global"][-1] is noops[-1]  # each NOOP superseded the last
    assert count(document) == 2
    assert document.header.revision["global"] == 6
    assert layout(document.clipboard) == [(INC, 4, 0), (INC, 3, 0), (INC, 2, 0)]


def test_v1_undo_overlapping_an_earlier_undo() -> None:
    document = incremented(1, 5)
    run(document, "UNDO", "UNDO", "UNDO", INC, INC, "UNDO", "UNDO", "UNDO")

    assert layout(document.operations["global"]) == [(INC, 0, 0), ("NOOP", 8, 7)]
    assert count(document) == 1
    assert document.header.revision["global"] == 9
    assert layout(document.clipboard) == [(INC, 7, 0), (INC, 6, 0), (INC, 1, 0)]


def test_v1_undo_overlapping_two_earlier_undos() -> None:
    document = incremented(1, 5)
    run(document, "UNDO", INC, "UNDO", "UNDO", INC, "UNDO", "UNDO")

    assert layout(document.operations["global"]) == [(INC, 0, 0), (INC, 1, 0), ("NOOP", 9, 7)]
    assert count(document) == 2
    assert document.header.revision["global"] == 10
    assert layout(document.clipboard) == [(INC, 8, 0), (INC, 2, 0)]


def test_v1_undo_past_the_history_is_refused() -> None:
    document = counter_document(1)
    before = snapshot(document)
    with pytest.raises(HistoryError) as caught:
        run(document, "UNDO")
    assert str(caught.value) == (
        "Cannot undo: you can't undo more operations than the ones in the scope history "
        "(document counter-1, scope global)"
    )
    assert (caught.value.document_id, caught.value.scope) == ("counter-1", "global")
    assert snapshot(document) == before

    run(document, INC)
    run(document, "UNDO")  # the one operation can be undone...
    assert layout(document.operations["global"]) == [("NOOP", 1, 1)]
    before = snapshot(document)
    with pytest.raises(HistoryError, match=r"^Cannot undo: you can't undo more operations"):
        run(document, "UNDO")  # ... but nothing before it
    assert snapshot(document) == before


# -- REDO ------------------------------------------------------------------------------------


def test_v1_redo_reapplies_the_last_undone_operation() -> None:
    document = incremented(1, 5)
    run(document, "UNDO", "UNDO")
    assert layout(document.clipboard) == [(INC, 4, 0), (INC, 3, 0)]
    redo = counter_action("REDO", {"count": 1})

    applied = apply_action(document, redo, CounterModel())

    ops = document.operations["global"]
    assert layout(ops) == [(INC, 0, 0), (INC, 1, 0), (INC, 2, 0), ("NOOP", 5, 2), (INC, 6, 0)]
    assert count(document) == 4
    assert document.header.revision["global"] == 7
    assert layout(document.clipboard) == [(INC, 4, 0)]
    assert applied.operation is ops[-1]
    assert applied.operation.hash == COUNT_HASH[4]
    assert applied.operation.id == derive_operation_id("counter-1", "global", "main", redo.id)
    assert applied.operation.timestamp_utc_ms == redo.timestamp_utc_ms

    run(document, "REDO")
    assert layout(document.operations["global"])[-2:] == [(INC, 6, 0), (INC, 7, 0)]
    assert count(document) == 5
    assert document.header.revision["global"] == 8
    assert document.clipboard == []


def test_any_other_action_clears_the_clipboard() -> None:
    document = incremented(1, 5)
    run(document, "UNDO", "UNDO", INC)
    assert layout(document.operations["global"]) == [
        (INC, 0, 0),
        (INC, 1, 0),
        (INC, 2, 0),
        ("NOOP", 5, 2),
        (INC, 6, 0),
    ]
    assert count(document) == 4
    assert document.header.revision["global"] == 7
    assert document.clipboard == []


@pytest.mark.parametrize(
    ("payload", "skip", "scope", "problem"),
    [
        ({"count": 2}, 0, "global", "Cannot redo: you can only redo one operation at a time"),
        ({"count": "1"}, 0, "global", "Cannot redo: you can only redo one operation at a time"),
        ({"count": 0}, 0, "global", "Invalid REDO action: invalid redo input value"),
        (
            {"count": 1},
            1,
            "global",
            "Cannot redo: skip value from reducer cannot be used with REDO action",
        ),
        ({"count": 1}, 0, "local", 'Cannot redo: no operations in clipboard for scope "local"'),
    ],
)
def test_redo_refusals_change_nothing(
    payload: JsonDict, skip: int, scope: str, problem: str
) -> None:
    document = incremented(1, 3)
    run(document, "UNDO")
    before = snapshot(document)
    with pytest.raises(HistoryError) as caught:
        apply_action(
            document,
            counter_action("REDO", payload, scope),
            CounterModel(),
            options=ReducerOptions(skip=skip),
        )
    assert str(caught.value) == f"{problem} (document counter-1, scope {scope})"
    assert snapshot(document) == before


def test_redo_takes_the_legacy_bare_count() -> None:
    document = incremented(1, 2)
    run(document, "UNDO")
    apply_action(document, counter_action("REDO", 1), CounterModel())
    assert layout(document.operations["global"]) == [(INC, 0, 0), ("NOOP", 2, 1), (INC, 3, 0)]
    assert count(document) == 2


def test_redo_with_an_empty_clipboard_is_refused() -> None:
    document = incremented(1, 2)
    with pytest.raises(HistoryError) as caught:
        run(document, "REDO")
    assert str(caught.value) == (
        "Cannot redo: no operations in the clipboard (document counter-1, scope global)"
    )


# -- protocol 2: monotonic NOOPs with skip 1, the chain rule ----------------------------------


def test_v2_consecutive_undos() -> None:
    document = incremented(2, 3)

    steps = []
    for _ in range(3):
        applied = run(document, "UNDO")
        steps.append((applied.operation.index, applied.operation.skip, count(document)))

    assert steps == [(3, 1, 2), (4, 1, 1), (5, 1, 0)]
    assert layout(document.operations["global"]) == [
        (INC, 0, 0),
        (INC, 1, 0),
        (INC, 2, 0),
        ("NOOP", 3, 1),
        ("NOOP", 4, 1),
        ("NOOP", 5, 1),
    ]
    assert document.header.revision["global"] == 6
    assert document.clipboard == []
    before = snapshot(document)
    with pytest.raises(HistoryError) as caught:
        run(document, "UNDO")
    assert str(caught.value) == (
        "Cannot undo: no more operations to undo in scope history "
        "(document counter-1, scope global)"
    )
    assert snapshot(document) == before


def test_v2_undo_after_new_operations_follow_undos() -> None:
    document = incremented(2, 3)
    run(document, "UNDO", "UNDO", INC, INC)
    assert count(document) == 3

    applied = run(document, "UNDO")

    ops = document.operations["global"]
    assert layout(ops) == [
        (INC, 0, 0),
        (INC, 1, 0),
        (INC, 2, 0),
        ("NOOP", 3, 1),
        ("NOOP", 4, 1),
        (INC, 5, 0),
        (INC, 6, 0),
        ("NOOP", 7, 1),
    ]
    assert count(document) == 2
    assert document.header.revision["global"] == 8
    assert document.clipboard == []
    assert applied.operation is ops[-1]
    # Powerhouse returns before its hash step: undo markers stay unhashed.
    assert [op.hash for op in ops if op.action.type == "NOOP"] == ["", "", ""]
    assert applied.computed_hash is None


def test_v2_undo_as_the_pipeline_sends_it() -> None:
    # What `reactor-es publish --type UNDO --input '{"count":1}'` reaches the reducer as.
    document = incremented(2, 2)
    undo = Action(
        id="a-undo",
        type="UNDO",
        timestamp_utc_ms="2026-02-02T00:00:00.000Z",
        input={"count": 1},
        scope="global",
    )
    applied = apply_action(document, undo, CounterModel())
    assert applied.document is document
    assert (applied.operation.action.type, applied.operation.index, applied.operation.skip) == (
        "NOOP",
        2,
        1,
    )
    assert applied.operation is document.operations["global"][-1]
    assert document.state["global"] == {"count": 1}
    assert document.header.revision["global"] == 3


def test_v2_redo_finds_an_empty_clipboard() -> None:
    document = incremented(2, 2)
    run(document, "UNDO")
    with pytest.raises(HistoryError, match=r"^Cannot redo: no operations in the clipboard "):
        run(document, "REDO")


def test_v2_noop_with_a_skip_is_an_undo_marker() -> None:
    # A NOOP with a skip arriving fresh (sync) cancels one operation, as an UNDO does.
    document = incremented(2, 3)
    applied = run(document, "NOOP", skip=1)
    assert layout(document.operations["global"]) == [
        (INC, 0, 0),
        (INC, 1, 0),
        (INC, 2, 0),
        ("NOOP", 3, 1),
    ]
    assert count(document) == 2
    assert applied.operation.hash == ""


def test_v2_undo_reverts_a_set_name_to_the_one_before() -> None:
    document = incremented(2, 1)
    model = CounterModel()
    apply_action(document, counter_action("SET_NAME", {"name": "first"}), model)
    apply_action(document, counter_action("SET_NAME", {"name": "second"}), model)
    run(document, "UNDO")
    assert document.header.name == "first"
    assert count(document) == 1


# -- skips on fresh actions ------------------------------------------------------------------


def test_six_increments_then_an_increment_with_skip_4() -> None:
    document = incremented(1, 6)
    applied = run(document, INC, skip=4)
    assert layout(document.operations["global"]) == [(INC, 0, 0), (INC, 1, 0), (INC, 6, 4)]
    assert count(document) == 3
    assert document.header.revision["global"] == 7
    assert (applied.operation.index, applied.operation.skip) == (6, 4)
    assert applied.operation.hash == COUNT_HASH[3]


def test_skip_without_pruning_keeps_the_history() -> None:
    document = incremented(1, 6)
    run(document, INC, options=ReducerOptions(skip=4, prune_on_skip=False))
    assert [op.index for op in document.operations["global"]] == [0, 1, 2, 3, 4, 5, 6]
    assert count(document) == 3
    assert document.header.revision["global"] == 7


def test_skip_under_protocol_2_rewinds_as_well() -> None:
    document = incremented(2, 6)
    run(document, INC, skip=4)
    assert layout(document.operations["global"]) == [(INC, 0, 0), (INC, 1, 0), (INC, 6, 4)]
    assert count(document) == 3


def test_repeated_skips_compound() -> None:
    # skip-operations.test.ts: INC, INC, INC skip 1, INC, INC skip 1.
    document = counter_document(1)
    run(document, INC, INC)
    run(document, INC, skip=1)
    run(document, INC)
    run(document, INC, skip=1)
    assert layout(document.operations["global"]) == [(INC, 0, 0), (INC, 2, 1), (INC, 4, 1)]
    assert count(document) == 3
    assert document.header.revision["global"] == 5


def test_compounded_garbage_collection_on_fresh_actions() -> None:
    # [0:0, 1:1, 2:0, 3:1] collects to [1:1, 3:1].
    document = counter_document(1)
    run(document, INC)
    run(document, INC, skip=1)
    run(document, INC)
    run(document, INC, skip=1)
    assert layout(document.operations["global"]) == [(INC, 1, 1), (INC, 3, 1)]
    assert count(document) == 2
    assert document.header.revision["global"] == 4


def test_an_errored_action_with_a_skip_restores_the_state_before() -> None:
    # skip-operations.test.ts: INC, INC, ERROR with skip 1.
    document = incremented(1, 2)
    applied = run(document, "ERROR", skip=1)
    ops = document.operations["global"]
    assert layout(ops) == [(INC, 0, 0), (INC, 1, 0), ("ERROR", 2, 0)]
    assert [op.error for op in ops] == [None, None, "Error action"]
    assert count(document) == 2
    assert document.header.revision["global"] == 3
    assert applied.operation is ops[-1]
    assert applied.operation.hash == COUNT_HASH[2]
    assert applied.signals == []


def test_a_fresh_v1_noop_with_a_skip_rewinds_and_fills_no_clipboard() -> None:
    document = incremented(1, 5)
    run(document, "NOOP", skip=1)
    assert layout(document.operations["global"])[-2:] == [(INC, 3, 0), ("NOOP", 5, 1)]
    assert count(document) == 4
    assert document.header.revision["global"] == 6
    assert document.clipboard == []


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("action_type", ["UNDO", "REDO", "PRUNE"])
@pytest.mark.parametrize("scope", ["auth", "document"])
def test_history_actions_are_refused_on_base_scopes(action_type: str, scope: str) -> None:
    document = incremented(2, 2)
    before = snapshot(document)
    with pytest.raises(HistoryActionNotAllowedError) as caught:
        apply_action(document, counter_action(action_type, {"count": 1}, scope), CounterModel())
    assert str(caught.value) == (
        f"document counter-1: {action_type} is not permitted on the {scope} scope"
    )
    assert snapshot(document) == before


def test_skips_are_refused_on_base_scopes_and_out_of_range() -> None:
    document = incremented(1, 2)
    before = snapshot(document)
    with pytest.raises(HistoryActionNotAllowedError) as refused:
        run(document, "NOOP", skip=1, scope="auth")
    assert str(refused.value) == (
        "document counter-1: NOOP with skip 1 is not permitted on the auth scope"
    )
    with pytest.raises(InvalidActionError, match=r"skip -1 must not be negative$"):
        run(document, INC, skip=-1)
    with pytest.raises(InvalidActionError) as caught:
        run(document, INC, skip=3)
    assert str(caught.value).endswith(
        "skip 3 reaches before the first operation of scope 'global' (the action gets index 2)"
    )
    assert snapshot(document) == before


def test_undo_input_is_validated() -> None:
    document = incremented(2, 2)
    before = snapshot(document)
    with pytest.raises(InvalidActionInputError) as caught:
        apply_action(document, counter_action("UNDO", {"count": 0}), CounterModel())
    assert str(caught.value) == (
        "invalid input for UNDO: field 'count': Input should be greater than or equal to 1"
    )
    assert snapshot(document) == before


def test_base_input_is_checked_before_the_rewind() -> None:
    document = incremented(1, 3)
    before = snapshot(document)
    with pytest.raises(InvalidActionInputError, match="field 'name'"):
        run(document, "SET_NAME", skip=1)  # {} has no name
    assert snapshot(document) == before


def test_a_base_action_refusing_after_the_rewind_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(document: Document, action: Action, payload: object, step: object) -> None:
        assert document.state["global"] == {"count": 2}  # the rewind happened
        raise InvalidActionError("refused after the rewind")

    monkeypatch.setitem(BASE_ACTIONS, "STRICT", BaseAction(NoopInput, refuse))
    document = incremented(1, 3)
    document.clipboard = list(document.operations["global"][:1])
    before = snapshot(document)
    with pytest.raises(InvalidActionError, match=r"^refused after the rewind$"):
        run(document, "STRICT", skip=1)
    assert snapshot(document) == before


def test_undo_needs_the_protocol_version() -> None:
    document = incremented(2, 2)
    document.header.protocol_versions = {}
    before = snapshot(document)
    with pytest.raises(ProtocolVersionMissingError):
        run(document, "UNDO")
    assert snapshot(document) == before
    # An explicit protocol wins over the header: protocol 1 reuses the NOOP's index.
    legacy = ReducerOptions(protocol_version=1)
    first = run(document, "UNDO", options=legacy).operation
    second = run(document, "UNDO", options=legacy).operation
    assert [(op.index, op.skip) for op in (first, second)] == [(2, 1), (2, 2)]
    assert layout(document.operations["global"]) == [("NOOP", 2, 2)]
    assert count(document) == 0
