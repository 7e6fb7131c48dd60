"""Node id ordering as JavaScript's `a.localeCompare(b)` gives it (ICU, locale en-US).

The drive sorts its nodes by id after most node actions, and the order is hashed, so it
must be ICU's and not Python's code-point order (`a < A < a_b < a-b < a.b < a1 < b < B`).
With PyICU installed we use ICU's own sort keys. Without it a pure-Python key stands in:
exact for every ASCII string (ICU root weights for the 128 code points are tabulated
below; control characters are ignorable, case only breaks ties), approximate beyond
ASCII (accents order after their base letter, other characters after all of ASCII by
code point). Ids that Powerhouse generates (UUID v4: `[0-9a-f-]`) are ASCII.

Keys are cached per id: a drive re-sorts thousands of nodes after every action.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from reactor_es.document.types import JsonDict

__all__ = [
    "COLLATION_BACKEND",
    "fallback_sort_key",
    "icu_sort_key",
    "id_sort_key",
    "locale_compare",
    "sort_nodes_by_id",
]

#: Non-ignorable ASCII in ICU root primary order, letters folded to lowercase.
_PRIMARY_ORDER = (
    "\t\n\x0b\x0c\r _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz"
)
#: Controls other than TAB..CR (and DEL) are completely ignorable in ICU root.
_IGNORABLE = "".join(chr(c) for c in (*range(0x09), *range(0x0E, 0x20), 0x7F))

_COMMON = "\x05"  # secondary weight of every base character (any value below the marks)
_LOWER, _UPPER = "\x00", "\x01"  # tertiary weights: case is only a tie-breaker

# Weights are characters so that a key level is a str, compared in C.
_PRIMARY: dict[int, str | None] = {ord(c): chr(rank + 1) for rank, c in enumerate(_PRIMARY_ORDER)}
_PRIMARY.update(
    {ord(c.upper()): chr(_PRIMARY_ORDER.index(c) + 1) for c in "abcdefghijklmnopqrstuvwxyz"}
)
_PRIMARY.update({ord(c): None for c in _IGNORABLE})
_TERTIARY: dict[int, str | None] = dict.fromkeys(range(128), _LOWER)
_TERTIARY.update({ord(c): _UPPER for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"})
_TERTIARY.update({ord(c): None for c in _IGNORABLE})


def _fallback_key(text: str) -> tuple[str, str, str]:
    if text.isascii():
        primary = text.translate(_PRIMARY)
        # Equal primaries mean equally many base characters, all with the common
        # secondary weight, so the secondary level cannot decide between ASCII strings.
        return primary, _COMMON * len(primary), text.translate(_TERTIARY)
    primaries: list[str] = []
    secondaries: list[str] = []
    tertiaries: list[str] = []
    for char in unicodedata.normalize("NFD", text):
        code = ord(char)
        if code < 128:
            weight = _PRIMARY[code]
            if weight is None:
                continue
            primaries.append(weight)
            secondaries.append(_COMMON)
            tertiaries.append(_TERTIARY[code] or _LOWER)
        elif unicodedata.combining(char):
            secondaries.append(char)  # a mark: no primary weight, orders after its base
            tertiaries.append(_LOWER)
        else:
            primaries.append(char)  # code points >= 128 order after all ASCII weights
            secondaries.append(_COMMON)
            tertiaries.append(_UPPER if char.isupper() else _LOWER)
    return "".join(primaries), "".join(secondaries), "".join(tertiaries)


fallback_sort_key: Callable[[str], tuple[str, str, str]] = lru_cache(maxsize=1 << 16)(_fallback_key)


def _load_icu() -> Callable[[str], bytes] | None:
    try:
        import icu  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        return None
    # Explicit locale: ICU's process default may be en_US_POSIX (code-point order).
    collator = icu.Collator.createInstance(icu.Locale.forLanguageTag("en-US"))

    def key(text: str) -> bytes:
        sort_key: bytes = collator.getSortKey(text)
        return sort_key

    return lru_cache(maxsize=1 << 16)(key)


#: ICU's sort key for an id, or None when PyICU is not installed.
icu_sort_key: Callable[[str], bytes] | None = _load_icu()

#: Which implementation orders ids here: "icu" or "fallback".
COLLATION_BACKEND = "icu" if icu_sort_key is not None else "fallback"

#: The key that orders ids as `localeCompare` does (equal keys = compare returns 0).
id_sort_key: Callable[[str], Any] = icu_sort_key if icu_sort_key is not None else fallback_sort_key


def locale_compare(a: str, b: str) -> int:
    """-1, 0 or 1, as `a.localeCompare(b)` (sign only)."""
    key_a, key_b = id_sort_key(a), id_sort_key(b)
    return int(key_a > key_b) - int(key_a < key_b)


def sort_nodes_by_id(nodes: Iterable[JsonDict]) -> list[JsonDict]:
    """A new list ordered by id; stable, like JavaScript's `Array.prototype.sort`."""
    key = id_sort_key
    return sorted(nodes, key=lambda node: key(node["id"]))
