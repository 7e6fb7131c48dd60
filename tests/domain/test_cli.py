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
    ops[3] = ops[3].model_copy(update={"hash": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="})
    tampered = tmp_path / "tampered.phd"
    write_phd(export.document, tampered)

    done = run("verify", str(tampered))
    lines = done.stdout.splitlines()
    assert done.returncode == 1
    assert f"1 mismatches (first: hash global index {ops[3].index}: recorded AAAA" in lines[0]
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
