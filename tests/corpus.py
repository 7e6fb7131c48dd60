"""Where the real Powerhouse exports (our oracle) are, and what they hold.

They stay in ../shared (never copied into the project); REACTOR_ES_PHD_FIXTURES moves them.
A missing corpus fails the tests that need it: it is never a reason to skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reactor_es.exports_folder import DEFAULT_EXPORTS_FOLDER, exports_folder

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Where the real Powerhouse exports live unless REACTOR_ES_PHD_FIXTURES says otherwise.
DEFAULT_PHD_FIXTURES = DEFAULT_EXPORTS_FOLDER
#: What the corpus holds (MANIFEST.tsv): a replay test that sees less has skipped something.
CORPUS_DOCUMENTS = 34
CORPUS_OPERATIONS = 3180

#: The document all three app-module-v* exports are of (one document at three times).
APP_MODULE = "89b5f6a9-de45-4c8a-8ab2-69e598e6723b"
#: The derived id, and why, of each export of the corpus that cannot keep its own id in an
#: import of the whole folder (see `reactor_es.importer`). These ids must never change: a
#: later import finds an export imported before only under the same id.
CORPUS_DERIVED = {
    "contributor-billing__48965dbb__SnapshotReport.phdm.zip": (
        "4deea719-5e80-56fe-a0b4-965b68021d3b",
        "export id e0d25618-9d42-43e7-acc8-16290ff5c399 goes to "
        "contributor-billing__e4bf06fe__Snapshot_Report.phsr.phd",
    ),
    "contributor-billing__6fb56b37__Invoice.phdm.zip": (
        "7cc19209-c2c1-5f88-a11c-07c640d7e1dc",
        "export id 0c200863-7bdb-4cb3-ab72-ca7d01a9f65d goes to "
        "contributor-billing__75eae113__Invoice.phdm.phd",
    ),
    "contributor-billing__919c79fb__BillingStatement.phdm.zip": (
        "e5c1edd8-0698-5172-a978-8e0d192a3727",
        "export id b34635ce-38e6-43e6-ae0f-23f63e4d992d goes to "
        "contributor-billing__2dc1cf6a__BillingStatement.phd",
    ),
    "contributor-billing__b030d313__Integrations.phdm.zip": (
        "5cb599ab-6ced-55ff-9be7-4db7e187604b",
        "export id e013a737-51c7-46a3-a505-f755c95cb6c5 goes to "
        "contributor-billing__9d746241__Integrations.phd",
    ),
    "powerhouse__17053ab0__rwa-portfolio.phdm.zip": (
        "76d46f50-1d9b-5051-9a75-cd1c77bd4b41",
        "the export has no id",
    ),
    "powerhouse__3890a872__Test.phdm.zip": (
        "bdd65bf4-9ec9-550e-8b73-5aeeed26bcf5",
        "the export has no id",
    ),
    "powerhouse__4324a6a0__RwaPortfolio.phdm.zip": (
        "ca10d9df-d748-55b5-9528-95d0d236d32a",
        "the export has no id",
    ),
    "powerhouse__b3aa0145__app-module-v3.phdm.phd": (
        "8f3f6dd9-a3ea-51ec-8db5-63672f71573f",
        f"export id {APP_MODULE} goes to powerhouse__c33750f8__app-module-v4.phdm.phd",
    ),
    "powerhouse__b3bc03fc__app-module-v2.phdm.zip": (
        "0dd2c1f1-9bae-569e-b171-added19fef00",
        f"export id {APP_MODULE} goes to powerhouse__c33750f8__app-module-v4.phdm.phd",
    ),
}


def phd_fixtures_dir() -> Path:
    """REACTOR_ES_PHD_FIXTURES, else the default beside this checkout or its origin."""
    return exports_folder()


def require_phd_dir() -> Path:
    folder = phd_fixtures_dir()
    if not folder.is_dir():
        pytest.fail(
            f"the .phd fixtures are missing: {folder} is not a folder "
            "(set REACTOR_ES_PHD_FIXTURES to the folder of real Powerhouse exports)",
            pytrace=False,
        )
    return folder
