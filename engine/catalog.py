"""Which models the proxy lists: declared ones, else what each backend's upstream reports.

A backend whose routing entry declares `models` lists those. For the others (with a key,
or at a server of the user's own) the catalog asks the upstream's own list endpoint
(OpenAI's and OpenRouter's `/models`, Anthropic's `/v1/models`, Gemini's `/models`) in the
background: after every graph load, then every `refresh_secs`. What it learnt is kept
across reloads while the backend's settings stay the same; an upstream that is offline or
refuses is a log line, and lists nothing until it answers. Every id is listed as
`BACKEND:MODEL`, which routes straight back to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

import httpx

from engine.backends.base import Backend
from engine.errors import ProxyError
from engine.graph import Graph

log = logging.getLogger("engine.catalog")

REFRESH_SECS = 600.0


def _identity(backend: Backend) -> str:
    """What a discovered list belongs to: the backend's name and settings."""
    return f"{backend.name}\n{backend.config.model_dump_json()}"


class ModelCatalog:
    """The models each backend offers, discovered where the routing file says none."""

    def __init__(self, refresh_secs: float = REFRESH_SECS) -> None:
        self.refresh_secs = refresh_secs
        self._found: dict[str, list[str]] = {}
        self._failed: set[str] = set()  # identities whose last attempt failed (logged once)
        self._reloaded = asyncio.Event()
        self.listeners: list[Callable[[], None]] = []  # told after each refresh

    def discovered(self, graph: Graph) -> Mapping[str, list[str]]:
        """What the upstreams of `graph`'s backends reported, by backend name."""
        found = {}
        for name, backend in graph.backends.items():
            models = self._found.get(_identity(backend))
            if models is not None:
                found[name] = models
        return found

    def model_ids(self, graph: Graph) -> list[str]:
        """Every model `graph` serves, as `BACKEND:MODEL`, then the stages' aliases."""
        return graph.model_ids(self.discovered(graph))

    def graph_changed(self, *_: object) -> None:
        """A GraphHolder listener: look again at the new graph's backends soon."""
        self._reloaded.set()

    async def refresh(self, graph: Graph, http: httpx.AsyncClient) -> None:
        """Ask every backend without declared models for its list, all at once."""
        wanted = [b for b in graph.backends.values() if not b.models() and b.can_list_models()]
        await asyncio.gather(*(self._ask(backend, http) for backend in wanted))

    async def _ask(self, backend: Backend, http: httpx.AsyncClient) -> None:
        identity = _identity(backend)
        try:
            models = await backend.list_models(http)
        except Exception as error:  # one connector's failure is not the round's
            if identity not in self._failed:
                self._failed.add(identity)
                reason = error.message if isinstance(error, ProxyError) else repr(error)
                log.info(
                    "backend %s: its models could not be listed (%s); they will be asked "
                    "again in %.0f s",
                    backend.name,
                    reason,
                    self.refresh_secs,
                )
            return
        if identity in self._failed or identity not in self._found:
            log.info("backend %s: %d models listed by its upstream", backend.name, len(models))
        self._failed.discard(identity)
        self._found[identity] = models

    async def run(self, graph: Callable[[], Graph], http: httpx.AsyncClient) -> None:
        """Refresh after each graph load and every `refresh_secs`, until cancelled."""
        while True:
            self._reloaded.clear()
            try:
                await self.refresh(graph(), http)
            except Exception:  # a connector bug must not end discovery for good
                log.exception("model discovery failed")
            for listener in self.listeners:
                listener()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reloaded.wait(), self.refresh_secs)
