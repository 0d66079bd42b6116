"""GraphHolder: a valid edit swaps the graph, anything else keeps the last good one; a
replaced graph closes its stages after its last request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from engine.compiler import load_graph
from engine.diagnostics import Diagnostic
from engine.graph import Graph
from engine.reload import GraphHolder
from engine.stage import Answer, Exchange, Stage, StrictModel, registry, stage

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


class Closer(Stage):
    """Does nothing to requests; records its `aclose()`."""

    class Config(StrictModel):
        pass

    closed: ClassVar[list[Stage]] = []

    async def on_request(self, ctx: Exchange) -> Answer | None:
        return None

    async def aclose(self) -> None:
        Closer.closed.append(self)


@pytest.fixture
def closing(tmp_path: Path) -> Iterator[GraphHolder]:
    stage("test_reload_closer")(Closer)
    Closer.closed.clear()
    (tmp_path / "routes.yaml").write_text(
        GOOD.replace("backend:", "request: [test_reload_closer], backend:")
    )
    graph, _ = load_graph([tmp_path])
    assert graph is not None
    yield GraphHolder(graph, tmp_path)
    registry().pop("test_reload_closer")


def closer_of(graph: Graph) -> Stage:
    return graph.routes[0].request[0].stage


async def test_a_replaced_graph_closes_its_stages_after_its_last_request(
    closing: GraphHolder,
) -> None:
    first = closing.acquire()
    closing.acquire()  # two requests in flight on the first graph
    closing.reload()
    second = closing.graph
    assert second is not first

    closing.release(first)
    await closing.retired()
    assert Closer.closed == []  # one request still runs on it

    closing.release(first)
    await closing.retired()
    assert Closer.closed == [closer_of(first)]

    with closing.lease() as graph:  # requests on the current graph close nothing
        assert graph is second
    await closing.retired()
    assert Closer.closed == [closer_of(first)]

    await closing.close()  # the server stops
    assert Closer.closed == [closer_of(first), closer_of(second)]


async def test_a_graph_no_request_holds_is_closed_when_replaced(closing: GraphHolder) -> None:
    first = closing.graph
    closing.reload()
    await closing.retired()
    assert Closer.closed == [closer_of(first)]


async def test_every_stage_a_graph_built_is_closed_with_it_unused_entries_too(
    closing: GraphHolder,
) -> None:
    first = closing.graph
    routes = closing.routes / "routes.yaml"
    spare = "stages: {spare: {use: test_reload_closer}}\n"
    routes.write_text(routes.read_text().replace("backends:", spare + "backends:"))
    assert not closing.reload()  # no diagnostics
    second = closing.graph
    assert len(second.stages()) == 2  # the route's and the unused entry's
    await closing.close()
    assert [id(s) for s in Closer.closed] == [id(s) for s in (*first.stages(), *second.stages())]


async def test_a_graph_that_is_not_served_is_closed_at_once(closing: GraphHolder) -> None:
    serving = closing.graph
    (closing.routes / "routes.yaml").write_text(
        "version: 1\nstages: {spare: {use: test_reload_closer}}\n"
    )
    closing.reload()  # no routes: refused, the last good graph keeps serving
    await closing.retired()
    assert closing.graph is serving
    assert len(Closer.closed) == 1 and Closer.closed[0] is not closer_of(serving)
