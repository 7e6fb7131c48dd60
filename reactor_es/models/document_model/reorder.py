"""The two REORDER_* algorithms: the legacy comparator (to E6) and `orderBy` (E7).

The legacy one is buggy and must stay so for replay: an id's rank is its position in
`order` (last occurrence wins) but rank 0 is falsy in JavaScript, so the item listed
FIRST gets the same key as unlisted items (999999), and the sort is descending.
"""

from __future__ import annotations

import math

from reactor_es.document.types import JsonDict
from reactor_es.models.document_model.exceptions import UnknownReorderIdError

__all__ = ["legacy_reorder", "order_by", "reorder"]

_UNRANKED = 999999


def legacy_reorder(items: list[JsonDict], order: list[str]) -> None:
    """Sort `items` in place as Powerhouse did until May 2026 (stable, descending key)."""
    rank = {item_id: position for position, item_id in enumerate(order)}

    def descending_key(item: JsonDict) -> int:
        return -(rank.get(item["id"]) or _UNRANKED)

    items.sort(key=descending_key)


def order_by(items: list[JsonDict], order: list[str]) -> list[JsonDict]:
    """Listed items first in the requested order, then the rest as they were; a new list.

    Refuses (before anything changes) an id of `order` that no item has.
    """
    known = {item["id"] for item in items}
    for item_id in order:
        if item_id not in known:
            raise UnknownReorderIdError(item_id)
    rank = {item_id: position for position, item_id in enumerate(order)}
    positioned = sorted(
        enumerate(items), key=lambda pair: (rank.get(pair[1]["id"], math.inf), pair[0])
    )
    return [item for _, item in positioned]


def reorder(container: JsonDict, key: str, order: list[str], legacy: bool) -> None:
    """Reorder `container[key]` with the algorithm of the era."""
    if legacy:
        legacy_reorder(container[key], order)
    else:
        container[key] = order_by(container[key], order)
