"""`reactor-es subscribe`, run as a user runs it, against the broker."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.executor.service import JobExecutor
from reactor_es.kafka.records import JobStatus
from reactor_es.kafka.topics import partition_for

REPO_ROOT = Path(__file__).resolve().parents[2]
TODO = "reactor-es/todo-list"


def _env(settings: Settings, bootstrap: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REACTOR_ES_CONFIG"}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        REACTOR_ES_TOPIC_PREFIX=settings.topic_prefix,
        REACTOR_ES_HOME=str(settings.home),
        REACTOR_ES_LOG_LEVEL="WARNING",
    )
    return env


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "reactor_es.cli.main", "subscribe", *args]


async def _create(settings: Settings, bootstrap: str, *documents: str) -> None:
    async with Reactor(settings, bootstrap) as reactor:
        for doc in documents:
            info = await reactor.create_document(TODO, doc)
            assert (await reactor.wait_for_job(info.id, 30)).status is JobStatus.WRITE_READY


async def test_until_end_prints_one_json_line_per_operation(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor
) -> None:
    await _create(pipeline_settings, kafka_bootstrap, "cli-1", "cli-2")
    done = await asyncio.to_thread(
        subprocess.run,
        _command("--from", "beginning", "--until-end", "--document", "cli-2"),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=_env(pipeline_settings, kafka_bootstrap),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(line["documentId"], line["scope"], line["operation"]["index"]) for line in lines] == [
        ("cli-2", "document", 0),
        ("cli-2", "document", 1),
    ]
    first = lines[0]
    assert sorted(first) == [
        "branch",
        "documentId",
        "documentType",
        "jobId",
        "offset",
        "operation",
        "partition",
        "scope",
    ]
    assert first["documentType"] == TODO
    assert first["branch"] == "main"
    assert first["partition"] == partition_for("cli-2", 3)
    assert first["operation"]["type"] == "CREATE_DOCUMENT"
    assert first["operation"]["action"]["input"]["documentId"] == "cli-2"
    assert lines[1]["jobId"] == first["jobId"]
    assert lines[1]["offset"] > first["offset"]


def test_bad_start_position_is_one_line_error() -> None:
    done = subprocess.run(
        _command("--from", "last-tuesday", "--until-end"),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "reactor-es: error: --from: start position 'last-tuesday' is not 'beginning', 'latest', "
        "an offset or an ISO 8601 timestamp (e.g. 2025-01-31T12:00:00Z)\n"
    )


class _LineReader:
    """Lines of a process's stdout as they come, read by a thread (no loop blocked)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self.lines: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line)

    async def take(self, count: int, timeout: float) -> list[str]:
        async def one() -> str:
            return await asyncio.to_thread(self.lines.get, True, timeout)

        return [await one() for _ in range(count)]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_follows_until_signalled(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor, sig: signal.Signals
) -> None:
    await _create(pipeline_settings, kafka_bootstrap, "before")
    process = subprocess.Popen(
        _command("--from", "beginning", "--type", TODO),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env=_env(pipeline_settings, kafka_bootstrap),
    )
    reader = _LineReader(process)
    try:
        first = await reader.take(2, 60)  # the history: it is following now
        await _create(pipeline_settings, kafka_bootstrap, "after")
        second = await reader.take(2, 60)  # each line arrives as it is committed
        assert process.poll() is None  # still following
        process.send_signal(sig)
        await asyncio.to_thread(process.wait, 30)
        assert process.stderr is not None
        stderr = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    documents = [json.loads(line)["documentId"] for line in first + second]
    assert documents == ["before", "before", "after", "after"]
    assert process.returncode == 0
    assert "Traceback" not in stderr
    assert stderr == ""
