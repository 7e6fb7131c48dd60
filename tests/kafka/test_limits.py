"""Measuring a record before it is sent: the producer's own bound, against each topic's limit."""

from __future__ import annotations

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from reactor_es.kafka.clients import MAX_REQUEST_SIZE
from reactor_es.kafka.limits import (
    DEFAULT_MAX_MESSAGE_BYTES,
    RecordLimits,
    RecordTooLargeError,
    record_size,
)


def built_batch_size(key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> int:
    """The bytes of the one-record batch aiokafka really sends (uncompressed, magic 2)."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=True,
        producer_id=1,
        producer_epoch=0,
        base_sequence=0,
        batch_size=256 * 1024,
    )
    assert builder.append(0, timestamp=None, key=key, value=value, headers=headers) is not None
    return len(builder.build())


@pytest.mark.parametrize(
    ("key", "value", "headers", "bound", "built"),
    [
        (b"doc", b"x" * 1000, [], 1089, 1073),
        (b"bigdoc", b"x" * 1_800_000, [], 1_800_094, 1_800_080),
        (b"k", b"", [("reason", b"r" * 300)], 395, 379),
    ],
)
def test_record_size_is_the_producers_bound_of_its_one_record_batch(
    key: bytes, value: bytes, headers: list[tuple[str, bytes]], bound: int, built: int
) -> None:
    assert record_size(key, value, headers) == bound
    # At most 16 bytes above the batch really sent: a conservative, tight bound.
    assert built_batch_size(key, value, headers) == built


def test_the_limit_is_the_lower_of_the_request_size_and_the_topics() -> None:
    limits = RecordLimits({"ops": 5_000_000, "small": 400_000, "huge": 50_000_000})
    assert limits.limit("ops") == 5_000_000
    assert limits.limit("small") == 400_000
    assert limits.limit("huge") == MAX_REQUEST_SIZE == 8_388_608
    assert limits.limit("unknown") == DEFAULT_MAX_MESSAGE_BYTES == 1_048_588


def test_check_passes_up_to_the_limit_and_names_the_record_beyond_it() -> None:
    value = b"v" * (1_048_588 - 82 - 1 - 3 - 1 - 3)  # a bound of exactly the limit
    limits = RecordLimits()
    assert record_size(b"doc", value) == 1_048_588
    limits.check("operation record of document doc", "ops", b"doc", value)
    with pytest.raises(RecordTooLargeError) as refused:
        limits.check("operation record of document doc", "ops", b"doc", value + b"v")
    assert str(refused.value) == (
        "operation record of document doc is 1,048,589 bytes, over the 1,048,588-byte limit "
        "of topic 'ops' (max.request.size / max.message.bytes)"
    )
    assert (refused.value.size, refused.value.limit, refused.value.topic) == (
        1_048_589,
        1_048_588,
        "ops",
    )
