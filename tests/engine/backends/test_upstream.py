"""The shared SSE decoding loop every connector streams through."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from engine.backends.upstream import post_json, shown_url, stream_events
from engine.codecs import openai_chat
from engine.errors import UpstreamUnavailable
from engine.model import Event, Finish, TextDelta

URL = "https://llm.example.test/v1/chat/completions"
TLS = ssl.create_default_context()


class Body(httpx.AsyncByteStream):
    """A streamed body that fails after its chunks."""

    def __init__(self, chunks: list[bytes], fail: Exception) -> None:
        self.chunks, self.fail = chunks, fail

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.chunks:
            yield piece
        raise self.fail


def sse(data: dict[str, Any] | str) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    return sse({"id": "c", "model": "m", "choices": [{"delta": delta, "finish_reason": finish}]})


@pytest.fixture
def upstream() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=True) as router:
        yield router


async def events_of(body: Body) -> list[Event]:
    async with httpx.AsyncClient(verify=TLS) as http:
        stream = stream_events(
            http,
            URL,
            b"{}",
            {},
            httpx.Timeout(5),
            openai_chat.decode_error,
            openai_chat.StreamDecoder(),
            done_marker="[DONE]",
        )
        return [event async for event in stream]


async def test_a_failure_after_the_response_completed_is_not_an_error(
    upstream: respx.MockRouter,
) -> None:
    body = Body(
        [chunk({"content": "hi"}), chunk({}, "stop"), sse("[DONE]")],
        fail=httpx.ReadError("connection reset"),
    )
    upstream.post(URL).mock(return_value=httpx.Response(200, stream=body))
    events = await events_of(body)
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta(text="hi")]
    assert events[-1] == Finish(reason="stop")


async def test_a_failure_before_the_response_completed_is_an_error(
    upstream: respx.MockRouter,
) -> None:
    body = Body([chunk({"content": "hi"})], fail=httpx.ReadError("connection reset"))
    upstream.post(URL).mock(return_value=httpx.Response(200, stream=body))
    with pytest.raises(UpstreamUnavailable) as caught:
        await events_of(body)
    assert caught.value.status == 502


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://api.example.test/v1/chat", "https://api.example.test/v1/chat"),
        ("http://user:secret@10.0.0.5:8080/v1/x", "http://10.0.0.5:8080/v1/x"),
        (
            "https://g.example.test/v1beta/m:gen?key=AIza-secret&alt=sse",
            "https://g.example.test/v1beta/m:gen",
        ),
    ],
)
def test_error_messages_show_no_credentials(url: str, shown: str) -> None:
    assert shown_url(url) == shown


async def test_an_unreachable_upstream_is_named_without_its_credentials(
    upstream: respx.MockRouter,
) -> None:
    secret_url = "https://user:hunter2@llm.example.test/v1/chat/completions?key=k-secret"
    upstream.post(secret_url).mock(side_effect=httpx.ConnectError("refused"))
    async with httpx.AsyncClient(verify=TLS) as http:
        with pytest.raises(UpstreamUnavailable) as caught:
            await post_json(http, secret_url, b"{}", {}, httpx.Timeout(5), openai_chat.decode_error)
    assert "hunter2" not in caught.value.message and "k-secret" not in caught.value.message
    assert "llm.example.test" in caught.value.message
