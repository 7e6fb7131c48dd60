"""Group requests ride out a group coordinator that is not there yet.

A fresh broker creates `__consumer_offsets` on the first group request, answering
COORDINATOR_NOT_AVAILABLE meanwhile: `replay` on a broker no group had used failed with it.
The broker-level behaviour is transient and cannot be provoked on the shared test broker
(its offsets topic exists by then), so the retry rule itself is tested here.
"""

from __future__ import annotations

import pytest
from aiokafka.errors import (
    GroupCoordinatorNotAvailableError,
    GroupLoadInProgressError,
    KafkaConnectionError,
    NotCoordinatorForGroupError,
)

from reactor_es.kafka.inspection import _while_coordinator_moves


class Flaky:
    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "described"


async def test_retries_while_the_coordinator_moves() -> None:
    call = Flaky(
        GroupCoordinatorNotAvailableError(),
        GroupLoadInProgressError(),
        NotCoordinatorForGroupError(),
    )
    assert await _while_coordinator_moves(call, wait=5.0) == "described"
    assert call.calls == 4


async def test_gives_up_after_the_wait() -> None:
    call = Flaky(*[GroupCoordinatorNotAvailableError() for _ in range(100)])
    with pytest.raises(GroupCoordinatorNotAvailableError):
        await _while_coordinator_moves(call, wait=0.3)
    assert 2 <= call.calls <= 4  # one try every 0.2 s until 0.3 s have passed


async def test_other_errors_are_not_retried() -> None:
    call = Flaky(KafkaConnectionError("no broker"))
    with pytest.raises(KafkaConnectionError):
        await _while_coordinator_moves(call, wait=5.0)
    assert call.calls == 1
