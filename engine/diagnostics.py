"""Compiler-style diagnostics: one record, printed as `path:line:col: level[code]: message`."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

Level = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem in a routing file, at a 1-based line and column."""

    path: str
    line: int
    col: int
    code: str
    message: str
    level: Level = "error"
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.path}:{self.line}:{self.col}: {self.level}[{self.code}]: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """`did you mean 'x'?` for the closest choice, or None when nothing is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.7)
    return f"did you mean {close[0]!r}?" if close else None


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    """Whether any diagnostic is an error (warnings do not fail a check)."""
    return any(d.level == "error" for d in diagnostics)


def format_text(diagnostics: Iterable[Diagnostic]) -> str:
    """One line per diagnostic."""
    return "\n".join(str(d) for d in diagnostics)


def format_json(diagnostics: Iterable[Diagnostic]) -> str:
    """A JSON array of diagnostic objects, for editors."""
    return json.dumps([asdict(d) for d in diagnostics], indent=2)
