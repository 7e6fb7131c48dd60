"""CPU time per process, so a phase can say which process used the two cores."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CpuMeter", "cpu_seconds"]

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of `pid` so far (None if unknown or gone)."""
    if pid == os.getpid():
        return time.process_time()
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


@dataclass
class CpuMeter:
    """CPU seconds each named process spent between `start` and `stop`, and the wall time."""

    pids: Mapping[str, int]
    _start: dict[str, float | None] = field(default_factory=dict)
    _wall: float = 0.0

    def start(self) -> CpuMeter:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._wall = time.perf_counter()
        return self

    def stop(self) -> dict[str, float]:
        """Share of one core per process (1.0 = one core busy all the time), and the wall."""
        wall = time.perf_counter() - self._wall
        shares: dict[str, float] = {"wallSeconds": round(wall, 3)}
        for name, pid in self.pids.items():
            before, after = self._start.get(name), cpu_seconds(pid)
            if before is not None and after is not None and wall > 0:
                shares[name] = round((after - before) / wall, 3)
        return shares
