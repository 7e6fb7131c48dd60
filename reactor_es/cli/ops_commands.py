"""Operating a deployment: `status`, `replay` a store from its topic, `rebuild-snapshots`.

None of them starts a broker or joins a consumer group: they read where things stand, or
rebuild what is derived from the topics beside the running system (`replay`), or while the
part they rebuild for is stopped (`replay --swap`, `rebuild-snapshots`, which refuse
otherwise).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from reactor_es.cli.runtime import bootstrap_for, run_async, seconds
from reactor_es.config import Settings
from reactor_es.errors import ReactorError, SettingsError
from reactor_es.progress import Progress
from reactor_es.registry import default_registry

__all__ = ["register"]

_STORES = ("legacy", "operations", "jobs")


def register(subparsers: Any) -> None:
    status = subparsers.add_parser(
        "status",
        help="lags of the executor and projectors, parked documents, jobs, phase, comparator",
        description=(
            "Per partition, the lag of the executor (committed offsets on actions) and of each "
            "projector (positions in its store), in offsets behind the last stable offset; "
            "parked documents; jobs by status; the phase; the comparator's last round. Reads "
            "only: joins no group, starts no broker. Exit status 1 when Kafka cannot be "
            "reached (the stores are still reported)."
        ),
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(handler=_status)

    replay = subparsers.add_parser(
        "replay",
        help="rebuild a store from offset 0 of its topic into a new file and verify it",
        description=(
            "Rebuild the legacy, operation or job store into PATH with the same projector "
            "the live system runs, reading its topic from offset 0 (up to where the live "
            "store stands if its projector is stopped, else to the topic's end), then compare "
            "it with the live store: every document or job in full. Exit 1 if they differ. "
            "--swap then puts the rebuilt file in place of the live one; it refuses while the "
            "store's projector runs or any process has the live file open."
        ),
    )
    replay.add_argument("--store", required=True, choices=_STORES)
    replay.add_argument("--into", required=True, type=Path, metavar="PATH")
    replay.add_argument(
        "--swap", action="store_true", help="replace the live store once verified equal"
    )
    replay.add_argument(
        "--resume", action="store_true", help="go on with a replay already written to PATH"
    )
    replay.add_argument(
        "--wait",
        type=seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for a running live projector to stand level (default 30)",
    )
    replay.add_argument(
        "--batch", type=int, default=2000, metavar="N", help="records per store transaction"
    )
    replay.set_defaults(handler=_replay)

    rebuild = subparsers.add_parser(
        "rebuild-snapshots",
        help="recompute the executor's snapshot checkpoints from operations (executor stopped)",
        description=(
            "For each partition, fold operations from offset 0 as a restore does, write a "
            "snapshot of every document and a checkpoint marker in one transaction (with the "
            "partition's own transactional id), then check that a restore from it equals one "
            "from offset 0. Refuses while the executor group has members."
        ),
    )
    rebuild.add_argument(
        "--partition",
        type=int,
        action="append",
        dest="partitions",
        metavar="N",
        help="only this partition (repeatable; default all)",
    )
    rebuild.add_argument(
        "--no-verify", action="store_true", help="skip the restore that checks each checkpoint"
    )
    rebuild.set_defaults(handler=_rebuild_snapshots)


def _status(args: argparse.Namespace) -> int:
    from reactor_es.status import gather_status

    settings = Settings.from_env()
    # A configuration error is the user's to fix, not a state to report: exit 2 as every
    # command does. An unreachable or absent broker is reported in the status instead.
    settings.kafka_security_options()
    bootstrap: str | None
    problem: str | None = None
    try:
        bootstrap = bootstrap_for(settings, start_local=False)
    except SettingsError:
        raise
    except ReactorError as exc:
        bootstrap, problem = None, str(exc)
    report = run_async(lambda: gather_status(settings, bootstrap, kafka_error=problem))
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        print("\n".join(report.lines()), flush=True)
    # A monitoring script must not read an unreachable Kafka as healthy.
    return 1 if report.kafka_error is not None else 0


def _replay(args: argparse.Namespace) -> int:
    from projections.replay import check_target, replay_store

    if args.batch < 1:
        raise ReactorError(f"--batch must be at least 1, not {args.batch}")
    settings = Settings.from_env()
    check_target(settings, args.store, args.into, resume=args.resume)
    bootstrap = bootstrap_for(settings, start_local=False)
    report = run_async(
        lambda: replay_store(
            settings,
            bootstrap,
            default_registry(),
            args.store,
            args.into,
            swap=args.swap,
            resume=args.resume,
            wait=args.wait,
            max_batch=args.batch,
        )
    )
    print("\n".join(report.lines()), flush=True)
    return 0 if report.ok else 1


def _rebuild_snapshots(args: argparse.Namespace) -> int:
    from reactor_es.executor.rebuild import rebuild_snapshots

    settings = Settings.from_env()
    bootstrap = bootstrap_for(settings, start_local=False)
    progress = Progress("rebuild-snapshots", 0, unit="operations")
    result = run_async(
        lambda: rebuild_snapshots(
            settings,
            bootstrap,
            default_registry(),
            partitions=args.partitions,
            verify=not args.no_verify,
            progress=progress,
        )
    )
    progress.finish()
    for partition in result.partitions:
        print(partition.line())
    for warning in result.warnings:
        print(f"warning: {warning}")
    print(result.summary(), flush=True)
    return 0
