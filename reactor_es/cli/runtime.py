"""What every Kafka-facing command needs: settings, a broker, and a clean way to stop."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

from reactor_es.config import Settings
from reactor_es.kafka.bootstrap import select_broker

__all__ = ["bootstrap_for", "non_negative_int", "run_async", "run_until_signalled", "seconds"]

T = TypeVar("T")


def bootstrap_for(settings: Settings, *, start_local: bool) -> str:
    """The broker to use, in the project's order; services may start the local one."""
    return select_broker(settings, start_local=start_local).bootstrap_servers


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


def identifier(text: str) -> str:
    """argparse type of a document or job id: not empty (an empty one names nothing)."""
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def run_async(main: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(_call(main))


async def _call(main: Callable[[], Awaitable[T]]) -> T:
    return await main()


async def run_until_signalled(stop: Callable[[], None], work: Awaitable[None]) -> None:
    """Run `work` until it ends or SIGINT/SIGTERM asks `stop()` for a graceful end."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop)
    try:
        await work
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
