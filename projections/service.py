"""Which projectors a migration phase runs, where their stores live, which store serves reads.

The CLI (`reactor-es run`, `project NAME`, `doc ID`, `job ID`) and the tests build
everything through these few functions, so a phase change is a change here only:

| Phase | Projectors                                | READ_READY from | Documents from           |
| ----- | ----------------------------------------- | --------------- | ------------------------ |
| 4     | legacy, jobs                              | legacy          | legacy storage           |
| 5     | legacy, operations, jobs, comparator      | legacy          | legacy storage           |
| 6     | operations, jobs                          | operations      | operation store, through |
|       |                                           |                 | the legacy read adapter  |

"comparator" is not a projector (it reads the two stores, not a topic) but runs beside
them with the same start/run/stop life cycle. What a switch between phases needs and
guarantees is in `projections.phase`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from projections.comparator import COMPARATOR_FILE, ComparatorService
from projections.exceptions import UnknownPhaseError, UnknownProjectorError
from projections.job_status import JOB_STORE_FILE, JobStatusProjector, SqliteJobStatusStore
from projections.legacy_adapter import OperationStoreFile
from projections.legacy_projector import LEGACY_STORE_FILE, LegacyProjector
from projections.operation_store_projector import OPERATION_STORE_FILE, OperationStoreProjector
from projections.runner import Projector, ProjectorRunner
from projections.stores.legacy import LegacyStorageReader
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from reactor_es.config import Settings
from reactor_es.registry import DocumentModelRegistry

__all__ = [
    "PhasePlan",
    "build_runners",
    "comparator_log_path",
    "job_store_path",
    "legacy_store_path",
    "open_document_reader",
    "open_job_store",
    "operation_store_path",
    "phase_plan",
    "projector_names_for_phase",
]


@dataclass(frozen=True)
class PhasePlan:
    """What one migration phase runs: projectors, who reports READ_READY, who serves reads."""

    phase: int
    projectors: tuple[str, ...]
    read_ready_by: str
    documents_from: str


_PHASES: dict[int, PhasePlan] = {
    4: PhasePlan(4, ("legacy", "jobs"), read_ready_by="legacy", documents_from="legacy"),
    # The comparator comes last: the projectors before it create the stores it reads.
    5: PhasePlan(
        5,
        ("legacy", "operations", "jobs", "comparator"),
        read_ready_by="legacy",
        documents_from="legacy",
    ),
    6: PhasePlan(
        6, ("operations", "jobs"), read_ready_by="operations", documents_from="operations"
    ),
}


def phase_plan(phase: int) -> PhasePlan:
    plan = _PHASES.get(phase)
    if plan is None:
        raise UnknownPhaseError(phase)
    return plan


def projector_names_for_phase(phase: int) -> tuple[str, ...]:
    """The projectors `reactor-es run` starts in this phase."""
    return phase_plan(phase).projectors


def legacy_store_path(settings: Settings) -> Path:
    return settings.home / LEGACY_STORE_FILE


def job_store_path(settings: Settings) -> Path:
    return settings.home / JOB_STORE_FILE


def operation_store_path(settings: Settings) -> Path:
    return settings.home / OPERATION_STORE_FILE


def comparator_log_path(settings: Settings) -> Path:
    return settings.home / COMPARATOR_FILE


_Factory = Callable[[Settings, str, DocumentModelRegistry], Projector[Any]]

_FACTORIES: dict[str, _Factory] = {
    "legacy": lambda settings, bootstrap, registry: LegacyProjector(
        settings,
        bootstrap,
        registry,
        reports_read_ready=phase_plan(settings.phase).read_ready_by == "legacy",
        store_path=legacy_store_path(settings),
    ),
    "jobs": lambda settings, bootstrap, registry: JobStatusProjector(
        settings, store_path=job_store_path(settings)
    ),
    "operations": lambda settings, bootstrap, registry: OperationStoreProjector(
        settings,
        bootstrap,
        registry,
        reports_read_ready=phase_plan(settings.phase).read_ready_by == "operations",
        store_path=operation_store_path(settings),
        # The jobs legacy storage held when it reported READ_READY (phase 5) are done.
        previous_reporter=legacy_store_path(settings),
    ),
}

#: Services that run beside the projectors without consuming a topic.
_SERVICES: dict[str, Callable[[Settings, DocumentModelRegistry], ComparatorService]] = {
    "comparator": lambda settings, registry: ComparatorService(
        settings,
        registry,
        legacy_path=legacy_store_path(settings),
        operations_path=operation_store_path(settings),
        log_path=comparator_log_path(settings),
    ),
}


def build_runners(
    settings: Settings,
    bootstrap_servers: str,
    registry: DocumentModelRegistry,
    names: Sequence[str],
    **runner_options: Any,
) -> list[ProjectorRunner[Any] | ComparatorService]:
    """One runner per named projector (or service), for `settings.phase`; none started yet.

    `runner_options` go to every `ProjectorRunner` (max_batch, poll_timeout_ms, ...).
    Unknown names are refused before anything is built.
    """
    phase_plan(settings.phase)
    for name in names:
        if name not in _FACTORIES and name not in _SERVICES:
            raise UnknownProjectorError(name, (*_FACTORIES, *_SERVICES))
    return [
        _SERVICES[name](settings, registry)
        if name in _SERVICES
        else ProjectorRunner(
            settings,
            bootstrap_servers,
            _FACTORIES[name](settings, bootstrap_servers, registry),
            **runner_options,
        )
        for name in names
    ]


async def open_job_store(settings: Settings) -> SqliteJobStatusStore:
    """The job-status store (a `JobStatusReader`); close it when done."""
    return await SqliteJobStatusStore.open(job_store_path(settings))


async def open_document_reader(settings: Settings) -> LegacyStorageReader:
    """The store serving documents in `settings.phase` (a `DocumentReader`); close it when done.

    Phases 4 and 5 read legacy storage. Phase 6 reads the operation store through the
    legacy read interface (`OperationStoreLegacyReader`, read-only).
    """
    if phase_plan(settings.phase).documents_from == "operations":
        return (await OperationStoreFile.open(operation_store_path(settings))).legacy_reader()
    return await SqliteLegacyStorage.open(legacy_store_path(settings))
