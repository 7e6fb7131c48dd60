"""The exports folder is found beside a checkout, or beside the repository it was cloned from."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reactor_es.exports_folder import exports_folder


def _git(*args: str) -> None:
    subprocess.run(["git", *args], check=True, capture_output=True)


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """work/main (a repository) with work/shared/fixtures/phd/dev beside it; its exports folder."""
    origin = tmp_path / "work" / "main"
    origin.mkdir(parents=True)
    _git("init", "-q", str(origin))
    _git("-C", str(origin), "commit", "-q", "--allow-empty", "-m", "start", "--author", "t <t@t>")
    exports = tmp_path / "work" / "shared" / "fixtures" / "phd" / "dev"
    exports.mkdir(parents=True)
    return origin, exports


def test_beside_the_checkout(layout: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REACTOR_ES_PHD_FIXTURES", raising=False)
    origin, exports = layout
    assert exports_folder(origin) == exports


def test_a_clone_elsewhere_finds_them_beside_its_origin(
    layout: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REACTOR_ES_PHD_FIXTURES", raising=False)
    origin, exports = layout
    clone = tmp_path / "ci" / "workspace" / "clone"
    _git("clone", "-q", str(origin), str(clone))
    assert exports_folder(clone) == exports


def test_a_clone_of_a_remote_url_looks_only_beside_itself(
    layout: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REACTOR_ES_PHD_FIXTURES", raising=False)
    clone = tmp_path / "elsewhere" / "clone"
    clone.mkdir(parents=True)
    _git("init", "-q", str(clone))
    _git("-C", str(clone), "remote", "add", "origin", "https://example.org/reactor-es.git")
    assert exports_folder(clone) == (clone / "../shared/fixtures/phd/dev").resolve()


def test_the_environment_variable_wins_relative_to_the_checkout(
    layout: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    origin, _ = layout
    monkeypatch.setenv("REACTOR_ES_PHD_FIXTURES", "corpus/phd")
    assert exports_folder(origin) == origin / "corpus" / "phd"
    monkeypatch.setenv("REACTOR_ES_PHD_FIXTURES", "/data/exports")
    assert exports_folder(origin) == Path("/data/exports")
