"""`reactor-es broker start|stop|status`: the project-local Kafka broker.

The broker lives in `$REACTOR_ES_HOME/broker` and runs detached, so it outlives `start`;
`status` and `stop` find it again through the pid and state files there.
"""

from __future__ import annotations

import argparse
from typing import Any

from reactor_es.config import Settings
from reactor_es.kafka.bootstrap import local_broker_dir
from reactor_es.kafka.broker import LocalKafkaBroker

__all__ = ["register"]

# Exit code of `status` when no broker runs (as `systemctl status` / LSB do).
NOT_RUNNING = 3


def register(subparsers: Any) -> None:
    """Add the `broker` command group to the top-level parser."""
    broker = subparsers.add_parser(
        "broker",
        help="start, stop or inspect the project-local Kafka broker",
        description="Manage the project-local Apache Kafka broker ($REACTOR_ES_HOME/broker).",
    )
    commands = broker.add_subparsers(dest="broker_command", metavar="ACTION", required=True)

    start = commands.add_parser("start", help="start the broker (no-op if it already runs)")
    start.add_argument("--port", type=int, default=None, help="client port (default: kept/free)")
    start.add_argument(
        "--timeout", type=float, default=90.0, help="seconds to wait for readiness (default 90)"
    )
    start.set_defaults(handler=_start)

    stop = commands.add_parser("stop", help="stop the broker (SIGTERM, then SIGKILL)")
    stop.add_argument(
        "--timeout", type=float, default=60.0, help="seconds before SIGKILL (default 60)"
    )
    stop.set_defaults(handler=_stop)

    status = commands.add_parser("status", help=f"show the broker (exit {NOT_RUNNING} if down)")
    status.set_defaults(handler=_status)


def _broker(args: argparse.Namespace) -> LocalKafkaBroker:
    settings = Settings.from_env()
    return LocalKafkaBroker(local_broker_dir(settings), port=getattr(args, "port", None))


def _start(args: argparse.Namespace) -> int:
    broker = _broker(args)
    pid = broker.pid
    if pid is not None:
        print(f"broker already running: pid {pid}, bootstrap {broker.bootstrap_servers}")
        return 0
    broker.start(timeout=args.timeout)
    print(
        f"broker started: pid {broker.pid}, bootstrap {broker.bootstrap_servers}, "
        f"kafka {broker.version}"
    )
    print(f"data dir: {broker.data_dir}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    pid = _broker(args).stop(timeout=args.timeout)
    print("broker not running" if pid is None else f"broker stopped: pid {pid}")
    return 0


def _status(args: argparse.Namespace) -> int:
    status = _broker(args).status()
    print(f"running: {'yes' if status.running else 'no'}")
    if status.running:
        print(f"pid: {status.pid}")
        print(f"bootstrap: {status.bootstrap_servers}")
    elif status.stale_pid:
        print("note: stale pid file (the broker process is gone)")
    print(f"data dir: {status.data_dir}")
    print(f"version: {status.version}")
    print(f"log: {status.log_file}")
    return 0 if status.running else NOT_RUNNING
