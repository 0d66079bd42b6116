"""Which models the proxy lists: declared ones, else what each backend's upstream reports.

A backend whose routing entry declares `models` lists those. For the others (with a key,
or at a server of the user's own) the catalog asks the upstream's own list endpoint
(OpenAI's and OpenRouter's `/models`, Anthropic's `/v1/models`, Gemini's `/models`) in the
background: every `refresh_secs`, and for the backends a graph load brings that it has not
asked yet. What it learnt is kept across reloads while the backend's settings stay the same;
an upstream that is offline, refuses or takes longer than `deadline_secs` is a log line,
and lists nothing until it answers. Every id is listed as
`BACKEND:MODEL`, which routes straight back to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

import httpx

from engine.backends.base import Backend
from engine.errors import ProxyError
from engine.graph import Graph

log = logging.getLogger("engine.catalog")

REFRESH_SECS = 600.0
DEADLINE_SECS = 60.0  # for one backend's whole listing: a trickling upstream holds no round


def _identity(backend: Backend) -> str:
    """What a discovered list belongs to: the backend's name and settings."""
    return f"{backend.name}\n{backend.config.model_dump_json()}"


class ModelCatalog:
    """The models each backend offers, discovered where the routing file says none."""

    def __init__(
        self, refresh_secs: float = REFRESH_SECS, deadline_secs: float = DEADLINE_SECS
    ) -> None:
        self.refresh_secs = refresh_secs
        self.deadline_secs = deadline_secs
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

    async def refresh(
        self, graph: Graph, http: httpx.AsyncClient, *, only_new: bool = False
    ) -> None:
        """Ask every backend without declared models for its list, all at once (with
        `only_new`, those not asked yet); forget what backends no longer in `graph` said."""
        wanted = [b for b in graph.backends.values() if not b.models() and b.can_list_models()]
        if only_new:
            wanted = [b for b in wanted if _identity(b) not in self._found]
        else:
            current = {_identity(b) for b in wanted}
            self._found = {k: v for k, v in self._found.items() if k in current}
            self._failed &= current
        await asyncio.gather(*(self._ask(backend, http) for backend in wanted))

    async def _ask(self, backend: Backend, http: httpx.AsyncClient) -> None:
        identity = _identity(backend)
        try:
            async with asyncio.timeout(self.deadline_secs):
                models = await backend.list_models(http)
        except Exception as error:  # one connector's failure is not the round's
            if identity not in self._failed:
                self._failed.add(identity)
                if isinstance(error, TimeoutError):
                    reason = f"no whole answer within {self.deadline_secs:.0f} s"
                elif isinstance(error, ProxyError):
                    reason = error.message
                else:
                    reason = repr(error)
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
        """Refresh every `refresh_secs`, and after each graph load for the backends it
        brings, until cancelled."""
        only_new = False
        while True:
            self._reloaded.clear()
            try:
                await self.refresh(graph(), http, only_new=only_new)
            except Exception:  # a connector bug must not end discovery for good
                log.exception("model discovery failed")
            for listener in self.listeners:
                listener()
            try:
                await asyncio.wait_for(self._reloaded.wait(), self.refresh_secs)
                only_new = True
            except TimeoutError:
                only_new = False
