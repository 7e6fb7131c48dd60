"""State hashes, byte for byte as Powerhouse computes them.

Every expected value was computed by node (JSON.stringify for scalars, keys sorted with
Array.prototype.sort, crypto sha1 base64), not by our code.
"""

from __future__ import annotations

import math

import pytest

from reactor_es.document.hashing import (
    hash_scope_state,
    hash_text,
    is_js_falsy,
    js_number,
    stable_stringify,
)

EMPTY_STRING_HASH = "3Sns9SSwMKZSYeMFnEirnh7LJYU="  # sha1('""')


@pytest.mark.parametrize("value", [None, "", 0, 0.0, False, math.nan])
def test_falsy_scopes_hash_the_empty_string(value: object) -> None:
    assert is_js_falsy(value)
    assert hash_scope_state(value) == EMPTY_STRING_HASH


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({}, "vyGp6PvFo4RvsFtPoIWeCReyIC8="),
        ([], "l9Fw4VUO7kr8CvBlt4zaMCqXZ0w="),
        ({"a": 0}, "lTiYS/ctr981+hW08uCOPkmP6/s="),
    ],
)
def test_empty_containers_are_truthy(value: object, expected: str) -> None:
    assert not is_js_falsy(value)
    assert hash_scope_state(value) == expected


NUMBERS = {
    "int": 1,
    "float_int": 1.0,
    "big": 1e21,
    "tiny": 1e-7,
    "small": 1.5e-6,
    "sum": 0.1 + 0.2,
    "neg_zero": -0.0,
    "max_safe": 9007199254740991,
    "unsafe": 2**53 + 1,
    "e20": 1e20,
    "neg": -2.5e-8,
    "huge": 1.7976931348623157e308,
    "min": 5e-324,
    "nan": math.nan,
    "inf": math.inf,
    "third": 1 / 3,
}


def test_numbers_are_formatted_as_javascript_does() -> None:
    assert stable_stringify(NUMBERS) == (
        '{"big":1e+21,"e20":100000000000000000000,"float_int":1,'
        '"huge":1.7976931348623157e+308,"inf":null,"int":1,"max_safe":9007199254740991,'
        '"min":5e-324,"nan":null,"neg":-2.5e-8,"neg_zero":0,"small":0.0000015,'
        '"sum":0.30000000000000004,"third":0.3333333333333333,"tiny":1e-7,'
        '"unsafe":9007199254740992}'
    )
    assert hash_scope_state(NUMBERS) == "z4hT70Uze7gENh6NQ0vlhIuI+VI="


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (100.0, "100"),
        (1e-6, "0.000001"),
        (123456789012345680000.0, "123456789012345680000"),
        (1.5e300, "1.5e+300"),
        (-1e-7, "-1e-7"),
        (2**60, "1152921504606847000"),  # beyond 2**53: shortest digits, as JS
    ],
)
def test_js_number(number: float, text: str) -> None:
    assert js_number(number) == text


TEXT = {
    "fr": "héllo wörld",
    "ja": "日本語",
    "emoji": "😀 ok",
    "ctl": "a\nb\tc\u0001\u007f",
    "quote": 'say "hi" \\ /',
    "ls": "\u2028\u2029",
}


def test_non_ascii_text_stays_unescaped() -> None:
    assert stable_stringify(TEXT) == (
        '{"ctl":"a\\nb\\tc\\u0001\u007f","emoji":"😀 ok","fr":"héllo wörld","ja":"日本語",'
        '"ls":"\u2028\u2029","quote":"say \\"hi\\" \\\\ /"}'
    )
    assert hash_scope_state(TEXT) == "2hm+7LI0Bs7BjW4Te4PMoLgu5uQ="


def test_keys_sort_by_utf16_code_units() -> None:
    # U+1F600 is a surrogate pair (0xD83D...) in UTF-16, so it sorts BEFORE U+FF01,
    # although its code point is larger; integer-like keys sort as strings.
    keys = {"b": 1, "a": 2, "B": 3, "é": 4, "😀": 5, "\uff01": 6, "10": 7, "9": 8, "": 9}
    assert stable_stringify(keys) == (
        '{"":9,"10":7,"9":8,"B":3,"a":2,"b":1,"é":4,"😀":5,"\uff01":6}'
    )
    assert hash_scope_state(keys) == "ZfsCfcET5VSPXXzOvuiV2FU9/h8="


def test_nested_values() -> None:
    nested = {"list": [1, "two", {"z": None, "a": [True, False]}, []], "obj": {"y": {"x": {}}}}
    assert hash_scope_state(nested) == "cIZZEbWcSHzYKMVrI9kK8Xday70="


def test_lone_surrogates_are_escaped_like_javascript() -> None:
    assert hash_text(stable_stringify({"a": "\ud800x"})) == "eDrYIt90opf7V3hYdLRt/52oKXo="


def test_document_scope_of_a_new_document() -> None:
    # The hash every CREATE_DOCUMENT/UPGRADE_DOCUMENT operation of the corpus carries.
    state = {"version": 0, "hash": {"algorithm": "sha1", "encoding": "base64"}}
    assert hash_scope_state(state) == "VvgF7poGN062epgZkBsMoQl+Ufc="


def test_unhashable_values_are_refused() -> None:
    with pytest.raises(TypeError, match="cannot hash a value of type set"):
        hash_scope_state({"a": {1, 2}})
