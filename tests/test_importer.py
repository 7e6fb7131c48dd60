"""Every real Powerhouse export, imported and exported again without Kafka: the jobs the
importer publishes, run by the executor's job runner, rebuilt as the projectors do, written
as a file that must verify and hold the original's operations (see `tests/round_trip.py`).
The same round trip through Kafka and the legacy store is in tests/pipeline/test_import.py.

And where the exports of one import go (`plan_imports`, without a log here; with one in
tests/pipeline/test_import.py): the same in any order, each distinct export once."""

from __future__ import annotations

import shutil
from pathlib import Path

from reactor_es.document.phd import PhdExport, read_phd
from reactor_es.document.verify import find_exports
from reactor_es.importer import Placement, derived_document_id, plan_imports
from reactor_es.registry import default_registry
from tests.corpus import (
    APP_MODULE,
    CORPUS_DERIVED,
    CORPUS_DOCUMENTS,
    CORPUS_OPERATIONS,
    require_phd_dir,
)
from tests.round_trip import RoundTrip, check_round_trip, import_in_process


def corpus() -> list[PhdExport]:
    return [read_phd(path) for path in find_exports([require_phd_dir()])]


def expected_placement(export: PhdExport) -> Placement:
    """Where an import of the whole folder puts `export` (into an empty log)."""
    derived = CORPUS_DERIVED.get(Path(export.source).name)
    if derived is None:
        return Placement(export.document.id)
    document_id, why = derived
    if why != "the export has no id":
        why += ", with the most operations"
    return Placement(document_id, reason=f"derived id: {why}")


def test_every_export_round_trips_through_import_and_export() -> None:
    registry = default_registry()
    found = RoundTrip()
    for export in corpus():
        # Each on its own, as a single file is imported: it keeps its own id when it has one.
        document_id = export.document.id or derived_document_id(export)
        exported = import_in_process(export, document_id, registry)
        check_round_trip(export, exported, registry, found)
    assert found.problems == []
    assert (found.documents, found.operations) == (CORPUS_DOCUMENTS, CORPUS_OPERATIONS)
    # The action ids an import cannot keep: the two legacy rwa-portfolio exports have none
    # at all, the two BillingStatement exports repeat two each.
    assert found.replaced_action_ids == 56 + 62 + 2 + 2
    # Operation ids come back as recorded where Powerhouse's reactor wrote them: the four
    # exports with their own CREATE_DOCUMENT and UPGRADE_DOCUMENT (legacy ids were free-form).
    assert found.kept_operation_ids == (2 + 152) + (2 + 122) + (2 + 17) + (2 + 99)


def test_the_folder_is_placed_the_same_in_any_order() -> None:
    registry = default_registry()
    exports = corpus()
    by_source = {
        export.source: placement
        for export, placement in zip(exports, plan_imports(exports, {}, registry), strict=True)
    }
    assert by_source == {export.source: expected_placement(export) for export in exports}
    assert len({p.document_id for p in by_source.values()}) == CORPUS_DOCUMENTS
    # Reversed, and the app-module exports (v2, v3, v4 of one document) first, v2 leading.
    names = [Path(export.source).name for export in exports]
    app_modules = [n for n, name in enumerate(names) if "app-module-v" in name]
    assert [names[n] for n in app_modules] == [
        "powerhouse__b3aa0145__app-module-v3.phdm.phd",
        "powerhouse__b3bc03fc__app-module-v2.phdm.zip",
        "powerhouse__c33750f8__app-module-v4.phdm.phd",
    ]
    first = [app_modules[1], app_modules[0], app_modules[2]]
    for order in (
        exports[::-1],
        [exports[n] for n in first] + [e for n, e in enumerate(exports) if n not in first],
    ):
        placed = plan_imports(order, {}, registry)
        assert dict(zip((e.source for e in order), placed, strict=True)) == by_source


def test_a_derived_id_depends_on_the_content_not_the_file(tmp_path: Path) -> None:
    """The same export under another name is the same document: one import of both sends
    it once (the copy is reported as already imported); another content, another id."""
    registry = default_registry()
    folder = require_phd_dir()
    original = folder / "powerhouse__3890a872__Test.phdm.zip"
    copy = tmp_path / "renamed.phd.zip"
    shutil.copyfile(original, copy)
    exports = [
        read_phd(original),
        read_phd(copy),
        read_phd(folder / "powerhouse__c33750f8__app-module-v4.phdm.phd"),
    ]
    placed = plan_imports(exports, {}, registry)
    assert placed == [
        Placement(
            "bdd65bf4-9ec9-550e-8b73-5aeeed26bcf5", reason="derived id: the export has no id"
        ),
        Placement(
            "bdd65bf4-9ec9-550e-8b73-5aeeed26bcf5",
            reason="derived id: the export has no id",
            already=True,
            copy_of=0,
        ),
        Placement(APP_MODULE),
    ]
    # v4 keeps its id here; the id it would go under, were 89b5f6a9 another document's:
    assert derived_document_id(exports[2]) == "ed9fdeed-5262-5ba1-a3c7-48567c68ab23"
