"""Encode/decode rates of the wire codec, per record type (no broker involved).

Run: `.venv/bin/python bench/bench_codec.py [--n 20000]`. Records are shaped like real ones:
a Powerhouse document-model operation input, a 1 KiB resulting state, a 20 KiB snapshot.
"Avro" rows are the dict level (framing + fastavro); "typed" rows add the conversion to and
from the domain types (JSON text of inputs, pydantic Action/Operation).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from reactor_es.document.types import Action, DocumentHeader, Operation
from reactor_es.kafka.codec import RecordCodec, WireRecord
from reactor_es.kafka.records import (
    ActionEnvelope,
    DocumentSnapshot,
    HeaderHint,
    JobEvent,
    JobKind,
    JobStatus,
    OperationRecord,
    OperationRef,
)
from reactor_es.kafka.schemas import OPERATION_RECORD

T0 = "2026-01-13T16:28:23.880Z"
INPUT = {
    "id": "9b3c2a8e-5d41-4f0e-9c7a-2f1b8e6d4c3a",
    "name": "lineItems",
    "scope": "global",
    "schema": "type LineItem { id: OID! description: String quantity: Float unitPrice: Amount }",
    "template": "",
    "description": "Items on the invoice",
    "examples": [],
}


def action(n: int) -> Action:
    return Action(id=f"action-{n}", type="ADD_STATE_SCHEMA", timestamp_utc_ms=T0, input=INPUT)


def records() -> dict[str, WireRecord]:
    operation = Operation(
        id="0c2e6b0f9a8d4c1e2b3a4f5d6e7c8b9a",
        index=394,
        skip=0,
        timestamp_utc_ms=T0,
        hash="XWeNLdPN+fQyVd1GbnJq2m8yXkA=",
        action=action(0),
    )
    items = [{"id": f"item-{i}", "quantity": i * 1.5, "label": "x" * 20} for i in range(200)]
    state = {"items": items}
    return {
        "ActionEnvelope (1 action)": ActionEnvelope(
            job_id="job-1", document_id="doc-1", scope="global", kind=JobKind.MUTATE,
            actions=[action(0)], created_at_utc_iso=T0, client_id="cli",
        ),
        "ActionEnvelope (10 actions)": ActionEnvelope(
            job_id="job-1", document_id="doc-1", scope="global", kind=JobKind.MUTATE,
            actions=[action(n) for n in range(10)], created_at_utc_iso=T0,
        ),
        "OperationRecord (1 KiB state)": OperationRecord(
            document_id="doc-1", document_type="powerhouse/document-model", job_id="job-1",
            operation=operation, resulting_state='{"name":"' + "x" * 1000 + '"}',
            header=HeaderHint("Invoice", {"document": 2, "global": 395, "local": 0}, T0),
        ),
        "JobEvent (1 ref)": JobEvent(
            job_id="job-1", document_id="doc-1", status=JobStatus.WRITE_READY, at_utc_iso=T0,
            source="executor", operations=[OperationRef.of(operation)],
        ),
        "DocumentSnapshot (~20 KiB)": DocumentSnapshot(
            header=DocumentHeader(
                id="doc-1", document_type="powerhouse/document-model", created_at_utc_iso=T0,
                revision={"document": 2, "global": 395},
            ),
            state={"global": state, "local": {}},
            source_partition=3, source_offset=123456, taken_at_utc_iso=T0,
        ),
    }  # fmt: skip


def rate(n: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(n):
            work()
        best = min(best, time.perf_counter() - started)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    n = parser.parse_args().n
    codec = RecordCodec()
    print(f"{'record':32} {'bytes':>7} {'Avro enc/s':>11} {'Avro dec/s':>11} "
          f"{'typed enc/s':>12} {'typed dec/s':>12}")  # fmt: skip
    for label, record in records().items():
        value = record.to_avro()
        data = codec.encode_record(record)
        record_type = type(record)
        scale = n if len(data) < 4096 else n // 10
        print(
            f"{label:32} {len(data):>7} "
            f"{rate(scale, lambda: codec.encode(record.AVRO_NAME, value)):>11,.0f} "  # noqa: B023
            f"{rate(scale, lambda: codec.decode(data)):>11,.0f} "  # noqa: B023
            f"{rate(scale, lambda: codec.encode_record(record)):>12,.0f} "  # noqa: B023
            f"{rate(scale, lambda: codec.decode_record(data, record_type)):>12,.0f}"  # noqa: B023
        )
    # Reading a v1 record with the v2 reader (schema resolution on every read).
    op = records()["OperationRecord (1 KiB state)"].to_avro()
    del op["header"]
    old = codec.encode(OPERATION_RECORD, {**op, "revision_json": '{"global":395}'}, version=1)
    print(f"{'OperationRecord v1 read as v2':32} {len(old):>7} {'':>11} "
          f"{rate(n, lambda: codec.decode(old)):>11,.0f} {'':>12} "
          f"{rate(n, lambda: codec.decode_record(old, OperationRecord)):>12,.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
