"""Hot reload: watch the routes folder, recompile on change, swap the graph reference.

Requests read `holder.graph` once when they start, so in-flight requests finish on the
graph they started with. A failed load is logged with its diagnostics and the last good
graph keeps serving.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from watchfiles import awatch

from engine.compiler import load_graph
from engine.diagnostics import Diagnostic, format_text, has_errors
from engine.graph import Graph

log = logging.getLogger("engine.reload")

Listener = Callable[[int, list[Diagnostic]], None]


class GraphHolder:
    """The graph being served now; replaced whole, never changed in place."""

    def __init__(self, graph: Graph, routes: Path) -> None:
        self.graph = graph
        self.routes = routes
        self.generation = 0
        self.listeners: list[Listener] = []

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
        elif graph is not None and not has_errors(diagnostics):
            self.graph = graph
            self.generation += 1
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
