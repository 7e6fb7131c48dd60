"""Node name rules: what is a valid name, and how a colliding name is renamed.

Collisions are never refused: a name already used by a sibling of the same kind becomes
`<name> (copy) N`, N one above the highest copy number among those siblings (gaps are
not filled). Validity follows JavaScript's `trim`, whose whitespace set differs from
Python's `str.strip` (JS strips U+FEFF and keeps U+0085 and U+001C..U+001F).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from reactor_es.document.hashing import js_number
from reactor_es.document.types import JsonDict
from reactor_es.models.document_drive.exceptions import InvalidNameError
from reactor_es.models.document_drive.state import FILE

__all__ = ["JS_WHITESPACE", "check_name", "is_valid_name", "next_copy_number", "resolve_name"]

#: ECMAScript WhiteSpace and LineTerminator code points (Unicode 15, as in Node 20).
JS_WHITESPACE: Final = (
    "\t\n\x0b\x0c\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_MAX_SAFE = 2**53


def is_valid_name(name: str) -> bool:
    """Non-blank after a JavaScript trim and free of C0 controls and DEL."""
    return bool(name.strip(JS_WHITESPACE)) and _CONTROL.search(name) is None


def check_name(name: str) -> None:
    if not is_valid_name(name):
        raise InvalidNameError(name)


def next_copy_number(names: Iterable[object], base: str) -> int | float:
    """One above the highest N among `<base> (copy)` (N = 1) and `<base> (copy) N`.

    N is ASCII digits read as JavaScript's `parseInt` reads them: decimal ("007" is 7),
    and past 2**53 a double, so the number we print is the one Powerhouse would print.
    """
    prefix = f"{base} (copy)"
    highest: int | float = 0
    for name in names:
        # A plain prefix test instead of Powerhouse's regex: same matches, and cheap
        # enough to run over every sibling of a crowded folder on every action.
        if not isinstance(name, str) or not name.startswith(prefix):
            continue
        rest = name[len(prefix) :]
        if not rest:
            number: int | float = 1
        elif rest[0] == " " and rest[1:].isdigit() and rest.isascii():
            number = int(rest[1:])
            if number > _MAX_SAFE:
                number = float(number)
        else:
            continue
        highest = max(highest, number)
    return highest + 1


def resolve_name(nodes: Iterable[JsonDict], target_parent: str | None, name: str, kind: str) -> str:
    """The name a node of `kind` gets under `target_parent` (None or "" = drive root).

    Siblings are the nodes of the same collision kind whose `parentFolder` equals the
    target exactly; callers choose whether the node itself is among `nodes`.
    """
    parent = None if target_parent == "" else target_parent
    want_file = kind == FILE  # any kind but "file" collides as a folder
    sibling_names = [
        node.get("name")
        for node in nodes
        if node.get("parentFolder") == parent and (node.get("kind") == FILE) is want_file
    ]
    if name not in sibling_names:
        return name
    return f"{name} (copy) {js_number(next_copy_number(sibling_names, name))}"
