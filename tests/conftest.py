"""Fixtures shared by the suite: the fake provider, the real proxy, and OpenAI SDK clients."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_openai import FakeProvider
from tests.support.postgres import Postgres, postgres
from tests.support.proxy import FAKE_ROUTES, Proxy
from tests.support.sdk import CLIENT_KEY, SDK_TIMEOUT_SECS, Chat, Flavour

ProxyFactory = Callable[..., Proxy]


@pytest.fixture(scope="session")
def tls() -> ssl.SSLContext:
    """One default TLS context for every SDK client: building one per client costs ~20 ms,
    and the clients only ever speak plain HTTP to 127.0.0.1."""
    return ssl.create_default_context()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """A real PostgreSQL server on 127.0.0.1, started once for the run
    (`Postgres.database()` gives each test a database of its own)."""
    with postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new, empty database of each kind the store runs on: a SQLite file,
    and a database on the suite's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'engine.db'}"
    server: Postgres = request.getfixturevalue("postgres_server")
    return server.database()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    """A fake OpenAI provider on a free port; routing files reach it as `${FAKE_URL}`."""
    with FakeProvider() as provider:
        monkeypatch.setenv("FAKE_URL", provider.url)
        yield provider


@pytest.fixture
def fake_anthropic(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    """A fake Anthropic provider; routing files reach it as `${FAKE_ANTHROPIC_URL}`."""
    with FakeAnthropic() as provider:
        monkeypatch.setenv("FAKE_ANTHROPIC_URL", provider.url)
        yield provider


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A base_url on which connections are refused: the port is bound but not listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


@pytest.fixture
def proxy(tmp_path: Path, fake: FakeProvider) -> Iterator[ProxyFactory]:
    """Start the real proxy: `proxy(routes_yaml)` in a fresh routes folder (the fake
    provider's graph by default), or `proxy(routes_dir=…)` on an existing folder."""
    with ExitStack() as stack:
        count = 0

        def start(
            routes: str = FAKE_ROUTES,
            *,
            routes_dir: Path | None = None,
            watch: bool = True,
            **options: Any,
        ) -> Proxy:
            nonlocal count
            if routes_dir is None:
                count += 1
                routes_dir = tmp_path / f"routes-{count}"
                routes_dir.mkdir()
                (routes_dir / "routes.yaml").write_text(routes, encoding="utf-8")
            return stack.enter_context(Proxy(routes_dir, watch=watch, **options))

        yield start
        # Whatever a failing test left hanging must not hold the proxy's shutdown up.
        fake.release_all()


@pytest.fixture
def served(proxy: ProxyFactory) -> Proxy:
    """The proxy serving FAKE_ROUTES."""
    return proxy()


# The client factories depend on `proxy` so that their clients close before the proxies stop.
@pytest.fixture
def connect(proxy: ProxyFactory, tls: ssl.SSLContext) -> Iterator[Callable[..., openai.OpenAI]]:
    """`connect(proxy, **options)`: an `openai.OpenAI` client on that proxy, closed after."""
    with ExitStack() as stack:

        def make(target: Proxy, **options: object) -> openai.OpenAI:
            settings: dict[str, object] = {
                "api_key": CLIENT_KEY,
                "max_retries": 0,
                "timeout": SDK_TIMEOUT_SECS,
                "http_client": openai.DefaultHttpxClient(verify=tls),
                **options,
            }
            return stack.enter_context(openai.OpenAI(base_url=target.url, **settings))  # type: ignore[arg-type]

        yield make


@pytest.fixture
async def aconnect(
    proxy: ProxyFactory, tls: ssl.SSLContext
) -> AsyncIterator[Callable[..., openai.AsyncOpenAI]]:
    """`aconnect(proxy, **options)`: an `openai.AsyncOpenAI` client on that proxy."""
    async with AsyncExitStack() as stack:

        def make(target: Proxy, **options: object) -> openai.AsyncOpenAI:
            settings: dict[str, object] = {
                "api_key": CLIENT_KEY,
                "max_retries": 0,
                "timeout": SDK_TIMEOUT_SECS,
                "http_client": openai.DefaultAsyncHttpxClient(verify=tls),
                **options,
            }
            client = openai.AsyncOpenAI(base_url=target.url, **settings)  # type: ignore[arg-type]
            stack.push_async_callback(client.close)
            return client

        yield make


@pytest.fixture
def client(served: Proxy, connect: Callable[..., openai.OpenAI]) -> openai.OpenAI:
    """A synchronous OpenAI SDK client on the proxy serving FAKE_ROUTES."""
    return connect(served)


@pytest.fixture
def aclient(served: Proxy, aconnect: Callable[..., openai.AsyncOpenAI]) -> openai.AsyncOpenAI:
    """An asynchronous OpenAI SDK client on the proxy serving FAKE_ROUTES."""
    return aconnect(served)


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> Flavour:
    """Which OpenAI client a table test drives: `openai.OpenAI` or `openai.AsyncOpenAI`."""
    return request.param


@pytest.fixture
def chat_for(
    flavour: Flavour,
    connect: Callable[..., openai.OpenAI],
    aconnect: Callable[..., openai.AsyncOpenAI],
) -> Callable[..., Chat]:
    """`chat_for(proxy, **client_options)`: ask that proxy with this test's client flavour."""

    def make(target: Proxy, **options: object) -> Chat:
        if flavour == "sync":
            return Chat(client=connect(target, **options))
        return Chat(aclient=aconnect(target, **options))

    return make


@pytest.fixture
def chat(served: Proxy, chat_for: Callable[..., Chat]) -> Chat:
    """Ask the proxy serving FAKE_ROUTES with this test's client flavour."""
    return chat_for(served)
