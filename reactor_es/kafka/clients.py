"""Kafka clients built one way everywhere.

Every producer, consumer and admin client of the project is created here, so connection
settings (bootstrap servers, client id, and later security) are decided in one place and
every reader of `operations` and `job-events` reads committed records only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.producer import sender as aiokafka_sender

from reactor_es.config import Settings
from reactor_es.kafka.exceptions import KafkaUnreachable

__all__ = [
    "CLOSE_TIMEOUT",
    "MAX_REQUEST_SIZE",
    "TRANSACTION_RETRY_SECONDS",
    "client_options",
    "close_client",
    "make_admin",
    "make_consumer",
    "make_producer",
    "retrieve_failures",
    "start_client",
    "unreachable",
]


log = logging.getLogger(__name__)

#: Seconds `close_client` lets a client stop (a producer flush) before tearing it down.
CLOSE_TIMEOUT = 30.0

#: The producers' `max_request_size`: no record larger than this is sent (topics may take less,
#: see `reactor_es.kafka.limits`).
MAX_REQUEST_SIZE = 8 * 1024 * 1024

#: Seconds a transactional producer waits before asking again to add partitions to a new
#: transaction while the coordinator still writes the previous one's markers. aiokafka
#: fixes that wait at 20 ms (KAFKA-5477); on our broker the markers take about 1 ms, so the
#: fixed wait was 80% of every back-to-back transaction (measured: 25 ms -> 5 ms each).
TRANSACTION_RETRY_SECONDS = 0.002


def client_options(settings: Settings, bootstrap_servers: str) -> dict[str, Any]:
    """Options shared by every client: where the brokers are and how to reach them."""
    return {"bootstrap_servers": bootstrap_servers, **settings.kafka_security_options()}


def make_producer(
    settings: Settings,
    bootstrap_servers: str,
    *,
    transactional_id: str | None = None,
    **overrides: Any,
) -> AIOKafkaProducer:
    """An idempotent producer (`acks=all`), transactional when given a transactional id."""
    options: dict[str, Any] = {
        "enable_idempotence": True,
        "linger_ms": settings.producer_linger_ms,
        "compression_type": None if settings.compression == "none" else settings.compression,
        "max_batch_size": 256 * 1024,
        "max_request_size": MAX_REQUEST_SIZE,
        **client_options(settings, bootstrap_servers),
    }
    if transactional_id is not None:
        options["transactional_id"] = transactional_id
        options["transaction_timeout_ms"] = settings.transaction_timeout_ms
        # aiokafka waits retry_backoff_ms (default 100) whenever the coordinator is still
        # finishing the previous transaction: that wait was most of the executor's p99.
        options["retry_backoff_ms"] = 10
        _shorten_transaction_retry()
    options.update(overrides)
    return AIOKafkaProducer(**options)


def _shorten_transaction_retry() -> None:
    """Lower aiokafka's fixed wait between two transactions (a module constant of its
    sender, read on every retry); a version without it is left as it is."""
    if getattr(aiokafka_sender, "BACKOFF_OVERRIDE", None) is not None:
        aiokafka_sender.BACKOFF_OVERRIDE = min(
            aiokafka_sender.BACKOFF_OVERRIDE, TRANSACTION_RETRY_SECONDS
        )


def make_consumer(
    settings: Settings,
    bootstrap_servers: str,
    *topics: str,
    group_id: str | None = None,
    **overrides: Any,
) -> AIOKafkaConsumer:
    """A read_committed consumer without auto-commit, starting from the earliest record."""
    options: dict[str, Any] = {
        "group_id": group_id,
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": max(100, settings.session_timeout_ms // 3),
        "isolation_level": "read_committed",
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 8 * 1024 * 1024,
        "fetch_max_bytes": 64 * 1024 * 1024,
        **client_options(settings, bootstrap_servers),
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


def make_admin(settings: Settings, bootstrap_servers: str) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**client_options(settings, bootstrap_servers))


def unreachable(
    bootstrap_servers: str, exc: BaseException, failures: Sequence[str] = ()
) -> KafkaUnreachable:
    """Our one-line error for a cluster that could not be reached (`exc` from aiokafka,
    `failures` what aiokafka logged per address while bootstrapping)."""
    if failures:
        reason = "; ".join(dict.fromkeys(failures))  # distinct, in order
    elif isinstance(exc, KafkaConnectionError) and "Unable to bootstrap" in str(exc):
        reason = "no broker answered"  # aiokafka's text only lists the resolved addresses
    else:
        reason = str(exc) or type(exc).__name__
    return KafkaUnreachable(bootstrap_servers, reason)


class _HeldBootstrapErrors(logging.Filter):
    """Holds back aiokafka's `Unable connect to "host:port": err` records while a client
    starts: if the start fails they become the reason of our one-line error instead of
    an extra ERROR line; if it succeeds they are logged after all."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Unable connect to") and len(record.args or ()) == 3:
            self.held.append(record)
            return False
        return True

    def reasons(self, bootstrap_servers: str) -> list[str]:
        single = len(bootstrap_servers.split(",")) == 1
        out = []
        for record in self.held:
            host, port, err = record.args  # type: ignore[misc]
            out.append(str(err) if single else f"{host}:{port}: {err}")
        return out


async def start_client(client: Any, bootstrap_servers: str) -> None:
    """Start a producer, consumer or admin client. When the cluster cannot be reached the
    client is closed again (no "Unclosed AIOKafka..." at exit) and `KafkaUnreachable`
    names the address and why."""
    held = _HeldBootstrapErrors()
    aiokafka_log = logging.getLogger("aiokafka")
    aiokafka_log.addFilter(held)
    try:
        await client.start()
    except KafkaError as exc:
        aiokafka_log.removeFilter(held)
        await _close_unstarted(client)
        raise unreachable(bootstrap_servers, exc, held.reasons(bootstrap_servers)) from exc
    except BaseException:
        aiokafka_log.removeFilter(held)
        await _close_unstarted(client)
        raise
    aiokafka_log.removeFilter(held)
    for record in held.held:  # one address failed, another answered: still worth a line
        aiokafka_log.handle(record)


async def _close_unstarted(client: Any) -> None:
    """Close a client whose start failed: it holds nothing to flush, so no time limit."""
    closing = getattr(client, "stop", None) or client.close
    with contextlib.suppress(Exception):
        await closing()


async def close_client(client: Any, *, timeout: float = CLOSE_TIMEOUT, what: str = "") -> bool:
    """Stop a producer or consumer, or close an admin client; errors are ignored.

    A producer flushes what it holds before it stops, and aiokafka retries a batch without
    end while no broker accepts it (after a broker restart it can keep answering "not
    leader"), so a plain `stop()` can hang forever. After `timeout` seconds the client is
    torn down without flushing and a warning says so. False if that was needed.
    """
    closing = getattr(client, "stop", None) or client.close
    try:
        await asyncio.wait_for(closing(), timeout)
    except TimeoutError:
        log.warning(
            "%s did not stop within %gs (records it still held are not sent): closing its "
            "connections",
            what or type(client).__name__,
            timeout,
        )
    except Exception:  # closing is best effort
        return True
    else:
        return True
    finally:
        retrieve_failures(client)
    await _tear_down(client)
    return False


def retrieve_failures(client: Any) -> None:
    """Read the exceptions a producer left in its own futures, so asyncio does not log them.

    A refused transactional request (ProducerFenced when another producer took the
    transactional id over) fails the transaction's waiter and the batches not yet sent,
    and only a later commit or abort would read them; a fenced producer is closed instead,
    and each unread one was logged at ERROR as "Future exception was never retrieved". The
    failure itself reaches the caller through its own send or transaction call. aiokafka
    internals, looked up defensively: a version without them is left as it is.
    """
    futures: list[Any] = []
    transactions = getattr(client, "_txn_manager", None)
    futures.append(getattr(transactions, "_transaction_waiter", None))
    accumulator = getattr(client, "_message_accumulator", None)
    queues = getattr(accumulator, "_batches", None)
    batches = [batch for queue in (queues or {}).values() for batch in queue]
    batches.extend(getattr(accumulator, "_pending_batches", None) or ())
    for batch in batches:
        futures.extend((getattr(batch, "future", None), getattr(batch, "_drain_waiter", None)))
    for future in futures:
        if not isinstance(future, asyncio.Future):
            continue
        if future.done():
            _read_exception(future)
        else:
            future.add_done_callback(_read_exception)


def _read_exception(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def _tear_down(client: Any) -> None:
    """Cancel a client's background sender and close its connections (aiokafka internals,
    looked up defensively: a version without them is left to the garbage collector)."""
    sender = getattr(getattr(client, "_sender", None), "sender_task", None)
    if isinstance(sender, asyncio.Task) and not sender.done():
        sender.cancel()
        with contextlib.suppress(BaseException):
            await sender
    connections = getattr(client, "client", None) or getattr(client, "_client", None)
    close = getattr(connections, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(close(), 5)
