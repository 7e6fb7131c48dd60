"""Operation ids and timestamps."""

from __future__ import annotations

import re
import uuid

from reactor_es.document.ids import derive_operation_id, new_id, utc_now_iso


def test_operation_id_matches_a_real_export() -> None:
    # contributor-billing Snapshot_Report.phd, CREATE_DOCUMENT at document index 0.
    assert (
        derive_operation_id(
            "67dc5c27-ac8c-46bf-9fd5-f9b6c87fcbe1",
            "document",
            "main",
            "3784a9dd-187a-4437-98f4-38ca350cf9b2",
        )
        == "c80df703ae4d6b6911b6c7faa6ea1565"
    )


def test_operation_id_depends_on_scope_and_branch_only() -> None:
    assert derive_operation_id("todo-1", "global", "main", "a-add-1") == (
        "018146107029a442bf36a4572bd4462b"
    )
    assert derive_operation_id("todo-1", "global", "feature", "a-add-1") == (
        "fb647e1c6fd9a228fcc6a943b6094786"
    )


def test_new_id_is_a_uuid4() -> None:
    assert uuid.UUID(new_id()).version == 4


def test_utc_now_iso_has_javascript_shape() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", utc_now_iso())
