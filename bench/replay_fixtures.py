"""Replay throughput of the base reducer over the .phd fixture corpus.

    .venv/bin/python bench/replay_fixtures.py [FOLDER] [--rounds N]

Reading the files is not timed; each round replays every export from its initial state,
once reusing the stored hashes (how a document is restored) and once recomputing every
hash (how `reactor-es verify` checks an export).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from reactor_es.document.phd import read_phd
from reactor_es.document.reducer import ReducerOptions, replay_document
from reactor_es.document.verify import find_exports
from reactor_es.registry import default_registry

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FIXTURES = ROOT.parent / "shared" / "fixtures" / "phd" / "dev"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder", nargs="?", default=os.environ.get("REACTOR_ES_PHD_FIXTURES", DEFAULT_FIXTURES)
    )
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    registry = default_registry()
    exports = [read_phd(path) for path in find_exports([args.folder])]
    pairs = [(export.document, registry.get(export.document.document_type)) for export in exports]
    operations = sum(export.operation_count for export in exports)
    print(f"{len(exports)} documents, {operations} operations, {args.rounds} rounds")
    for label, options in (
        ("stored hashes reused", ReducerOptions()),
        ("hashes recomputed", ReducerOptions(recompute_hashes=True)),
    ):
        best = float("inf")
        for _ in range(args.rounds):
            start = time.perf_counter()
            for document, model in pairs:
                replay_document(document, model, options=options)
            best = min(best, time.perf_counter() - start)
        print(f"{label:22} {operations / best:>10,.0f} operations/s  (best {best * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
