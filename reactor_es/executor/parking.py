"""Per-document parking of poison input: a sequenced dead-letter queue (as Axon's).

When a job cannot be read, or makes the executor itself fail (not a model error: those are
operations with `error`), its record goes to the `actions-dlq` topic and its document is
*parked*: every later job of that document is queued behind it on the same topic, in
order, while all other documents keep flowing. `reactor-es unpark ID` sends a control job
through `actions` (so it is ordered with the document's other jobs); the executor then
retries the parked records in order, in the same transaction that marks them released.

The dead-letter partition of a document is its `actions` partition, written only by the
transactional producer that owns that partition, so its log order is the order of events:
folding it from the start (`ParkingLot.fold`) rebuilds who is parked after a restart.
Headers say what each record is (`event`), which document it holds up, why, and where it
came from (`source-topic`, `source-partition`, `source-offset`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reactor_es.kafka.records import UNPARK_CONTROL

__all__ = [
    "UNPARK_CONTROL",
    "DeadLetter",
    "DeadLetterEvent",
    "ParkingLot",
    "dead_letter_headers",
    "key_text",
]


class DeadLetterEvent(enum.StrEnum):
    PARKED = "parked"  # the record that failed; its document is parked from here on
    QUEUED = "queued"  # a later job of a parked document, waiting behind the poison
    RELEASED = "released"  # everything parked for the document before this was taken back
    DROPPED = "dropped"  # a poison record discarded on request (unpark --skip-first)


@dataclass(frozen=True)
class DeadLetter:
    """A record on the dead-letter topic."""

    event: DeadLetterEvent
    document_id: str | None
    value: bytes
    key: bytes | None
    reason: str = ""
    source_topic: str = ""
    source_partition: int = -1
    source_offset: int = -1
    offset: int = -1

    def describe(self) -> str:
        where = f"{self.source_topic}[{self.source_partition}]@{self.source_offset}"
        return f"{self.event.value} {where}" + (f": {self.reason}" if self.reason else "")


def key_text(key: bytes | None) -> str | None:
    """The document id a record key names, if it is one (UTF-8, not empty)."""
    if not key:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return None


def dead_letter_headers(
    event: DeadLetterEvent,
    *,
    document_id: str | None,
    reason: str = "",
    source_topic: str = "",
    source_partition: int = -1,
    source_offset: int = -1,
) -> list[tuple[str, bytes]]:
    return [
        ("event", event.value.encode()),
        ("document", (document_id or "").encode("utf-8")),
        ("reason", reason.encode("utf-8")),
        ("source-topic", source_topic.encode("utf-8")),
        ("source-partition", str(source_partition).encode()),
        ("source-offset", str(source_offset).encode()),
    ]


def parse_dead_letter(
    value: bytes, key: bytes | None, headers: Iterable[tuple[str, bytes]], offset: int
) -> DeadLetter | None:
    """A dead-letter record from its headers; None for a record that is not one of ours."""
    found: Mapping[str, bytes] = dict(headers or ())
    try:
        event = DeadLetterEvent(found.get("event", b"").decode())
    except ValueError:
        return None

    def text(name: str) -> str:
        return found.get(name, b"").decode("utf-8", errors="replace")

    def number(name: str) -> int:
        try:
            return int(text(name))
        except ValueError:
            return -1

    return DeadLetter(
        event=event,
        document_id=text("document") or None,
        value=value or b"",
        key=key,
        reason=text("reason"),
        source_topic=text("source-topic"),
        source_partition=number("source-partition"),
        source_offset=number("source-offset"),
        offset=offset,
    )


@dataclass
class ParkingLot:
    """Who is parked, and what waits, for one partition (or, read-only, for all)."""

    documents: dict[str, list[DeadLetter]] = field(default_factory=dict)
    #: Records whose key names no document: kept on the topic, parked nothing.
    unattributed: list[DeadLetter] = field(default_factory=list)

    def is_parked(self, document_id: str) -> bool:
        return document_id in self.documents

    def fold(self, letter: DeadLetter) -> None:
        """Take one dead-letter record, in log order."""
        document_id = letter.document_id
        if document_id is None:
            if letter.event is DeadLetterEvent.PARKED:
                self.unattributed.append(letter)
            return
        if letter.event in (DeadLetterEvent.PARKED, DeadLetterEvent.QUEUED):
            self.documents.setdefault(document_id, []).append(letter)
        elif letter.event is DeadLetterEvent.RELEASED:
            self.documents.pop(document_id, None)

    def fold_message(self, message: Any) -> None:
        letter = parse_dead_letter(message.value, message.key, message.headers, message.offset)
        if letter is not None:
            self.fold(letter)

    def release(self, document_id: str) -> list[DeadLetter]:
        """Take back everything parked for a document, in order."""
        return self.documents.pop(document_id, [])
