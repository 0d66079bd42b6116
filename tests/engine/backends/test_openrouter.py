"""The OpenRouter connector, against a respx-mocked upstream."""

from __future__ import annotations

import json
import ssl
from typing import Any

import httpx
import pytest
import respx

from engine.backends import KINDS
from engine.backends.openrouter import OpenRouterBackend, OpenRouterConfig
from engine.model import (
    ChatRequest,
    Event,
    Finish,
    Message,
    Reasoning,
    ReasoningDelta,
    ReasoningPart,
    ResponseStart,
    TextDelta,
    TextPart,
    ToolCallPart,
    Usage,
)
from engine.response import aiter_events, collect
from engine.testing import user

URL = "https://openrouter.ai/api/v1/chat/completions"
TLS = ssl.create_default_context()


def backend(**config: Any) -> OpenRouterBackend:
    return OpenRouterBackend("or", OpenRouterConfig(api_key="or-key", **config))


def chat(*, stream: bool = False, **fields: Any) -> ChatRequest:
    return ChatRequest(model="client", messages=[user("hi")], stream=stream, **fields)


async def send(connector: OpenRouterBackend, request: ChatRequest) -> list[Event]:
    async with httpx.AsyncClient(verify=TLS) as http:
        return [e async for e in connector.send(request, "anthropic/claude-sonnet-4.5", http)]


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "gen-1",
        "object": "chat.completion.chunk",
        "created": 7,
        "model": "anthropic/claude-sonnet-4.5",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def sse(*chunks: dict[str, Any] | str) -> httpx.Response:
    body = b"".join(
        f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n".encode() for c in chunks
    )
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def test_registered_with_openrouter_defaults() -> None:
    assert KINDS["openrouter"] is OpenRouterBackend
    connector = OpenRouterBackend("or", OpenRouterConfig())
    assert connector.url == URL
    assert connector.max_tokens_field == "max_tokens"


@respx.mock
async def test_attribution_headers_and_key() -> None:
    route = respx.post(URL).respond(json={"choices": [{"message": {"content": "ok"}}]})

    await send(backend(app_url="https://app.example", app_name="Engine Tests"), chat())

    headers = route.calls.last.request.headers
    assert headers["authorization"] == "Bearer or-key"
    assert headers["http-referer"] == "https://app.example"
    assert headers["x-title"] == "Engine Tests"


@respx.mock
async def test_explicit_headers_win_and_no_attribution_by_default() -> None:
    route = respx.post(URL).respond(json={"choices": [{"message": {"content": "ok"}}]})

    await send(backend(app_name="Named", headers={"X-Title": "Mine"}), chat())
    assert route.calls.last.request.headers["x-title"] == "Mine"

    await send(backend(), chat())
    assert "http-referer" not in route.calls.last.request.headers
    assert "x-title" not in route.calls.last.request.headers


@pytest.mark.parametrize(
    ("reasoning", "expected"),
    [
        (Reasoning(effort="high"), {"effort": "high"}),
        (Reasoning(budget_tokens=2048), {"max_tokens": 2048}),
        (Reasoning(effort="low", budget_tokens=512), {"max_tokens": 512}),
        (None, None),
    ],
)
@respx.mock
async def test_reasoning_request_field(
    reasoning: Reasoning | None, expected: dict[str, Any] | None
) -> None:
    route = respx.post(URL).respond(json={"choices": [{"message": {"content": "ok"}}]})

    await send(backend(), chat(reasoning=reasoning))

    body = json.loads(route.calls.last.request.content)
    assert "reasoning_effort" not in body
    assert body.get("reasoning") == expected


@respx.mock
async def test_assistant_reasoning_goes_back_as_details() -> None:
    route = respx.post(URL).respond(json={"choices": [{"message": {"content": "ok"}}]})
    request = ChatRequest(
        model="m",
        messages=[
            user("weather?"),
            Message(
                role="assistant",
                content=[
                    ReasoningPart(text="Look it up.", signature="sig-1"),
                    ReasoningPart(signature="opaque", redacted=True),
                    ToolCallPart(id="c1", name="weather", arguments="{}"),
                ],
            ),
            Message(role="assistant", content=[TextPart(text="plain")]),
        ],
    )

    await send(backend(), request)

    messages = json.loads(route.calls.last.request.content)["messages"]
    assert messages[1]["reasoning_details"] == [
        {"type": "reasoning.text", "text": "Look it up.", "signature": "sig-1"},
        {"type": "reasoning.encrypted", "data": "opaque"},
    ]
    assert messages[1]["tool_calls"][0]["id"] == "c1"
    assert "reasoning_details" not in messages[2]


@respx.mock
async def test_unsigned_reasoning_goes_back_once_as_details_and_top_k_is_kept() -> None:
    route = respx.post(URL).respond(json={"choices": [{"message": {"content": "ok"}}]})
    request = ChatRequest(
        model="m",
        messages=[
            user("weather?"),
            Message(
                role="assistant",
                content=[
                    ReasoningPart(text="Call it."),
                    ToolCallPart(id="c1", name="weather", arguments="{}"),
                ],
            ),
        ],
        sampling={"top_k": 20},
    )

    await send(backend(), request)

    sent = json.loads(route.calls.last.request.content)
    assert sent["top_k"] == 20
    assert sent["messages"][1]["reasoning_details"] == [
        {"type": "reasoning.text", "text": "Call it."}
    ]
    assert "reasoning_content" not in sent["messages"][1]


@respx.mock
async def test_streamed_parallel_calls_without_index_stay_apart() -> None:
    call_a = {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    call_b = {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}}
    respx.post(URL).mock(
        return_value=sse(
            chunk({"tool_calls": [call_a]}),
            chunk({"tool_calls": [call_b]}),
            chunk({}, "stop"),
            "[DONE]",
        )
    )

    response = await collect(aiter_events(await send(backend(), chat(stream=True))))

    assert [(c.id, c.name) for c in response.tool_calls] == [("a", "f"), ("b", "g")]
    assert response.finish_reason == "tool_calls"


@respx.mock
async def test_streamed_reasoning_text() -> None:
    respx.post(URL).mock(
        return_value=sse(
            chunk({"role": "assistant", "content": "", "reasoning": "Thinking"}),
            chunk({"content": "", "reasoning": " hard."}),
            chunk({"content": "Done"}, "stop"),
            "[DONE]",
        )
    )

    events = await send(backend(), chat(stream=True))

    assert events == [
        ResponseStart(id="gen-1", model="anthropic/claude-sonnet-4.5", created=7),
        ReasoningDelta(text="Thinking"),
        ReasoningDelta(text=" hard."),
        TextDelta(text="Done"),
        Finish(reason="stop"),
    ]


@respx.mock
async def test_streamed_reasoning_details_replace_the_text_copy() -> None:
    text = {"type": "reasoning.text", "text": "Step one.", "format": "anthropic-claude-v1"}
    signed = {"type": "reasoning.text", "text": "", "signature": "sig-9"}
    encrypted = {"type": "reasoning.encrypted", "data": "blob"}
    respx.post(URL).mock(
        return_value=sse(
            chunk({"role": "assistant", "reasoning": "Step one.", "reasoning_details": [text]}),
            chunk({"reasoning": "", "reasoning_details": [signed, encrypted]}),
            chunk({"content": "Answer"}, "stop"),
            {**chunk({}), "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}},
            "[DONE]",
        )
    )

    events = await send(backend(), chat(stream=True))

    assert events[1:] == [
        ReasoningDelta(text="Step one."),
        ReasoningDelta(text="", signature="sig-9"),
        ReasoningDelta(signature="blob", redacted=True),
        TextDelta(text="Answer"),
        Usage(input_tokens=3, output_tokens=4),
        Finish(reason="stop"),
    ]
    response = await collect(aiter_events(events))
    assert response.content[:2] == [
        ReasoningPart(text="Step one.", signature="sig-9"),
        ReasoningPart(signature="blob", redacted=True),
    ]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"content": "A", "reasoning": "why"}, [ReasoningDelta(text="why")]),
        ({"content": "A", "reasoning_content": "why"}, [ReasoningDelta(text="why")]),
        (
            {
                "content": "A",
                "reasoning": "plain copy",
                "reasoning_details": [{"type": "reasoning.summary", "summary": "short"}],
            },
            [ReasoningDelta(text="short")],
        ),
        ({"content": "A"}, []),
    ],
)
@respx.mock
async def test_whole_response_reasoning(
    message: dict[str, Any], expected: list[ReasoningDelta]
) -> None:
    respx.post(URL).respond(
        json={
            "id": "gen-2",
            "created": 1,
            "model": "m",
            "choices": [{"message": {"role": "assistant", **message}, "finish_reason": "stop"}],
        }
    )

    events = await send(backend(), chat())

    assert events == [
        ResponseStart(id="gen-2", model="m", created=1),
        *expected,
        TextDelta(text="A"),
        Finish(reason="stop"),
    ]
