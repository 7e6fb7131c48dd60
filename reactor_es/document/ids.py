"""Identifiers and timestamps as Powerhouse derives them."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

__all__ = ["derive_operation_id", "new_id", "utc_now_iso"]


def derive_operation_id(document_id: str, scope: str, branch: str, action_id: str) -> str:
    """First 32 hex chars of SHA-1("docId:scope:branch:actionId").

    Independent of index and skip, so a reshuffled copy of an operation keeps its id and the
    same action yields the same operation id on every replica.
    """
    text = f"{document_id}:{scope}:{branch}:{action_id}"
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:32]


def new_id() -> str:
    """A random UUID v4, as Powerhouse's `generateId`."""
    return str(uuid.uuid4())


def utc_now_iso() -> str:
    """Current time as JavaScript's `new Date().toISOString()` writes it (ms, `Z`)."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
