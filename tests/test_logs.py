"""Log output: exact JSON lines, plain lines, and the settings that choose them."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from reactor_es.config import Settings
from reactor_es.errors import SettingsError
from reactor_es.logs import JsonFormatter, KafkaRepeatLimiter, configure_logging


@pytest.fixture(autouse=True)
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def test_json_line_is_exact() -> None:
    record = logging.makeLogRecord(
        {
            "name": "reactor_es.executor",
            "levelno": logging.WARNING,
            "levelname": "WARNING",
            "msg": "document %s parked at offset %d",
            "args": ("doc-1", 42),
            "created": 1738324800.1239,  # 2025-01-31T12:00:00.123Z
            "partition": 3,
            "job_id": "job-7",
        }
    )
    line = JsonFormatter().format(record)
    assert line == (
        '{"ts": "2025-01-31T12:00:00.123Z", "level": "WARNING", "logger": "reactor_es.executor", '
        '"msg": "document doc-1 parked at offset 42", "partition": 3, "job_id": "job-7"}'
    )


def test_configured_json_logging_with_extras_and_exception() -> None:
    out = io.StringIO()
    configure_logging(Settings(log_format="json", log_level="INFO"), stream=out)
    log = logging.getLogger("reactor_es.test")
    log.debug("not shown at INFO")
    log.info("batch committed", extra={"partition": 1, "records": 250})
    try:
        raise ValueError("bad input")
    except ValueError:
        log.exception("job failed", extra={"job": "j-1"})
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert sorted(first) == ["level", "logger", "msg", "partition", "records", "ts"]
    assert (first["level"], first["logger"], first["msg"]) == (
        "INFO",
        "reactor_es.test",
        "batch committed",
    )
    assert (first["partition"], first["records"]) == (1, 250)
    assert sorted(second) == ["exc", "job", "level", "logger", "msg", "ts"]
    assert second["level"] == "ERROR"
    assert second["exc"].startswith("Traceback (most recent call last):")
    assert second["exc"].endswith("ValueError: bad input")


def test_plain_lines_and_one_handler_however_often_configured() -> None:
    first = io.StringIO()
    configure_logging(Settings(), stream=first)
    out = io.StringIO()
    handler = configure_logging(Settings(log_level="warning"), stream=out)
    root = logging.getLogger()
    assert [h for h in root.handlers if h.get_name() == "reactor-es"] == [handler]
    assert root.level == logging.WARNING
    logging.getLogger("reactor_es.test").info("hidden")
    logging.getLogger("reactor_es.test").warning("disk %d%% full", 91)
    assert first.getvalue() == ""
    text = out.getvalue()
    assert text.endswith(" WARNING reactor_es.test: disk 91% full\n")
    assert text.count("\n") == 1


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            Settings(log_format="yaml"),
            "REACTOR_ES_LOG_FORMAT must be one of plain, json, not 'yaml'",
        ),
        (
            Settings(log_level="LOUD"),
            "REACTOR_ES_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not 'LOUD'",
        ),
    ],
)
def test_bad_settings(settings: Settings, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        configure_logging(settings)
    assert str(caught.value) == message


def test_cli_configures_logging_from_settings() -> None:
    """`reactor-es` reads the log settings first: a bad one is a one-line error, exit 2."""
    env = {k: v for k, v in os.environ.items() if k != "REACTOR_ES_CONFIG"}
    env["REACTOR_ES_LOG_LEVEL"] = "LOUD"
    done = subprocess.run(
        [sys.executable, "-m", "reactor_es.cli.main", "models"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "reactor-es: error: REACTOR_ES_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, "
        "CRITICAL, not 'LOUD'\n"
    )


def test_transient_kafka_noise_is_demoted_and_real_errors_are_kept() -> None:
    out = io.StringIO()
    configure_logging(Settings(log_level="INFO"), stream=out)
    kafka_log = logging.getLogger("aiokafka.consumer.group_coordinator")
    kafka_log.error(
        "Group Coordinator Request failed: [Error 15] %s", "GroupCoordinatorNotAvailableError"
    )
    kafka_log.error("Unexpected error in fetcher: boom")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(
        "ERROR aiokafka.consumer.group_coordinator: Unexpected error in fetcher: boom"
    )


def test_aiokafka_complaints_repeat_at_most_once_per_interval() -> None:
    """With the broker down aiokafka logs each retry: one line per kind per interval."""
    out = io.StringIO()
    handler = configure_logging(Settings(log_format="plain", log_level="INFO"), stream=out)
    now = [100.0]
    limiter = next(f for f in handler.filters if isinstance(f, KafkaRepeatLimiter))
    limiter._clock = lambda: now[0]
    kafka = logging.getLogger("aiokafka.conn")
    ours = logging.getLogger("reactor_es.executor")
    for second in range(25):  # 40 complaints a second for 25 seconds
        now[0] = 100.0 + second
        for _ in range(40):
            kafka.error("Unable connect to node with id %s: %s", 1, "Connect call failed")
        kafka.warning("Unable to update metadata from [%s]", 1)
        ours.error("partition %d: commit failed", 2)
    lines = out.getvalue().splitlines()
    shown = [line.split(" ", 3)[-1] for line in lines if "aiokafka" in line]
    connect = "Unable connect to node with id 1: Connect call failed"
    metadata = "Unable to update metadata from [1]"
    held = " ({} more like this in the last 10s)"
    assert [line.split(": ", 1)[-1] for line in shown] == [
        connect,
        metadata,
        connect + held.format(399),
        metadata + held.format(9),
        connect + held.format(399),
        metadata + held.format(9),
    ]
    assert sum("commit failed" in line for line in lines) == 25  # our own lines are all kept
