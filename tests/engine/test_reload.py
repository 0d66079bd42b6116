"""GraphHolder.reload: a valid edit swaps the graph; anything else keeps the last good one."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.compiler import load_graph
from engine.diagnostics import Diagnostic
from engine.reload import GraphHolder

GOOD = """\
version: 1
backends: {mock: {kind: mock}}
routes: [{name: main, backend: {targets: [mock]}}]
"""


@pytest.fixture
def holder(tmp_path: Path) -> GraphHolder:
    (tmp_path / "routes.yaml").write_text(GOOD)
    graph, _ = load_graph([tmp_path])
    assert graph is not None
    return GraphHolder(graph, tmp_path)


def test_a_valid_edit_swaps_the_graph(holder: GraphHolder) -> None:
    before = holder.graph
    (holder.routes / "routes.yaml").write_text(GOOD.replace("main", "renamed"))

    holder.reload()

    assert holder.graph is not before
    assert holder.generation == 1
    assert [route.name for route in holder.graph.routes] == ["renamed"]


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(GOOD.replace("mock]}", "mok]}"), id="unknown-backend"),
        pytest.param("routes: [unclosed", id="yaml-syntax"),
        pytest.param("", id="emptied"),
        pytest.param("version: 1\n", id="no-routes"),
    ],
)
def test_anything_else_keeps_the_last_good_graph(holder: GraphHolder, edit: str) -> None:
    before = holder.graph
    seen: list[tuple[int, list[Diagnostic]]] = []
    holder.listeners.append(lambda generation, found: seen.append((generation, found)))
    (holder.routes / "routes.yaml").write_text(edit)

    holder.reload()

    assert holder.graph is before
    assert holder.generation == 0
    assert [generation for generation, _ in seen] == [0]
