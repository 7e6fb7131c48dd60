"""`reactor-es verify` and `reactor-es models`, run as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import CORPUS_DOCUMENTS, CORPUS_OPERATIONS, REPO_ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reactor_es.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )


def test_verify_the_fixture_corpus(phd_dir: Path) -> None:
    done = run("verify", str(phd_dir))
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert lines[-1] == (
        f"verified: {CORPUS_DOCUMENTS} documents, {CORPUS_OPERATIONS} operations, 0 mismatches"
    )
    assert len(lines) == CORPUS_DOCUMENTS + 1
    assert all(line.startswith("ok ") for line in lines[:-1])


def test_verify_reports_an_unreadable_file(phd_files: list[Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.phd"
    broken.write_bytes(b"not a zip")
    done = run("verify", str(phd_files[0]), str(broken))
    lines = done.stdout.splitlines()
    assert done.returncode == 1
    assert lines[1].startswith(f"ERROR     {broken}: not a readable zip archive")
    # The unreadable file is reported, not counted as verified.
    assert lines[-1] == (
        f"verified: 1 document, {_ops(phd_files[0])} operations, 0 mismatches; 1 file not verified"
    )


def test_verify_reports_hash_mismatches(phd_files: list[Path], tmp_path: Path) -> None:
    from reactor_es.document.phd import read_phd, write_phd

    export = read_phd(phd_files[0])
    ops = export.document.operations["global"]
    recorded = ops[3].hash
    ops[3] = ops[3].model_copy(update={"hash": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="})
    tampered = tmp_path / "tampered.phd"
    write_phd(export.document, tampered)
    # The original's line gives the document id and its counts.
    ok = run("verify", str(phd_files[0])).stdout.splitlines()[0]
    assert ok.startswith(f"ok        {phd_files[0]}  ")
    who_and_counts = ok.removeprefix(f"ok        {phd_files[0]}  ")

    done = run("verify", str(tampered))
    lines = done.stdout.splitlines()
    assert done.returncode == 1
    assert lines[0] == (
        f"MISMATCH  {tampered}  {who_and_counts}, 1 mismatch (first: hash global index "
        f"{ops[3].index}: recorded AAAAAAAAAAAAAAAAAAAAAAAAAAA=, computed {recorded})"
    )
    assert lines[-1] == f"verified: 1 document, {len(ops)} operations, 1 mismatch"


def test_models_lists_types_and_versions() -> None:
    done = run("models")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "powerhouse/document-drive\t1",
        "powerhouse/document-model\t1",
        "reactor-es/todo-list\t1",
    ]


def _ops(path: Path) -> int:
    from reactor_es.document.phd import read_phd

    return read_phd(path).operation_count


def test_verify_accounts_for_every_operation_of_a_history_with_skips(tmp_path: Path) -> None:
    """Five ADD_TODOs, an ADD_TODO with skip 2 whose replaced operations stay in the file,
    then an UNDO marker (no hash, as Powerhouse leaves it): each operation is counted as
    compared, without hash, or replaced."""
    from reactor_es.document.actions import create_document_actions, new_action
    from reactor_es.document.phd import write_phd
    from reactor_es.document.reducer import ReducerOptions, apply_action
    from reactor_es.models.todo import TodoListModel

    model = TodoListModel()
    document = None
    for action in create_document_actions(model, "skips", timestamp="2026-03-01T10:00:00.000Z"):
        document = apply_action(document, action, model).document
    steps = [("ADD_TODO", {"id": f"t{n}", "text": "x"}, 0) for n in range(1, 6)]
    steps += [("ADD_TODO", {"id": "t9", "text": "x"}, 2), ("UNDO", {"count": 1}, 0)]
    for kind, payload, skip in steps:
        options = ReducerOptions(skip=skip, prune_on_skip=False) if skip else None
        document = apply_action(
            document, new_action(kind, payload), model, options=options
        ).document
    assert document is not None
    assert [(o.index, o.skip) for o in document.operations["global"]] == [
        (0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 2), (6, 1)
    ]  # fmt: skip
    assert document.state["global"]["items"] == [
        {"id": f"t{n}", "text": "x", "done": False} for n in (1, 2, 3)
    ]
    write_phd(document, tmp_path / "skips.phd")

    done = run("verify", str(tmp_path / "skips.phd"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == (
        f"ok        {tmp_path / 'skips.phd'}  skips  9 operations, 6 hashes compared, "
        "1 without hash, 2 replaced by skips (not replayed)"
    )
