"""What the numbers were measured on: CPU, memory, Python, Kafka, and how busy the box was."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from reactor_es.kafka.broker import KAFKA_VERSION

__all__ = ["describe_machine", "load_average"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _java() -> str:
    try:
        done = subprocess.run(
            ["java", "-version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[0] if lines else "unknown"


def load_average() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


def describe_machine(kafka_version: str | None, kafka_source: str) -> dict[str, Any]:
    """The machine as the report describes it (`kafka_source` says which broker ran)."""
    import aiokafka
    import fastavro
    import pydantic

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memoryGiB": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "aiokafka": aiokafka.__version__,
        "fastavro": fastavro.__version__,
        "pydantic": pydantic.VERSION,
        "kafka": f"Apache Kafka {kafka_version} (single node, KRaft, {kafka_source})"
        if kafka_version
        else f"unknown version ({kafka_source} broker; the project pins {KAFKA_VERSION})",
        "java": _java(),
        "loadAverageAtStart": [round(x, 2) for x in load_average()],
    }
