"""Job information as clients see it (Powerhouse's JobInfo), and where it can be read.

The client learns the status of its own jobs from the `job-events` topic; any process can
ask a job-status store (the job-status projection) about any job. Both speak `JobInfo`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from reactor_es.document.types import Document
from reactor_es.kafka.records import JobEvent, JobStatus, OperationRef

__all__ = ["STATUS_RANK", "DocumentReader", "JobInfo", "JobStatusReader"]

#: Order of the lifecycle; a status never moves back (events may arrive out of order).
STATUS_RANK: dict[JobStatus, int] = {
    JobStatus.PENDING: 0,
    JobStatus.RUNNING: 1,
    JobStatus.WRITE_READY: 2,
    JobStatus.READ_READY: 3,
    JobStatus.FAILED: 3,
}


@dataclass(frozen=True)
class JobInfo:
    """Where a job stands: PENDING → RUNNING → WRITE_READY → READ_READY, or FAILED."""

    id: str
    document_id: str
    status: JobStatus
    created_at_utc_iso: str
    updated_at_utc_iso: str = ""
    error: str | None = None
    operations: Sequence[OperationRef] = field(default_factory=tuple)
    #: Jobs this job caused (e.g. a drive's child documents), as the executor reported them.
    children: Sequence[str] = field(default_factory=tuple)

    @property
    def done(self) -> bool:
        return self.status in (JobStatus.READ_READY, JobStatus.FAILED)

    def reached(self, status: JobStatus) -> bool:
        """True when the job is at `status` or beyond (FAILED counts as the end)."""
        if self.status is JobStatus.FAILED:
            return True
        return STATUS_RANK[self.status] >= STATUS_RANK[status]

    def advance(self, event: JobEvent) -> JobInfo:
        """This job after `event`, ignoring events that would move it backwards."""
        if self.status is JobStatus.FAILED:
            return self
        if event.status is not JobStatus.FAILED and (
            STATUS_RANK[event.status] <= STATUS_RANK[self.status]
        ):
            return self
        return replace(
            self,
            document_id=event.document_id or self.document_id,
            status=event.status,
            updated_at_utc_iso=event.at_utc_iso,
            error=event.error if event.error is not None else self.error,
            operations=tuple(event.operations) or tuple(self.operations),
            children=_children(event) or tuple(self.children),
        )

    @classmethod
    def from_event(cls, event: JobEvent) -> JobInfo:
        return cls(
            id=event.job_id,
            document_id=event.document_id,
            status=event.status,
            created_at_utc_iso=event.at_utc_iso,
            updated_at_utc_iso=event.at_utc_iso,
            error=event.error,
            operations=tuple(event.operations),
            children=_children(event),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "documentId": self.document_id,
            "status": self.status.value,
            "createdAtUtcIso": self.created_at_utc_iso,
            "updatedAtUtcIso": self.updated_at_utc_iso,
            "error": self.error,
            "operations": [
                {
                    "scope": r.scope,
                    "index": r.index,
                    "skip": r.skip,
                    "id": r.id,
                    "hash": r.hash,
                    "error": r.error,
                }
                for r in self.operations
            ],
            "children": list(self.children),
        }


def _children(event: JobEvent) -> tuple[str, ...]:
    jobs = (event.meta or {}).get("childJobs")
    return tuple(str(job) for job in jobs) if isinstance(jobs, list) else ()


class JobStatusReader(Protocol):
    """Anything that can say where a job stands (the job-status projection)."""

    async def get_job(self, job_id: str) -> JobInfo | None: ...


class DocumentReader(Protocol):
    """Anything that can return a materialised document (a read store of the phase)."""

    async def get_document(self, document_id: str) -> Document: ...
