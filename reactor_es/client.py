"""The Reactor client: create documents, mutate them, follow jobs, read documents.

Publishing a job is one record on `actions` (key = document id, so a document's jobs stay
in order) plus a PENDING event on `job-events`. The client follows its own jobs on
`job-events` (read_committed) from the moment it starts; for jobs of other processes and
for documents it asks the read stores it is given (the projections).

Requests are checked before anything is sent, as Powerhouse's action creators do: the
document type must be registered, every action well formed and in one scope, and the input
valid for the model when the document's type is known, and every record small enough for
its topic (`reactor_es.kafka.limits`). Whatever the client cannot know
(does the document exist now? is the revision still the expected one?) the executor
decides, failing the job and writing nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import BrokerResponseError

from reactor_es.config import Settings
from reactor_es.document.actions import create_document_actions, delete_document_action, new_action
from reactor_es.document.exceptions import InvalidActionInputError
from reactor_es.document.ids import new_id, utc_now_iso
from reactor_es.document.reducer import BASE_ACTIONS, check_base_input, validate_action
from reactor_es.document.state import DOCUMENT_SCOPE
from reactor_es.document.types import Action, Document, JsonDict, Operation
from reactor_es.errors import (
    ClientError,
    JobNotFoundError,
    JobTimeoutError,
    MixedScopesError,
    PublishError,
)
from reactor_es.jobs import DocumentReader, JobInfo, JobStatusReader
from reactor_es.kafka.clients import close_client, make_consumer, make_producer, start_client
from reactor_es.kafka.codec import RecordCodec
from reactor_es.kafka.codec_errors import RecordDecodeError
from reactor_es.kafka.limits import RecordLimits, read_record_limits
from reactor_es.kafka.records import (
    UNPARK_CONTROL,
    ActionEnvelope,
    JobEvent,
    JobKind,
    JobStatus,
    load_meta,
)
from reactor_es.kafka.topics import TopicNames, document_key, job_key
from reactor_es.registry import DocumentModelRegistry, default_registry
from reactor_es.subscription import StartPosition, Subscription, subscribe

__all__ = ["ActionLike", "Reactor", "check_document_id"]

log = logging.getLogger(__name__)

#: An action, or its short form `{"type": T, "input": {...}, "scope": S}` (id and time added).
ActionLike = Action | Mapping[str, Any]

SOURCE = "client"
_OTHERS_KEPT = 10_000


def _as_action(item: ActionLike) -> Action:
    if isinstance(item, Action):
        return item
    if not isinstance(item, Mapping):
        raise ClientError(f"an action must be an Action or a mapping, not {type(item).__name__}")
    action_type = item.get("type")
    if not isinstance(action_type, str) or not action_type:
        raise ClientError("an action needs a non-empty string 'type'")
    scope = item.get("scope") or "global"
    if not isinstance(scope, str):
        raise ClientError(f"action {action_type}: 'scope' must be a string")
    return new_action(
        action_type,
        item.get("input"),
        scope,
        action_id=item.get("id"),
        timestamp=item.get("timestampUtcMs"),
    )


def _not_text_at(value: Any, path: str = "") -> str | None:
    """Where (a dotted path, as pydantic names fields) `value` holds a string that is not
    Unicode text (a lone surrogate, from a `\\ud800` JSON escape or undecodable argv)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "input"
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            found = _not_text_at(key, where) or _not_text_at(item, where)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for position, item in enumerate(value):
            found = _not_text_at(item, f"{path}.{position}" if path else str(position))
            if found is not None:
                return found
    return None


def _check_text(action: Action) -> None:
    """Refuse input that cannot be written as UTF-8, naming the field (not the codec)."""
    where = _not_text_at(action.input)
    if where is not None:
        raise InvalidActionInputError(
            action.type, where, "holds a lone surrogate, which is not valid Unicode text"
        )


def check_document_id(document_id: str) -> None:
    """A document id a job can carry: not empty, Unicode text."""
    if not document_id:
        raise ClientError("document id must not be empty")
    if _not_text_at(document_id) is not None:
        raise ClientError(
            f"document id {document_id!r} is not valid Unicode text (it holds a lone surrogate)"
        )


def _action_types(actions: Sequence[Action]) -> str:
    """The types of a job's actions, in order, for a message (the first few)."""
    shown = ", ".join(action.type for action in actions[:5]) or "no actions"
    return shown if len(actions) <= 5 else f"{shown}, ... {len(actions)} actions in all"


def _skips(actions: Sequence[ActionLike]) -> tuple[int, ...]:
    """The `skip` of each short-form action (0 when absent): a NOOP with skip is an undo."""
    skips = []
    for item in actions:
        skip = item.get("skip", 0) if isinstance(item, Mapping) else 0
        if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
            raise ClientError(f"an action's 'skip' must be a non-negative integer, not {skip!r}")
        skips.append(skip)
    return tuple(skips) if any(skips) else ()


class Reactor:
    """Async client of a reactor-es deployment."""

    def __init__(
        self,
        settings: Settings,
        bootstrap_servers: str,
        *,
        registry: DocumentModelRegistry | None = None,
        jobs: JobStatusReader | None = None,
        documents: DocumentReader | None = None,
        client_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.bootstrap_servers = bootstrap_servers
        self.registry = registry if registry is not None else default_registry()
        self.jobs_store = jobs
        self.documents_store = documents
        self.client_id = client_id or f"reactor-es-client-{new_id()[:8]}"
        self.topics = TopicNames.from_settings(settings)
        self.codec = RecordCodec()
        self._producer: Any = None
        self._watcher: Any = None
        self._watch_task: asyncio.Task[None] | None = None
        #: The largest record `actions` and `job-events` take (read at start).
        self.limits = RecordLimits()
        self._limits_task: asyncio.Task[RecordLimits] | None = None
        self._jobs: dict[str, JobInfo] = {}
        #: Recent events of jobs this client did not submit (e.g. child jobs seen before
        #: their parent's event), bounded.
        self._others: OrderedDict[str, JobInfo] = OrderedDict()
        #: Per job, the events of the calls waiting for it: an event wakes only its waiters.
        self._waiters: dict[str, list[asyncio.Event]] = {}

    # -- life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect; from now on the client sees every event of the jobs it submits.

        An unreachable cluster raises `KafkaUnreachable`; whatever was opened is closed.
        """
        try:
            await self._connect()
        except BaseException:
            await self.close()
            raise

    async def _connect(self) -> None:
        # The topics' size limits are read while the rest connects (an admin round trip).
        self._limits_task = asyncio.create_task(
            read_record_limits(
                self.settings, self.bootstrap_servers, (self.topics.actions, self.topics.job_events)
            )
        )
        self._producer = make_producer(self.settings, self.bootstrap_servers)
        await start_client(self._producer, self.bootstrap_servers)
        self._watcher = make_consumer(self.settings, self.bootstrap_servers, group_id=None)
        await start_client(self._watcher, self.bootstrap_servers)
        partitions = await self._partitions(self.topics.job_events)
        tps = [TopicPartition(self.topics.job_events, p) for p in partitions]
        self._watcher.assign(tps)
        await self._watcher.seek_to_end(*tps)
        for tp in tps:  # resolve positions now, so no later event is missed
            await self._watcher.position(tp)
        self._watch_task = asyncio.create_task(self._watch())
        self.limits = await self._limits_task

    async def close(self) -> None:
        if self._limits_task is not None and not self._limits_task.done():
            self._limits_task.cancel()
            with contextlib.suppress(BaseException):
                await self._limits_task
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(BaseException):
                await self._watch_task
            self._watch_task = None
        for client, what in ((self._watcher, "job-event watcher"), (self._producer, "producer")):
            if client is not None:
                await close_client(client, what=f"the client's {what}")
        self._watcher = self._producer = None

    async def __aenter__(self) -> Reactor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- commands --------------------------------------------------------------------------------

    async def create_document(
        self,
        document_type: str,
        document_id: str | None = None,
        *,
        name: str | None = None,
        slug: str | None = None,
        initial_state: JsonDict | None = None,
    ) -> JobInfo:
        """Create a document of a registered type (CREATE_DOCUMENT + UPGRADE_DOCUMENT).

        `initial_state` replaces the model's default initial state (e.g. an import).
        """
        model = self.registry.get(document_type)  # unknown type: refused here
        if document_id is not None:  # None: a new id; "" is a mistake, not a request for one
            check_document_id(document_id)
        if name is not None and _not_text_at(name) is not None:
            raise ClientError(
                f"name {name!r} is not valid Unicode text (it holds a lone surrogate)"
            )
        actions = create_document_actions(
            model, document_id, name=name, slug=slug, initial_state=initial_state
        )
        document_id = actions[0].input["documentId"]
        return await self.submit_job(
            document_id, actions, JobKind.CREATE, document_type=document_type
        )

    async def mutate(
        self,
        document_id: str,
        actions: Sequence[ActionLike],
        *,
        document_type: str | None = None,
        expected_revision: int | None = None,
    ) -> JobInfo:
        """Submit actions for one document as one job; returns its JobInfo (PENDING).

        With `document_type` (or a document store to look it up) the input of every action
        is validated against the model before anything is sent. `expected_revision` makes
        the job fail with a conflict unless the scope is at that revision.
        """
        document_type = document_type or await self._known_type(document_id)
        # Valid, but not measured here: `_send` measures the very record it publishes.
        built = self._valid_actions(document_id, actions, document_type=document_type)
        return await self.submit_job(
            document_id,
            built,
            JobKind.MUTATE,
            expected_revision=expected_revision,
            skips=_skips(actions),
        )

    def check_actions(
        self,
        document_id: str,
        actions: Sequence[ActionLike],
        *,
        document_type: str | None = None,
    ) -> list[Action]:
        """The actions, checked as they would be before publishing (raises when refused),
        the size of the job's record included: a caller checking several jobs before
        publishing any learns here that one would be too large."""
        built = self._valid_actions(document_id, actions, document_type=document_type)
        job = self._envelope(document_id, built, JobKind.MUTATE, built[0].scope, _skips(actions))
        self.limits.check(
            f"action record for document {document_id} ({_action_types(built)})",
            self.topics.actions,
            document_key(document_id),
            self.codec.encode_record(job),
        )
        return built

    def _valid_actions(
        self,
        document_id: str,
        actions: Sequence[ActionLike],
        *,
        document_type: str | None = None,
    ) -> list[Action]:
        """The actions, checked as `check_actions` does but for the record's size."""
        check_document_id(document_id)
        built = [_as_action(item) for item in actions]
        if not built:
            raise ClientError(f"job for document {document_id} has no actions")
        model = self.registry.get(document_type) if document_type is not None else None
        for action in built:
            validate_action(action)
            _check_text(action)
            check_base_input(action)  # UNDO count, REDO, scopes...: whatever the document
            if model is not None:
                model.check_scope(action)
            if model is not None and action.type not in BASE_ACTIONS:
                model.check_action(action)
                model.validate_input(action, model.rules_at(None))
        scopes = sorted({action.scope for action in built})
        if len(scopes) > 1:
            raise MixedScopesError(document_id, scopes)
        return built

    async def load(self, document_id: str, operations: Sequence[Operation]) -> JobInfo:
        """Import operations recorded elsewhere (Powerhouse's `load`), all in one scope.

        Each operation's action is applied under the rules of the era of its recorded
        timestamp, which the new operation keeps, at its recorded index and with its
        recorded skip (a garbage-collected gap, an undo marker); the hash is this reactor's.
        Pass a scope's history as replay sees it (`effective_history`): skips are not
        processed again, except that protocol-2 undo markers rebuild their scope.
        """
        if not operations:
            raise ClientError(f"load job for document {document_id} has no operations")
        actions = [operation.action for operation in operations]
        for action in actions:
            validate_action(action)
        meta = load_meta(
            [op.timestamp_utc_ms or op.action.timestamp_utc_ms for op in operations],
            [op.index for op in operations],
        )
        skips = tuple(op.skip for op in operations)
        return await self.submit_job(
            document_id,
            actions,
            JobKind.MUTATE,
            meta=meta,
            skips=skips if any(skips) else (),
        )

    async def delete_document(self, document_id: str) -> JobInfo:
        return await self.submit_job(
            document_id, [delete_document_action(document_id)], JobKind.DELETE
        )

    # -- queries ---------------------------------------------------------------------------------

    async def get_job_status(self, job_id: str) -> JobInfo:
        """The job's status as this client saw it, else as the job-status store has it."""
        info = self._jobs.get(job_id)
        if self.jobs_store is not None:
            stored = await self.jobs_store.get_job(job_id)
            if stored is not None and (info is None or stored.reached(info.status)):
                info = stored
        if info is None:
            raise JobNotFoundError(job_id)
        return info

    async def wait_for_job(
        self,
        job_id: str,
        timeout: float = 30.0,
        *,
        until: JobStatus = JobStatus.WRITE_READY,
    ) -> JobInfo:
        """Wait until the job reaches `until` (or fails); `JobTimeoutError` after `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # Jobs of other processes are only in the job-status store: poll it.
        poll_store = self.jobs_store is not None and job_id not in self._jobs
        while True:
            info = self._jobs.get(job_id)
            if info is None and self.jobs_store is not None:
                info = await self.jobs_store.get_job(job_id)
            if info is not None and info.reached(until):
                return info
            left = deadline - loop.time()
            if left <= 0:
                status = info.status.value if info is not None else "unknown"
                raise JobTimeoutError(job_id, status, until.value, timeout)
            woken = asyncio.Event()
            self._waiters.setdefault(job_id, []).append(woken)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), min(left, 0.25) if poll_store else left)
            finally:
                waiting = self._waiters.get(job_id)
                if waiting is not None:
                    waiting.remove(woken)
                    if not waiting:
                        del self._waiters[job_id]

    async def get_document(self, document_id: str) -> Document:
        if self.documents_store is None:
            raise ClientError("this client has no document store to read documents from")
        return await self.documents_store.get_document(document_id)

    def subscribe(
        self,
        *,
        document_id: str | None = None,
        document_type: str | None = None,
        scope: str | None = None,
        branch: str | None = None,
        start: StartPosition = "latest",
        until_end: bool = False,
    ) -> Subscription:
        """Follow committed operations (see `reactor_es.subscription`).

        `async with` it to fix the start position before acting, then `async for op in it`.
        """
        return subscribe(
            self.settings,
            self.bootstrap_servers,
            document_id=document_id,
            document_type=document_type,
            scope=scope,
            branch=branch,
            start=start,
            until_end=until_end,
        )

    # -- internals -------------------------------------------------------------------------------

    async def _known_type(self, document_id: str) -> str | None:
        if self.documents_store is None:
            return None
        try:
            document = await self.documents_store.get_document(document_id)
        except ClientError:
            raise
        except Exception:  # not projected yet: the executor decides
            return None
        return document.header.document_type

    async def submit_job(
        self,
        document_id: str,
        actions: list[Action],
        kind: JobKind,
        *,
        document_type: str | None = None,
        expected_revision: int | None = None,
        meta: dict[str, Any] | None = None,
        skips: Sequence[int] = (),
    ) -> JobInfo:
        """Publish one job as given (the commands above build their jobs with this)."""
        scopes = sorted({action.scope for action in actions})
        if len(scopes) > 1:
            raise MixedScopesError(document_id, scopes)
        if not scopes:
            raise ClientError(f"job for document {document_id} has no actions")
        return await self._send(
            document_id,
            actions,
            kind,
            scopes[0],
            document_type=document_type,
            expected_revision=expected_revision,
            meta=meta,
            skips=skips,
        )

    async def unpark(self, document_id: str, *, skip_first: bool = False) -> JobInfo:
        """Retry, in order, the jobs parked for a document (`skip_first` drops the poison).

        The request travels through `actions`, so it is ordered with the document's jobs.
        """
        meta = {"control": UNPARK_CONTROL, "skipFirst": skip_first}
        return await self._send(document_id, [], JobKind.MUTATE, DOCUMENT_SCOPE, meta=meta)

    async def _send(
        self,
        document_id: str,
        actions: list[Action],
        kind: JobKind,
        scope: str,
        *,
        document_type: str | None = None,
        expected_revision: int | None = None,
        meta: dict[str, Any] | None = None,
        skips: Sequence[int] = (),
    ) -> JobInfo:
        if self._producer is None:
            raise ClientError("the client is not started (use `async with Reactor(...)`)")
        job = self._envelope(
            document_id,
            actions,
            kind,
            scope,
            skips,
            document_type=document_type,
            expected_revision=expected_revision,
            meta=meta,
        )
        pending = JobEvent(
            job_id=job.job_id,
            document_id=document_id,
            status=JobStatus.PENDING,
            at_utc_iso=job.created_at_utc_iso,
            source=SOURCE,
        )
        # Encode and measure both before sending either: a record that cannot be written
        # sends nothing.
        job_value = self.codec.encode_record(job)
        event_value = self.codec.encode_record(pending)
        self.limits.check(
            f"action record for document {document_id} ({_action_types(actions)})",
            self.topics.actions,
            document_key(document_id),
            job_value,
        )
        self.limits.check(
            f"job-event record of job {job.job_id}",
            self.topics.job_events,
            job_key(job.job_id),
            event_value,
        )
        info = JobInfo.from_event(pending)
        self._jobs[job.job_id] = info
        try:
            sent = await self._producer.send(
                self.topics.actions, value=job_value, key=document_key(document_id)
            )
            marked = await self._producer.send(
                self.topics.job_events, value=event_value, key=job_key(job.job_id)
            )
            await asyncio.gather(sent, marked)
        except Exception as exc:
            raise await self._not_published(job, exc) from exc
        return info

    def _envelope(
        self,
        document_id: str,
        actions: list[Action],
        kind: JobKind,
        scope: str,
        skips: Sequence[int] = (),
        **fields: Any,
    ) -> ActionEnvelope:
        return ActionEnvelope(
            job_id=new_id(),
            document_id=document_id,
            scope=scope,
            kind=kind,
            actions=actions,
            created_at_utc_iso=utc_now_iso(),
            client_id=self.client_id,
            skips=tuple(skips) if any(skips) else (),
            **fields,
        )

    async def _not_published(self, job: ActionEnvelope, exc: Exception) -> PublishError:
        """The error for a job whose records Kafka did not take (one line, no traceback).

        A broker's definite refusal means the action was not written: the PENDING event
        may have been, so a FAILED event follows it and no job is left pending forever.
        Anything else (a timeout, say) leaves the job's fate to its status.
        """
        text = str(exc)
        reason = text if type(exc).__name__ in text else f"{type(exc).__name__}: {text}"
        where = f"job {job.job_id} for document {job.document_id}"
        if not (isinstance(exc, BrokerResponseError) and not exc.retriable):
            return PublishError(f"{where} may not have been published ({reason})")
        failed = JobEvent(
            job_id=job.job_id,
            document_id=job.document_id,
            status=JobStatus.FAILED,
            at_utc_iso=utc_now_iso(),
            source=SOURCE,
            error=f"not published: {reason}",
        )
        self._jobs[job.job_id] = self._jobs[job.job_id].advance(failed)
        with contextlib.suppress(Exception):
            await self._producer.send_and_wait(
                self.topics.job_events,
                value=self.codec.encode_record(failed),
                key=job_key(job.job_id),
            )
        return PublishError(f"{where} was not published: Kafka refused it ({reason})")

    def _follow(self, job_id: str, document_id: str) -> None:
        """Track a job this client did not submit (a child job), keeping what was seen."""
        if job_id in self._jobs:
            return
        seen = self._others.pop(job_id, None)
        self._jobs[job_id] = seen or JobInfo(job_id, document_id, JobStatus.PENDING, utc_now_iso())

    async def wait_for_jobs_tree(
        self, job_id: str, timeout: float = 30.0, *, until: JobStatus = JobStatus.WRITE_READY
    ) -> list[JobInfo]:
        """Wait for a job and, recursively, the jobs it caused; all infos, parent first."""
        done: list[JobInfo] = []
        queue = [job_id]
        while queue:
            info = await self.wait_for_job(queue.pop(0), timeout, until=until)
            done.append(info)
            for child in info.children:
                self._follow(child, info.document_id)
                queue.append(child)
        return done

    async def _partitions(self, topic: str) -> list[int]:
        for _ in range(50):
            partitions = self._watcher.partitions_for_topic(topic)
            if partitions:
                return sorted(partitions)
            await self._watcher._client.force_metadata_update()
            await asyncio.sleep(0.1)
        raise ClientError(f"topic {topic} does not exist: start the reactor first")

    async def _watch(self) -> None:
        while True:
            batches = await self._watcher.getmany(timeout_ms=1000)
            if not batches:
                continue
            for messages in batches.values():
                for message in messages:
                    try:
                        event = self.codec.decode_record(message.value, JobEvent)
                    except RecordDecodeError as exc:
                        log.warning("unreadable job event at offset %d: %s", message.offset, exc)
                        continue
                    known = self._jobs.get(event.job_id)
                    if known is None:
                        other = self._others.pop(event.job_id, None)
                        info = JobInfo.from_event(event) if other is None else other.advance(event)
                        self._others[event.job_id] = info
                        while len(self._others) > _OTHERS_KEPT:
                            self._others.popitem(last=False)
                        continue
                    advanced = known.advance(event)
                    self._jobs[event.job_id] = advanced
                    for child in advanced.children:
                        self._follow(child, advanced.document_id)
                    for woken in self._waiters.get(event.job_id, ()):
                        woken.set()
