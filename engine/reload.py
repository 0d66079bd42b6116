"""Hot reload: watch the routes folder, recompile on change, swap the graph reference.

Requests hold the graph they start on (`acquire`/`release`, or `lease`), so in-flight
requests finish on the graph they started with. A graph that was replaced is retired when
its last request let go of it: each of its stages' `aclose()` runs then, once. A failed
load is logged with its diagnostics and the last good graph keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from watchfiles import awatch

from engine.compiler import load_graph
from engine.diagnostics import Diagnostic, format_text, has_errors
from engine.graph import Graph

log = logging.getLogger("engine.reload")

Listener = Callable[[int, list[Diagnostic]], None]


class GraphHolder:
    """The graph being served now; replaced whole, never changed in place."""

    def __init__(
        self, graph: Graph, routes: Path, prepare: Callable[[Graph], Graph] | None = None
    ) -> None:
        self.prepare = prepare or (lambda graph: graph)  # applied to every graph served
        self.graph = self.prepare(graph)
        self.routes = routes
        self.generation = 0
        self.listeners: list[Listener] = []
        self._leases: dict[int, int] = {}  # id(graph) → requests holding it
        self._retiring: set[asyncio.Task[None]] = set()

    def acquire(self) -> Graph:
        """The graph to serve one request on, held until `release`."""
        graph = self.graph
        key = id(graph)
        self._leases[key] = self._leases.get(key, 0) + 1
        return graph

    def release(self, graph: Graph) -> None:
        """Let go of a graph `acquire` gave; a replaced graph is retired with its last."""
        key = id(graph)
        left = self._leases[key] - 1
        if left:
            self._leases[key] = left
            return
        del self._leases[key]
        if graph is not self.graph:
            self._retire(graph)

    @contextmanager
    def lease(self) -> Iterator[Graph]:
        """The current graph, held while the block runs."""
        graph = self.acquire()
        try:
            yield graph
        finally:
            self.release(graph)

    async def retired(self) -> None:
        """Wait for the retirements under way (their stages' `aclose()`)."""
        await asyncio.gather(*self._retiring)

    async def close(self) -> None:
        """Retire the graph being served (the server stops) and wait for every retirement."""
        self._retire(self.graph)
        await self.retired()

    def _retire(self, graph: Graph) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # reloaded outside a server (a script, a test)
            asyncio.run(_close_stages(graph))
            return
        task = loop.create_task(_close_stages(graph))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def reload(self) -> list[Diagnostic]:
        """Recompile the routes folder; swap the graph when it is valid."""
        graph, diagnostics = load_graph([self.routes])
        for diagnostic in diagnostics:
            (log.error if diagnostic.level == "error" else log.warning)("%s", diagnostic)
        if graph is not None and not has_errors(diagnostics) and not graph.routes:
            # An emptied or half-written file is a broken edit, not a wish to serve nothing.
            log.error(
                "routes not reloaded: the new graph has no routes; the last good graph "
                "keeps serving"
            )
            self._retire(graph)  # never served: its stages close now
        elif graph is not None and not has_errors(diagnostics):
            graph = self.prepare(graph)
            replaced, self.graph = self.graph, graph
            self.generation += 1
            if id(replaced) not in self._leases:
                self._retire(replaced)
            log.info(
                "routes reloaded (generation %d, %d routes)", self.generation, len(graph.routes)
            )
        else:
            log.error(
                "routes not reloaded; the last good graph keeps serving:\n%s",
                format_text(d for d in diagnostics if d.level == "error"),
            )
        for listener in self.listeners:
            listener(self.generation, diagnostics)
        return diagnostics

    async def watch(self, debounce_ms: int = 50) -> None:
        """Reload on every change to a YAML file in the routes folder, until cancelled."""

        def is_routing_file(_: object, path: str) -> bool:
            return path.endswith((".yaml", ".yml"))

        async for _ in awatch(
            self.routes, watch_filter=is_routing_file, debounce=debounce_ms, step=20
        ):
            try:
                self.reload()
            except Exception:  # a compiler bug must not end hot reload for good
                log.exception("routes not reloaded: loading them failed")


async def _close_stages(graph: Graph) -> None:
    """Run every stage's `aclose()`; one that fails is logged and the others still close."""
    for stage in graph.stages():
        try:
            await stage.aclose()
        except Exception:
            log.exception("stage %s: aclose failed", stage.name)
