"""The shared SSE decoding loop every connector streams through."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from engine.backends.upstream import stream_events
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
