"""Switching migration phases: what a switch needs first, and why nothing is lost by it.

What each phase runs is the table in `projections.service` (`PhasePlan`). A switch is a
restart of `reactor-es run` under the new `REACTOR_ES_PHASE`; nothing is copied between
stores, because each projector reads `operations` from the positions its own store holds:

- 4 → 5: the operation-store projector starts at the beginning of `operations` (which must
  keep every record: infinite retention) and catches up; the comparator then reports.
- 5 → 6: only once the comparator finds both stores level (same consumed offsets) and in
  agreement: that is what `check_switch` asks. The operation store then serves reads through
  the legacy adapter, and its projector takes READ_READY over from the legacy projector's
  last stored positions, so a job stored by the operation store in phase 5 but not yet by
  legacy storage still gets its READ_READY (see `operation_store_projector`). Legacy storage
  is no longer written; what it held stays readable, identical, through the adapter.
- 6 → 5 or 4 (going back): the legacy projector resumes from its own positions and catches
  up on what phase 6 wrote; jobs both projectors report get READ_READY twice, which moves no
  job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from projections.comparator import Comparison, comparator_for
from projections.exceptions import ProjectorError
from projections.legacy_adapter import OperationStoreFile
from projections.service import legacy_store_path, operation_store_path, phase_plan
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from reactor_es.config import Settings
from reactor_es.registry import DocumentModelRegistry

__all__ = ["MissingStoreError", "SwitchCheck", "check_switch", "open_compared_stores"]


class MissingStoreError(ProjectorError):
    """A command needs a store that no projector has written yet."""

    def __init__(self, what: str, path: Path) -> None:
        self.path = path
        super().__init__(
            f"no {what} at {path} (check REACTOR_ES_HOME; run phase 5 to fill both stores)"
        )


@dataclass
class SwitchCheck:
    """Whether the deployment may move from `current` to `target`, and why (not)."""

    current: int
    target: int
    ready: bool
    reasons: list[str] = field(default_factory=list)
    comparison: Comparison | None = None

    def verdict(self) -> str:
        state = "ready" if self.ready else "not ready"
        return f"phase {self.current} → {self.target}: {state}"


def _missing_stores(settings: Settings) -> list[tuple[str, Path]]:
    return [
        (what, path)
        for what, path in (
            ("legacy storage", legacy_store_path(settings)),
            ("operation store", operation_store_path(settings)),
        )
        if not path.exists()
    ]


async def open_compared_stores(
    settings: Settings,
) -> tuple[SqliteLegacyStorage, OperationStoreFile]:
    """Both stores of phase 5, refusing (one line) if either has never been written."""
    missing = _missing_stores(settings)
    if missing:
        raise MissingStoreError(*missing[0])
    legacy = await SqliteLegacyStorage.open(legacy_store_path(settings))
    try:
        operations = await OperationStoreFile.open(operation_store_path(settings))
    except BaseException:
        await legacy.close()
        raise
    return legacy, operations


async def check_switch(
    settings: Settings, target: int, registry: DocumentModelRegistry, *, wait: float = 10.0
) -> SwitchCheck:
    """Check the stores for a switch from `settings.phase` to `target` (no Kafka needed)."""
    current = settings.phase
    phase_plan(current)
    phase_plan(target)
    check = SwitchCheck(current, target, ready=True)
    if target == current:
        check.reasons.append(f"already in phase {current}")
        return check
    if target == 6:
        return await _check_operation_store_primary(settings, registry, check, wait)
    if current == 6:
        held = legacy_store_path(settings)
        check.reasons.append(
            f"the legacy projector resumes from the positions in {held}"
            if held.exists()
            else f"no legacy storage at {held}: the legacy projector rebuilds it from the "
            "beginning of operations"
        )
    else:
        check.reasons.append(
            "the operation-store projector fills its store from the beginning of operations"
            if target == 5
            else "the operation store and the comparator stop; legacy storage goes on"
        )
    return check


async def _check_operation_store_primary(
    settings: Settings, registry: DocumentModelRegistry, check: SwitchCheck, wait: float
) -> SwitchCheck:
    missing = [f"no {what} at {path}" for what, path in _missing_stores(settings)]
    if missing:
        check.ready = False
        check.reasons.extend(missing)
        check.reasons.append("run phase 5 until the comparator finds both stores equal")
        return check
    legacy, operations = await open_compared_stores(settings)
    try:
        comparator = comparator_for(settings, legacy, operations, registry.document_types())
        comparison = await comparator.compare_level(wait)
    finally:
        await legacy.close()
        await operations.close()
    check.comparison = comparison
    if comparison.divergences:
        check.ready = False
        check.reasons.append(f"the stores diverge ({comparison.summary()})")
    if comparison.deferred:
        check.ready = False
        check.reasons.append(
            f"{len(comparison.deferred)} partitions did not stand level within {wait:g} s"
        )
    if check.ready:
        check.reasons.append(f"both stores level and equal ({comparison.summary()})")
    return check
