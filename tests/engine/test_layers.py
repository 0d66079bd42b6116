"""The engine's structure: no import cycle between its modules, and front-ends that know
their protocol only (never the server or the web framework)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "engine"


def _module(path: Path) -> str:
    parts = path.relative_to(ENGINE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST) -> Iterator[str]:
    """Every module an engine file imports, for annotations (`TYPE_CHECKING`) too: a
    dependency of its types is a dependency of its design."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _graph() -> dict[str, set[str]]:
    """Who imports whom. A module's own packages are left out of what it imports: Python
    imports them before it in any case, so a package that loads its modules (a registry
    its built-ins) would otherwise look like a cycle with each of them."""
    files = {_module(path): path for path in ENGINE.rglob("*.py")}
    return {
        module: {
            name
            for name in _imports(ast.parse(path.read_text()))
            if name in files and name != module and not module.startswith(f"{name}.")
        }
        for module, path in files.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph[module]):
            found = visit(imported, [*path, module])
            if found:
                return found
        done.add(module)
        return None

    return next((c for m in sorted(graph) if (c := visit(m, [])) is not None), None)


def test_the_engine_has_no_import_cycle() -> None:
    graph = _graph()
    assert "engine.executor" in graph["engine.server.app"]  # the graph is read at all
    assert _cycle(graph) is None


def test_a_cycle_is_found_when_there_is_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_front_ends_never_import_the_server_or_the_web_framework() -> None:
    for path in (ENGINE / "frontends").glob("*.py"):
        imported = set(_imports(ast.parse(path.read_text())))
        assert not {name for name in imported if name.startswith(("quart", "engine.server"))}, path
