"""The access line of each request, and the prompt close of connections clients closed."""

from __future__ import annotations

import platform
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engine.compiler import load_graph
from engine.server.app import create_app
from tests.support.fake_openai import FakeProvider
from tests.support.logs import Records, access_records
from tests.support.proxy import FAKE_ROUTES, Proxy
from tests.support.servers import ServerThread


class AccessLines:
    """The access lines logged, as text; `wait(n)` for the first n (a line is written after
    the response's last byte went out, so a client may hold its answer before it exists)."""

    def __init__(self, records: Records) -> None:
        self._records = records

    def wait(self, count: int) -> list[str]:
        return [record.getMessage() for record in self._records.wait(count)]


@pytest.fixture
def access_lines() -> Iterator[AccessLines]:
    with access_records() as records:
        yield AccessLines(records)


@pytest.fixture
def logged(tmp_path: Path, fake: FakeProvider) -> Iterator[ServerThread]:
    """A proxy of its own on FAKE_ROUTES behind the access-log middleware, as `engine
    serve` runs it."""
    (tmp_path / "routes.yaml").write_text(FAKE_ROUTES, encoding="utf-8")
    graph, diagnostics = load_graph([tmp_path])
    assert graph is not None, diagnostics
    thread = ServerThread(create_app(graph, tmp_path, watch=False), name="access")
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


def test_one_access_line_per_request_with_route_and_backend(
    logged: ServerThread, access_lines: AccessLines
) -> None:
    ok = httpx.post(
        f"{logged.base_url}/v1/chat/completions?key=secret-in-query",
        json={"model": "mock:mock-1", "messages": [{"role": "user", "content": "hi"}]},
    )
    lines = access_lines.wait(1)
    refused = httpx.post(f"{logged.base_url}/v1/chat/completions", content=b"{")
    lines = access_lines.wait(2)

    assert (ok.status_code, refused.status_code) == (200, 400)
    assert len(lines) == 2
    assert lines[0].startswith("POST /v1/chat/completions 200 route=default backend=mock:mock-1 ")
    assert lines[0].endswith(" ms") and "secret-in-query" not in lines[0]
    assert lines[1].startswith("POST /v1/chat/completions 400 route=- backend=- ")


def test_a_stream_is_logged_once_with_its_status(
    logged: ServerThread, access_lines: AccessLines
) -> None:
    body = {
        "model": "mock:mock-1",
        "stream": True,
        "messages": [{"role": "user", "content": "a b"}],
    }
    with httpx.stream("POST", f"{logged.base_url}/v1/chat/completions", json=body) as response:
        text = response.read().decode()

    assert text.rstrip().endswith("data: [DONE]")
    lines = access_lines.wait(1)
    assert len(lines) == 1 and " 200 route=default backend=mock:mock-1 " in lines[0]


def test_a_path_cannot_forge_log_lines(logged: ServerThread, access_lines: AccessLines) -> None:
    forged = "/v1/responses/x%0A2026-12-01%2010:00:00,000%20INFO%20engine.access:%20FORGED"
    response = httpx.get(logged.base_url + forged)

    assert response.status_code == 404
    (line,) = access_lines.wait(1)
    assert "\n" not in line and "x\\x0a2026-12-01" in line


def test_a_connection_the_client_closes_is_closed_at_once(served: Proxy) -> None:
    # Without the fix, hypercorn held a connection whose client had ended its input until
    # the keep-alive timeout; here the server's end closes as soon as the answer is out.
    # 2 s is well under the keep-alive timeout (5 s in tests, 75 s in `engine serve`).
    with socket.create_connection(("127.0.0.1", served.thread.port), timeout=2) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: proxy\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)  # the client is done: end of input for the server
        received = b""
        while chunk := sock.recv(4096):  # ends when the server closes; times out if it does not
            received += chunk

    assert received.startswith(b"HTTP/1.1 200") and received.endswith(b"}")


def test_large_freed_blocks_go_back_to_the_system_on_glibc() -> None:
    from engine.server.memory import return_large_blocks_to_the_system

    assert return_large_blocks_to_the_system() is (platform.libc_ver()[0] == "glibc")
