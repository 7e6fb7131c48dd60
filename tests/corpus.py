"""Where the real Powerhouse exports (our oracle) are, and what they hold.

They stay in ../shared (never copied into the project); REACTOR_ES_PHD_FIXTURES moves them.
A missing corpus fails the tests that need it: it is never a reason to skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Where the real Powerhouse exports live unless REACTOR_ES_PHD_FIXTURES says otherwise.
DEFAULT_PHD_FIXTURES = "../shared/fixtures/phd/dev"
#: What the corpus holds (MANIFEST.tsv): a replay test that sees less has skipped something.
CORPUS_DOCUMENTS = 34
CORPUS_OPERATIONS = 3180


def phd_fixtures_dir() -> Path:
    """REACTOR_ES_PHD_FIXTURES (relative paths from the repo root), else the default."""
    configured = Path(os.environ.get("REACTOR_ES_PHD_FIXTURES") or DEFAULT_PHD_FIXTURES)
    return configured if configured.is_absolute() else (REPO_ROOT / configured).resolve()


def require_phd_dir() -> Path:
    folder = phd_fixtures_dir()
    if not folder.is_dir():
        pytest.fail(
            f"the .phd fixtures are missing: {folder} is not a folder "
            "(set REACTOR_ES_PHD_FIXTURES to the folder of real Powerhouse exports)",
            pytrace=False,
        )
    return folder
