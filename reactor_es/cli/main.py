"""The `reactor-es` command.

Each command group lives in its own module under `reactor_es.cli` and exposes
`register(subparsers)`; this module only wires them together, so adding a command never
touches another group's code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import select
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import NoReturn

from reactor_es.config import Settings, log_level_is_set
from reactor_es.errors import ReactorError
from reactor_es.logs import configure_logging

__all__ = ["main"]

#: Long-running services log at INFO by default; the other commands at WARNING.
SERVICE_COMMANDS = frozenset({"run", "executor", "project"})

#: Commands that publish: stopped half-way, they say that what they published stays.
PUBLISHING_COMMANDS = frozenset({"publish", "import", "create", "unpark"})

#: The exit status of a process a closed pipe stopped (128 + SIGPIPE), as `yes | head` shows.
CLOSED_OUTPUT = 141

# Command-group modules, in the order their commands appear in --help.
COMMAND_MODULES: tuple[str, ...] = (
    "reactor_es.cli.domain_commands",
    "reactor_es.cli.pipeline_commands",
    "reactor_es.cli.stream_commands",
    "reactor_es.cli.executor_commands",
    "reactor_es.cli.broker_commands",
    "reactor_es.cli.phase_commands",
    "reactor_es.cli.ops_commands",
)


class _Parser(argparse.ArgumentParser):
    """argparse with the project's one-line errors (`reactor-es: error: ...`, exit 2).

    Sub-command parsers are of this class too (`add_subparsers` uses the parent's class).
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"reactor-es: error: {message} (see `{self.prog} --help`)\n")


def _version() -> str:
    try:
        return metadata.version("reactor-es")
    except metadata.PackageNotFoundError:  # running from a tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="reactor-es",
        description="Event-sourced Powerhouse document reactor on Apache Kafka.",
    )
    parser.add_argument("--version", action="version", version=f"reactor-es {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if not log_level_is_set() and args.command not in SERVICE_COMMANDS:
            # Client commands print their results; only warnings belong on stderr.
            settings = settings.with_(log_level="WARNING")
        configure_logging(settings, quiet_kafka=not log_level_is_set())
        code: int = args.handler(args)
        # Output to a pipe is buffered: flush here, so a reader that went away is noticed
        # below and not in the interpreter's last flush, as an "Exception ignored" message.
        sys.stdout.flush()
    except BrokenPipeError:
        if not _reader_gone():
            raise  # a broken pipe of something else: a bug report, not a closed output
        # The reader went away (`| head`): no traceback. Point stdout at /dev/null so that
        # the interpreter's final flush does not report the broken pipe again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        if args.command in PUBLISHING_COMMANDS:
            print(
                f"reactor-es: output closed: {args.command} stopped; what it had already "
                "published stays published (see `reactor-es status`)",
                file=sys.stderr,
            )
        return CLOSED_OUTPUT
    except ReactorError as exc:
        # Expected failures: one clear line, no traceback.
        print(f"reactor-es: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # What was published before the interrupt stays published: say so, not nothing.
        if args.command in PUBLISHING_COMMANDS:
            print(
                f"reactor-es: interrupted: {args.command} stopped; what it had already "
                "published stays published (see `reactor-es status`)",
                file=sys.stderr,
            )
        return 130
    except Exception as exc:
        message = _kafka_failure(exc)
        if message is None:
            raise
        print(f"reactor-es: error: {message}", file=sys.stderr)
        return 2
    return code


def _reader_gone() -> bool:
    """Whether stdout is a pipe whose reading end was closed."""
    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poll.poll(0))
    except (OSError, ValueError):  # no file descriptor behind stdout (tests, a closed one)
        return False


def _kafka_failure(exc: Exception) -> str | None:
    """One line for an aiokafka error that reached the top (say, the cluster went away
    after the command had connected); None for anything else, which stays a bug report."""
    from aiokafka.errors import KafkaError

    if not isinstance(exc, KafkaError):
        return None
    return f"Kafka request failed: {str(exc) or type(exc).__name__} (is the broker still up?)"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
