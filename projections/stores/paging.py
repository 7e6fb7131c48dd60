"""Cursor paging shared by the stores: a request (`Paging`) and a result (`Page`).

Cursors are decimal strings of the last key returned (an index, a row id, a sequence
number), as Powerhouse's stores issue them; callers treat them as opaque. A page asks the
store for `limit + 1` rows, so `next_cursor` is None exactly when nothing follows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from projections.stores.exceptions import InvalidQueryError

__all__ = ["Page", "Paging", "cursor_key", "page_limit", "to_page"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Paging:
    """Where to resume (`cursor` from a previous page) and how many results at most."""

    cursor: str | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results; pass `next_cursor` back in `Paging` to get the next one."""

    results: list[T] = field(default_factory=list)
    next_cursor: str | None = None


def cursor_key(paging: Paging | None, query: str) -> int | None:
    """The key a cursor stands for, or None for the first page."""
    if paging is None or paging.cursor is None:
        return None
    text = paging.cursor
    if not text.isascii() or not text.isdigit():
        raise InvalidQueryError(f"{query}: cursor {text!r} was not issued by this store")
    return int(text)


def page_limit(paging: Paging | None, query: str) -> int | None:
    """The page size asked for (None: everything), refusing sizes that cannot be served."""
    if paging is None or paging.limit is None:
        return None
    limit = paging.limit
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidQueryError(f"{query}: paging limit must be a positive integer, got {limit!r}")
    return limit


def to_page(rows: Sequence[T], limit: int | None, key: Callable[[T], int]) -> Page[T]:
    """Cut `rows` (fetched with `limit + 1`) into a page and the cursor of what follows."""
    if limit is None or len(rows) <= limit:
        return Page(list(rows), None)
    kept = list(rows[:limit])
    return Page(kept, str(key(kept[-1])))
