"""Replay every real Powerhouse `powerhouse/document-model` export and match every hash.

The proof that the model is faithful: starting from each export's initial state, every
global operation is reduced under the era its timestamp falls in (snapshot, restore on a
refusal, as the base reducer does), and `hash(state.global)` must equal the hash Powerhouse
recorded. The zips are read directly here, so this test depends on the model only.
"""

from __future__ import annotations

import csv
import json
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reactor_es.document.hashing import hash_scope_state
from reactor_es.document.model import ReduceContext, RuleVersion
from reactor_es.document.types import Action, JsonDict
from reactor_es.models.document_model import ERAS, DocumentModelModel
from tests.corpus import CORPUS_DOCUMENTS, CORPUS_OPERATIONS, phd_fixtures_dir, require_phd_dir

FIXTURES = phd_fixtures_dir()
#: Without the corpus one placeholder remains, whose test fails (`require_phd_dir`) instead
#: of pytest skipping an empty parameter set.
EXPORT_NAMES = (
    sorted(path.name for path in FIXTURES.glob("*") if path.suffix in {".phd", ".zip"})
    if FIXTURES.is_dir()
    else []
) or ["(no exports found)"]

MODEL = DocumentModelModel()


@dataclass
class Export:
    name: str
    initial_state: JsonDict
    global_ops: list[JsonDict] = field(default_factory=list)
    document_ops: list[JsonDict] = field(default_factory=list)


@dataclass
class Replay:
    compared: int = 0
    empty_hashes: int = 0
    refused: int = 0
    mismatches: list[str] = field(default_factory=list)
    eras: Counter[str] = field(default_factory=Counter)


def _action_part(op: JsonDict) -> JsonDict:
    """Newer exports nest the action; older ones spread it into the operation."""
    nested = op.get("action")
    return nested if isinstance(nested, dict) else op


def _timestamp(op: JsonDict) -> str:
    stamp = op.get("timestampUtcMs") or op.get("timestamp") or _action_part(op)["timestampUtcMs"]
    return str(stamp)


def load_export(path: Path) -> Export:
    """document-model-ops.md §8 steps 1-3: regroup by the action's scope, find the initial state."""
    with zipfile.ZipFile(path) as archive:
        raw_ops = json.loads(archive.read("operations.json"))
        state_json = json.loads(archive.read("state.json"))
    listed = (
        raw_ops if isinstance(raw_ops, list) else [op for ops in raw_ops.values() for op in ops]
    )
    export = Export(path.name, {})
    upgrade_state: JsonDict | None = None
    for op in listed:
        action = _action_part(op)
        if (action.get("scope") or "global") == "global":
            export.global_ops.append(op)
        else:
            export.document_ops.append(op)
        if action["type"] == "UPGRADE_DOCUMENT":
            upgrade_state = action["input"]["initialState"]
    export.global_ops.sort(key=lambda op: (op["index"], op.get("skip", 0)))
    if upgrade_state is not None:
        initial = upgrade_state
    elif "global" in state_json or "specifications" in state_json:
        initial = state_json
    else:
        initial = state_json["state"]  # a whole legacy document
    export.initial_state = MODEL.import_state(initial)
    return export


def replay(export: Export, rules: RuleVersion | None = None) -> Replay:
    """§8 step 4: every global op under its own era (or under `rules` when given)."""
    result = Replay()
    state = MODEL.copy_state(export.initial_state)
    for op in export.global_ops:
        part = _action_part(op)
        stamp = _timestamp(op)
        action = Action(
            id=str(part.get("id") or op.get("id") or f"{export.name}#{op['index']}"),
            type=part["type"],
            timestamp_utc_ms=stamp,
            input=part.get("input", {}),
            scope=part.get("scope") or "global",
        )
        ctx = ReduceContext(action, rules=rules or MODEL.rules_at(stamp), replaying=True)
        result.eras[ctx.rules.name] += 1
        snapshot = MODEL.copy_state(state)
        try:
            MODEL.reduce(state, action, ctx)
        except Exception:
            state = snapshot
            result.refused += 1
        if not op.get("hash"):
            result.empty_hashes += 1
            continue
        result.compared += 1
        computed = hash_scope_state(state["global"])
        if computed != op["hash"]:
            result.mismatches.append(f"{export.name} index {op['index']} {part['type']}")
    return result


@pytest.fixture(scope="module")
def exports() -> dict[str, Export]:
    """Every export of the corpus; a missing corpus fails (never a reason to skip)."""
    folder = require_phd_dir()
    names = sorted(path.name for path in folder.glob("*") if path.suffix in {".phd", ".zip"})
    if not names:
        pytest.fail(f"no .phd/.zip exports in {folder}", pytrace=False)
    return {name: load_export(folder / name) for name in names}


def _manifest_counts() -> dict[str, int]:
    with (require_phd_dir() / "MANIFEST.tsv").open(newline="") as handle:
        return {
            row["file"]: int(row["operations"]) for row in csv.DictReader(handle, delimiter="\t")
        }


def test_the_corpus_is_complete(exports: dict[str, Export]) -> None:
    assert len(exports) == CORPUS_DOCUMENTS == 34
    assert sorted(exports) == EXPORT_NAMES
    assert sum(len(e.global_ops) for e in exports.values()) == 3172
    assert sum(len(e.document_ops) for e in exports.values()) == 8
    manifest = _manifest_counts()
    assert {
        name: len(e.global_ops) + len(e.document_ops) for name, e in exports.items()
    } == manifest
    assert sum(manifest.values()) == CORPUS_OPERATIONS == 3180


@pytest.mark.parametrize("name", EXPORT_NAMES)
def test_every_recorded_global_hash_is_reproduced(exports: dict[str, Export], name: str) -> None:
    export = exports[name]
    result = replay(export)
    assert result.mismatches == []
    assert (result.compared, result.empty_hashes, result.refused) == (len(export.global_ops), 0, 0)


def test_corpus_totals_and_eras(exports: dict[str, Export]) -> None:
    totals = Replay()
    for export in exports.values():
        result = replay(export)
        totals.compared += result.compared
        totals.empty_hashes += result.empty_hashes
        totals.mismatches += result.mismatches
        totals.eras += result.eras
    assert (totals.compared, totals.empty_hashes, totals.mismatches) == (3172, 0, [])
    assert totals.eras == Counter({"E3z": 1932, "E3": 647, "E5": 569, "E4": 24})


def test_document_scope_hashes_are_those_of_the_initial_state(exports: dict[str, Export]) -> None:
    checked = 0
    for export in exports.values():
        for op in export.document_ops:
            assert hash_scope_state(export.initial_state.get("document")) == op["hash"]
            checked += 1
    assert checked == 8


def test_one_era_for_everything_breaks_the_release(exports: dict[str, Export]) -> None:
    """2024 rules on every op: versioned-todo's release is refused, so it and the 5 ops after it
    no longer match; the era of each op is what makes the corpus replay."""
    broken: dict[str, Any] = {}
    for export in exports.values():
        result = replay(export, rules=ERAS["E3"])
        if result.mismatches:
            broken[export.name] = (len(result.mismatches), result.refused)
    assert broken == {"powerhouse__185e158f__versioned-todo.zip": (6, 1)}
