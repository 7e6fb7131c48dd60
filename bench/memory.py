"""Resident memory of a process, read the way the kernel counts it.

Linux gives the current (`VmRSS`) and peak (`VmHWM`) resident set in `/proc/<pid>/status`;
writing 5 to `/proc/<pid>/clear_refs` resets the peak, so a phase can be measured on its
own. Elsewhere only the peak of the calling process is known (`getrusage`).
"""

from __future__ import annotations

import os
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MemorySample", "reset_peak", "sample"]


@dataclass(frozen=True)
class MemorySample:
    """Resident memory in MiB: now, and the peak since start (or since `reset_peak`)."""

    rss_mib: float
    peak_mib: float

    def to_json(self) -> dict[str, float]:
        return {"rssMiB": round(self.rss_mib, 1), "peakMiB": round(self.peak_mib, 1)}


def _status(pid: int) -> dict[str, float]:
    values: dict[str, float] = {}
    path = Path(f"/proc/{pid}/status")
    for line in path.read_text(encoding="ascii", errors="replace").splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024  # kB
    return values


def sample(pid: int | None = None) -> MemorySample:
    """Memory of `pid` (default: this process)."""
    pid = os.getpid() if pid is None else pid
    try:
        values = _status(pid)
        return MemorySample(values["VmRSS"], values["VmHWM"])
    except (OSError, KeyError):
        if pid != os.getpid():
            raise
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak_mib = peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
        return MemorySample(peak_mib, peak_mib)


def reset_peak(pid: int | None = None) -> bool:
    """Reset the peak to the current RSS; False where the kernel does not allow it."""
    pid = os.getpid() if pid is None else pid
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True
