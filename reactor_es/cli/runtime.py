"""What every Kafka-facing command needs: settings, a broker, and a clean way to stop."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
import math
import signal
import sys
import unicodedata
from collections.abc import Awaitable, Callable
from typing import TypeVar

from reactor_es.config import Settings
from reactor_es.kafka.bootstrap import select_broker, started_note

__all__ = [
    "bootstrap_for",
    "document_id_arg",
    "job_id_arg",
    "non_negative_int",
    "run_async",
    "run_until_signalled",
    "seconds",
]

T = TypeVar("T")

log = logging.getLogger("reactor_es.service")


def bootstrap_for(settings: Settings, *, start_local: bool) -> str:
    """The broker to use, in the project's order; services may start the local one, and
    say so on stderr (it keeps running after them)."""
    selection = select_broker(settings, start_local=start_local)
    note = started_note(selection)
    if note is not None:
        print(note, file=sys.stderr, flush=True)
    return selection.bootstrap_servers


def seconds(text: str) -> float:
    """argparse type of a duration: a finite number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type of a count or revision: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 0, not {text!r}")
    return value


def document_id_arg(text: str) -> str:
    """argparse type of a document id: see `_id_problem`."""
    return _checked_id(text, "document id")


def job_id_arg(text: str) -> str:
    """argparse type of a job id: see `_id_problem`."""
    return _checked_id(text, "job id")


def _checked_id(text: str, what: str) -> str:
    problem = _id_problem(text, what)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def _id_problem(text: str, what: str) -> str | None:
    """Why `text` names nothing that could exist, or None: empty, only whitespace, holding a
    control character (a newline would split every line that prints it), or not Unicode
    text (undecodable argv bytes, which no record can carry: `check_document_id`'s rule and
    message)."""
    if not text:
        return "must not be empty"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"{what} {text!r} is not valid Unicode text (it holds a lone surrogate)"
    if text.isspace():
        return f"{what} {text!r} is only whitespace"
    control = next((c for c in text if unicodedata.category(c) == "Cc"), None)
    if control is not None:
        return f"{what} {text!r} holds a control character ({control!r})"
    return None


def run_async(main: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(_call(main))


async def _call(main: Callable[[], Awaitable[T]]) -> T:
    return await main()


async def run_until_signalled(
    stop: Callable[[], None],
    work: Awaitable[None],
    ready: Callable[[], None] | None = None,
) -> None:
    """Run `work` until it ends or SIGINT/SIGTERM asks `stop()` for a graceful end.

    `ready()` runs once the handlers are in place: a service announces itself there, so a
    signal sent as soon as the announcement is seen stops it gracefully, not by default.
    """
    loop = asyncio.get_running_loop()
    handlers: dict[signal.Signals, Callable[[], None]] = {
        signal.SIGINT: stop,
        signal.SIGTERM: stop,
        signal.SIGUSR1: log_task_stacks,
    }
    for sig, handler in handlers.items():
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, handler)
    try:
        if ready is not None:
            ready()
        await work
    finally:
        for sig in handlers:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)


def log_task_stacks() -> None:
    """Log where every task of the running loop waits (`kill -USR1 PID` on a service that
    seems stuck)."""
    tasks = asyncio.all_tasks()
    out = io.StringIO()
    for task in sorted(tasks, key=lambda t: t.get_name()):
        task.print_stack(limit=25, file=out)
    log.warning("SIGUSR1: %d tasks\n%s", len(tasks), out.getvalue())
