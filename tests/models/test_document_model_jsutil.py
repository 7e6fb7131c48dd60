"""JavaScript-exact helpers: `||` defaulting, trim, change-case's constantCase, JSON copy."""

from __future__ import annotations

import math
from typing import Any

import pytest

from reactor_es.models.document_model.jsutil import constant_case, copy_json, js_or, js_trim


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "d"),
        ("", "d"),
        (0, "d"),
        (0.0, "d"),
        (math.nan, "d"),
        (False, "d"),
        ("x", "x"),
        (" ", " "),
        ("0", "0"),
        ([], []),  # truthy in JavaScript, unlike Python
        ({}, {}),
        (1, 1),
    ],
)
def test_js_or(value: Any, expected: Any) -> None:
    assert js_or(value, "d") == expected


def test_js_trim_strips_ecmascript_whitespace_only() -> None:
    assert js_trim("\ufeff\u00a0 \t\n a b \u2028\u3000") == "a b"
    assert js_trim("\x1cx\x85") == "\x1cx\x85"  # whitespace to Python, not to JavaScript


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("addTodo", "ADD_TODO"),
        ("AddTodoItem", "ADD_TODO_ITEM"),
        ("add todo-item", "ADD_TODO_ITEM"),
        ("  spaced  out  ", "SPACED_OUT"),
        ("XMLHttpRequest", "XML_HTTP_REQUEST"),
        ("version2Beta", "VERSION2_BETA"),
        ("ADD_TODO", "ADD_TODO"),
        ("__private__", "PRIVATE"),
        ("été-là", "ÉTÉ_LÀ"),
        ("straße", "STRASSE"),
        ("v1.2.3", "V1_2_3"),
        ("---", ""),
        ("", ""),
    ],
)
def test_constant_case(text: str, expected: str) -> None:
    assert constant_case(text) == expected


def test_copy_json_shares_nothing() -> None:
    original: dict[str, Any] = {"a": [{"b": "c"}], "n": 1, "z": None}
    copied = copy_json(original)
    assert copied == original
    copied["a"][0]["b"] = "changed"
    assert original["a"][0]["b"] == "c"
