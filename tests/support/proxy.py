"""The real proxy app served from a routes folder, with a record of its hot reloads."""

from __future__ import annotations

import http.client
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from engine.compiler import load_graph
from engine.diagnostics import Diagnostic, format_text, has_errors
from engine.server.app import Server, create_app
from tests.support.servers import ServerThread
from tests.support.signals import DEFAULT_TIMEOUT_SECS

# The graph most end-to-end tests run: two OpenAI-compatible backends on the fake
# provider (told apart by their path prefix) and the built-in mock.
FAKE_ROUTES = """\
version: 1
backends:
  fake:
    kind: openai
    base_url: "${FAKE_URL}/v1"
    api_key: upstream-key
    models: [fake-large, fake-small]
  other:
    kind: openai
    base_url: "${FAKE_URL}/other/v1"
    api_key: other-key
    headers: {x-backend: other}
    models: [big-model]
  mock: {kind: mock}
routes:
  - name: default
    match: {model: "*"}
    request:
      - commands
      - model_rewrite:
          rules:
            - {from: smart, to: "other:big-model"}
    backend: {targets: [fake]}
"""


@dataclass(frozen=True)
class Reload:
    """One reload attempt, as GraphHolder reports it to its listeners."""

    generation: int
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        """Whether the new graph was swapped in."""
        return not has_errors(self.diagnostics)


class ReloadLog:
    """A GraphHolder listener that keeps every reload attempt and lets a test wait for one."""

    def __init__(self) -> None:
        self.reloads: list[Reload] = []
        self._changed = threading.Condition()

    def __call__(self, generation: int, diagnostics: list[Diagnostic]) -> None:
        with self._changed:
            self.reloads.append(Reload(generation, list(diagnostics)))
            self._changed.notify_all()

    def __len__(self) -> int:
        with self._changed:
            return len(self.reloads)

    def wait(self, index: int, timeout: float = DEFAULT_TIMEOUT_SECS) -> Reload:
        """Reload number `index` (0-based), waiting for it to happen."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.reloads) > index, timeout):
                raise AssertionError(f"no reload #{index} within {timeout}s")
            return self.reloads[index]


class Proxy:
    """The proxy app serving the routes folder `routes_dir`; a context manager."""

    def __init__(self, routes_dir: Path, *, watch: bool = True, **options: Any) -> None:
        """`options` go to `create_app` (a `store`, `require_keys`)."""
        self.routes_dir = routes_dir
        graph, diagnostics = load_graph([routes_dir])
        assert graph is not None, format_text(diagnostics)
        self.app = create_app(graph, routes_dir, watch=watch, **options)
        self.server: Server = self.app.extensions["engine"]
        self.reloads = ReloadLog()
        self.server.holder.listeners.append(self.reloads)
        self.thread = ServerThread(self.app, name="proxy")

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return self.thread.base_url

    @property
    def url(self) -> str:
        """The OpenAI SDK's base_url: `http://127.0.0.1:PORT/v1`."""
        return f"{self.thread.base_url}/v1"

    def write_routes(self, text: str, name: str = "routes.yaml") -> Path:
        """Replace a routing file in one step, so the watcher sees one complete change."""
        staging = self.routes_dir.parent / f".staging-{name}"
        staging.write_text(text, encoding="utf-8")
        target = self.routes_dir / name
        os.replace(staging, target)
        return target

    def edit(self, text: str, name: str = "routes.yaml") -> Reload:
        """Rewrite a routing file and wait until the server has tried to reload it."""
        seen = len(self.reloads)
        self.write_routes(text, name)
        return self.reloads.wait(seen)

    def __enter__(self) -> Self:
        self.thread.start()
        # The app's startup creates the watcher task, which sets up its file watch in its
        # first step; the server loop runs that step before it serves any request, so
        # once a request has been answered, every later edit is seen.
        ping = http.client.HTTPConnection(
            "127.0.0.1", self.thread.port, timeout=DEFAULT_TIMEOUT_SECS
        )
        try:
            ping.request("GET", "/healthz")
            assert ping.getresponse().status == 200, "the proxy does not answer"
        except BaseException:
            self.thread.stop()
            raise
        finally:
            ping.close()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.thread.stop()
