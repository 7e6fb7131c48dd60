"""The few JavaScript behaviours the reducer's results depend on, done exactly.

Python's `or`, `str.strip` and `str.upper`-based case conversion differ from JavaScript's
`||`, `String.prototype.trim` and the `change-case` package at the edges (`0`, `[]`, odd
whitespace, Unicode letters); a stored value or an error text that differs changes a hash.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any, TypeVar

from reactor_es.document.hashing import is_js_falsy

__all__ = ["constant_case", "copy_json", "js_or", "js_trim"]

T = TypeVar("T")

# ECMAScript WhiteSpace and LineTerminator code points (what `trim` removes).
_JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_WORD_BREAK = "\0"


def js_or(value: Any, default: T) -> Any | T:
    """`value || default`: the default for undefined/null, false, 0, NaN and ""."""
    return default if is_js_falsy(value) else value


def js_trim(text: str) -> str:
    """`String.prototype.trim`: strips ECMAScript whitespace only (not e.g. U+001C or U+0085)."""
    return text.strip(_JS_WHITESPACE)


def _is_lower(char: str) -> bool:
    return unicodedata.category(char) == "Ll"


def _is_upper(char: str) -> bool:
    return unicodedata.category(char) == "Lu"


def _is_digit(char: str) -> bool:
    return "0" <= char <= "9"  # JavaScript's \d is ASCII only, even with the u flag


def _break_before_upper(
    text: str, starts_pair: Callable[[str], bool], needs_lower_after: bool
) -> str:
    """Insert a word break between a character and the next uppercase one.

    Scans left to right without overlapping matches, as a global regex replace does.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if (
            i + 1 < n
            and starts_pair(char)
            and _is_upper(text[i + 1])
            and (not needs_lower_after or (i + 2 < n and _is_lower(text[i + 2])))
        ):
            out.append(char + _WORD_BREAK + text[i + 1])
            i += 2
            if needs_lower_after:
                out.append(text[i])
                i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _split_words(text: str) -> list[str]:
    """Words as `change-case` splits them: case changes and non-alphanumerics separate."""
    marked = _break_before_upper(
        js_trim(text), lambda c: _is_lower(c) or _is_digit(c), needs_lower_after=False
    )
    marked = _break_before_upper(marked, _is_upper, needs_lower_after=True)
    chars = [
        c if unicodedata.category(c).startswith("L") or _is_digit(c) else _WORD_BREAK
        for c in marked
    ]
    return [word for word in "".join(chars).split(_WORD_BREAK) if word]


def constant_case(text: str) -> str:
    """`constantCase` of `change-case`: "addTodo item" -> "ADD_TODO_ITEM"."""
    return "_".join(word.upper() for word in _split_words(text))


def copy_json(value: T) -> T:
    """Deep copy of a JSON value (dicts, lists, scalars); no aliasing survives."""
    if isinstance(value, dict):
        return {key: copy_json(member) for key, member in value.items()}  # type: ignore[return-value]
    if isinstance(value, list):
        return [copy_json(item) for item in value]  # type: ignore[return-value]
    return value
