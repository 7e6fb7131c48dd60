"""Log output of the services and the CLI: plain lines for people, JSON lines for collectors.

`REACTOR_ES_LOG_FORMAT=json` writes one JSON object per line to stderr: `ts` (UTC, ISO 8601
with milliseconds), `level`, `logger`, `msg` (the formatted message), then every `extra=`
field the call site passed, and `exc` with the traceback when there is one. Log shippers
(Loki, Elasticsearch, CloudWatch) index those fields without a parsing rule, so put ids in
`extra` rather than only in the text:

    log.warning("skipped undecodable record", extra={"partition": 3, "offset": 1207})

stdout stays for command output (e.g. `reactor-es subscribe` lines), so logs never mix
with it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from reactor_es.config import Settings
from reactor_es.errors import SettingsError

__all__ = ["LOG_FORMATS", "JsonFormatter", "KafkaRepeatLimiter", "configure_logging"]

LOG_FORMATS = ("plain", "json")
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, the extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        data: dict[str, Any] = {
            "ts": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in data:
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exc"] = record.exc_text
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, ensure_ascii=False, default=str)


#: aiokafka reports these transient conditions loudly although it retries them itself (a
#: group coordinator still being elected, a leader moving, a broker briefly behind).
_TRANSIENT_KAFKA = (
    "GroupCoordinatorNotAvailableError",
    "NotEnoughReplicasError",
    "NotLeaderForPartitionError",
    "NotCoordinatorForGroupError",
    "CoordinatorLoadInProgressError",
)


class _TransientKafkaNoise(logging.Filter):
    """Demote aiokafka's reports of conditions it retries by itself to DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("aiokafka") and record.levelno > logging.DEBUG:
            message = record.getMessage()
            if any(marker in message for marker in _TRANSIENT_KAFKA):
                record.levelno, record.levelname = logging.DEBUG, "DEBUG"
                return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


class KafkaRepeatLimiter(logging.Filter):
    """Let each aiokafka complaint through once per `interval` seconds.

    With the broker down, aiokafka retries every few milliseconds and logs every failure
    (a user trial counted 3,300 ERROR lines in under a minute): one line per kind of
    complaint (logger and message template) every `interval` seconds says the same, and
    the next one shown counts those held back.
    """

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self._clock = clock
        self._shown: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("aiokafka") or record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        now = self._clock()
        last = self._shown.get(key)
        if last is not None and now - last < self.interval:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._shown[key] = now
        held = self._held.pop(key, 0)
        if held:
            assert last is not None
            since = now - last
            record.msg = f"{record.msg} ({held} more like this in the last {since:.0f}s)"
        return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time (pytest and callers may swap it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:  # StreamHandler assigns it once; ignored
        pass


def configure_logging(
    settings: Settings, *, stream: TextIO | None = None, quiet_kafka: bool = False
) -> logging.Handler:
    """Install our handler on the root logger, replacing one a previous call installed.

    Other handlers (pytest's, an embedding application's) are left alone. Returns the
    handler; `stream` is for tests (default: the current stderr). `quiet_kafka` keeps
    aiokafka's own INFO lines (group joins, subscriptions: dozens per start) out, so a
    service at the default level shows what reactor-es says; an explicit
    REACTOR_ES_LOG_LEVEL (the CLI passes `quiet_kafka` only without one) shows them all.
    """
    fmt = settings.log_format.strip().lower()
    if fmt not in LOG_FORMATS:
        raise SettingsError(
            f"REACTOR_ES_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, "
            f"not {settings.log_format!r}"
        )
    level = settings.log_level.strip().upper()
    if level not in _LEVELS:
        raise SettingsError(
            f"REACTOR_ES_LOG_LEVEL must be one of {', '.join(_LEVELS)}, not {settings.log_level!r}"
        )
    handler: logging.Handler = _StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_PLAIN))
    handler.addFilter(_TransientKafkaNoise())
    handler.addFilter(KafkaRepeatLimiter())
    handler.set_name("reactor-es")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "reactor-es"]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(logging.WARNING if quiet_kafka else logging.NOTSET)
    return handler
