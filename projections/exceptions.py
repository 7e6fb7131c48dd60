"""Expected failures of the projector runtime (the stores keep theirs in `stores/exceptions.py`).

Every message is one line naming the projector, topic or partition involved, because the
CLI prints it as is.
"""

from __future__ import annotations

from collections.abc import Mapping

from reactor_es.errors import ReactorError

__all__ = [
    "CatchUpTimeoutError",
    "ProjectorError",
    "ProjectorStateError",
    "ReplayError",
    "UnknownPhaseError",
    "UnknownProjectorError",
]


class ProjectorError(ReactorError):
    """A projector could not be built, started or waited on."""


class UnknownProjectorError(ProjectorError):
    """A projector name that `projections.service` does not know."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        self.name = name
        super().__init__(f"unknown projector '{name}' (known: {', '.join(known)})")


class UnknownPhaseError(ProjectorError):
    """A migration phase other than 4, 5 or 6."""

    def __init__(self, phase: int) -> None:
        self.phase = phase
        super().__init__(f"phase {phase} is not a migration phase (use 4, 5 or 6)")


class ProjectorStateError(ProjectorError):
    """A runner was used in the wrong state (e.g. waited on before `start()`)."""


class ReplayError(ProjectorError):
    """A replay of a store from its topic was refused or could not finish (`projections.replay`)."""


class CatchUpTimeoutError(ProjectorError):
    """`wait_caught_up` gave up; names every partition still behind and where it stands."""

    def __init__(
        self,
        projector: str,
        topic: str,
        behind: Mapping[int, tuple[int | None, int]],
        timeout: float,
    ) -> None:
        self.projector = projector
        self.topic = topic
        self.behind = dict(behind)
        parts = ", ".join(
            f"[{partition}] at {'nothing' if stored is None else stored} of {end}"
            for partition, (stored, end) in sorted(self.behind.items())
        )
        super().__init__(
            f"projector {projector} did not catch up with {topic} within {timeout:g} s: {parts}"
        )
