"""The arguments of an in-chat command: `a, b`, `key=value, …`, or a JSON object.

Values may be quoted (`"a, b"` as JSON, or `'a, b'`) to hold commas, parentheses or
spaces; a JSON object (`{"temperature": 0.2}`) gives named values only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

# One argument: an optional `name =`, then a quoted value or one up to the next comma.
_ARGUMENT = re.compile(
    r"""\s*(?:(?P<name>[A-Za-z_][\w-]*)\s*=\s*)?
        (?P<value>"(?:[^"\\]|\\.)*"|'[^']*'|[^,]*?)
        \s*(?:,|$)""",
    re.VERBOSE,
)
# What a command's parentheses may hold: quoted strings may hold `)`; failing that (a quote
# left open), anything up to the first `)`, for `parse_arguments` to say what is wrong.
ARGUMENTS_PATTERN = r"""\(((?:[^()"']|"(?:[^"\\]|\\.)*"|'[^']*')*|[^)]*)\)"""


class ArgumentError(ValueError):
    """Arguments that do not parse."""


@dataclass
class Arguments:
    """What a command was given: values in order, and named ones."""

    positional: list[str] = field(default_factory=list)
    named: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.positional or self.named)


def parse_arguments(text: str) -> Arguments:
    """The arguments in `text` (what is between a command's parentheses)."""
    text = text.strip()
    if not text:
        return Arguments()
    if text.startswith("{"):
        return _from_json(text)
    arguments = Arguments()
    position = 0
    while position < len(text):
        match = _ARGUMENT.match(text, position)
        if match is None or match.end() == position:
            raise ArgumentError(f"cannot read the arguments from {text[position:]!r}")
        value = _unquoted(match["value"])
        if match["name"]:
            arguments.named[match["name"]] = value
        elif value or match.end() < len(text):
            arguments.positional.append(value)
        position = match.end()
    return arguments


def _unquoted(value: str) -> str:
    if value.startswith('"'):
        try:
            return str(json.loads(value))
        except json.JSONDecodeError:
            raise ArgumentError(f"the quoted value {value} is cut short or not JSON") from None
    if value.startswith("'") and value.endswith("'") and len(value) > 1:
        return value[1:-1]
    return value


def _from_json(text: str) -> Arguments:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArgumentError(f"not a JSON object: {exc.msg} (at {exc.pos})") from None
    if not isinstance(value, dict):
        raise ArgumentError("write the arguments as key=value, or one JSON object")
    return Arguments(named={str(k): _text(v) for k, v in value.items()})


def _text(value: object) -> str:
    """A JSON value as the text a `key=value` argument would have given."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "on" if value else "off"
    return json.dumps(value)
