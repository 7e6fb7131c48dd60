"""Offline verification of exports: replay every operation, compare with what Powerhouse wrote.

Each operation's recorded hash is compared with the one we compute (an empty recorded hash
is counted, not compared), so is whether it failed, and at the end every scope of the
replayed state with the export's current state. One `VerificationResult` per document.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from reactor_es.document.hashing import hash_scope_state
from reactor_es.document.model import DocumentModel
from reactor_es.document.phd import PhdExport, read_phd
from reactor_es.document.reducer import AppliedAction, ReducerOptions, replay_document
from reactor_es.errors import ReactorError

__all__ = [
    "EXPORT_SUFFIXES",
    "Mismatch",
    "ModelLookup",
    "VerificationResult",
    "counted",
    "error_line",
    "find_exports",
    "summary_line",
    "verify_export",
    "verify_paths",
]

#: File names taken from a folder (Powerhouse writes `.phd`, `.<ext>.phd` and `.zip`).
EXPORT_SUFFIXES = (".phd", ".zip")


class ModelLookup(Protocol):
    """Where verification finds a document's model (a `DocumentModelRegistry` is one)."""

    def get(self, document_type: str, version: int | None = None) -> DocumentModel: ...


@dataclass(frozen=True)
class Mismatch:
    """One disagreement with the export."""

    kind: Literal["hash", "error", "state"]
    scope: str
    index: int | None
    expected: str
    actual: str

    def describe(self) -> str:
        at = f"{self.scope}" if self.index is None else f"{self.scope} index {self.index}"
        if self.kind == "hash":
            return f"hash {at}: recorded {self.expected}, computed {self.actual}"
        if self.kind == "error":
            return f"error {at}: recorded {self.expected!r}, replay gave {self.actual!r}"
        return f"final state {at}: export hashes {self.expected}, replay {self.actual}"


@dataclass
class VerificationResult:
    """How one export replayed."""

    source: str
    document_id: str = ""
    name: str = ""
    document_type: str = ""
    operations: int = 0
    compared: int = 0
    #: Operations whose recorded hash is empty: counted, not compared.
    unhashed: int = 0
    #: Operations replayed (the rest were replaced by a later operation's skip).
    replayed: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    #: Why the export could not be read or replayed (then nothing else is meaningful).
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.mismatches

    def line(self) -> str:
        """The one line `reactor-es verify` prints for this document."""
        if self.error is not None:
            # Format errors already name the file.
            where = "" if self.error.startswith(self.source) else f"{self.source}: "
            return f"ERROR     {where}{self.error}"
        who = self.document_id or "(no id)"
        counts = (
            f"{counted(self.operations, 'operation')}, {counted(self.compared, 'hash')} compared"
        )
        if self.unhashed:
            counts += f", {self.unhashed} without hash"
        if self.replayed < self.operations:
            counts += f", {self.operations - self.replayed} replaced by skips (not replayed)"
        if not self.mismatches:
            return f"ok        {self.source}  {who}  {counts}"
        first = self.mismatches[0].describe()
        return (
            f"MISMATCH  {self.source}  {who}  {counts}, "
            f"{counted(len(self.mismatches), 'mismatch')} (first: {first})"
        )


def verify_export(export: PhdExport, models: ModelLookup) -> VerificationResult:
    """Replay `export` recomputing every hash and compare it with the export."""
    document = export.document
    result = VerificationResult(
        source=export.source,
        document_id=document.id,
        name=document.header.name,
        document_type=document.document_type,
        operations=export.operation_count,
    )

    def compare(applied: AppliedAction) -> None:
        recorded = applied.recorded
        if recorded is None:  # pragma: no cover - replay always passes the stored operation
            return
        scope, index = recorded.action.scope, recorded.index
        result.replayed += 1
        if not recorded.hash:
            result.unhashed += 1
        elif applied.computed_hash is not None:
            result.compared += 1
            if applied.computed_hash != recorded.hash:
                result.mismatches.append(
                    Mismatch("hash", scope, index, recorded.hash, applied.computed_hash)
                )
        if (recorded.error is None) != (applied.operation.error is None):
            result.mismatches.append(
                Mismatch("error", scope, index, recorded.error or "", applied.operation.error or "")
            )

    try:
        model = models.get(document.document_type)
        replayed = replay_document(
            document, model, options=ReducerOptions(recompute_hashes=True), observer=compare
        )
    except ReactorError as exc:
        result.error = str(exc)
        return result
    if export.current_state is not None:
        expected_state = export.current_state
        for scope in sorted(expected_state.keys() | replayed.state.keys()):
            expected = hash_scope_state(expected_state.get(scope))
            actual = hash_scope_state(replayed.state.get(scope))
            if expected_state.get(scope) != replayed.state.get(scope) or expected != actual:
                result.mismatches.append(Mismatch("state", scope, None, expected, actual))
    return result


def counted(count: int, noun: str) -> str:
    """`1 document`, `2 documents`, `1 mismatch`, `0 mismatches`."""
    plural = noun + ("es" if noun.endswith(("s", "sh", "ch", "x")) else "s")
    return f"{count} {noun if count == 1 else plural}"


def summary_line(
    verb: str, documents: int, operations: int, mismatches: int, *, failed: int = 0, not_done: str
) -> str:
    """The last line of `verify` and `import`: only files that went through are counted;
    `failed` files (unreadable, refused, failed) are said apart, e.g. "2 files not imported"."""
    text = (
        f"{verb}: {counted(documents, 'document')}, {counted(operations, 'operation')}, "
        f"{counted(mismatches, 'mismatch')}"
    )
    return text + (f"; {counted(failed, 'file')} {not_done}" if failed else "")


def error_line(source: str | Path, error: str, *, tag: str = "ERROR") -> str:
    """`ERROR path: problem`, without the path twice (format errors already start with it)."""
    where = "" if error.startswith(f"{source}:") else f"{source}: "
    return f"{tag} {where}{error}"


def find_exports(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Each file as given, and every export file under each folder (sorted)."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(
                child
                for child in path.rglob("*")
                if child.is_file() and child.name.lower().endswith(EXPORT_SUFFIXES)
            )
        else:
            yield path


def verify_paths(paths: Iterable[str | Path], models: ModelLookup) -> Iterator[VerificationResult]:
    """Verify every export found in `paths`; an unreadable file gives a result with `error`."""
    for path in find_exports(paths):
        try:
            export = read_phd(path, models=models)
        except ReactorError as exc:
            yield VerificationResult(source=str(path), error=str(exc))
            continue
        yield verify_export(export, models)
