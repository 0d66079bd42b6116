"""The offline mock backend: echo, fixed reply, tool calls, tool results, usage."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from engine.backends import KINDS
from engine.backends.mock import MockBackend, MockConfig
from engine.model import (
    ChatRequest,
    Event,
    Finish,
    Message,
    ResponseStart,
    TextDelta,
    TextPart,
    Tool,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolResultPart,
    Usage,
)
from engine.response import aiter_events, collect
from engine.testing import assistant, user


def _no_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected HTTP call: {request.method} {request.url}")


def offline_client() -> httpx.AsyncClient:
    """A client that fails any request: these backends must not use the network."""
    return httpx.AsyncClient(transport=httpx.MockTransport(_no_network))


TOOLS = [Tool(name="get_weather"), Tool(name="fs.read")]


def mock(**config: Any) -> MockBackend:
    return MockBackend("demo", MockConfig(**config))


async def events_of(
    request: ChatRequest, backend: MockBackend | None = None, model: str = "mock-1"
) -> list[Event]:
    async with offline_client() as http:
        return [e async for e in (backend or mock()).send(request, model, http)]


async def reply(request: ChatRequest, **config: Any) -> str:
    return (await collect(aiter_events(await events_of(request, mock(**config))))).text


def tool_result(call_id: str, text: str, name: str | None = None) -> Message:
    return Message(
        role="tool",
        content=[ToolResultPart(tool_call_id=call_id, name=name, content=[TextPart(text=text)])],
    )


@pytest.mark.parametrize(
    ("messages", "config", "expected"),
    [
        pytest.param([user("hello there")], {}, "You said: hello there", id="echo"),
        pytest.param(
            [user("first"), assistant("ok"), user("second")], {}, "You said: second", id="last-user"
        ),
        pytest.param([user("hi")], {"reply": "Fixed."}, "Fixed.", id="fixed-reply"),
        pytest.param([], {}, "Hello from the mock backend.", id="no-messages"),
        pytest.param(
            [user("call get_weather {}")],
            {},
            "You said: call get_weather {}",
            id="no-tools-no-call",
        ),
        pytest.param(
            [user("w"), tool_result("call_1", "18C")],
            {},
            "Tool call_1 returned: 18C",
            id="tool-result-by-id",
        ),
        pytest.param(
            [user("w"), tool_result("call_1", "18C", name="get_weather")],
            {},
            "Tool get_weather returned: 18C",
            id="tool-result-by-name",
        ),
        pytest.param(
            # Claude Code: its reminders, then the prompt, as parts of one turn.
            [
                Message(
                    role="user",
                    content=[
                        TextPart(
                            text="<system-reminder>\nRules, kilobytes of them.\n</system-reminder>"
                        ),
                        TextPart(text="hi"),
                    ],
                )
            ],
            {},
            "You said: hi",
            id="agent-context-parts",
        ),
        pytest.param(
            # Codex: its environment as a user turn of its own before the prompt.
            [user("<environment_context>\n  <cwd>/w</cwd>\n</environment_context>"), user("hi")],
            {},
            "You said: hi",
            id="agent-context-turn",
        ),
        pytest.param(
            [user("<b>bold</b>")], {}, "You said: <b>bold</b>", id="only-a-tagged-part-is-typed"
        ),
    ],
)
async def test_text_replies(messages: list[Message], config: dict[str, Any], expected: str) -> None:
    assert await reply(ChatRequest(model="m", messages=messages), **config) == expected


@pytest.mark.parametrize(
    ("text", "calls"),
    [
        pytest.param(
            'call get_weather {"city": "Paris"}',
            [("get_weather", '{"city": "Paris"}')],
            id="one-call",
        ),
        pytest.param("call get_weather", [("get_weather", "{}")], id="no-arguments"),
        pytest.param(
            'call get_weather {"city": "Paris"}\ncall fs.read {"path": "a.txt"}',
            [("get_weather", '{"city": "Paris"}'), ("fs.read", '{"path": "a.txt"}')],
            id="parallel-lines",
        ),
        pytest.param(
            "please\n  call get_weather {}  \nthanks",
            [("get_weather", "{}")],
            id="among-other-lines",
        ),
        pytest.param(
            "call delete_all {}\ncall get_weather {}",
            [("get_weather", "{}")],
            id="unoffered-tool-ignored",
        ),
    ],
)
async def test_tool_calls(text: str, calls: list[tuple[str, str]]) -> None:
    request = ChatRequest(model="m", messages=[user(text)], tools=TOOLS)
    events = await events_of(request)
    response = await collect(aiter_events(events))
    assert [(c.name, c.arguments) for c in response.tool_calls] == calls
    assert response.text == ""
    assert response.finish_reason == "tool_calls"
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [s.index for s in starts] == list(range(len(calls)))
    assert len({s.id for s in starts}) == len(calls)


async def test_a_call_line_in_a_part_after_the_agents_context_is_found() -> None:
    text = "<system-reminder>\ncall get_weather is documented here\n</system-reminder>"
    turn = Message(
        role="user",
        content=[TextPart(text=text), TextPart(text='call get_weather {"city": "Oslo"}')],
    )
    response = await collect(
        aiter_events(await events_of(ChatRequest(model="m", messages=[turn], tools=TOOLS)))
    )
    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        ("get_weather", '{"city": "Oslo"}')
    ]


async def test_a_call_is_made_when_a_system_turn_follows_the_users() -> None:
    # Claude Code sends its environment as a system turn after the user's prompt.
    request = ChatRequest(
        model="m",
        messages=[
            user("call get_weather {}"),
            Message(role="system", content=[TextPart(text="env")]),
        ],
        tools=TOOLS,
    )
    response = await collect(aiter_events(await events_of(request)))
    assert [c.name for c in response.tool_calls] == ["get_weather"]


async def test_unoffered_tool_only_echoes() -> None:
    request = ChatRequest(model="m", messages=[user("call nope {}")], tools=TOOLS)
    assert await reply(request) == "You said: call nope {}"


async def test_no_call_after_the_assistant_answered() -> None:
    request = ChatRequest(
        model="m",
        messages=[
            user("call get_weather {}"),
            Message(role="assistant", content=[ToolCallPart(id="c", name="get_weather")]),
            tool_result("c", "sunny"),
        ],
        tools=TOOLS,
    )
    assert await reply(request) == "Tool c returned: sunny"


async def test_streaming_event_order() -> None:
    events = await events_of(ChatRequest(model="m", messages=[user("a b")], stream=True), model="x")
    start = events[0]
    assert isinstance(start, ResponseStart)
    assert start.model == "x"
    assert start.id.startswith("mock-")
    assert events[1:] == [
        TextDelta(text="You "),
        TextDelta(text="said: "),
        TextDelta(text="a "),
        TextDelta(text="b"),
        Usage(input_tokens=1, output_tokens=3),
        Finish(reason="stop"),
    ]


async def test_tool_call_event_order() -> None:
    events = await events_of(
        ChatRequest(model="m", messages=[user("call fs.read {}")], tools=TOOLS)
    )
    assert [type(e) for e in events] == [
        ResponseStart,
        ToolCallStart,
        ToolCallDelta,
        ToolCallEnd,
        Usage,
        Finish,
    ]


@pytest.mark.parametrize(
    ("system", "text", "usage"),
    [
        ("", "x" * 40, Usage(input_tokens=10, output_tokens=12)),
        ("s" * 8, "x" * 40, Usage(input_tokens=12, output_tokens=12)),
        ("", "", Usage(input_tokens=1, output_tokens=7)),
    ],
)
async def test_usage_is_four_characters_a_token(system: str, text: str, usage: Usage) -> None:
    request = ChatRequest(
        model="m",
        system=[TextPart(text=system)] if system else [],
        messages=[user(text)] if text else [],
    )
    response = await collect(aiter_events(await events_of(request)))
    assert response.usage == usage


def test_models_and_kind() -> None:
    assert KINDS["mock"] is MockBackend
    assert mock().models() == ["mock-1"]
    assert mock(models=["a", "b"]).models() == ["a", "b"]


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        ({"type": "json_object"}, {"reply": "You said: hi"}),
        (
            {
                "type": "json_schema",
                "json_schema": {
                    "name": "route",
                    # Gemini CLI's model router, upper-case types and all
                    "schema": {
                        "type": "OBJECT",
                        "properties": {
                            "complexity_reasoning": {"type": "STRING"},
                            "complexity_score": {"type": "INTEGER"},
                        },
                        "required": ["complexity_reasoning", "complexity_score"],
                    },
                },
            },
            {"complexity_reasoning": "You said: hi", "complexity_score": 1},
        ),
        (
            {
                "type": "json_schema",
                "json_schema": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "kind": {"enum": ["a", "b"]},
                            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                            "done": {"type": ["boolean", "null"]},
                            "n": {"type": "number", "minimum": 5},
                        },
                    }
                },
            },
            {"kind": "a", "tags": ["You said: hi"], "done": False, "n": 5},
        ),
        (
            {
                "type": "json_schema",
                "json_schema": {
                    # pydantic's shape for nested models; boolean subschemas; a huge minItems
                    "schema": {
                        "$defs": {"Step": {"properties": {"say": {"type": "string"}}}},
                        "properties": {
                            "steps": {
                                "type": "array",
                                "items": {"$ref": "#/$defs/Step"},
                                "minItems": 10**9,
                            },
                            "anything": True,
                            "either": {"anyOf": [True]},
                            "lost": {"$ref": "#/$defs/Missing"},
                        },
                    }
                },
            },
            {
                "steps": [{"say": "You said: hi"}] * 3,
                "anything": "You said: hi",
                "either": "You said: hi",
                "lost": "You said: hi",
            },
        ),
        ({"type": "json_schema", "json_schema": "not an object"}, "You said: hi"),
    ],
)
async def test_structured_output_is_json_that_fits(
    response_format: dict[str, Any], expected: Any
) -> None:
    request = ChatRequest(model="m", messages=[user("hi")], response_format=response_format)
    assert json.loads(await reply(request)) == expected
