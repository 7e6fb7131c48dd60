"""`reactor-es compare` and `phase`: the migration phases seen from the stores.

Neither needs Kafka: they read the stores' files under `REACTOR_ES_HOME`, which the
projectors of a running system write (SQLite in WAL mode lets them read meanwhile).
`reactor-es status` (`ops_commands`) shows the phase and the comparator's last round beside
the lags.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from reactor_es.cli.runtime import run_async
from reactor_es.config import Settings
from reactor_es.registry import default_registry

if TYPE_CHECKING:
    from projections.service import PhasePlan

__all__ = ["register"]


def register(subparsers: Any) -> None:
    compare = subparsers.add_parser(
        "compare",
        help="compare legacy storage with the operation store (phase 5); exit 1 on divergences",
        description=(
            "Compare every document of legacy storage and the operation store at the same "
            "consumed offsets: operation ids, indexes, skips, hashes, states, headers. Prints "
            "each divergence, then 'compared: D documents, X divergences'; exit 1 when X > 0."
        ),
    )
    compare.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="wait this long for both stores to stand at the same offsets (default 10)",
    )
    compare.set_defaults(handler=_compare)

    phase = subparsers.add_parser(
        "phase", help="show the migration phase; --check N: may the stores switch to N?"
    )
    phase.add_argument(
        "--check",
        type=int,
        choices=(4, 5, 6),
        default=None,
        metavar="N",
        help="check the stores for a switch to phase N (exit 1 if not ready)",
    )
    phase.add_argument("--wait", type=float, default=10.0, metavar="SECONDS")
    phase.set_defaults(handler=_phase)


def _compare(args: argparse.Namespace) -> int:
    from projections.comparator import ComparisonLog, comparator_for
    from projections.phase import open_compared_stores
    from projections.service import comparator_log_path

    settings = Settings.from_env()
    registry = default_registry()

    async def main() -> int:
        legacy, operations = await open_compared_stores(settings)
        try:
            comparator = comparator_for(settings, legacy, operations, registry.document_types())
            comparison = await comparator.compare_level(args.wait)
        finally:
            await legacy.close()
            await operations.close()
        async with await ComparisonLog.open(comparator_log_path(settings)) as record:
            await record.record(comparison)
        for divergence in comparison.divergences:
            print(divergence.line())
        for line in comparison.deferred_lines():
            print(line)
        print(comparison.summary(), flush=True)
        return 1 if comparison.divergences else 0

    return run_async(main)


def _phase(args: argparse.Namespace) -> int:
    from projections.phase import check_switch
    from projections.service import phase_plan

    settings = Settings.from_env()
    plan = phase_plan(settings.phase)
    print(_describe(plan))
    if args.check is None:
        return 0
    check = run_async(
        lambda: check_switch(settings, args.check, default_registry(), wait=args.wait)
    )
    print(check.verdict())
    for reason in check.reasons:
        print(f"  {reason}")
    return 0 if check.ready else 1


def _describe(plan: PhasePlan) -> str:
    reads = "legacy storage" if plan.documents_from == "legacy" else "the operation store"
    return (
        f"phase {plan.phase}: runs {', '.join(plan.projectors)}; READ_READY from "
        f"{plan.read_ready_by}; documents from {reads}"
    )
