"""The Gemini connector, against a respx-mocked upstream."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from engine.backends.gemini import GeminiBackend, GeminiConfig
from engine.codecs.gemini.response import call_id
from engine.errors import UpstreamError, UpstreamUnavailable
from engine.model import (
    ChatRequest,
    ErrorEvent,
    Event,
    Finish,
    ResponseStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from engine.testing import user

BASE = "https://gemini.example.test"
URL = f"{BASE}/v1beta/models/gemini-up:generateContent"
STREAM_URL = f"{BASE}/v1beta/models/gemini-up:streamGenerateContent"
TLS = ssl.create_default_context()


def backend(**config: Any) -> GeminiBackend:
    return GeminiBackend("up", GeminiConfig(**{"base_url": BASE, **config}))


def chat(*, stream: bool = False, **fields: Any) -> ChatRequest:
    return ChatRequest(model="client-model", messages=[user("hi")], stream=stream, **fields)


async def send(
    connector: GeminiBackend, request: ChatRequest, model: str = "gemini-up"
) -> list[Event]:
    async with httpx.AsyncClient(verify=TLS) as http:
        return [event async for event in connector.send(request, model, http)]


def response(*parts: dict[str, Any], finish: str | None = "STOP", **extra: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": list(parts), "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "modelVersion": "gemini-up-001", "responseId": "r1", **extra}


USAGE = {"promptTokenCount": 5, "candidatesTokenCount": 1, "totalTokenCount": 6}
WHOLE = response({"text": "Hello"}, usageMetadata=USAGE)


def sse(*chunks: dict[str, Any] | str) -> bytes:
    return b"".join(
        f"data: {c if isinstance(c, str) else json.dumps(c)}\r\n\r\n".encode() for c in chunks
    )


def sse_response(content: bytes) -> httpx.Response:
    return httpx.Response(200, content=content, headers={"content-type": "text/event-stream"})


@pytest.fixture
def upstream() -> Iterator[respx.MockRouter]:
    """The mocked provider; every route a test declares must be called."""
    with respx.mock(assert_all_called=True) as router:
        yield router


# --- the request we send ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "model", "stream", "url"),
    [
        ({}, "gemini-up", False, URL),
        ({"base_url": f"{BASE}/"}, "models/gemini-up", False, URL),
        ({}, "gemini-up", True, f"{STREAM_URL}?alt=sse"),
        (
            {"api_version": "v1"},
            "gemini-up",
            False,
            f"{BASE}/v1/models/gemini-up:generateContent",
        ),
        (
            {"base_url": "http://127.0.0.1:9/proxy", "api_version": "v1alpha"},
            "tuned x",
            False,
            "http://127.0.0.1:9/proxy/v1alpha/models/tuned%20x:generateContent",
        ),
    ],
)
def test_url(config: dict[str, Any], model: str, stream: bool, url: str) -> None:
    assert backend(**config).url(model, stream=stream) == url


def test_default_base_url_is_the_sdks() -> None:
    connector = GeminiBackend("g", GeminiConfig())
    assert connector.url("gemini-2.5-flash", stream=False) == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )


async def test_headers_and_body(upstream: respx.MockRouter) -> None:
    route = upstream.post(URL).respond(json=WHOLE)
    await send(
        backend(api_key="g-key", headers={"x-goog-user-project": "p1"}),
        chat(extra={"gemini": {"cachedContent": "cachedContents/c1"}}),
    )
    request = route.calls.last.request
    assert request.headers["x-goog-api-key"] == "g-key"
    assert request.headers["x-goog-user-project"] == "p1"
    assert "authorization" not in request.headers
    assert "key" not in request.url.params
    assert json.loads(request.content) == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "cachedContent": "cachedContents/c1",
    }


async def test_no_api_key_no_header(upstream: respx.MockRouter) -> None:
    route = upstream.post(URL).respond(json=WHOLE)
    await send(backend(), chat())
    assert "x-goog-api-key" not in route.calls.last.request.headers


async def test_timeouts_from_config(upstream: respx.MockRouter) -> None:
    route = upstream.post(URL).respond(json=WHOLE)
    await send(backend(timeout_secs=30, connect_timeout_secs=2), chat())
    timeout = route.calls.last.request.extensions["timeout"]
    assert (timeout["read"], timeout["connect"]) == (30, 2)


# --- decoding what comes back ----------------------------------------------------------------


async def test_non_streaming_decode(upstream: respx.MockRouter) -> None:
    upstream.post(URL).respond(json=WHOLE)
    assert await send(backend(), chat()) == [
        ResponseStart(id="r1", model="gemini-up-001"),
        TextDelta(text="Hello"),
        Usage(input_tokens=5, output_tokens=1),
        Finish(reason="stop"),
    ]


async def test_sse_decode(upstream: respx.MockRouter) -> None:
    content = sse(
        response({"text": "He"}, finish=None, usageMetadata={"promptTokenCount": 5}),
        response({"text": "llo"}, finish=None),
        response({"functionCall": {"name": "f", "args": {"a": [1]}}}, usageMetadata=USAGE),
    )
    route = upstream.post(STREAM_URL).mock(return_value=sse_response(content))
    assert await send(backend(), chat(stream=True)) == [
        ResponseStart(id="r1", model="gemini-up-001"),
        TextDelta(text="He"),
        TextDelta(text="llo"),
        ToolCallStart(index=0, id=call_id("r1", 0, "f", '{"a":[1]}'), name="f"),
        ToolCallDelta(index=0, arguments='{"a":[1]}'),
        ToolCallEnd(index=0),
        Usage(input_tokens=5, output_tokens=1),
        Finish(reason="tool_calls"),
    ]
    assert route.calls.last.request.url.params["alt"] == "sse"


async def test_error_chunk_ends_the_events_and_the_call(
    upstream: respx.MockRouter,
) -> None:
    body = _Body(
        [
            sse(response({"text": "a"}, finish=None)),
            sse({"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}),
            sse(response({"text": "ignored"})),
        ]
    )
    upstream.post(STREAM_URL).mock(return_value=httpx.Response(200, stream=body))
    events = await send(backend(), chat(stream=True))
    assert events[-1] == ErrorEvent(status=503, code="UNAVAILABLE", message="overloaded")
    assert TextDelta(text="ignored") not in events
    assert not body.read_all  # like every connector, it stops at the first error


async def test_invalid_json_chunk_is_an_error_event(upstream: respx.MockRouter) -> None:
    upstream.post(STREAM_URL).mock(return_value=sse_response(b"data: {nope\r\n\r\n"))
    events = await send(backend(), chat(stream=True))
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].code == "upstream_invalid_json"


async def test_stream_closed_without_finish_is_an_error_event(upstream: respx.MockRouter) -> None:
    content = sse(response({"text": "a"}, finish=None))
    upstream.post(STREAM_URL).mock(return_value=sse_response(content))
    events = await send(backend(), chat(stream=True))
    assert events[-1] == ErrorEvent(
        status=502,
        code="upstream_truncated",
        message="the upstream closed the stream before it finished",
    )


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(
    ("status", "name"),
    [
        (400, "INVALID_ARGUMENT"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
    ],
)
async def test_upstream_error_status_passes_through(
    upstream: respx.MockRouter, stream: bool, status: int, name: str
) -> None:
    error = {"error": {"code": status, "message": f"failed {status}", "status": name}}
    upstream.post(STREAM_URL if stream else URL).respond(status, json=error)
    with pytest.raises(UpstreamError) as caught:
        await send(backend(), chat(stream=stream))
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        status,
        name,
        f"failed {status}",
    )


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (httpx.ConnectError("connection refused"), 502, "upstream_unreachable"),
        (httpx.ConnectTimeout("connect timed out"), 504, "upstream_timeout"),
        (httpx.ReadTimeout("read timed out"), 504, "upstream_timeout"),
    ],
    ids=["connect-error", "connect-timeout", "read-timeout"],
)
async def test_transport_failures(
    upstream: respx.MockRouter, stream: bool, exc: Exception, status: int, code: str
) -> None:
    upstream.post(STREAM_URL if stream else URL).mock(side_effect=exc)
    with pytest.raises(UpstreamUnavailable) as caught:
        await send(backend(), chat(stream=stream))
    assert (caught.value.status, caught.value.code) == (status, code)
    assert caught.value.__cause__ is exc


class _Body(httpx.AsyncByteStream):
    """A streamed body that fails after its chunks; records being read through and closed."""

    def __init__(self, chunks: list[bytes], fail: Exception | None = None) -> None:
        self.chunks, self.fail = chunks, fail
        self.closed = self.read_all = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.chunks:
            yield piece
        if self.fail is not None:
            raise self.fail
        self.read_all = True

    async def aclose(self) -> None:
        self.closed = True


async def test_timeout_mid_stream_is_504_after_the_first_events(upstream: respx.MockRouter) -> None:
    body = _Body([sse(response({"text": "a"}, finish=None))], fail=httpx.ReadTimeout("stalled"))
    upstream.post(STREAM_URL).mock(return_value=httpx.Response(200, stream=body))
    seen: list[Event] = []
    with pytest.raises(UpstreamUnavailable) as caught:
        async with httpx.AsyncClient(verify=TLS) as http:
            async for event in backend().send(chat(stream=True), "gemini-up", http):
                seen.append(event)
    assert caught.value.status == 504
    assert TextDelta(text="a") in seen
    assert body.closed


async def test_closing_the_event_stream_early_closes_the_upstream_response(
    upstream: respx.MockRouter,
) -> None:
    body = _Body([sse(response({"text": "a"}, finish=None)), sse(response({"text": "b"}))])
    upstream.post(STREAM_URL).mock(return_value=httpx.Response(200, stream=body))
    async with httpx.AsyncClient(verify=TLS) as http:
        events = backend().send(chat(stream=True), "gemini-up", http)
        assert isinstance(await anext(events), ResponseStart)
        await events.aclose()
    assert body.closed
