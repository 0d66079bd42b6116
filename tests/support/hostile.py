"""Hostile request bodies: a valid seed mutated at every place, plus raw byte attacks.

Each mutation replaces one value of the seed (found by walking every object key and array
index) with a value of the wrong type or out of range, deletes it, or adds an unknown key
beside it. Raw attacks are bodies no JSON value can produce: deep nesting, lone
surrogates, `NaN`, numbers beyond a double, broken UTF-8. Everything is deterministic.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Path = tuple[str | int, ...]

DEEP = 300  # levels; the proxy refuses bodies nesting beyond 254
# Values that break assumptions: wrong JSON types, edge numbers, odd strings and shapes.
HOSTILE_VALUES: tuple[Any, ...] = (
    None,
    True,
    -1,
    0,
    2**64,
    -1.5e308,
    "false",
    "",
    "\u0000\u202e\ufeff",
    "x" * 5000,
    [],
    {},
    [None, 1, "a"],
    {"type": "no-such-type", "text": 1},
)


@dataclass(frozen=True)
class Hostile:
    """One hostile body: a name for reports and the bytes to send."""

    name: str
    raw: bytes


def paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every place inside `value`, parents before children."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*prefix, index)
            yield from paths(child, (*prefix, index))


def _replace(seed: Any, path: Path, value: Any, *, delete: bool = False) -> Any:
    body = copy.deepcopy(seed)
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return body


def _encode(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def _label(path: Path) -> str:
    return ".".join(str(step) for step in path) or "body"


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def mutations(seed: dict[str, Any]) -> Iterator[Hostile]:
    """Every single-place mutation of `seed`."""
    for path in paths(seed):
        where = _label(path)
        for i, value in enumerate(HOSTILE_VALUES):
            yield Hostile(f"{where}={i}", _encode(_replace(seed, path, value)))
        yield Hostile(f"{where}:deleted", _encode(_replace(seed, path, None, delete=True)))
        yield Hostile(f"{where}:deep", _encode(_replace(seed, path, _nested(DEEP))))
    for path in [(), *[p for p in paths(seed) if isinstance(_at(seed, p), dict)]]:
        target = _at(seed, path)
        extended = {**target, "no_such_field": {"nested": [1, {"x": None}]}}
        body = extended if not path else _replace(seed, path, extended)
        yield Hostile(f"{_label(path)}:unknown-key", _encode(body))


def _at(value: Any, path: Path) -> Any:
    for step in path:
        value = value[step]
    return value


def raw_attacks(seed: dict[str, Any]) -> Iterator[Hostile]:
    """Bodies that are not valid JSON, or that only a lax parser would read."""
    text = _encode(seed).decode("utf-8")
    model = next(iter(seed))  # the first key's value is swapped for each literal below
    for name, literal in {
        "nan": "NaN",
        "infinity": "-Infinity",
        "huge-number": "1e400",
        "lone-surrogate": '"\\ud800"',
        "lone-low-surrogate": '"a\\udfffb"',
        "deep-array": "[" * 1200 + "]" * 1200,
        "deep-object": '{"a":' * 1200 + "1" + "}" * 1200,
    }.items():
        body = dict(seed)
        body[model] = "__HOLE__"
        yield Hostile(name, _encode(body).replace(b'"__HOLE__"', literal.encode()))
    yield Hostile("top-level-deep", ("[" * 5000 + "]" * 5000).encode())
    yield Hostile("truncated", text[: len(text) // 2].encode())
    yield Hostile("empty", b"")
    yield Hostile("array", b"[]")
    yield Hostile("string", b'"hi"')
    yield Hostile("null", b"null")
    yield Hostile("bom", b"\xef\xbb\xbf" + text.encode())
    yield Hostile("latin-1", text.replace("}", ',"k":"\u00e9t\u00e9"}', 1).encode("latin-1"))
    yield Hostile("invalid-utf8", text.encode() + b"\xff\xfe")


def hostile_bodies(seed: dict[str, Any]) -> list[Hostile]:
    """All hostile bodies for one seed."""
    return [*raw_attacks(seed), *mutations(seed)]
