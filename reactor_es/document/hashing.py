"""State hashing exactly as Powerhouse computes it.

Powerhouse hashes `safe-stable-stringify(state[scope] || "")` with SHA-1 and encodes the
digest in base64. To match byte for byte we must serialise like JavaScript: keys sorted by
UTF-16 code units, compact separators, non-ASCII left unescaped, and numbers formatted by
ECMAScript `Number::toString` (1.0 -> "1", 1e21 -> "1e+21", 1e-7 -> "1e-7").
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from typing import Any

__all__ = [
    "hash_scope_state",
    "hash_scope_state_and_json",
    "hash_text",
    "is_js_falsy",
    "js_number",
    "stable_stringify",
]

_encode_string = json.encoder.py_encode_basestring  # escapes like JSON.stringify
_MAX_SAFE = 2**53
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def js_number(value: int | float) -> str:
    """Format a number as JavaScript's `String(n)` does."""
    if isinstance(value, bool):  # bool is an int subclass; callers handle it first
        return "true" if value else "false"
    if isinstance(value, int):
        if -_MAX_SAFE <= value <= _MAX_SAFE:
            return str(value)
        value = float(value)  # JS cannot hold it exactly either
    if math.isnan(value) or math.isinf(value):
        return "null"  # JSON.stringify turns NaN and Infinity into null
    if value == 0:
        return "0"  # also for -0.0
    sign = "-" if value < 0 else ""
    # repr gives the shortest round-tripping digits, as ECMAScript requires.
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    exponent = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part).lstrip("0")
    # n: position of the decimal point relative to the digit string (ECMAScript's n).
    n = (
        len(int_part.lstrip("0")) + exponent
        if int_part.strip("0")
        else exponent - (len(frac_part) - len(frac_part.lstrip("0")))
    )
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        exp = f"e+{e}" if e >= 0 else f"e-{-e}"
        text = digits + exp if k == 1 else digits[0] + "." + digits[1:] + exp
    return sign + text


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_encode_string(value))
    elif isinstance(value, int | float):
        out.append(js_number(value))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key in sorted(value, key=_utf16_key):
            member = value[key]
            if first:
                first = False
            else:
                out.append(",")
            out.append(_encode_string(key))
            out.append(":")
            _write(member, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot hash a value of type {type(value).__name__}")


def _is_plain(value: Any) -> bool:
    """True when json.dumps already yields the JS text.

    That holds unless there is a float or an unsafe integer (JS number formatting), or a
    key with a character beyond U+FFFF: below it code-point order is UTF-16 order, so
    Python's key sort agrees with JavaScript's. Strings dominate states, so they are
    skipped without a call; this walk runs once per hash.
    """
    kind = type(value)
    if kind is dict:
        keys = "".join(value)
        if not keys.isascii() and max(keys) > "\uffff":
            return False
        for member in value.values():
            if type(member) is not str and not _is_plain(member):
                return False
        return True
    if kind is list:
        for item in value:  # noqa: SIM110 - a plain loop is faster than all() here
            if type(item) is not str and not _is_plain(item):
                return False
        return True
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_MAX_SAFE <= value <= _MAX_SAFE)
    return False  # floats, and anything unusual, take the exact slow path


def stable_stringify(value: Any) -> str:
    """Compact, key-sorted JSON as `safe-stable-stringify` writes it."""
    if _is_plain(value):
        # Fast path: identical output, done in C.
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    out: list[str] = []
    _write(value, out)
    return "".join(out)


def is_js_falsy(value: Any) -> bool:
    """JavaScript falsiness: undefined/null, false, 0, NaN and "" (but not {} or [])."""
    if value is None or value is False:
        return True
    if isinstance(value, str):
        return value == ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == 0 or (isinstance(value, float) and math.isnan(value))
    return False


def hash_text(text: str) -> str:
    """Base64 (padded) SHA-1 of the UTF-8 bytes of `text`."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates: JavaScript's serialiser writes them as \udxxx escapes.
        data = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")
    digest = hashlib.sha1(data, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def hash_scope_state(scope_state: Any) -> str:
    """The hash Powerhouse records on an operation: of the scope's state after it."""
    return hash_text(stable_stringify("" if is_js_falsy(scope_state) else scope_state))


def hash_scope_state_and_json(scope_state: Any) -> tuple[str, str]:
    """The hash of a scope state, and JSON text of that state (computed once for both).

    The JSON is the sorted-key text that was hashed, which is also valid JSON of the state
    (for a falsy state, which Powerhouse hashes as `""`, it is the state's own JSON).
    """
    if is_js_falsy(scope_state):
        return hash_text('""'), json.dumps(scope_state)
    text = stable_stringify(scope_state)
    return hash_text(text), text
