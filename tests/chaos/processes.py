"""Executors as real OS processes: started, SIGKILLed by pid, restarted, logged.

Each `ExecutorProcess` is one slot (`executor-0`, ...) with its own environment (the
test's topic prefix, a private `REACTOR_ES_HOME`) running `reactor-es executor`; every
incarnation appends to the slot's log file, which failures attach. The harness talks to
the executors only through Kafka.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from reactor_es.config import Settings
from tests.chaos.exceptions import ChaosFailure

__all__ = ["ExecutorProcess", "reactor_es_command"]


def reactor_es_command() -> str:
    """The `reactor-es` script of the interpreter running the tests (the project's venv)."""
    beside = Path(sys.executable).parent / "reactor-es"
    if beside.exists():
        return str(beside)
    found = shutil.which("reactor-es")
    if found is None:
        raise ChaosFailure("no `reactor-es` command: run `pip install -e '.[dev]'` in the venv")
    return found


def _die_with_test_run() -> None:
    """preexec_fn: Linux SIGKILLs the executor when the test process dies (no orphans)."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


@dataclass
class ExecutorProcess:
    """One `reactor-es executor` OS process: started, killed and restarted by the test.

    Every start appends to the same log file, with a banner, so a failure shows the whole
    life of the slot (each incarnation's stderr included).
    """

    name: str
    settings: Settings
    bootstrap: str
    workdir: Path
    process: asyncio.subprocess.Process | None = None
    starts: int = 0
    #: `time.monotonic()` of the latest start.
    started_at: float = 0.0
    #: Exit codes of the ended incarnations (-9: SIGKILL).
    exits: list[int] = field(default_factory=list)

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise ChaosFailure(f"executor {self.name} was never started")
        return self.process.pid

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            KAFKA_BOOTSTRAP_SERVERS=self.bootstrap,
            REACTOR_ES_TOPIC_PREFIX=self.settings.topic_prefix,
            REACTOR_ES_PARTITIONS=str(self.settings.partitions),
            REACTOR_ES_HOME=str(self.workdir / f"{self.name}-home"),
            # A SIGKILLed member is dropped after 3 s instead of 10 s (the default).
            REACTOR_ES_SESSION_TIMEOUT_MS="3000",
            PYTHONUNBUFFERED="1",
        )
        return env

    async def start(self) -> None:
        if self.running:
            raise ChaosFailure(f"executor {self.name} is already running (pid {self.pid})")
        self.starts += 1
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(self._banner(f"start #{self.starts}"))
            log.flush()
            self.process = await asyncio.create_subprocess_exec(
                reactor_es_command(),
                "executor",
                env=self.environment(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                preexec_fn=_die_with_test_run,
            )
        self.started_at = time.monotonic()

    async def kill(self) -> int:
        """SIGKILL by pid: no shutdown, no LeaveGroup, an open transaction left dangling."""
        process = self._require_running()
        os.kill(process.pid, signal.SIGKILL)
        return self._ended(await process.wait(), "SIGKILL")

    async def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM: the executor finishes its batch, leaves the group and exits."""
        process = self._require_running()
        os.kill(process.pid, signal.SIGTERM)
        try:
            code = await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            raise ChaosFailure(
                f"executor {self.name} (pid {process.pid}) ignored SIGTERM for {timeout:g}s"
            ) from None
        return self._ended(code, "SIGTERM")

    async def reap(self) -> None:
        """Teardown: SIGKILL the process if it still runs."""
        if self.running:
            await self.kill()

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _require_running(self) -> asyncio.subprocess.Process:
        if self.process is None or self.process.returncode is not None:
            raise ChaosFailure(
                f"executor {self.name} is not running (exits so far: {self.exits})\n"
                + self.log_tail()
            )
        return self.process

    def _ended(self, code: int, how: str) -> int:
        self.exits.append(code)
        with self.log_path.open("ab") as log:
            log.write(self._banner(f"{how}: exit code {code}"))
        return code

    def _banner(self, what: str) -> bytes:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        return f"\n===== {self.name} {what} at {stamp} =====\n".encode()
