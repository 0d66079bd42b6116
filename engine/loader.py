"""Reading routing files: YAML with line/column data, and `${VAR}` interpolation."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from engine.diagnostics import Diagnostic

_VAR = re.compile(r"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
PathKey = tuple[str | int, ...]


@dataclass
class Source:
    """One parsed routing file."""

    path: str
    data: Any
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def position(self, where: PathKey, *, key: bool = False) -> tuple[int, int]:
        """The 1-based line and column of the value at `where` (or of its key, with `key`)."""
        node, line, col = self.data, 0, 0
        for step in where:
            if isinstance(node, CommentedMap) and step in node:
                # An empty (null) value has no position of its own: ruamel gives the next token's.
                at_key = (key and step == where[-1]) or node[step] is None
                line, col = node.lc.key(step) if at_key else node.lc.value(step)
                node = node[step]
            elif isinstance(node, CommentedSeq) and isinstance(step, int) and step < len(node):
                line, col = node.lc.item(step)
                node = node[step]
            else:
                break
        return line + 1, col + 1

    def diagnostic(
        self,
        where: PathKey,
        code: str,
        message: str,
        *,
        key: bool = False,
        level: str = "error",
        hint: str | None = None,
    ) -> Diagnostic:
        """A diagnostic at `where` in this file."""
        line, col = self.position(where, key=key)
        return Diagnostic(self.path, line, col, code, message, level, hint)  # type: ignore[arg-type]


def display_path(path: Path) -> str:
    """`path` relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# YAML files a routes folder may hold that are no routing files: a deployment's compose file.
NOT_ROUTING = frozenset(
    {"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"}
)


def _routing(path: Path) -> bool:
    return path.suffix in (".yaml", ".yml") and path.name not in NOT_ROUTING


def routing_files(paths: Iterable[Path]) -> list[Path]:
    """The YAML files named by `paths`: files as given, folders' `*.yaml` sorted by name
    (a compose file left out)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if _routing(p)))
        else:
            files.append(path)
    return files


def graph_roots(path: Path) -> list[Path]:
    """The graphs to check under `path`: a file, a folder of routing files, or else each
    folder below it that holds routing files (so `engine check examples` checks every
    example as its own graph)."""
    if not path.is_dir() or routing_files([path]):
        return [path]
    below = sorted({p.parent for p in path.rglob("*.y*ml") if _routing(p)})
    return below or [path]


def read_source(path: Path, env: Mapping[str, str] | None = None) -> Source:
    """Parse one file; syntax errors and undefined variables become its diagnostics."""
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return Source(
            shown, None, [Diagnostic(shown, 1, 1, "unreadable", exc.strerror or str(exc))]
        )
    except UnicodeDecodeError as exc:
        before = exc.object[: exc.start]
        line, col = before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1
        message = f"not UTF-8 text: {exc.reason} (byte {exc.object[exc.start]:#04x})"
        return Source(shown, None, [Diagnostic(shown, line, col, "unreadable", message)])
    try:
        data = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        return Source(shown, None, [_syntax_error(shown, exc)])
    except YAMLError as exc:
        return Source(shown, None, [Diagnostic(shown, 1, 1, "yaml-syntax", str(exc))])
    source = Source(shown, data if data is not None else CommentedMap())
    if not isinstance(source.data, CommentedMap):
        source.diagnostics.append(
            Diagnostic(shown, 1, 1, "not-a-mapping", "a routing file must be a YAML mapping")
        )
        source.data = None
        return source
    _interpolate(source, source.data, (), os.environ if env is None else env)
    return source


def _syntax_error(shown: str, exc: MarkedYAMLError) -> Diagnostic:
    """The parser's problem at its position, with where the construct it was reading began."""
    mark, start = exc.problem_mark or exc.context_mark, exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    if isinstance(exc, DuplicateKeyError):
        # ruamel's problem text is 'found duplicate key "K" with value "V" (original value: …)'
        found = re.match(r'found duplicate key "(.*?)" with value', str(exc.problem))
        key = repr(found.group(1)) if found else str(exc.problem)
        return Diagnostic(shown, line, col, "duplicate-key", f"duplicate key {key}")
    message = str(exc.problem or exc.context or exc).strip()
    if exc.problem and exc.context:
        began = (
            f" started at {start.line + 1}:{start.column + 1}"
            if start and (start.line, start.column) != (line - 1, col - 1)
            else ""
        )
        message += f" ({exc.context}{began})"
    return Diagnostic(shown, line, col, "yaml-syntax", message)


def _interpolate(source: Source, node: Any, where: PathKey, env: Mapping[str, str]) -> None:
    items: Sequence[tuple[Any, Any]]
    if isinstance(node, CommentedMap):
        items = list(node.items())
    elif isinstance(node, CommentedSeq):
        items = list(enumerate(node))
    else:
        return
    for key, value in items:
        if isinstance(value, str) and "${" in value:
            node[key] = _substitute(source, value, (*where, key), env)
        else:
            _interpolate(source, value, (*where, key), env)


def _substitute(source: Source, value: str, where: PathKey, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        escaped, name, default = match.groups()
        if escaped:
            return match.group(0)[1:]
        if name in env:
            return env[name]
        if default is not None:
            return default
        source.diagnostics.append(
            source.diagnostic(
                where,
                "undefined-variable",
                f"environment variable {name} is not set",
                level="warning",
                hint=f"set it, or write ${{{name}:-default}}",
            )
        )
        return ""

    return _VAR.sub(replace, value)
