"""The OpenAI-compatible connector, against a respx-mocked upstream."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from engine.backends.openai import OpenAIBackend, OpenAIConfig
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

BASE = "https://llm.example.test/v1"
URL = f"{BASE}/chat/completions"
TLS = ssl.create_default_context()  # built once: each new client would load the CA bundle


def backend(**config: Any) -> OpenAIBackend:
    return OpenAIBackend("up", OpenAIConfig(**{"base_url": BASE, **config}))


def chat(*, stream: bool = False, **fields: Any) -> ChatRequest:
    return ChatRequest(model="client-model", messages=[user("hi")], stream=stream, **fields)


async def send(
    connector: OpenAIBackend, request: ChatRequest, model: str = "upstream-model"
) -> list[Event]:
    async with httpx.AsyncClient(verify=TLS) as http:
        return [event async for event in connector.send(request, model, http)]


def sse(*chunks: dict[str, Any] | str) -> bytes:
    return b"".join(
        f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n".encode() for c in chunks
    )


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 11,
        "model": "upstream-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 11,
    "model": "upstream-model",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}


def sse_response(content: bytes) -> httpx.Response:
    return httpx.Response(200, content=content, headers={"content-type": "text/event-stream"})


@pytest.fixture
def upstream() -> Iterator[respx.MockRouter]:
    """The mocked provider; every route a test declares must be called."""
    with respx.mock(assert_all_called=True) as router:
        yield router


# --- the request we send ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        (BASE, URL),
        (f"{BASE}/", URL),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/chat/completions"),
        ("https://openrouter.ai/api/v1//", "https://openrouter.ai/api/v1/chat/completions"),
    ],
)
async def test_url_from_base_url(upstream: respx.MockRouter, base_url: str, url: str) -> None:
    upstream.post(url).respond(json=COMPLETION)
    events = await send(backend(base_url=base_url), chat())
    assert events[0] == ResponseStart(id="chatcmpl-1", model="upstream-model", created=11)


async def test_headers(upstream: respx.MockRouter) -> None:
    route = upstream.post(URL).respond(json=COMPLETION)
    await send(backend(api_key="sk-test", headers={"x-org": "o1", "HTTP-Referer": "me"}), chat())
    sent = route.calls.last.request.headers
    assert sent["authorization"] == "Bearer sk-test"
    assert sent["x-org"] == "o1"
    assert sent["http-referer"] == "me"
    assert sent["content-type"] == "application/json"


async def test_no_api_key_no_authorization(upstream: respx.MockRouter) -> None:
    route = upstream.post(URL).respond(json=COMPLETION)
    await send(backend(), chat())
    assert "authorization" not in route.calls.last.request.headers


async def test_timeouts_from_config(upstream: respx.MockRouter) -> None:
    route = upstream.post(URL).respond(json=COMPLETION)
    await send(backend(timeout_secs=30, connect_timeout_secs=2), chat())
    timeout = route.calls.last.request.extensions["timeout"]
    assert (timeout["read"], timeout["connect"]) == (30, 2)


@pytest.mark.parametrize(
    ("stream", "expected_stream_keys"),
    [(False, {}), (True, {"stream": True, "stream_options": {"include_usage": True}})],
)
async def test_body_shape(
    upstream: respx.MockRouter, stream: bool, expected_stream_keys: dict[str, Any]
) -> None:
    content = sse(chunk({"content": "x"}, "stop"), "[DONE]")
    route = upstream.post(URL).mock(
        return_value=sse_response(content) if stream else httpx.Response(200, json=COMPLETION)
    )
    await send(backend(), chat(stream=stream, extra={"openai_chat": {"user": "u-1"}}))
    sent = json.loads(route.calls.last.request.content)
    assert sent == {
        "user": "u-1",
        "model": "upstream-model",
        "messages": [{"role": "user", "content": "hi"}],
        **expected_stream_keys,
    }


@pytest.mark.parametrize(
    ("config", "field"),
    [
        pytest.param({}, "max_tokens", id="compatible-server-default"),
        pytest.param(
            {"base_url": "https://api.openai.com/v1"}, "max_completion_tokens", id="openai-default"
        ),
        pytest.param(
            {"max_tokens_field": "max_completion_tokens"}, "max_completion_tokens", id="configured"
        ),
    ],
)
async def test_output_limit_field(
    upstream: respx.MockRouter, config: dict[str, Any], field: str
) -> None:
    connector = backend(**config)
    route = upstream.post(connector.url).mock(return_value=httpx.Response(200, json=COMPLETION))
    await send(connector, chat(sampling={"max_tokens": 42}))
    sent = json.loads(route.calls.last.request.content)
    assert sent[field] == 42
    assert not ({"max_tokens", "max_completion_tokens"} - {field}) & sent.keys()


@pytest.mark.parametrize(
    ("config", "sends_top_k"),
    [
        pytest.param({}, True, id="compatible-server"),
        pytest.param({"base_url": "http://127.0.0.1:8000/v1"}, True, id="vllm"),
        pytest.param({"base_url": "https://openrouter.ai/api/v1"}, True, id="openrouter-url"),
        pytest.param({"base_url": "https://api.openai.com/v1"}, False, id="openai"),
    ],
)
async def test_top_k_only_for_servers_that_take_it(
    upstream: respx.MockRouter, config: dict[str, Any], sends_top_k: bool
) -> None:
    connector = backend(**config)
    route = upstream.post(connector.url).mock(return_value=httpx.Response(200, json=COMPLETION))
    await send(connector, chat(sampling={"top_k": 40, "temperature": 0.2}))
    sent = json.loads(route.calls.last.request.content)
    assert ("top_k" in sent) is sends_top_k
    assert sent.get("top_k", 40) == 40
    assert sent["temperature"] == 0.2


# --- decoding what comes back ----------------------------------------------------------------


async def test_non_streaming_decode(upstream: respx.MockRouter) -> None:
    upstream.post(URL).respond(json=COMPLETION)
    assert await send(backend(), chat()) == [
        ResponseStart(id="chatcmpl-1", model="upstream-model", created=11),
        TextDelta(text="Hello"),
        Usage(input_tokens=5, output_tokens=1),
        Finish(reason="stop"),
    ]


async def test_sse_decode(upstream: respx.MockRouter) -> None:
    content = sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "He"}),
        chunk({"content": "llo"}),
        chunk(
            {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}]}
        ),
        chunk({}, "tool_calls"),
        {"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}},
        "[DONE]",
    )
    upstream.post(URL).mock(return_value=sse_response(b": keep-alive\n\n" + content))
    assert await send(backend(), chat(stream=True)) == [
        ResponseStart(id="chatcmpl-1", model="upstream-model", created=11),
        TextDelta(text="He"),
        TextDelta(text="llo"),
        ToolCallStart(index=0, id="c1", name="f"),
        ToolCallDelta(index=0, arguments="{}"),
        ToolCallEnd(index=0),
        Usage(input_tokens=5, output_tokens=3),
        Finish(reason="tool_calls"),
    ]


async def test_nothing_after_done_is_read(upstream: respx.MockRouter) -> None:
    content = sse(chunk({"content": "a"}, "stop"), "[DONE]", chunk({"content": "ignored"}))
    upstream.post(URL).mock(return_value=sse_response(content))
    events = await send(backend(), chat(stream=True))
    assert TextDelta(text="ignored") not in events
    assert events[-1] == Finish(reason="stop")


async def test_invalid_json_chunk_is_an_error_event_and_ends_the_stream(
    upstream: respx.MockRouter,
) -> None:
    content = sse(chunk({"content": "a"}), "{not json", chunk({"content": "b"}, "stop"), "[DONE]")
    upstream.post(URL).mock(return_value=sse_response(content))
    events = await send(backend(), chat(stream=True))
    assert events[:2] == [
        ResponseStart(id="chatcmpl-1", model="upstream-model", created=11),
        TextDelta(text="a"),
    ]
    assert len(events) == 3
    last = events[-1]
    assert isinstance(last, ErrorEvent)
    assert (last.status, last.code) == (502, "upstream_invalid_json")
    assert "{not json" in last.message


async def test_error_chunk_ends_the_stream(upstream: respx.MockRouter) -> None:
    content = sse(
        chunk({"content": "a"}),
        {"error": {"message": "overloaded", "type": "server_error"}},
        chunk({"content": "never"}, "stop"),
    )
    upstream.post(URL).mock(return_value=sse_response(content))
    events = await send(backend(), chat(stream=True))
    assert events[-1] == ErrorEvent(code="server_error", message="overloaded")
    assert TextDelta(text="never") not in events


async def test_stream_closed_without_finish_is_an_error_event(upstream: respx.MockRouter) -> None:
    upstream.post(URL).mock(return_value=sse_response(sse(chunk({"content": "a"}))))
    last = (await send(backend(), chat(stream=True)))[-1]
    assert isinstance(last, ErrorEvent)
    assert last.code == "upstream_truncated"


async def test_invalid_json_body_is_an_upstream_error(upstream: respx.MockRouter) -> None:
    upstream.post(URL).respond(200, text="<html>ok</html>")
    with pytest.raises(UpstreamError) as caught:
        await send(backend(), chat())
    assert (caught.value.status, caught.value.code) == (502, "upstream_invalid_json")


# --- failures --------------------------------------------------------------------------------

ERROR_CASES = [
    pytest.param(
        400,
        {
            "error": {
                "message": "bad 'temperature'",
                "type": "invalid_request_error",
                "param": "temperature",
                "code": None,
            }
        },
        ("bad 'temperature'", "invalid_request_error", "temperature"),
        id="400",
    ),
    pytest.param(
        401,
        {"error": {"message": "Incorrect API key", "code": "invalid_api_key"}},
        ("Incorrect API key", "invalid_api_key", None),
        id="401",
    ),
    pytest.param(
        429,
        {
            "error": {
                "message": "Rate limit reached",
                "type": "requests",
                "code": "rate_limit_exceeded",
            }
        },
        ("Rate limit reached", "rate_limit_exceeded", None),
        id="429",
    ),
    pytest.param(
        500,
        {"error": {"message": "boom", "type": "server_error"}},
        ("boom", "server_error", None),
        id="500",
    ),
    pytest.param(
        503,
        "upstream connect error",
        ("upstream connect error", "upstream_error", None),
        id="503-text",
    ),
    pytest.param(502, "", ("upstream error 502", "upstream_error", None), id="502-empty"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(("status", "payload", "expected"), ERROR_CASES)
async def test_upstream_error_status_passes_through(
    upstream: respx.MockRouter,
    stream: bool,
    status: int,
    payload: Any,
    expected: tuple[str, str, str | None],
) -> None:
    if isinstance(payload, str):
        upstream.post(URL).respond(status, text=payload)
    else:
        upstream.post(URL).respond(status, json=payload)
    with pytest.raises(UpstreamError) as caught:
        await send(backend(), chat(stream=stream))
    error = caught.value
    assert (error.status, error.message, error.code, error.param) == (status, *expected)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (httpx.ConnectError("connection refused"), 502, "upstream_unreachable"),
        (httpx.RemoteProtocolError("peer closed"), 502, "upstream_unreachable"),
        (httpx.ConnectTimeout("connect timed out"), 504, "upstream_timeout"),
        (httpx.ReadTimeout("read timed out"), 504, "upstream_timeout"),
    ],
    ids=["connect-error", "protocol-error", "connect-timeout", "read-timeout"],
)
async def test_transport_failures(
    upstream: respx.MockRouter, stream: bool, exc: Exception, status: int, code: str
) -> None:
    upstream.post(URL).mock(side_effect=exc)
    with pytest.raises(UpstreamUnavailable) as caught:
        await send(backend(), chat(stream=stream))
    assert (caught.value.status, caught.value.code) == (status, code)
    assert URL in caught.value.message
    assert caught.value.__cause__ is exc


class _Body(httpx.AsyncByteStream):
    """A streamed body that fails or stops after its chunks, and records being closed."""

    def __init__(self, chunks: list[bytes], fail: Exception | None = None) -> None:
        self.chunks, self.fail, self.closed = chunks, fail, False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.chunks:
            yield piece
        if self.fail is not None:
            raise self.fail

    async def aclose(self) -> None:
        self.closed = True


async def test_timeout_mid_stream_is_504_after_the_first_events(upstream: respx.MockRouter) -> None:
    body = _Body([sse(chunk({"content": "a"}))], fail=httpx.ReadTimeout("stalled"))
    upstream.post(URL).mock(return_value=httpx.Response(200, stream=body))
    seen: list[Event] = []
    with pytest.raises(UpstreamUnavailable) as caught:
        async with httpx.AsyncClient(verify=TLS) as http:
            async for event in backend().send(chat(stream=True), "m", http):
                seen.append(event)
    assert caught.value.status == 504
    assert TextDelta(text="a") in seen
    assert body.closed


async def test_closing_the_event_stream_early_closes_the_upstream_response(
    upstream: respx.MockRouter,
) -> None:
    body = _Body([sse(chunk({"content": "a"})), sse(chunk({"content": "b"}, "stop"), "[DONE]")])
    upstream.post(URL).mock(return_value=httpx.Response(200, stream=body))
    async with httpx.AsyncClient(verify=TLS) as http:
        events = backend().send(chat(stream=True), "m", http)
        assert isinstance(await anext(events), ResponseStart)
        await events.aclose()
    assert body.closed


async def test_a_key_read_with_its_newline_is_sent_without_it(upstream: respx.MockRouter) -> None:
    route = upstream.post(URL).mock(return_value=httpx.Response(200, json=COMPLETION))

    await send(backend(api_key="sk-from-a-file-0123\n", headers={"x-team": " blue\r\n"}), chat())

    sent = route.calls.last.request.headers
    assert sent["authorization"] == "Bearer sk-from-a-file-0123" and sent["x-team"] == "blue"


async def test_an_upstream_echoing_the_key_it_refused_does_not_show_it_to_the_client(
    upstream: respx.MockRouter,
) -> None:
    message = "Incorrect API key provided: sk-echoed-0123456789abcdef. Check it."
    upstream.post(URL).mock(return_value=httpx.Response(401, json={"error": {"message": message}}))

    with pytest.raises(UpstreamError) as caught:
        await send(backend(api_key="sk-echoed-0123456789abcdef"), chat())

    assert caught.value.status == 401
    assert "sk-echoed" not in caught.value.message and "Incorrect API key" in caught.value.message


async def test_a_body_that_cannot_be_decoded_is_a_502(upstream: respx.MockRouter) -> None:
    upstream.post(URL).mock(
        return_value=httpx.Response(
            200, stream=httpx.ByteStream(b"this is not gzip"), headers={"content-encoding": "gzip"}
        )
    )

    with pytest.raises(UpstreamUnavailable) as caught:
        await send(backend(), chat())

    assert (caught.value.status, caught.value.code) == (502, "upstream_bad_answer")


async def test_a_configured_authorization_header_and_the_key_are_one_header(
    upstream: respx.MockRouter,
) -> None:
    route = upstream.post(URL).respond(json=COMPLETION)
    await send(backend(api_key="sk-test", headers={"Authorization": "Bearer other"}), chat())
    assert route.calls.last.request.headers.get_list("authorization") == ["Bearer sk-test"]


async def test_an_error_chunk_echoing_the_key_reaches_the_client_masked(
    upstream: respx.MockRouter,
) -> None:
    key = "sk-echoed-0123456789abcdef"
    content = sse({"error": {"message": f"key {key} revoked", "type": "invalid_request_error"}})
    upstream.post(URL).mock(return_value=sse_response(content))
    events = await send(backend(api_key=key), chat(stream=True))
    assert isinstance(events[-1], ErrorEvent) and key not in events[-1].message
