"""Every real Powerhouse export, imported and exported again without Kafka: the jobs the
importer publishes, run by the executor's job runner, rebuilt as the projectors do, written
as a file that must verify and hold the original's operations (see `tests/round_trip.py`).
The same round trip through Kafka and the legacy store is in tests/pipeline/test_import.py."""

from __future__ import annotations

from reactor_es.document.phd import read_phd
from reactor_es.document.verify import find_exports
from reactor_es.importer import plan_document_ids
from reactor_es.registry import default_registry
from tests.corpus import CORPUS_DOCUMENTS, CORPUS_OPERATIONS, require_phd_dir
from tests.round_trip import RoundTrip, check_round_trip, import_in_process


def test_every_export_round_trips_through_import_and_export() -> None:
    registry = default_registry()
    exports = [read_phd(path) for path in find_exports([require_phd_dir()])]
    found = RoundTrip()
    for export, document_id in zip(exports, plan_document_ids(exports), strict=True):
        # Each on its own, as a single file is imported: it keeps its own id when it has one.
        document_id = export.document.id or document_id
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
