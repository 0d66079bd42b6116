"""The matrix's fixtures (one fake and one proxy per backend protocol, one SDK client per
front-end and proxy, all for the whole session) and its results file.

With `MATRIX_REPORT=path` set, every matrix cell's outcome is recorded and written to
`path` as JSON at the end of the session; `python -m tests.e2e.matrix.report path` renders it.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.matrix.cases import CASES, MODES
from tests.e2e.matrix.clients import CLIENTS, ClientAdapter
from tests.e2e.matrix.providers import PROVIDERS, ProviderAdapter
from tests.support.proxy import Proxy


def routes_for(provider: ProviderAdapter) -> str:
    """A routing file sending every model, from every front-end, to the provider's fake."""
    backend = json.dumps(provider.backend())
    return (
        "version: 1\n"
        f"backends:\n  upstream: {backend}\n"
        "routes:\n"
        "  - name: everything\n"
        '    match: {model: "*"}\n'
        "    backend: {targets: [upstream]}\n"
    )


class Lab:
    """Fakes, proxies and SDK clients, each started on first use and kept for the session."""

    def __init__(self, root: Path, tls: ssl.SSLContext, stack: ExitStack) -> None:
        self.root = root
        self.tls = tls
        self.stack = stack
        self._backends: dict[str, tuple[Any, Proxy]] = {}
        self._sessions: dict[tuple[str, str], Any] = {}

    def backend(self, provider: ProviderAdapter) -> tuple[Any, Proxy]:
        """The provider's fake and the proxy routing everything to it."""
        if provider.name not in self._backends:
            fake = self.stack.enter_context(provider.serve())
            routes = self.root / provider.name
            routes.mkdir()
            (routes / "routes.yaml").write_text(routes_for(provider), encoding="utf-8")
            # `${…}` is read when the graph loads; without watching, it never reloads.
            with pytest.MonkeyPatch.context() as env:
                env.setenv(provider.url_variable, fake.url)
                proxy = Proxy(routes, watch=False)
            self.stack.enter_context(proxy)
            self._backends[provider.name] = (fake, proxy)
        return self._backends[provider.name]

    def session(self, client: ClientAdapter, provider: ProviderAdapter) -> Any:
        """The client's SDK, connected to the provider's proxy."""
        key = (client.name, provider.name)
        if key not in self._sessions:
            _, proxy = self.backend(provider)
            self._sessions[key] = self.stack.enter_context(client.connect(proxy.base_url, self.tls))
        return self._sessions[key]


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory, tls: ssl.SSLContext) -> Iterator[Lab]:
    """The session's matrix lab; SDK clients close before the proxies, proxies before fakes."""
    with ExitStack() as stack:
        yield Lab(tmp_path_factory.mktemp("matrix"), tls, stack)


# --- the results file ----------------------------------------------------------------------

RESULTS = pytest.StashKey[dict[str, dict[str, Any]]]()


def pytest_configure(config: pytest.Config) -> None:
    """Start with no results."""
    config.stash[RESULTS] = {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Record a matrix cell's result: failed if any of its phases failed."""
    report: pytest.TestReport = yield
    callspec = getattr(item, "callspec", None)
    if callspec is None or "cell" not in callspec.params or not os.environ.get("MATRIX_REPORT"):
        return report
    client, provider, mode, case = callspec.params["cell"]
    record = item.config.stash[RESULTS].setdefault(
        item.nodeid,
        {"frontend": client, "backend": provider, "mode": mode, "case": case, "passed": True},
    )
    if report.failed:
        record["passed"] = False
        record.setdefault("error", _first_line(report))
    return report


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(report.longrepr)
    return message.strip().splitlines()[0][:300] if message.strip() else "failed"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the results file, naming which front-ends and backends exist at all."""
    target = os.environ.get("MATRIX_REPORT")
    results = session.config.stash.get(RESULTS, {})
    if not target or not results:
        return
    document = {
        "frontends": {c.name: c.available() for c in CLIENTS},
        "backends": {p.name: p.available() for p in PROVIDERS},
        "modes": list(MODES),
        "cases": list(CASES),
        "cells": sorted(results.values(), key=lambda r: tuple(r[k] for k in _ORDER)),
    }
    Path(target).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


_ORDER = ("frontend", "backend", "mode", "case")
