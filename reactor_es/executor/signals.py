"""Child documents: what a drive's signals become in the pipeline.

The legacy Powerhouse server executed a drive reducer's signals after the operation was
stored: CREATE_CHILD_DOCUMENT created the file's document (reusing one that exists),
DELETE_CHILD_DOCUMENT deleted it, COPY_CHILD_DOCUMENT cloned the source document under the
new id. We do the same through Kafka: each signal becomes a follow-up job on `actions`,
published in the same transaction as the drive's operation (so it happens exactly once,
and only if the operation was committed). A child document is a real document with its
own CREATE_DOCUMENT/UPGRADE_DOCUMENT operations.

A signal that cannot be carried out (CREATE_CHILD_DOCUMENT of a type no model serves)
fails the drive's job as a whole: the legacy server ran the signal handlers before it
stored the operation, so a handler that threw kept the operation out. The job runner
builds these jobs before it commits the drive's new state, and puts the drive back.

A copy needs the source's state, which only the executor owning the source's partition
holds: the copy signal goes there first as a control job, which then publishes the new
document's creation with the source's state as its initial state.

Ids are derived from the drive operation's id and the signal's position, so a retried
drive job (or a replayed follow-up) produces the same jobs and actions, which the
executor's idempotency recognises. Replays and load jobs never raise signals.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from typing import Any

from reactor_es.document.actions import (
    create_document_actions,
    delete_document_action,
)
from reactor_es.document.model import DocumentModel, Signal
from reactor_es.document.state import DOCUMENT_SCOPE
from reactor_es.document.types import Document, JsonDict, Operation
from reactor_es.errors import ReactorError
from reactor_es.kafka.records import ActionEnvelope, JobKind

__all__ = [
    "COPY_CONTROL",
    "ENSURE_META_KEY",
    "copy_job",
    "follow_up_jobs",
]

#: `meta["control"]` of the job asking a source document's executor to publish a copy.
COPY_CONTROL = "copy"
#: `meta[ENSURE_META_KEY]`: creating a document that already exists is a success, not a failure.
ENSURE_META_KEY = "ensure"

_NAMESPACE = uuid.UUID("b8f0a7a4-51c3-4a9e-9a56-1d2c3e4f5a6b")


def _derived(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join(parts)))


def _node_name(document: Document, node_id: str) -> str | None:
    nodes = document.state.get("global", {}).get("nodes", [])
    for node in nodes if isinstance(nodes, list) else []:
        if isinstance(node, dict) and node.get("id") == node_id:
            name = node.get("name")
            return name if isinstance(name, str) and name else None
    return None


def _node_type(document: Document | None, node_id: str) -> str | None:
    """The document type a drive's file node stands for (None: unknown, not checked)."""
    nodes = [] if document is None else document.state.get("global", {}).get("nodes", [])
    for node in nodes if isinstance(nodes, list) else []:
        if isinstance(node, dict) and node.get("id") == node_id:
            kind = node.get("documentType")
            return kind if isinstance(kind, str) and kind else None
    return None


def _creation(
    model: DocumentModel,
    document_id: str,
    seed: str,
    *,
    created_at: str,
    name: str | None,
    initial_state: JsonDict | None,
    meta: JsonDict,
) -> ActionEnvelope:
    actions = create_document_actions(
        model, document_id, name=name, initial_state=initial_state, timestamp=created_at
    )
    actions = [
        action.model_copy(update={"id": _derived(seed, "action", str(position))})
        for position, action in enumerate(actions)
    ]
    return ActionEnvelope(
        job_id=_derived(seed, "job"),
        document_id=document_id,
        scope=DOCUMENT_SCOPE,
        kind=JobKind.CREATE,
        actions=actions,
        created_at_utc_iso=created_at,
        document_type=model.document_type,
        meta=meta,
    )


def follow_up_jobs(
    parent: ActionEnvelope,
    document: Document,
    operation: Operation,
    signals: Sequence[Signal],
    model_for: Any,
    *,
    before: Document | None = None,
) -> list[ActionEnvelope]:
    """The jobs that carry out a committed operation's signals.

    `before` is the drive as it was before the job: a deleted file's node (and so the type
    of document it stood for) is only there.
    """
    jobs: list[ActionEnvelope] = []
    when = operation.timestamp_utc_ms
    for position, signal in enumerate(signals):
        seed = f"{operation.id}:{position}"
        meta = {"parentJob": parent.job_id, "parentDocument": document.id, "signal": signal.type}
        child = str(signal.input.get("id", ""))
        copied = signal.type == "COPY_CHILD_DOCUMENT"
        target = str(signal.input.get("newId", "")) if copied else child
        if signal.type != "DELETE_CHILD_DOCUMENT" and target == document.id:
            raise ReactorError(f"a file of drive {document.id} cannot have the drive's own id")
        if signal.type == "CREATE_CHILD_DOCUMENT":
            document_type = str(signal.input.get("documentType", ""))
            jobs.append(
                _creation(
                    model_for(document_type),
                    child,
                    seed,
                    created_at=when,
                    name=_node_name(document, child),
                    initial_state=None,
                    meta={**meta, ENSURE_META_KEY: True},
                )
            )
        elif signal.type == "DELETE_CHILD_DOCUMENT":
            action = delete_document_action(child, timestamp=when)
            action = action.model_copy(update={"id": _derived(seed, "action", "0")})
            jobs.append(
                ActionEnvelope(
                    job_id=_derived(seed, "job"),
                    document_id=child,
                    scope=DOCUMENT_SCOPE,
                    kind=JobKind.DELETE,
                    document_type=_node_type(before, child),
                    actions=[action],
                    created_at_utc_iso=when,
                    meta={**meta, ENSURE_META_KEY: True},
                )
            )
        elif signal.type == "COPY_CHILD_DOCUMENT":
            new_id = str(signal.input.get("newId", ""))
            jobs.append(
                ActionEnvelope(
                    job_id=_derived(seed, "job"),
                    document_id=child,
                    scope=DOCUMENT_SCOPE,
                    kind=JobKind.MUTATE,
                    actions=[],
                    created_at_utc_iso=when,
                    meta={
                        **meta,
                        "control": COPY_CONTROL,
                        "newId": new_id,
                        "name": _node_name(document, new_id),
                        "seed": seed,
                    },
                )
            )
    return jobs


def copy_job(control: ActionEnvelope, source: Document, model: DocumentModel) -> ActionEnvelope:
    """The creation of a copy of `source` (its current state as the initial state)."""
    meta = dict(control.meta or {})
    initial = {
        scope: copy.deepcopy(value)
        for scope, value in source.state.items()
        if scope not in (DOCUMENT_SCOPE, "auth")
    }
    return _creation(
        model,
        str(meta.get("newId", "")),
        f"{meta.get('seed', control.job_id)}:copy",
        created_at=control.created_at_utc_iso,
        name=meta.get("name") or source.header.name or None,
        initial_state=initial,
        meta={
            "parentJob": meta.get("parentJob"),
            "parentDocument": meta.get("parentDocument"),
            "signal": "COPY_CHILD_DOCUMENT",
            "copyOf": source.id,
            ENSURE_META_KEY: True,
        },
    )
