"""`reactor-es parked` and `reactor-es unpark`: documents held up by poison input."""

from __future__ import annotations

import argparse
from typing import Any

from aiokafka.errors import KafkaError

from reactor_es.cli.runtime import bootstrap_for, document_id_arg, run_async, seconds
from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.verify import counted
from reactor_es.errors import ReactorError
from reactor_es.executor.parking import DeadLetter
from reactor_es.executor.restore import read_parking_lot
from reactor_es.kafka.exceptions import KafkaUnreachable
from reactor_es.kafka.records import JobStatus
from reactor_es.kafka.topics import TopicNames

__all__ = ["parked_letters", "register"]


def register(subparsers: Any) -> None:
    parked = subparsers.add_parser(
        "parked", help="list documents parked by poison input, with what waits behind it"
    )
    parked.set_defaults(handler=_parked)

    unpark = subparsers.add_parser(
        "unpark",
        help="retry a parked document's jobs in order",
        description=(
            "Retry a parked document's records in order, then report the outcome: exit 1 "
            "when the document is parked again (the first record fails again: --skip-first "
            "drops it) or was not parked (then nothing is sent)."
        ),
    )
    unpark.add_argument("document_id", metavar="ID", type=document_id_arg)
    unpark.add_argument(
        "--skip-first", action="store_true", help="drop the poison record, retry the rest"
    )
    unpark.add_argument(
        "--timeout", type=seconds, default=30.0, help="seconds to wait (default 30)"
    )
    unpark.set_defaults(handler=_unpark)


def _parked(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    bootstrap = bootstrap_for(settings, start_local=False)
    topic = TopicNames.from_settings(settings).actions_dlq
    lot = run_async(lambda: read_parking_lot(settings, bootstrap, topic))
    for document_id, letters in sorted(lot.documents.items()):
        first = letters[0]
        print(
            f"{document_id}\t{len(letters)} record(s) waiting\tsince "
            f"{first.source_topic}[{first.source_partition}]@{first.source_offset}: {first.reason}"
        )
    if lot.unattributed:
        print(f"(no document)\t{len(lot.unattributed)} unreadable record(s) without a key")
    print(f"parked: {counted(len(lot.documents), 'document')}")
    return 0


def _unpark(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    bootstrap = bootstrap_for(settings, start_local=False)
    document_id = args.document_id

    async def main() -> int:
        if not await _maybe_parked(settings, bootstrap, document_id):
            # What the executor would answer, without a FAILED job left in the job store.
            print(f"unpark {document_id}: document {document_id} is not parked")
            return 1
        async with Reactor(settings, bootstrap) as reactor:
            info = await reactor.unpark(document_id, skip_first=args.skip_first)
            info = await reactor.wait_for_job(info.id, args.timeout, until=JobStatus.WRITE_READY)
        if info.status is JobStatus.FAILED:
            print(f"unpark {document_id}: {info.error}")
            return 1
        # The retries were written in the unpark job's own transaction: if the first record
        # failed again, the dead-letter topic says so now.
        again = await parked_letters(settings, bootstrap, document_id)
        if again:
            first = again[0]
            print(
                f"unpark {document_id}: parked again: record {first.source_topic}"
                f"[{first.source_partition}]@{first.source_offset} failed again: {first.reason} "
                f"({counted(len(again), 'record')} waiting); `reactor-es unpark {document_id} "
                "--skip-first` drops that record and retries the rest"
            )
            return 1
        print(f"unparked {document_id}: its parked jobs were retried in order")
        return 0

    return run_async(main)


async def _maybe_parked(settings: Settings, bootstrap: str, document_id: str) -> bool:
    """False when the dead-letter topic shows the document is not parked; True when it is,
    or when the topic cannot be read (the executor then answers, as it always does). An
    unreachable cluster is said at once: the unpark could not be sent either."""
    try:
        return bool(await parked_letters(settings, bootstrap, document_id))
    except KafkaUnreachable:
        raise
    except (ReactorError, KafkaError):
        return True


async def parked_letters(settings: Settings, bootstrap: str, document_id: str) -> list[DeadLetter]:
    """The records parked for a document, first the one that parked it; empty if none."""
    topic = TopicNames.from_settings(settings).actions_dlq
    lot = await read_parking_lot(settings, bootstrap, topic)
    return lot.documents.get(document_id, [])
