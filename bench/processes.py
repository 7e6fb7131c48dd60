"""The parent's handle on a service process of `bench.services`."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from bench.workload import ROOT

__all__ = ["ServiceError", "ServiceProcess"]


class ServiceError(RuntimeError):
    """A service process failed or answered something unexpected."""


class ServiceProcess:
    """One running service: send commands, await its JSON answers."""

    def __init__(self, role: str, config: dict[str, Any]) -> None:
        self.role = role
        self.config = config
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, *, until: str | None = "ready", timeout: float = 600) -> dict[str, Any]:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.services",
            self.role,
            json.dumps(self.config),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return await self.expect(until, timeout) if until else {}

    async def expect(self, event: str | None, timeout: float = 600) -> dict[str, Any]:
        assert self.process is not None
        assert self.process.stdout is not None
        while True:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
            if not line:
                raise ServiceError(
                    f"{self.role} service exited (code {await self.process.wait()}) "
                    f"before '{event}'; see {self.config['log']}"
                )
            message: dict[str, Any] = json.loads(line)
            if message["event"] == "failed":
                raise ServiceError(f"{self.role} service failed: {message['error']}")
            if event is None or message["event"] == event:
                return message

    async def ask(self, command: str, timeout: float = 900) -> dict[str, Any]:
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()
        return await self.expect(command.split()[0], timeout)

    async def stop(self, timeout: float = 120) -> dict[str, Any]:
        """Ask the service to stop and wait for it; its last report."""
        if self.process is None or self.process.returncode is not None:
            return {}
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(b"stop\n")
            await self.process.stdin.drain()
            answer = await self.expect("stopped", timeout)
        finally:
            await self.wait(timeout)
        return answer

    async def wait(self, timeout: float = 120) -> int:
        assert self.process is not None
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


def log_path(folder: Path, role: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / f"{role}.log")
