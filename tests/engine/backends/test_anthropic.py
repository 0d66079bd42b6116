"""The Anthropic connector, against a respx-mocked upstream."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from engine.backends.anthropic import AnthropicBackend, AnthropicConfig
from engine.errors import UpstreamError, UpstreamUnavailable
from engine.model import (
    ChatRequest,
    ErrorEvent,
    Event,
    Finish,
    ResponseStart,
    TextDelta,
    Usage,
)
from engine.testing import user

BASE = "https://anthropic.example.test"
URL = f"{BASE}/v1/messages"
TLS = ssl.create_default_context()

MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-up",
    "content": [{"type": "text", "text": "Hello"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 5, "output_tokens": 1},
}


def backend(**config: Any) -> AnthropicBackend:
    return AnthropicBackend("claude", AnthropicConfig(**{"base_url": BASE, **config}))


def chat(*, stream: bool = False, **fields: Any) -> ChatRequest:
    return ChatRequest(model="client-model", messages=[user("hi")], stream=stream, **fields)


async def send(
    connector: AnthropicBackend, request: ChatRequest, model: str = "claude-up"
) -> list[Event]:
    async with httpx.AsyncClient(verify=TLS) as http:
        return [event async for event in connector.send(request, model, http)]


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


STREAM = sse(
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "model": "claude-up",
            "usage": {"input_tokens": 5, "output_tokens": 1},
        },
    },
    {"type": "ping"},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
    {"type": "message_stop"},
)


def sse_response(content: bytes, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=content, headers={"content-type": "text/event-stream"})


@pytest.fixture
def upstream() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=True) as router:
        yield router


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        (BASE, URL),
        (f"{BASE}/", URL),
        ("http://127.0.0.1:9/proxy", "http://127.0.0.1:9/proxy/v1/messages"),
    ],
)
async def test_url_from_base_url(upstream: respx.MockRouter, base_url: str, url: str) -> None:
    upstream.post(url).respond(json=MESSAGE)
    events = await send(backend(base_url=base_url), chat())
    assert events[0] == ResponseStart(id="msg_1", model="claude-up")


def test_default_base_url_is_anthropics() -> None:
    assert AnthropicBackend("c", AnthropicConfig()).url == "https://api.anthropic.com/v1/messages"


async def test_headers(upstream: respx.MockRouter) -> None:
    route = upstream.post(URL).respond(json=MESSAGE)
    await send(backend(api_key="sk-ant", headers={"X-Team": "t1"}), chat())
    sent = route.calls.last.request.headers
    assert sent["x-api-key"] == "sk-ant"
    assert sent["anthropic-version"] == "2023-06-01"
    assert sent["x-team"] == "t1"
    assert sent["content-type"] == "application/json"
    assert "authorization" not in sent
    assert "anthropic-beta" not in sent


async def test_version_and_betas_configured_and_forwarded(upstream: respx.MockRouter) -> None:
    route = upstream.post(URL).respond(json=MESSAGE)
    connector = backend(anthropic_version="2099-01-01", betas=["context-1m-2025-08-07"])
    await send(connector, chat())
    sent = route.calls.last.request.headers
    assert sent["anthropic-version"] == "2099-01-01"
    assert sent["anthropic-beta"] == "context-1m-2025-08-07"

    forwarded = chat(
        forward_headers={
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "interleaved-thinking-2025-05-14, context-1m-2025-08-07",
        }
    )
    await send(connector, forwarded)
    sent = route.calls.last.request.headers
    assert sent["anthropic-version"] == "2023-06-01"
    assert sent["anthropic-beta"] == "context-1m-2025-08-07,interleaved-thinking-2025-05-14"


async def test_body(upstream: respx.MockRouter) -> None:
    route = upstream.post(URL).respond(json=MESSAGE)
    await send(backend(default_max_tokens=321), chat())
    body = json.loads(route.calls.last.request.content)
    assert body == {
        "model": "claude-up",
        "max_tokens": 321,
        "messages": [{"role": "user", "content": "hi"}],
    }


async def test_json_response(upstream: respx.MockRouter) -> None:
    upstream.post(URL).respond(json=MESSAGE)
    events = await send(backend(), chat())
    assert events == [
        ResponseStart(id="msg_1", model="claude-up"),
        TextDelta(text="Hello"),
        Usage(input_tokens=5, output_tokens=1),
        Finish(reason="stop"),
    ]


async def test_stream(upstream: respx.MockRouter) -> None:
    route = upstream.post(URL).mock(return_value=sse_response(STREAM))
    events = await send(backend(), chat(stream=True))
    assert json.loads(route.calls.last.request.content)["stream"] is True
    assert events == [
        ResponseStart(id="msg_1", model="claude-up"),
        TextDelta(text="Hi"),
        Usage(input_tokens=5, output_tokens=2),
        Finish(reason="stop"),
    ]


async def test_stream_is_read_to_its_end(upstream: respx.MockRouter) -> None:
    tail = b': trailing comment\n\nevent: ping\ndata: {"type":"ping"}\n\n'
    upstream.post(URL).mock(return_value=sse_response(STREAM + tail))
    events = await send(backend(), chat(stream=True))
    assert events[-1] == Finish(reason="stop")


async def test_mid_stream_error_event(upstream: respx.MockRouter) -> None:
    body = sse(
        {"type": "message_start", "message": {"id": "m", "model": "x"}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    upstream.post(URL).mock(return_value=sse_response(body))
    events = await send(backend(), chat(stream=True))
    assert events[-1] == ErrorEvent(status=529, code="overloaded_error", message="Overloaded")


async def test_invalid_json_in_stream(upstream: respx.MockRouter) -> None:
    upstream.post(URL).mock(return_value=sse_response(b"event: message_start\ndata: {nope\n\n"))
    events = await send(backend(), chat(stream=True))
    assert isinstance(events[-1], ErrorEvent) and events[-1].code == "upstream_invalid_json"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (529, "overloaded_error"),
    ],
)
async def test_errors_keep_their_status(
    upstream: respx.MockRouter, status: int, kind: str, stream: bool
) -> None:
    error = {"type": "error", "error": {"type": kind, "message": f"{kind} happened"}}
    upstream.post(URL).respond(status, json=error)
    with pytest.raises(UpstreamError) as caught:
        await send(backend(), chat(stream=stream))
    assert (caught.value.status, caught.value.code) == (status, kind)
    assert caught.value.message == f"{kind} happened"


async def test_timeout_is_504(upstream: respx.MockRouter) -> None:
    upstream.post(URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(UpstreamUnavailable) as caught:
        await send(backend(timeout_secs=1), chat())
    assert caught.value.status == 504


async def test_connect_error_is_502(upstream: respx.MockRouter) -> None:
    upstream.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(UpstreamUnavailable) as caught:
        await send(backend(), chat(stream=True))
    assert caught.value.status == 502


def test_timeouts_come_from_the_config() -> None:
    connector = backend(timeout_secs=7, connect_timeout_secs=2)
    assert connector.timeout == httpx.Timeout(7, connect=2)


async def test_count_tokens(upstream: respx.MockRouter) -> None:
    route = upstream.post(f"{BASE}/v1/messages/count_tokens").respond(json={"input_tokens": 42})
    request = chat(stream=True, forward_headers={"anthropic-beta": "token-counting-2024-11-01"})
    async with httpx.AsyncClient(verify=TLS) as http:
        assert await backend(api_key="k").count_tokens(request, "claude-up", http) == 42
    sent = route.calls.last.request
    assert json.loads(sent.content) == {
        "model": "claude-up",
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert sent.headers["anthropic-beta"] == "token-counting-2024-11-01"
    assert sent.headers["x-api-key"] == "k"


async def test_a_request_without_messages_is_not_sent_to_be_counted(
    upstream: respx.MockRouter,
) -> None:
    request = chat().model_copy(update={"messages": []})
    async with httpx.AsyncClient(verify=TLS) as http:  # respx refuses any call not mocked
        assert await backend(api_key="k").count_tokens(request, "claude-up", http) is None
    assert not upstream.calls
