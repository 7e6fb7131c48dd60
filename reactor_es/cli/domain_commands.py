"""`reactor-es models` and `reactor-es verify`: the document domain, no Kafka needed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reactor_es.document.verify import EXPORT_SUFFIXES, find_exports, summary_line, verify_paths
from reactor_es.registry import default_registry

__all__ = ["refused_empty_folder", "register"]


def register(subparsers: Any) -> None:
    """Add the `models` and `verify` commands to the top-level parser."""
    models = subparsers.add_parser(
        "models",
        help="list the registered document model types and their versions",
        description="One line per document model type: the type, then its versions.",
    )
    models.set_defaults(handler=list_models)

    verify = subparsers.add_parser(
        "verify",
        help="replay .phd exports offline and compare every hash and the final state",
        description=(
            "Replay each export's operations through our reducers, compare every recorded "
            "hash (empty ones are counted, not compared) and the final state. Exit status 1 "
            "when anything differs, a file cannot be read or a folder holds no export."
        ),
    )
    verify.add_argument("paths", nargs="+", metavar="PATH", help=".phd/.zip files or folders")
    verify.set_defaults(handler=verify_exports)


def list_models(args: argparse.Namespace) -> int:
    registry = default_registry()
    for document_type in registry.document_types():
        versions = ", ".join(str(version) for version in registry.versions(document_type))
        print(f"{document_type}\t{versions}")
    for failure in registry.load_errors:
        print(f"reactor-es: warning: {failure.error}", file=sys.stderr)
    return 0


def verify_exports(args: argparse.Namespace) -> int:
    if refused_empty_folder(args.paths):
        return 1
    registry = default_registry()
    documents = operations = mismatches = failed = 0
    for result in verify_paths(args.paths, registry):
        print(result.line(), flush=True)
        if result.error is not None:  # unreadable, or could not be replayed: not verified
            failed += 1
            continue
        documents += 1
        operations += result.operations
        mismatches += len(result.mismatches)
    print(
        summary_line(
            "verified", documents, operations, mismatches, failed=failed, not_done="not verified"
        )
    )
    return 1 if failed or mismatches else 0


def refused_empty_folder(paths: Sequence[str]) -> bool:
    """True, having said so on stderr, when a folder given holds no export: a wrong folder
    is a mistake to report, not "0 documents" and success."""
    for path in paths:
        if Path(path).is_dir() and next(find_exports([path]), None) is None:
            suffixes = "/".join(EXPORT_SUFFIXES)
            print(f"reactor-es: error: no exports ({suffixes}) found in {path}", file=sys.stderr)
            return True
    return False
