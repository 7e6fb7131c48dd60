"""The wire contract: schema catalogue, framing, typed records, evolution, decode failures."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastavro.utils import generate_many

from reactor_es.document.types import Action, DocumentHeader, Operation
from reactor_es.kafka.codec import HEADER_SIZE, RecordCodec, frame_header, schema_id_of
from reactor_es.kafka.codec_errors import (
    InvalidRecordError,
    RecordDecodeError,
    RecordEncodeError,
    SchemaCatalogueError,
    UnknownSchemaError,
)
from reactor_es.kafka.records import (
    ActionEnvelope,
    DocumentSnapshot,
    HeaderHint,
    JobEvent,
    JobKind,
    JobStatus,
    OperationRecord,
    OperationRef,
    RecentOperation,
)
from reactor_es.kafka.schemas import (
    ACTION_ENVELOPE,
    DOCUMENT_SNAPSHOT,
    JOB_EVENT,
    OPERATION_RECORD,
    SCHEMAS_DIR,
    SNAPSHOT_CHECKPOINT,
    SchemaCatalogue,
    default_catalogue,
)
from tests.corpus import require_phd_dir

T0 = "2026-01-13T16:28:23.880Z"


@pytest.fixture(scope="module")
def codec() -> RecordCodec:
    return RecordCodec()


def make_action(
    action_id: str = "a-1", scope: str = "global", input: Any = None, type: str = "SET_NAME"
) -> Action:
    return Action(
        id=action_id,
        type=type,
        timestamp_utc_ms=T0,
        scope=scope,
        input={"name": "Invoice"} if input is None else input,
    )


def make_operation(index: int = 3, scope: str = "global") -> Operation:
    return Operation(
        id="op-3",
        index=index,
        skip=1,
        timestamp_utc_ms=T0,
        hash="XWeNLdPN+fQ=",
        error="boom",
        action=make_action(scope=scope),
    )


# -- catalogue -----------------------------------------------------------------------------


def test_catalogue_holds_every_schema_version_under_its_own_id() -> None:
    catalogue = default_catalogue()
    assert [(e.schema_id, e.name, e.version, e.file) for e in catalogue] == [
        (1, ACTION_ENVELOPE, 1, "action_envelope.v1.avsc"),
        (2, OPERATION_RECORD, 1, "operation_record.v1.avsc"),
        (3, JOB_EVENT, 1, "job_event.v1.avsc"),
        (4, OPERATION_RECORD, 2, "operation_record.v2.avsc"),
        (5, DOCUMENT_SNAPSHOT, 1, "document_snapshot.v1.avsc"),
        (6, ACTION_ENVELOPE, 2, "action_envelope.v2.avsc"),
        (7, DOCUMENT_SNAPSHOT, 2, "document_snapshot.v2.avsc"),
        (8, SNAPSHOT_CHECKPOINT, 1, "snapshot_checkpoint.v1.avsc"),
        (9, JOB_EVENT, 2, "job_event.v2.avsc"),
        (10, DOCUMENT_SNAPSHOT, 3, "document_snapshot.v3.avsc"),
    ]
    assert catalogue.current(ACTION_ENVELOPE).schema_id == 6
    assert catalogue.current(OPERATION_RECORD).schema_id == 4
    assert [e.version for e in catalogue.versions(OPERATION_RECORD)] == [1, 2]
    assert catalogue.names == (
        ACTION_ENVELOPE,
        DOCUMENT_SNAPSHOT,
        JOB_EVENT,
        OPERATION_RECORD,
        SNAPSHOT_CHECKPOINT,
    )
    # Every .avsc file in schemas/ is catalogued: none is written without an id.
    assert sorted(p.name for p in SCHEMAS_DIR.glob("*.avsc")) == sorted(e.file for e in catalogue)


def test_unknown_record_names_and_versions_are_refused(codec: RecordCodec) -> None:
    with pytest.raises(UnknownSchemaError) as err:
        codec.encode("reactor_es.Nope", {})
    assert str(err.value) == "no schema for record reactor_es.Nope in the catalogue"
    with pytest.raises(UnknownSchemaError) as err:
        codec.encode(JOB_EVENT, {}, version=7)
    assert str(err.value) == "no schema for record reactor_es.JobEvent v7 in the catalogue"


def copy_schemas(tmp_path: Path) -> Path:
    target = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR, target)
    return target


def rewrite_catalogue(directory: Path, change: Any) -> None:
    path = directory / "catalogue.json"
    document = json.loads(path.read_text())
    change(document["schemas"])
    path.write_text(json.dumps(document))


def test_an_edited_published_schema_is_refused_at_load(tmp_path: Path) -> None:
    directory = copy_schemas(tmp_path)
    path = directory / "operation_record.v1.avsc"
    path.write_text(path.read_text().replace('"revision_json"', '"revisions_json"'))
    with pytest.raises(SchemaCatalogueError) as err:
        SchemaCatalogue.load(directory)
    assert str(err.value) == (
        f"schema file {path} (id 2, reactor_es.OperationRecord v1) has fingerprint "
        "d9ac481b0df6a0e4, catalogued be8619a68fd105ab: a published schema must not change; "
        "add a new version with a new id instead"
    )


def test_a_reused_schema_id_is_refused(tmp_path: Path) -> None:
    directory = copy_schemas(tmp_path)
    rewrite_catalogue(directory, lambda entries: entries[4].update(id=3))
    with pytest.raises(SchemaCatalogueError) as err:
        SchemaCatalogue.load(directory)
    assert str(err.value) == (
        "schema id 3 is given to both reactor_es.JobEvent v1 and reactor_es.DocumentSnapshot v1"
    )


def test_a_version_catalogued_twice_is_refused(tmp_path: Path) -> None:
    directory = copy_schemas(tmp_path)
    rewrite_catalogue(directory, lambda entries: entries[3].update(version=1))
    with pytest.raises(SchemaCatalogueError) as err:
        SchemaCatalogue.load(directory)
    assert str(err.value) == (
        "reactor_es.OperationRecord v1 is catalogued twice (schema ids 2 and 4)"
    )


def test_a_missing_schema_file_is_refused(tmp_path: Path) -> None:
    directory = copy_schemas(tmp_path)
    (directory / "job_event.v1.avsc").unlink()
    with pytest.raises(SchemaCatalogueError) as err:
        SchemaCatalogue.load(directory)
    assert str(err.value) == (
        f"schema file {directory / 'job_event.v1.avsc'} (id 3, reactor_es.JobEvent v1) "
        "does not exist"
    )


def test_a_file_defining_another_record_is_refused(tmp_path: Path) -> None:
    directory = copy_schemas(tmp_path)
    rewrite_catalogue(directory, lambda entries: entries[2].update(file="action_envelope.v1.avsc"))
    with pytest.raises(SchemaCatalogueError) as err:
        SchemaCatalogue.load(directory)
    assert str(err.value) == (
        f"schema file {directory / 'action_envelope.v1.avsc'} (id 3, reactor_es.JobEvent v1) "
        "defines record reactor_es.ActionEnvelope, not reactor_es.JobEvent"
    )


def test_a_missing_catalogue_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SchemaCatalogueError) as err:
        SchemaCatalogue.load(tmp_path)
    assert str(err.value) == f"schema catalogue {tmp_path / 'catalogue.json'} does not exist"


# -- framing and round trips ---------------------------------------------------------------


def test_a_value_is_magic_byte_schema_id_and_avro_body(codec: RecordCodec) -> None:
    event = JobEvent(
        job_id="j", document_id="d", status=JobStatus.PENDING, at_utc_iso="t", source="client"
    )
    data = codec.encode_record(event)
    # 0x00, id 9 big-endian; then Avro: "j", "d", enum 0, null, empty array, "t", "client", null.
    assert data == b"\x00\x00\x00\x00\x09" + b"\x02j\x02d\x00\x00\x00\x02t\x0cclient\x00"
    assert frame_header(9) == data[:HEADER_SIZE]
    assert schema_id_of(data) == 9


def test_action_envelope_round_trip(codec: RecordCodec) -> None:
    envelope = ActionEnvelope(
        job_id="job-1",
        document_id="doc-1",
        document_type="powerhouse/document-model",
        scope="document",
        kind=JobKind.CREATE,
        actions=[
            make_action("a-1", "document", {"model": "powerhouse/document-model", "version": 0}),
            make_action("a-2", "document", {"fromVersion": 0, "toVersion": 1}),
        ],
        expected_revision=0,
        created_at_utc_iso=T0,
        client_id="cli",
        meta={"batchId": "b-1", "batchJobIds": ["job-1"]},
    )
    data = codec.encode_record(envelope)
    assert schema_id_of(data) == 6
    decoded = codec.decode(data, name=ACTION_ENVELOPE)
    assert decoded.writer.schema_id == 6
    assert decoded.value["skips"] == []
    assert decoded.value["actions"][1] == {
        "id": "a-2",
        "type": "SET_NAME",
        "timestamp_utc_ms": T0,
        "scope": "document",
        "input": '{"fromVersion":0,"toVersion":1}',
        "context": None,
    }
    assert decoded.value["meta"] == '{"batchId":"b-1","batchJobIds":["job-1"]}'
    assert codec.decode_record(data, ActionEnvelope) == envelope


def test_a_v1_action_envelope_reads_as_v2_with_no_skips(codec: RecordCodec) -> None:
    """A job written before skips existed (schema v1, id 1) is read with skips ()."""
    value = envelope_value()
    data = codec.encode(
        ACTION_ENVELOPE, {k: v for k, v in value.items() if k != "skips"}, version=1
    )
    assert schema_id_of(data) == 1
    job = codec.decode_record(data, ActionEnvelope)
    assert job.skips == ()
    assert job.skip_of(0) == 0
    assert [action.id for action in job.actions] == ["a-1"]


def test_operation_record_round_trip(codec: RecordCodec) -> None:
    record = OperationRecord(
        document_id="doc-1",
        document_type="powerhouse/document-model",
        job_id="job-1",
        operation=make_operation(),
        resulting_state='{"name":"Invoice"}',
        header=HeaderHint("Invoice", {"global": 4, "local": 0}, T0),
    )
    data = codec.encode_record(record)
    assert schema_id_of(data) == 4
    assert codec.decode(data).value["scope"] == "global"
    decoded = codec.decode_record(data, OperationRecord)
    assert decoded == record
    assert decoded.scope == "global"
    assert decoded.operation.error == "boom"
    assert decoded.operation.resulting_state is None  # it travels beside the operation
    assert decoded.resulting_state == '{"name":"Invoice"}'


def test_job_event_round_trip(codec: RecordCodec) -> None:
    operation = make_operation()
    event = JobEvent(
        job_id="job-1",
        document_id="doc-1",
        status=JobStatus.FAILED,
        at_utc_iso=T0,
        source="executor",
        operations=[OperationRef.of(operation)],
        error="Missing operations: expected 4 with skip 0 or equivalent, got index 6 with skip 0",
        meta={"attempt": 2},
    )
    decoded = codec.decode_record(codec.encode_record(event), JobEvent)
    assert decoded == event
    assert decoded.operations == (OperationRef("global", 3, 1, "op-3", "XWeNLdPN+fQ=", "boom"),)


def test_a_v1_job_event_reads_as_v2_with_operations_without_errors(codec: RecordCodec) -> None:
    """JobEvent v2 adds the reducer's error to each operation reference (default null)."""
    event = JobEvent(
        job_id="job-1",
        document_id="doc-1",
        status=JobStatus.WRITE_READY,
        at_utc_iso=T0,
        source="executor",
        operations=[OperationRef.of(make_operation())],
    )
    v1_value = event.to_avro()
    for ref in v1_value["operations"]:
        del ref["error"]
    old = codec.encode(JOB_EVENT, v1_value, version=1)
    assert old[:HEADER_SIZE] == b"\x00\x00\x00\x00\x03"
    decoded = codec.decode_record(old, JobEvent)
    assert decoded.operations == (OperationRef("global", 3, 1, "op-3", "XWeNLdPN+fQ=", None),)
    assert codec.encode_record(event)[:HEADER_SIZE] == b"\x00\x00\x00\x00\x09"


def test_document_snapshot_round_trip(codec: RecordCodec) -> None:
    header = DocumentHeader(
        id="doc-1",
        document_type="powerhouse/document-model",
        created_at_utc_iso=T0,
        revision={"document": 2, "global": 395},
        last_modified_at_utc_iso=T0,
        protocol_versions={"base-reducer": 2},
        meta={},
    )
    snapshot = DocumentSnapshot(
        header=header,
        state={"global": {"name": "Invoice", "ratio": 0.5}, "local": {}},
        source_partition=4,
        source_offset=1234567890123,
        taken_at_utc_iso=T0,
        recent_operations=(
            RecentOperation("act-1", "global", 394, 0, "op-394", "h394", T0),
            RecentOperation("act-2", "global", 395, 0, "op-395", "h394", T0, "no such item"),
        ),
    )
    data = codec.encode_record(snapshot)
    assert schema_id_of(data) == 10
    assert codec.decode(data).value["revision"] == {"document": 2, "global": 395}
    decoded = codec.decode_record(data, DocumentSnapshot)
    assert decoded == snapshot
    assert decoded.document_id == "doc-1"
    # A retry answered from the snapshot reports what the first attempt reported.
    assert decoded.recent_operations[1].ref() == OperationRef(
        "global", 395, 0, "op-395", "h394", "no such item"
    )


def test_json_values_come_back_with_their_python_types(codec: RecordCodec) -> None:
    value = {"f": 1.0, "i": 1, "big": 2**62, "s": "ü€😀", "n": None, "l": [True, False, {}]}
    envelope = ActionEnvelope(
        job_id="j",
        document_id="d",
        scope="global",
        kind=JobKind.MUTATE,
        actions=[make_action(input=value)],
        created_at_utc_iso=T0,
    )
    decoded = codec.decode_record(codec.encode_record(envelope), ActionEnvelope)
    got = decoded.actions[0].input
    assert got == value
    assert type(got["f"]) is float
    assert type(got["i"]) is int


def test_every_operation_of_the_phd_fixtures_round_trips(codec: RecordCodec) -> None:
    """Real Powerhouse operations (the modern shape: nested action with id and timestamp)."""
    count = files = 0
    for path in sorted(require_phd_dir().glob("*")):
        if path.suffix not in {".phd", ".zip"}:
            continue
        with zipfile.ZipFile(path) as archive:
            history = json.loads(archive.read("operations.json"))
            header = json.loads(archive.read("header.json"))
        modern = [
            op
            for ops in history.values()
            for op in ops
            if "id" in op
            and "timestampUtcMs" in op
            and {"id", "timestampUtcMs"} <= op.get("action", {}).keys()
        ]
        if not modern:  # older export shapes are the .phd reader's business
            continue
        files += 1
        hint = HeaderHint(header["name"], header["revision"], header["lastModifiedAtUtcIso"])
        for raw in modern:
            record = OperationRecord(
                header["id"],
                header["documentType"],
                "job-1",
                Operation.model_validate(raw),
                header=hint,
            )
            decoded = codec.decode_record(codec.encode_record(record), OperationRecord)
            assert decoded == record
            original_action = {k: v for k, v in raw["action"].items() if v is not None}
            assert decoded.operation.action.to_json() == original_action
            count += 1
    assert (files, count) == (18, 1818)


# -- evolution -----------------------------------------------------------------------------


def test_records_written_with_v1_are_read_with_the_current_schema(codec: RecordCodec) -> None:
    """One real evolution step: v2 drops `revision_json` and adds `header` (default null)."""
    current = OperationRecord(
        document_id="doc-1",
        document_type="powerhouse/document-model",
        job_id="job-1",
        operation=make_operation(),
        resulting_state='{"name":"Invoice"}',
    )
    v1_value = current.to_avro()
    del v1_value["header"]
    v1_value["revision_json"] = '{"global":4}'
    old = codec.encode(OPERATION_RECORD, v1_value, version=1)
    assert old[:HEADER_SIZE] == b"\x00\x00\x00\x00\x02"

    # A codec started later, with only the production catalogue, reads it.
    later = RecordCodec(SchemaCatalogue.load(SCHEMAS_DIR))
    decoded = later.decode(old)
    assert (decoded.writer.schema_id, decoded.writer.version) == (2, 1)
    assert "revision_json" not in decoded.value
    assert decoded.value["header"] is None
    assert later.decode_record(old, OperationRecord) == current
    # New records are written with v2 and carry its id.
    assert later.encode_record(current)[:HEADER_SIZE] == b"\x00\x00\x00\x00\x04"


#: (record, writer version, field) -> the field later versions added to its nested records.
NESTED_ADDITIONS = {
    (JOB_EVENT, 1, "operations"): "error",
    (DOCUMENT_SNAPSHOT, 1, "recent_operations"): "error",
    (DOCUMENT_SNAPSHOT, 2, "recent_operations"): "error",
}


def test_every_catalogued_version_is_readable_as_the_current_one(codec: RecordCodec) -> None:
    catalogue = codec.catalogue
    checked = 0
    for entry in catalogue:
        current = catalogue.current(entry.name)
        writer_fields = {f["name"] for f in entry.parsed["fields"]}
        for value in generate_many(entry.parsed, 25):
            decoded = codec.decode(codec.encode(entry.name, value, version=entry.version))
            assert decoded.writer == entry
            for reader_field in current.parsed["fields"]:
                name = reader_field["name"]
                wanted = value[name] if name in writer_fields else reader_field["default"]
                nested = NESTED_ADDITIONS.get((entry.name, entry.version, name))
                if nested is not None:  # a field a later version added to nested records
                    wanted = [{**item, nested: None} for item in wanted]
                assert decoded.value[name] == wanted, (entry.describe(), name)
            checked += 1
    assert checked == 25 * 10


# -- failures ------------------------------------------------------------------------------


def job_event_bytes(codec: RecordCodec) -> bytes:
    event = JobEvent(
        job_id="job-1",
        document_id="doc-1",
        status=JobStatus.RUNNING,
        at_utc_iso=T0,
        source="executor",
    )
    return codec.encode_record(event)


def test_a_short_value_is_undecodable(codec: RecordCodec) -> None:
    with pytest.raises(RecordDecodeError) as err:
        codec.decode(b"\x00\x00\x03")
    assert str(err.value) == (
        "value of 3 bytes is shorter than the 5-byte header (magic byte + schema id)"
    )
    assert err.value.schema_id is None


def test_a_value_without_the_magic_byte_is_undecodable(codec: RecordCodec) -> None:
    with pytest.raises(RecordDecodeError) as err:
        codec.decode(b'{"job_id": "j"}')
    assert str(err.value) == (
        "value starts with byte 0x7b, not the magic byte 0x00 of the schema-id framing"
    )


def test_an_unknown_schema_id_is_undecodable(codec: RecordCodec) -> None:
    data = frame_header(99) + job_event_bytes(codec)[HEADER_SIZE:]
    with pytest.raises(RecordDecodeError) as err:
        codec.decode(data)
    assert str(err.value) == (
        "unknown schema id 99 (not in the schema catalogue; written by a newer or foreign "
        "producer?)"
    )
    assert err.value.schema_id == 99


def test_a_truncated_body_is_undecodable(codec: RecordCodec) -> None:
    data = job_event_bytes(codec)
    with pytest.raises(RecordDecodeError) as err:
        codec.decode(data[:-12])
    assert str(err.value) == (
        f"cannot decode reactor_es.JobEvent v2 (schema id 9) from {len(data) - 12} bytes: "
        "EOFError: Expected 24 bytes, read 22"
    )
    assert err.value.schema_id == 9


def test_trailing_bytes_make_a_value_undecodable(codec: RecordCodec) -> None:
    data = job_event_bytes(codec) + b"\x02x"
    with pytest.raises(RecordDecodeError) as err:
        codec.decode(data)
    assert str(err.value) == (
        f"reactor_es.JobEvent v2 (schema id 9) body leaves 2 trailing bytes of {len(data)} "
        "(written with another schema under this id?)"
    )


def test_garbage_under_a_known_id_is_undecodable(codec: RecordCodec) -> None:
    data = frame_header(3) + b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"
    with pytest.raises(RecordDecodeError) as err:
        codec.decode(data)
    # A length prefix of -2**63: fastavro's own message, kept on one line.
    assert str(err.value) == (
        "cannot decode reactor_es.JobEvent v1 (schema id 3) from 16 bytes: EOFError: "
        "Expected -9223372036854775808 bytes, read 0"
    )


def test_a_record_of_another_type_is_undecodable_as_this_type(codec: RecordCodec) -> None:
    with pytest.raises(RecordDecodeError) as err:
        codec.decode_record(job_event_bytes(codec), OperationRecord)
    assert str(err.value) == (
        "value is a reactor_es.JobEvent v2 (schema id 9), expected a reactor_es.OperationRecord"
    )


def envelope_value(**changes: Any) -> dict[str, Any]:
    envelope = ActionEnvelope(
        job_id="job-1",
        document_id="doc-1",
        scope="global",
        kind=JobKind.MUTATE,
        actions=[make_action()],
        created_at_utc_iso=T0,
    )
    value = envelope.to_avro()
    value.update(changes)
    return value


def test_an_action_input_that_is_not_json_is_undecodable(codec: RecordCodec) -> None:
    value = envelope_value()
    value["actions"][0]["input"] = "{name: 1}"
    data = codec.encode(ACTION_ENVELOPE, value)
    with pytest.raises(RecordDecodeError) as err:
        codec.decode_record(data, ActionEnvelope)
    assert str(err.value) == (
        "reactor_es.ActionEnvelope v2 (schema id 6) is invalid: job job-1: actions[0].input "
        "is not valid JSON text: Expecting property name enclosed in double quotes: line 1 "
        "column 2 (char 1)"
    )


def test_a_job_leaving_its_scope_is_undecodable(codec: RecordCodec) -> None:
    value = envelope_value(scope="local")
    data = codec.encode(ACTION_ENVELOPE, value)
    with pytest.raises(RecordDecodeError) as err:
        codec.decode_record(data, ActionEnvelope)
    assert str(err.value) == (
        "reactor_es.ActionEnvelope v2 (schema id 6) is invalid: job job-1 for document doc-1: "
        "actions[0] (SET_NAME, id a-1) is in scope 'global', the job is in scope 'local'"
    )


def test_encoding_a_value_that_misfits_the_schema_fails(codec: RecordCodec) -> None:
    value = envelope_value()
    del value["created_at_utc_iso"]
    with pytest.raises(RecordEncodeError) as err:
        codec.encode(ACTION_ENVELOPE, value)
    assert str(err.value) == (
        "cannot encode reactor_es.ActionEnvelope v2 (schema id 6): no value and no default "
        "for created_at_utc_iso"
    )
    with pytest.raises(RecordEncodeError) as err:
        codec.encode(ACTION_ENVELOPE, envelope_value(kind="UPSERT"))
    assert str(err.value) == (
        "cannot encode reactor_es.ActionEnvelope v2 (schema id 6): 'UPSERT' is not in list"
    )


def test_a_job_with_an_action_of_another_scope_cannot_be_built() -> None:
    with pytest.raises(InvalidRecordError) as err:
        ActionEnvelope(
            job_id="job-1",
            document_id="doc-1",
            scope="global",
            kind=JobKind.MUTATE,
            actions=[make_action("a-1"), make_action("a-2", scope="local")],
            created_at_utc_iso=T0,
        )
    assert str(err.value) == (
        "job job-1 for document doc-1: actions[1] (SET_NAME, id a-2) is in scope 'local', "
        "the job is in scope 'global'"
    )


def test_a_create_job_needs_a_document_type() -> None:
    with pytest.raises(InvalidRecordError) as err:
        ActionEnvelope(
            job_id="job-1",
            document_id="doc-1",
            scope="document",
            kind=JobKind.CREATE,
            actions=[],
            created_at_utc_iso=T0,
        )
    assert str(err.value) == "job job-1 creates document doc-1 without a document_type"


def test_a_failed_job_event_needs_an_error() -> None:
    with pytest.raises(InvalidRecordError) as err:
        JobEvent("job-1", "doc-1", JobStatus.FAILED, T0, "executor")
    assert str(err.value) == "job job-1 for document doc-1 is FAILED without an error"


def test_an_input_that_is_not_json_cannot_be_encoded(codec: RecordCodec) -> None:
    envelope = ActionEnvelope(
        job_id="job-1",
        document_id="doc-1",
        scope="global",
        kind=JobKind.MUTATE,
        actions=[make_action(input={"ratio": float("nan")})],
        created_at_utc_iso=T0,
    )
    with pytest.raises(InvalidRecordError) as err:
        codec.encode_record(envelope)
    assert str(err.value) == (
        "job job-1: actions[0].input is not JSON: Out of range float values are not JSON compliant"
    )


def test_operation_record_scope_must_be_its_actions(codec: RecordCodec) -> None:
    record = OperationRecord("doc-1", "powerhouse/document-model", "job-1", make_operation())
    value = record.to_avro()
    value["scope"] = "local"
    with pytest.raises(RecordDecodeError) as err:
        codec.decode_record(codec.encode(OPERATION_RECORD, value), OperationRecord)
    assert str(err.value) == (
        "reactor_es.OperationRecord v2 (schema id 4) is invalid: document doc-1 scope local "
        "index 3: the operation's action is in scope 'global'"
    )
