"""`reactor-es subscribe`: committed operations as JSON lines, for people and pipes.

One JSON object per line on stdout, flushed per line so `| jq` or a tail sees each
operation as it is committed. Follows until SIGINT/SIGTERM (exit 0), or stops at the end
positions resolved at start with `--until-end`. A closed pipe (`| head`) ends it quietly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from reactor_es.cli.runtime import bootstrap_for, document_id_arg, run_async, run_until_signalled
from reactor_es.config import Settings
from reactor_es.errors import ClientError
from reactor_es.subscription import Subscription, SubscriptionError, parse_start

__all__ = ["register"]


def register(subparsers: Any) -> None:
    sub = subparsers.add_parser(
        "subscribe",
        help="print committed operations as JSON lines (follows until interrupted)",
        description=(
            "Print committed operations, one JSON object a line: documentId, documentType, "
            "scope, branch, jobId, partition, offset and the operation in Powerhouse's shape. "
            "Follows until Ctrl-C, or stops at the current end with --until-end."
        ),
    )
    sub.add_argument(
        "--document", type=document_id_arg, default=None, metavar="ID", help="only this document"
    )
    sub.add_argument("--type", dest="document_type", default=None, metavar="TYPE")
    sub.add_argument("--scope", default=None, help="e.g. global, local, document")
    sub.add_argument("--branch", default=None, help="default: every branch")
    sub.add_argument(
        "--from",
        dest="start",
        default="latest",
        metavar="WHERE",
        help="beginning, latest (default), an OFFSET in each partition, or an ISO timestamp",
    )
    sub.add_argument(
        "--until-end",
        action="store_true",
        help="stop at the end of what is committed when the command starts",
    )
    sub.set_defaults(handler=_subscribe)


def _subscribe(args: argparse.Namespace) -> int:
    try:
        start = parse_start(args.start)
    except SubscriptionError as exc:
        raise ClientError(f"--from: {exc}") from None
    settings = Settings.from_env()
    bootstrap = bootstrap_for(settings, start_local=False)
    subscription = Subscription(
        settings,
        bootstrap,
        document_id=args.document,
        document_type=args.document_type,
        scope=args.scope,
        branch=args.branch,
        start=start,
        until_end=args.until_end,
    )

    async def main() -> int:
        async with subscription:
            await run_until_signalled(subscription.stop, _print_all(subscription))
        return 0

    try:
        return run_async(main)
    except BrokenPipeError:
        # The reader went away (`| head`): not an error. Point stdout at /dev/null so the
        # interpreter's final flush does not report the broken pipe again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


async def _print_all(subscription: Subscription) -> None:
    out = sys.stdout
    async for op in subscription:
        out.write(json.dumps(op.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n")
        out.flush()
