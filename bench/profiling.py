"""Where the time goes: a cProfile dump summarised by function and by kind of work.

The dumps are taken with the CPU clock of the profiled thread (`time.thread_time`): on a
2-core machine shared by four busy processes a wall-clock profile charges preemption to
whatever function happened to run. So the figures are the event loop's CPU; waiting is not
in them (the latency breakdown shows it), nor is SQLite work on aiosqlite's thread (the
per-process CPU table has it).
"""

from __future__ import annotations

import pstats
from collections.abc import Iterable
from typing import Any

from bench.workload import ROOT

__all__ = ["CATEGORIES", "summarize"]

#: (label, substrings of "file:function"), first match wins.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("idle (epoll wait)", ("select.epoll", "selectors.py")),
    ("state hashing", ("document/hashing.py", "_hashlib", "sha1")),
    ("reducer and models", ("reactor_es/document/", "reactor_es/models/")),
    (
        "Avro codec and record conversion",
        ("reactor_es/kafka/codec", "reactor_es/kafka/records", "fastavro"),
    ),
    ("pydantic", ("pydantic",)),
    ("JSON", ("json/", "_json", "json.encoder", "json.decoder")),
    ("deepcopy", ("copy.py",)),
    ("aiokafka client", ("aiokafka/",)),
    ("asyncio machinery", ("asyncio/", "_asyncio", "<method 'run' of '_contextvars")),
    ("SQLite (loop side)", ("aiosqlite", "sqlite3")),
    ("projection code", ("projections/",)),
    ("executor code", ("reactor_es/executor/",)),
    ("client and bench code", ("reactor_es/client", "reactor_es/jobs", "bench/")),
    ("socket and stream I/O", ("socket", "<method 'send'", "<method 'recv'", "transports")),
)


#: Helpers whose time belongs to whoever called them: builtins ("~") and generic stdlib.
_GENERIC = (
    "~",
    "dataclasses.py",
    "enum.py",
    "contextlib.py",
    "typing.py",
    "abc.py",
    "functools.py",
    "weakref.py",
    "_collections_abc.py",
    "types.py",
    "inspect.py",
)


def _label(key: tuple[str, int, str]) -> str:
    text = f"{key[0]}:{key[2]}"
    for label, needles in CATEGORIES:
        if any(needle in text for needle in needles):
            return label
    return "other"


def _generic(key: tuple[str, int, str]) -> bool:
    return key[0] == "~" or key[0].endswith(_GENERIC[1:])


def _categories(table: dict[Any, Any]) -> dict[str, float]:
    """Self time by category; a generic helper's time goes to its callers' categories
    (in proportion to the time each caller spent in it), unless it has a category itself."""
    found: dict[str, float] = {}
    for key, (_, _, tottime, _, callers) in table.items():
        label = _label(key)
        if label == "other" and _generic(key) and callers:
            spent = sum(row[2] for row in callers.values()) or 1.0
            for caller, row in callers.items():
                share = tottime * row[2] / spent
                target = _label(caller)
                found[target] = found.get(target, 0.0) + share
            continue
        found[label] = found.get(label, 0.0) + tottime
    return found


def _name(key: tuple[str, int, str]) -> str:
    filename, line, function = key
    if filename == "~":
        return function
    for marker in ("site-packages/", f"{ROOT}/", "lib/python3.11/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({function})"


def summarize(paths: Iterable[str], top: int = 20) -> dict[str, Any]:
    """Categories (share of wall and of busy time) and the top functions, from dumps."""
    stats = pstats.Stats(*paths)
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(row[2] for row in table.values())
    categories = _categories(table)
    idle = categories.get("idle (epoll wait)", 0.0)
    busy = max(total - idle, 1e-9)
    by_self = sorted(table.items(), key=lambda item: item[1][2], reverse=True)
    by_cumulative = sorted(
        (
            (k, v)
            for k, v in table.items()
            if k[0].startswith(f"{ROOT}/")
            and "/site-packages/" not in k[0]
            and not k[0].endswith("bench/instrument.py")  # timing wrappers, not work
        ),
        key=lambda item: item[1][3],
        reverse=True,
    )
    return {
        "cpuSeconds": round(total, 3),
        "busySeconds": round(busy, 3),
        "categories": [
            {
                "category": label,
                "seconds": round(seconds, 3),
                "shareOfBusy": round(seconds / busy, 3) if label != "idle (epoll wait)" else None,
            }
            for label, seconds in sorted(categories.items(), key=lambda kv: -kv[1])
        ],
        "topSelf": [
            {
                "function": _name(k),
                "calls": v[1],
                "selfSeconds": round(v[2], 3),
                "cumulativeSeconds": round(v[3], 3),
            }
            for k, v in by_self[:top]
        ],
        "topCumulativeOurs": [
            {
                "function": _name(k),
                "calls": v[1],
                "selfSeconds": round(v[2], 3),
                "cumulativeSeconds": round(v[3], 3),
            }
            for k, v in by_cumulative[:top]
        ],
    }
