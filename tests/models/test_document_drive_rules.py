"""The drive's pure rules: name validity, collision renaming, id collation, tree walks."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import uuid

import pytest

from reactor_es.document.types import JsonDict
from reactor_es.models.document_drive import collation
from reactor_es.models.document_drive.collation import (
    COLLATION_BACKEND,
    fallback_sort_key,
    icu_sort_key,
    id_sort_key,
    locale_compare,
    sort_nodes_by_id,
)
from reactor_es.models.document_drive.exceptions import (
    InvalidNameError,
    NodeNotFoundError,
    ParentFolderCycleError,
)
from reactor_es.models.document_drive.names import (
    check_name,
    is_valid_name,
    next_copy_number,
    resolve_name,
)
from reactor_es.models.document_drive.tree import descendants, generate_nodes_copy

SPEC_ORDER = ["a", "A", "a_b", "a-b", "a.b", "a1", "b", "B"]
SHUFFLED = ["b", "a1", "B", "a.b", "A", "a-b", "a_b", "a"]
ASCII = "".join(chr(code) for code in range(128))


def node(node_id: str, name: str = "", parent: str | None = None, kind: str = "folder") -> JsonDict:
    return {"id": node_id, "name": name or node_id, "kind": kind, "parentFolder": parent}


# -- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("report", True),
        ("Résumé café", True),
        ("予算レポート", True),
        ("😀 — ok", True),
        ("  padded  ", True),
        ("\u0085", True),  # NEL: not JavaScript whitespace, not a C0 control
        ("", False),
        ("   ", False),
        ("\u3000\u00a0\u2028", False),  # all JavaScript whitespace
        ("\ufeff", False),  # JavaScript trims the BOM (Python's strip does not)
        ("bad\u0007name", False),
        ("line1\nline2", False),
        ("tab\t", False),
        ("del\x7f", False),
        ("\x1c", False),  # Python's strip() would call it whitespace; it is a control
    ],
)
def test_is_valid_name(name: str, valid: bool) -> None:
    assert is_valid_name(name) is valid


def test_check_name_message() -> None:
    with pytest.raises(InvalidNameError) as info:
        check_name("")
    assert str(info.value) == (
        "Invalid name: ''. Names must not be empty or contain control characters."
    )
    check_name("fine")


@pytest.mark.parametrize(
    ("existing", "name", "expected"),
    [
        (["test", "test (copy) 1"], "test", "test (copy) 2"),
        (["test", "test (copy) 1"], "test (copy) 1", "test (copy) 1 (copy) 1"),
        (["r", "r (copy) 5"], "r", "r (copy) 6"),
        (["r", "r (copy)"], "r", "r (copy) 2"),  # bare "(copy)" counts as 1
        (["r", "r (copy) 007"], "r", "r (copy) 8"),  # decimal, as parseInt
        (["r", "r (copy) 0"], "r", "r (copy) 1"),
        (["r", "r (copy) ٣"], "r", "r (copy) 1"),  # only ASCII digits count
        (["r", "r (copy) 2\n"], "r", "r (copy) 1"),  # `$` must not match before "\n"
        (["a.b", "axb (copy) 4"], "a.b", "a.b (copy) 1"),  # the name is literal, not a regex
        (["a+b", "a+b (copy) 4"], "a+b", "a+b (copy) 5"),
        (["new"], "other", "other"),
        (
            ["x", "x (copy) 99999999999999999999"],
            "x",
            "x (copy) 100000000000000000000",  # parseInt gives a double, 1e20 + 1 == 1e20
        ),
        (["x", "x (copy) 9007199254740993"], "x", "x (copy) 9007199254740992"),
    ],
)
def test_resolve_name(existing: list[str], name: str, expected: str) -> None:
    nodes = [node(f"n{i}", value) for i, value in enumerate(existing)]
    assert resolve_name(nodes, None, name, "folder") == expected


def test_resolve_name_looks_at_same_parent_and_kind_only() -> None:
    nodes = [
        node("a", "doc", None, "file"),
        node("b", "doc", "f", "folder"),
        node("c", "doc (copy) 3", "f", "file"),
        node("d", "doc", "f", "link"),  # any kind but "file" collides as a folder
    ]
    assert resolve_name(nodes, None, "doc", "file") == "doc (copy) 1"
    assert resolve_name(nodes, "", "doc", "file") == "doc (copy) 1"  # "" is the root
    assert resolve_name(nodes, None, "doc", "folder") == "doc"
    assert resolve_name(nodes, "f", "doc", "file") == "doc"
    assert resolve_name(nodes, "f", "doc", "folder") == "doc (copy) 1"
    assert resolve_name(nodes, "g", "doc", "folder") == "doc"


def test_next_copy_number_skips_non_strings() -> None:
    assert next_copy_number([None, 3, "n (copy) 4"], "n") == 5
    assert next_copy_number([], "n") == 1


# -- collation ---------------------------------------------------------------------------


def test_backend_is_icu_exactly_when_pyicu_imports() -> None:
    try:
        import icu  # type: ignore[import-untyped, import-not-found, unused-ignore]  # noqa: F401
    except ImportError:
        assert (COLLATION_BACKEND, icu_sort_key) == ("fallback", None)
        assert id_sort_key is fallback_sort_key
    else:
        assert COLLATION_BACKEND == "icu"
        assert id_sort_key is icu_sort_key


def test_fallback_orders_the_spec_examples() -> None:
    assert sorted(SHUFFLED, key=fallback_sort_key) == SPEC_ORDER
    assert sorted(["b", "a", "B", "a_b", "a1"], key=fallback_sort_key) == [
        "a",
        "a_b",
        "a1",
        "b",
        "B",
    ]
    assert sorted(["f", "é", "e", "B", "A"], key=fallback_sort_key) == ["A", "B", "e", "é", "f"]


def test_active_backend_orders_the_spec_examples() -> None:
    assert sorted(SHUFFLED, key=id_sort_key) == SPEC_ORDER
    assert sorted(["f", "é", "e"], key=id_sort_key) == ["e", "é", "f"]
    assert [locale_compare("a", "A"), locale_compare("B", "b"), locale_compare("x", "x")] == [
        -1,
        1,
        0,
    ]


def test_fallback_ignores_control_characters_like_icu() -> None:
    assert locale_compare("a\x01b", "ab") == 0
    assert fallback_sort_key("a\x01b") == fallback_sort_key("ab")
    # Equal keys keep their list order (JavaScript's sort is stable).
    nodes = [{"id": "ab", "n": 1}, {"id": "a\x01b", "n": 2}, {"id": "aa", "n": 3}]
    assert [item["n"] for item in sort_nodes_by_id(nodes)] == [3, 1, 2]


def test_uuid_ids_sort_in_code_point_order() -> None:
    rng = random.Random(11)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(2000)]
    assert sorted(ids, key=id_sort_key) == sorted(ids)
    assert sorted(ids, key=fallback_sort_key) == sorted(ids)


def _random_ascii_ids(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    near = "aAbBzZ09-_. "  # many ties on the primary level, so case decides
    return [
        "".join(rng.choice(ASCII if rng.random() < 0.4 else near) for _ in range(rng.randint(0, 8)))
        for _ in range(count)
    ]


def test_fallback_matches_icu_on_random_ascii() -> None:
    if icu_sort_key is None:
        pytest.skip("PyICU is not installed")
    ids = _random_ascii_ids(4000, seed=5)
    pairs = list(zip(ids, reversed(ids), strict=True))
    mismatched = [
        (a, b)
        for a, b in pairs
        if (fallback_sort_key(a) < fallback_sort_key(b)) != (icu_sort_key(a) < icu_sort_key(b))
        or (fallback_sort_key(a) == fallback_sort_key(b)) != (icu_sort_key(a) == icu_sort_key(b))
    ]
    assert mismatched == []
    assert sorted(ids, key=fallback_sort_key) == sorted(ids, key=icu_sort_key)


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_order_matches_javascript_locale_compare() -> None:
    """The oracle itself: Node's `localeCompare` (ICU) on the same ids."""
    ascii_ids = _random_ascii_ids(3000, seed=9)
    mixed_ids = ["é", "e", "É", "f", "ß", "ss", "予算", "😀", "a\u0301", "á", "Ä", "z"]
    script = (
        "const lists=JSON.parse(require('fs').readFileSync(0,'utf8'));"
        "console.log(JSON.stringify(lists.map(l=>l.map((x,i)=>[x,i])"
        ".sort((p,q)=>p[0].localeCompare(q[0],'en-US')||p[1]-q[1]).map(p=>p[1]))))"
    )
    result = subprocess.run(
        ["node", "-e", script],
        input=json.dumps([ascii_ids, mixed_ids]),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    js_ascii, js_mixed = json.loads(result.stdout)

    def order(ids: list[str], key: object) -> list[int]:
        return sorted(range(len(ids)), key=lambda i: key(ids[i]))  # type: ignore[operator]

    assert order(ascii_ids, fallback_sort_key) == js_ascii
    if collation.icu_sort_key is not None:
        assert order(ascii_ids, collation.icu_sort_key) == js_ascii
        assert order(mixed_ids, collation.icu_sort_key) == js_mixed


# -- tree --------------------------------------------------------------------------------

TREE = [
    node("root"),
    node("c1", parent="root"),
    node("g2", parent="c2"),
    node("c2", parent="root"),
    node("h1", parent="g1"),
    node("g1", parent="c1"),
    node("other"),
]


def test_descendants_order_children_first_then_each_childs_subtree() -> None:
    assert [item["id"] for item in descendants(TREE[0], TREE)] == ["c1", "c2", "g1", "h1", "g2"]
    assert [item["id"] for item in descendants(node("c1"), TREE)] == ["g1", "h1"]
    assert descendants(node("other"), TREE) == []


def test_descendants_detects_loops() -> None:
    looped = [node("a", parent="c"), node("b", parent="a"), node("c", parent="b")]
    with pytest.raises(ParentFolderCycleError) as info:
        descendants(looped[0], looped)
    assert str(info.value) == "parentFolder chain of node a loops back to itself"
    with pytest.raises(ParentFolderCycleError):
        descendants(node("s", parent="s"), [node("s", parent="s")])


def test_descendants_of_a_deep_chain_do_not_recurse() -> None:
    chain = [node("n0")] + [node(f"n{i}", parent=f"n{i - 1}") for i in range(1, 20000)]
    below = descendants(chain[0], chain)
    assert [item["id"] for item in below] == [f"n{i}" for i in range(1, 20000)]


def test_generate_nodes_copy_plans_the_subtree() -> None:
    counter = iter(range(100))
    plan = generate_nodes_copy(
        "root", lambda item: f"new-{next(counter)}", TREE, target_parent_folder="other"
    )
    assert plan == [
        {"srcId": "root", "targetId": "new-0", "targetName": "root", "targetParentFolder": "other"},
        {"srcId": "c1", "targetId": "new-1", "targetName": "c1", "targetParentFolder": "new-0"},
        {"srcId": "c2", "targetId": "new-2", "targetName": "c2", "targetParentFolder": "new-0"},
        {"srcId": "g1", "targetId": "new-3", "targetName": "g1", "targetParentFolder": "new-1"},
        {"srcId": "h1", "targetId": "new-4", "targetName": "h1", "targetParentFolder": "new-3"},
        {"srcId": "g2", "targetId": "new-5", "targetName": "g2", "targetParentFolder": "new-2"},
    ]


def test_generate_nodes_copy_root_name_and_id_generator_input() -> None:
    seen: list[JsonDict] = []

    def new_id(item: JsonDict) -> str:
        seen.append(item)
        return f"copy-of-{item['id']}"

    plan = generate_nodes_copy("c1", new_id, TREE, target_name="Renamed", target_parent_folder="")
    assert plan == [
        {
            "srcId": "c1",
            "targetId": "copy-of-c1",
            "targetName": "Renamed",
            "targetParentFolder": None,
        },
        {
            "srcId": "g1",
            "targetId": "copy-of-g1",
            "targetName": "g1",
            "targetParentFolder": "copy-of-c1",
        },
        {
            "srcId": "h1",
            "targetId": "copy-of-h1",
            "targetName": "h1",
            "targetParentFolder": "copy-of-g1",
        },
    ]
    assert seen[0] == {"id": "c1", "name": "Renamed", "kind": "folder", "parentFolder": None}


def test_generate_nodes_copy_into_itself_keeps_the_target_id() -> None:
    # Powerhouse maps the target folder to itself, so a folder copied into itself plans
    # a COPY_NODE onto its own id (which the reducer then refuses as a duplicate).
    plan = generate_nodes_copy("c1", lambda item: "fresh", TREE, target_parent_folder="c1")
    assert plan[0] == {
        "srcId": "c1",
        "targetId": "c1",
        "targetName": "c1",
        "targetParentFolder": "c1",
    }


def test_generate_nodes_copy_unknown_source() -> None:
    with pytest.raises(NodeNotFoundError) as info:
        generate_nodes_copy("ghost", lambda item: "x", TREE)
    assert str(info.value) == "Node with id ghost not found"


def test_without_pyicu_the_fallback_takes_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "icu", None)  # makes `import icu` fail
    assert collation._load_icu() is None
    monkeypatch.setattr(collation, "id_sort_key", fallback_sort_key)
    nodes = [{"id": node_id} for node_id in SHUFFLED]
    assert [item["id"] for item in sort_nodes_by_id(nodes)] == SPEC_ORDER
    assert locale_compare("B", "a_b") == 1


#: Node 20 (ICU 78.2, locale en-US): `[...ids].sort((a, b) => a.localeCompare(b))`.
NODE_ORDER_BEYOND_ASCII = [
    "😀", "a", "A", "å", "Å", "ä", "Ä", "a\tb", "a b", "a_b", "a-b", "a.b", "a1", "b", "B",
    "dž", "ǅ", "e", "é", "f", "fi", "ﬁ", "i", "İ", "\u0131", "n", "ñ", "o", "ø", "oe", "œ", "ss",
    "ß", "z", "Z", "ω", "Ω", "\u0435", "ё", "中文", "日本",
]  # fmt: skip


def test_ids_beyond_ascii_sort_as_node_does_with_icu() -> None:
    if collation.COLLATION_BACKEND != "icu":
        pytest.skip("PyICU is not installed: ids beyond ASCII sort approximately")
    shuffled = random.Random(7).sample(NODE_ORDER_BEYOND_ASCII, len(NODE_ORDER_BEYOND_ASCII))
    assert sorted(shuffled, key=collation.id_sort_key) == NODE_ORDER_BEYOND_ASCII
