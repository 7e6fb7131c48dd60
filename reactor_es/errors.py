"""Root of the project's exception tree.

Every expected failure is a `ReactorError`, so the CLI can print it as one line and callers
can catch the whole family. Each package declares its own subclasses in its `exceptions.py`.
"""

from __future__ import annotations

__all__ = [
    "ClientError",
    "JobNotFoundError",
    "JobTimeoutError",
    "MixedScopesError",
    "PublishError",
    "ReactorError",
    "SettingsError",
]


class ReactorError(Exception):
    """An expected failure whose message is fit to show a user as it is."""


class SettingsError(ReactorError):
    """A setting (environment variable or config-file key, named in the message) is unusable."""


class ClientError(ReactorError):
    """A request made through the Reactor client was refused before anything was sent."""


class MixedScopesError(ClientError):
    """All actions of one job must share one scope (Powerhouse's queue rule)."""

    def __init__(self, document_id: str, scopes: list[str]) -> None:
        listed = ", ".join(f"'{scope}'" for scope in scopes)
        super().__init__(
            f"job for document {document_id} has actions in scopes {listed}: "
            "all actions of one job must share one scope"
        )


class PublishError(ReactorError):
    """Kafka did not take a job's record; the message says whether the job may still run."""


class JobNotFoundError(ReactorError):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} not found")


class JobTimeoutError(ReactorError):
    def __init__(self, job_id: str, status: str, wanted: str, timeout: float) -> None:
        self.job_id = job_id
        #: The job's status when the wait gave up (PENDING: not run yet).
        self.status = status
        super().__init__(
            f"job {job_id} is still {status} after {timeout:g}s (waiting for {wanted})"
        )
