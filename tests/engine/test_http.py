"""The shared upstream client (httpx over aiohttp) against real loopback servers: the
errors it raises are the httpx ones the connectors map, it reuses connections, and a
stream closed early closes its connection at once."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from engine.backends.upstream import post_json
from engine.errors import ProxyError
from engine.http import upstream_client

Answer = Callable[[asyncio.Transport], None]
OK = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'
STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


class Upstream:
    """A scripted loopback server: `answer` writes what each request gets."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed = asyncio.Event()  # a connection was closed by the client
        self.url = ""

    def protocol(self) -> asyncio.Protocol:
        server = self

        class Connection(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport
                server.connections += 1

            def data_received(self, data: bytes) -> None:
                server.requests.append(data)
                if b"\r\n\r\n" in data:
                    server.answer(self.transport)  # type: ignore[arg-type]

            def connection_lost(self, exc: Exception | None) -> None:
                server.closed.set()

        return Connection()


@pytest.fixture
async def upstream() -> AsyncIterator[Callable[[Answer], Awaitable[Upstream]]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer) -> Upstream:
        state = Upstream(answer)
        server = await asyncio.get_running_loop().create_server(state.protocol, "127.0.0.1", 0)
        servers.append(server)
        state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
        return state

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with upstream_client() as client:
        yield client


async def test_connections_are_reused(upstream, http: httpx.AsyncClient) -> None:
    server = await upstream(lambda transport: transport.write(OK))
    for _ in range(3):
        assert (await http.post(server.url, content=b"{}")).json() == {"ok": True}
    assert server.connections == 1


async def test_cookies_an_upstream_sets_go_to_nobody(upstream, http: httpx.AsyncClient) -> None:
    """Every client of the proxy shares its upstream client: a cookie would leak."""
    set_cookie = OK.replace(b"\r\n\r\n", b"\r\nset-cookie: session=alice; Path=/\r\n\r\n", 1)
    server = await upstream(lambda transport: transport.write(set_cookie))
    for _ in range(2):
        await http.post(server.url, content=b"{}")
    assert len(server.requests) == 2
    assert all(b"session=alice" not in sent for sent in server.requests)
    with pytest.raises(TypeError):
        http.cookies = {"session": "bob"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_nothing_listening_is_a_connect_error(http: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.ConnectError):
        await http.post(f"http://127.0.0.1:{_free_port()}/v1", content=b"{}")


async def test_a_dropped_connection_is_a_protocol_error_not_a_timeout(
    upstream, http: httpx.AsyncClient
) -> None:
    server = await upstream(lambda transport: transport.close())
    with pytest.raises(httpx.RemoteProtocolError):
        await http.post(server.url, content=b"{}")


async def test_a_body_cut_short_is_a_read_error(upstream, http: httpx.AsyncClient) -> None:
    def cut(transport: asyncio.Transport) -> None:
        transport.write(STREAM_HEAD + b"6\r\ndata: \r\n")
        transport.close()

    server = await upstream(cut)
    async with http.stream("POST", server.url, content=b"{}") as response:
        with pytest.raises(httpx.ReadError):
            async for _ in response.aiter_raw():
                pass


async def test_silence_is_a_read_timeout(upstream, http: httpx.AsyncClient) -> None:
    server = await upstream(lambda transport: None)
    with pytest.raises(httpx.ReadTimeout):
        await http.post(server.url, content=b"{}", timeout=httpx.Timeout(5, read=0.05))


async def test_a_refused_header_is_a_local_protocol_error(
    upstream, http: httpx.AsyncClient
) -> None:
    server = await upstream(lambda transport: transport.write(OK))
    with pytest.raises(httpx.LocalProtocolError):
        await http.post(server.url, content=b"{}", headers={"x-api-key": "sk-1\r\nx-evil: 1"})


async def test_failures_reach_the_connectors_as_proxy_errors(
    upstream, http: httpx.AsyncClient
) -> None:
    server = await upstream(lambda transport: transport.close())
    with pytest.raises(ProxyError) as caught:
        await post_json(
            http, server.url, b"{}", {}, httpx.Timeout(5), lambda status, body: ProxyError(status)
        )
    assert (caught.value.status, caught.value.code) == (502, "upstream_unreachable")


async def test_a_stream_closed_early_closes_its_connection(
    upstream, http: httpx.AsyncClient
) -> None:
    server = await upstream(lambda transport: transport.write(STREAM_HEAD + b"6\r\ndata: \r\n"))
    async with http.stream("POST", server.url, content=b"{}") as response:
        async for chunk in response.aiter_raw():
            assert chunk == b"data: "
            break
    await asyncio.wait_for(server.closed.wait(), 5)  # the upstream saw the client go
