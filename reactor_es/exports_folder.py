"""Where the demo, the benchmarks and the tests find real Powerhouse exports.

They are never part of the project: ``REACTOR_ES_PHD_FIXTURES`` names the folder (relative
paths from the repository root). Without it the folder is ``../shared/fixtures/phd/dev``
beside this checkout or, for a clone made elsewhere (a CI workspace, a scratch folder),
beside the local repository it was cloned from.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

#: The repository root of a source checkout (the folder holding ``reactor_es``).
REPO_ROOT = Path(__file__).resolve().parents[1]
#: Where the exports are unless REACTOR_ES_PHD_FIXTURES says otherwise.
DEFAULT_EXPORTS_FOLDER = "../shared/fixtures/phd/dev"


def exports_folder(root: Path = REPO_ROOT) -> Path:
    """The configured folder, else the first default location that exists (else beside us)."""
    configured = os.environ.get("REACTOR_ES_PHD_FIXTURES")
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else (root / path).resolve()
    beside_checkout = (root / DEFAULT_EXPORTS_FOLDER).resolve()
    if beside_checkout.is_dir():
        return beside_checkout
    origin = _local_origin(root)
    if origin is not None:
        beside_origin = (origin / DEFAULT_EXPORTS_FOLDER).resolve()
        if beside_origin.is_dir():
            return beside_origin
    return beside_checkout


def _local_origin(root: Path) -> Path | None:
    """The folder this checkout was cloned from, when that is a path on this machine."""
    try:
        url = subprocess.run(
            ["git", "-C", str(root), "config", "--get", "remote.origin.url"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    url = url.removeprefix("file://")
    if not url or "://" in url or (":" in url and not url.startswith("/")):
        return None  # a remote URL (https, ssh): no exports beside it on this machine
    path = Path(url)
    if not path.is_absolute():
        path = (root / path).resolve()
    if path.name == ".git":
        path = path.parent
    return path if path.is_dir() else None
