"""The OpenAI Responses connector, against a respx-mocked upstream."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from engine.backends.openai_responses import OpenAIResponsesBackend, OpenAIResponsesConfig
from engine.errors import UpstreamError, UpstreamUnavailable
from engine.model import (
    ChatRequest,
    ErrorEvent,
    Event,
    Finish,
    Message,
    ReasoningDelta,
    ReasoningPart,
    ResponseStart,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolResultPart,
    Usage,
)
from engine.notes import Dropped
from engine.testing import user

BASE = "https://responses.example.test/v1"
URL = f"{BASE}/responses"
TLS = ssl.create_default_context()

RESPONSE = {
    "id": "resp_up",
    "object": "response",
    "created_at": 1800000000,
    "status": "completed",
    "model": "gpt-up",
    "output": [
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Hello", "annotations": []}],
        }
    ],
    "usage": {
        "input_tokens": 9,
        "input_tokens_details": {"cached_tokens": 4},
        "output_tokens": 2,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 11,
    },
}


def backend(**config: Any) -> OpenAIResponsesBackend:
    settings = {"base_url": BASE, "api_key": "sk-up", **config}
    return OpenAIResponsesBackend("codex", OpenAIResponsesConfig(**settings))


def chat(*, stream: bool = False, **fields: Any) -> ChatRequest:
    return ChatRequest(
        **{"model": "client-model", "messages": [user("hi")], "stream": stream, **fields}
    )


async def send(
    connector: OpenAIResponsesBackend, request: ChatRequest, dropped: Dropped | None = None
) -> list[Event]:
    async with httpx.AsyncClient(verify=TLS) as http:
        return [event async for event in connector.send(request, "gpt-up", http, dropped)]


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(
        f"event: {e['type']}\ndata: {json.dumps({**e, 'sequence_number': i})}\n\n".encode()
        for i, e in enumerate(events)
    )


def sse_response(content: bytes, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=content, headers={"content-type": "text/event-stream"})


@pytest.fixture
def upstream() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def sent(upstream: respx.MockRouter) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(upstream.calls.last.request.content)
    return body


async def test_a_whole_response(upstream: respx.MockRouter) -> None:
    route = upstream.post(URL).mock(return_value=httpx.Response(200, json=RESPONSE))

    events = await send(backend(), chat())

    assert events == [
        ResponseStart(id="resp_up", model="gpt-up", created=1800000000),
        TextDelta(text="Hello"),
        Usage(input_tokens=9, output_tokens=2, cached_tokens=4),
        Finish(reason="stop"),
    ]
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer sk-up"
    body = sent(upstream)
    assert body["model"] == "gpt-up" and body["stream"] is False
    assert body["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    ]
    # The proxy keeps the conversation: nothing is stored upstream, reasoning travels.
    assert body["store"] is False and body["include"] == ["reasoning.encrypted_content"]


async def test_a_stream_with_reasoning_and_a_call(upstream: respx.MockRouter) -> None:
    call = {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f"}
    upstream.post(URL).mock(
        return_value=sse_response(
            sse(
                {"type": "response.created", "response": {"id": "resp_s", "model": "gpt-up"}},
                {
                    "type": "response.output_item.added",
                    "output_index": 0,
                    "item": {"id": "rs_1", "type": "reasoning", "summary": []},
                },
                {
                    "type": "response.reasoning_summary_text.delta",
                    "item_id": "rs_1",
                    "output_index": 0,
                    "summary_index": 0,
                    "delta": "Think.",
                },
                {
                    "type": "response.output_item.done",
                    "output_index": 0,
                    "item": {
                        "id": "rs_1",
                        "type": "reasoning",
                        "summary": [{"type": "summary_text", "text": "Think."}],
                        "encrypted_content": "ENC",
                    },
                },
                {
                    "type": "response.output_item.added",
                    "output_index": 1,
                    "item": {**call, "arguments": ""},
                },
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": "fc_1",
                    "output_index": 1,
                    "delta": '{"a":',
                },
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": "fc_1",
                    "output_index": 1,
                    "delta": "1}",
                },
                {
                    "type": "response.output_item.done",
                    "output_index": 1,
                    "item": {**call, "arguments": '{"a":1}'},
                },
                {
                    "type": "response.completed",
                    "response": {"id": "resp_s", "status": "completed", "usage": RESPONSE["usage"]},
                },
            )
        )
    )

    events = await send(backend(), chat(stream=True))

    assert events == [
        ResponseStart(id="resp_s", model="gpt-up"),
        ReasoningDelta(text="Think.", id="rs_1"),
        ReasoningDelta(signature="openai:rs_1:ENC", id="rs_1"),
        ToolCallStart(index=0, id="call_1", name="f"),
        ToolCallDelta(index=0, arguments='{"a":'),
        ToolCallDelta(index=0, arguments="1}"),
        ToolCallEnd(index=0),
        Usage(input_tokens=9, output_tokens=2, cached_tokens=4),
        Finish(reason="tool_calls"),
    ]


@pytest.mark.parametrize(
    "error",
    [
        {"type": "error", "code": "rate_limit_exceeded", "message": "slow down"},
        {
            "type": "error",
            "error": {"type": "tokens", "code": "rate_limit_exceeded", "message": "slow down"},
        },
    ],
    ids=["flat", "nested"],
)
async def test_an_error_event_in_either_shape_ends_the_stream(
    upstream: respx.MockRouter, error: dict[str, Any]
) -> None:
    start = {"type": "response.created", "response": {"id": "r", "model": "m"}}
    upstream.post(URL).mock(return_value=sse_response(sse(start, error)))

    events = await send(backend(), chat(stream=True))

    assert events[-1] == ErrorEvent(status=429, code="rate_limit_exceeded", message="slow down")


async def test_a_stream_without_its_terminal_event_is_an_error(upstream: respx.MockRouter) -> None:
    start = {"type": "response.created", "response": {"id": "r", "model": "m"}}
    upstream.post(URL).mock(return_value=sse_response(sse(start)))

    events = await send(backend(), chat(stream=True))

    assert isinstance(events[-1], ErrorEvent) and events[-1].code == "upstream_truncated"


async def test_an_incomplete_response_is_a_length_finish(upstream: respx.MockRouter) -> None:
    body = {
        **RESPONSE,
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
    }
    upstream.post(URL).mock(return_value=httpx.Response(200, json=body))

    events = await send(backend(), chat())

    assert events[-1] == Finish(reason="length")


async def test_an_error_status_passes_through_with_its_retry_after(
    upstream: respx.MockRouter,
) -> None:
    error = {"error": {"message": "Rate limit", "type": "requests", "param": None, "code": "rate"}}
    upstream.post(URL).mock(
        return_value=httpx.Response(429, json=error, headers={"retry-after": "3"})
    )

    with pytest.raises(UpstreamError) as caught:
        await send(backend(), chat(stream=True))

    assert (caught.value.status, caught.value.message) == (429, "Rate limit")
    assert caught.value.headers == {"retry-after": "3"}


async def test_an_unreachable_upstream_is_a_502(upstream: respx.MockRouter) -> None:
    upstream.post(URL).mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(UpstreamUnavailable) as caught:
        await send(backend(), chat())

    assert caught.value.status == 502


async def test_a_chat_clients_turns_as_items_with_only_openai_reasoning(
    upstream: respx.MockRouter,
) -> None:
    upstream.post(URL).mock(return_value=httpx.Response(200, json=RESPONSE))
    request = chat(
        messages=[
            user("what is in a.txt?"),
            Message(
                role="assistant",
                content=[
                    ReasoningPart(text="mine", signature="openai:ENC", id="rs_9"),
                    ReasoningPart(text="Claude's", signature="anthropic-signature"),
                    TextPart(text="Let me look."),
                    ToolCallPart(id="call_9", name="read", arguments='{"path":"a.txt"}'),
                ],
            ),
            Message(
                role="tool",
                content=[ToolResultPart(tool_call_id="call_9", content=[TextPart(text="hello")])],
            ),
            Message(role="system", content=[TextPart(text="Be brief.")]),
        ],
    )

    await send(backend(), request)

    assert sent(upstream)["input"][1:] == [
        {
            "id": "rs_9",
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "mine"}],
            "encrypted_content": "ENC",
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Let me look.", "annotations": []}],
        },
        {
            "type": "function_call",
            "call_id": "call_9",
            "name": "read",
            "arguments": '{"path":"a.txt"}',
        },
        {"type": "function_call_output", "call_id": "call_9", "output": "hello"},
        {
            "type": "message",
            "role": "developer",
            "content": [{"type": "input_text", "text": "Be brief."}],
        },
    ]


async def test_a_continuation_is_asked_of_the_upstream(upstream: respx.MockRouter) -> None:
    upstream.post(URL).mock(return_value=httpx.Response(200, json=RESPONSE))

    await send(backend(), chat(continuation="resp_held_upstream"))

    assert sent(upstream)["previous_response_id"] == "resp_held_upstream"


async def test_stop_sequences_are_dropped_with_a_note(upstream: respx.MockRouter) -> None:
    upstream.post(URL).mock(return_value=httpx.Response(200, json=RESPONSE))
    dropped = Dropped()

    await send(backend(), chat(sampling={"stop": ["END"]}), dropped)

    assert "stop" not in sent(upstream) and list(dropped) == ["stop"]
