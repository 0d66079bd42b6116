"""The OpenAI SDK's Responses API, sync and async, streaming and not, through the proxy.

Upstream is the fake Chat Completions provider (or the built-in mock), so these tests also
show the Responses front-end in front of a backend of another protocol.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from tests.support.fake_openai import (
    FakeProvider,
    HttpError,
    StreamError,
    Text,
    ToolCall,
    ToolCalls,
    Usage,
)
from tests.support.proxy import Proxy
from tests.support.sdk import Flavour

STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
TERMINAL = {"response.completed", "response.incomplete", "response.failed"}

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@dataclass
class Reply:
    """What a client got: the final response, and the events when it streamed."""

    response: Response
    events: list[ResponseStreamEvent]


class Ask:
    """`responses.create(**params)` with one flavour of client, read to its end."""

    def __init__(self, client: openai.OpenAI | None, aclient: openai.AsyncOpenAI | None) -> None:
        self.client = client
        self.aclient = aclient

    @staticmethod
    def _reply(events: list[ResponseStreamEvent]) -> Reply:
        terminal = [e for e in events if e.type in TERMINAL]
        assert len(terminal) == 1, [e.type for e in events]
        assert [e.sequence_number for e in events] == list(range(len(events)))
        final = terminal[0]
        assert final.type in TERMINAL
        return Reply(final.response, events)  # type: ignore[union-attr]

    async def __call__(self, *, stream: bool = False, **params: Any) -> Reply:
        if self.aclient is not None:
            if stream:
                events = [
                    e async for e in await self.aclient.responses.create(stream=True, **params)
                ]
                return self._reply(events)
            return Reply(await self.aclient.responses.create(**params), [])
        client = self.client
        assert client is not None

        def call() -> Reply:
            if stream:
                with client.responses.create(stream=True, **params) as events:
                    return self._reply(list(events))
            return Reply(client.responses.create(**params), [])

        return await asyncio.to_thread(call)


@pytest.fixture
def ask(
    flavour: Flavour,
    served: Proxy,
    connect: Callable[..., openai.OpenAI],
    aconnect: Callable[..., openai.AsyncOpenAI],
) -> Ask:
    """Ask the proxy serving FAKE_ROUTES with this test's client flavour."""
    if flavour == "sync":
        return Ask(connect(served), None)
    return Ask(None, aconnect(served))


@STREAM
async def test_text_with_instructions(ask: Ask, fake: FakeProvider, stream: bool) -> None:
    fake.script(Text("The quick brown fox.", chunks=4, usage=Usage(20, 5, cached_tokens=8)))

    reply = await ask(
        model="fake-large", instructions="Be terse.", input="A sentence?", stream=stream
    )

    response = reply.response
    assert response.output_text == "The quick brown fox."
    assert response.status == "completed"
    assert response.id.startswith("resp_")
    assert response.object == "response"
    assert response.instructions == "Be terse."
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (20, 5)
    assert response.usage.total_tokens == 25
    assert response.usage.input_tokens_details.cached_tokens == 8
    assert fake.last.messages == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "A sentence?"},
    ]
    assert fake.last.json.get("stream", False) is stream
    if stream:
        deltas = [e.delta for e in reply.events if e.type == "response.output_text.delta"]
        assert deltas == ["The q", "uick ", "brown", " fox."]


def test_stream_helper_assembles_the_final_response(
    client: openai.OpenAI, fake: FakeProvider
) -> None:
    fake.script(Text("one two three", chunks=3))

    with client.responses.stream(model="fake-large", input="count") as stream:
        texts = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()

    assert "".join(texts) == "one two three"
    assert final.output_text == "one two three"
    assert final.output[0].type == "message"


@STREAM
async def test_settings_reach_the_upstream(ask: Ask, fake: FakeProvider, stream: bool) -> None:
    await ask(
        model="fake-large",
        input="hi",
        temperature=0.3,
        top_p=0.8,
        max_output_tokens=99,
        reasoning={"effort": "low"},
        text={"format": {"type": "json_object"}},
        parallel_tool_calls=False,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "name": "get_weather"},
        stream=stream,
    )

    sent = fake.last.json
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"]) == (0.3, 0.8, 99)
    assert sent["reasoning_effort"] == "low"
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["parallel_tool_calls"] is False
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


@STREAM
async def test_function_call_round_trip(ask: Ask, fake: FakeProvider, stream: bool) -> None:
    fake.script(
        ToolCalls(
            ToolCall("get_weather", '{"city": "Paris"}', id="call_w1", cuts=(5,)),
            ToolCall("get_weather", '{"city": "Oslo"}', id="call_w2"),
            interleave=True,
        ),
        Text("Paris 18C, Oslo 4C."),
    )

    first = await ask(model="fake-large", input="Weather?", tools=[WEATHER_TOOL], stream=stream)

    calls = [o for o in first.response.output if o.type == "function_call"]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [
        ("call_w1", "get_weather", '{"city": "Paris"}'),
        ("call_w2", "get_weather", '{"city": "Oslo"}'),
    ]
    second = await ask(
        model="fake-large",
        input=[
            {"role": "user", "content": "Weather?"},
            *(c.model_dump(exclude_none=True) for c in calls),
            {"type": "function_call_output", "call_id": "call_w1", "output": "18C"},
            {"type": "function_call_output", "call_id": "call_w2", "output": "4C"},
        ],
        tools=[WEATHER_TOOL],
        stream=stream,
    )

    assert second.response.output_text == "Paris 18C, Oslo 4C."
    messages = fake.last.messages
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["call_w1", "call_w2"]
    assert [(m["tool_call_id"], m["content"]) for m in messages[2:]] == [
        ("call_w1", "18C"),
        ("call_w2", "4C"),
    ]


PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch"
APPLY_PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Apply a patch to the workspace.",
    "format": {"type": "grammar", "syntax": "lark", "definition": "start: /(.|\\n)+/"},
}


@STREAM
async def test_freeform_custom_tool_round_trip(ask: Ask, fake: FakeProvider, stream: bool) -> None:
    fake.script(
        ToolCalls(ToolCall("apply_patch", json.dumps({"input": PATCH}), id="call_p1", cuts=(9,))),
        Text("Patched."),
    )

    first = await ask(model="fake-large", input="Add hello.txt", tools=[APPLY_PATCH], stream=stream)

    [call] = first.response.output
    assert (call.type, call.call_id, call.name, call.input) == (  # type: ignore[union-attr]
        "custom_tool_call",
        "call_p1",
        "apply_patch",
        PATCH,
    )
    [offered] = fake.last.json["tools"]
    assert offered["function"]["name"] == "apply_patch"
    assert offered["function"]["parameters"]["required"] == ["input"]
    assert "lark grammar" in offered["function"]["description"]

    second = await ask(
        model="fake-large",
        input=[
            {"role": "user", "content": "Add hello.txt"},
            call.model_dump(exclude_none=True),
            {"type": "custom_tool_call_output", "call_id": "call_p1", "output": "Done!"},
        ],
        tools=[APPLY_PATCH],
        stream=stream,
    )

    assert second.response.output_text == "Patched."
    messages = fake.last.messages
    assert json.loads(messages[1]["tool_calls"][0]["function"]["arguments"]) == {"input": PATCH}
    assert (messages[2]["tool_call_id"], messages[2]["content"]) == ("call_p1", "Done!")


@STREAM
async def test_previous_response_id_continues_the_conversation(
    ask: Ask, fake: FakeProvider, stream: bool
) -> None:
    fake.script(Text("Hi Ada."), Text("Your name is Ada."))

    first = await ask(
        model="fake-large", instructions="Old rules.", input="I am Ada.", stream=stream
    )
    second = await ask(
        model="fake-large",
        instructions="New rules.",
        input="What is my name?",
        previous_response_id=first.response.id,
        stream=stream,
    )

    assert second.response.output_text == "Your name is Ada."
    assert second.response.previous_response_id == first.response.id
    # The earlier instructions are not carried over, as with OpenAI.
    assert fake.last.messages == [
        {"role": "system", "content": "New rules."},
        {"role": "user", "content": "I am Ada."},
        {"role": "assistant", "content": "Hi Ada."},
        {"role": "user", "content": "What is my name?"},
    ]


@STREAM
async def test_tool_output_after_previous_response(
    ask: Ask, fake: FakeProvider, stream: bool
) -> None:
    fake.script(ToolCalls(ToolCall("get_weather", '{"city": "Rome"}', id="call_r")), Text("Warm."))

    first = await ask(model="fake-large", input="Rome?", tools=[WEATHER_TOOL], stream=stream)
    await ask(
        model="fake-large",
        previous_response_id=first.response.id,
        input=[{"type": "function_call_output", "call_id": "call_r", "output": "25C"}],
        tools=[WEATHER_TOOL],
        stream=stream,
    )

    messages = fake.last.messages
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[1]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Rome"}',
    }
    assert messages[2] == {"role": "tool", "tool_call_id": "call_r", "content": "25C"}


async def test_mock_backend_tool_round_trip(ask: Ask) -> None:
    first = await ask(
        model="mock:mock-1", input='call get_weather {"city": "Paris"}', tools=[WEATHER_TOOL]
    )
    (call,) = [o for o in first.response.output if o.type == "function_call"]
    assert json.loads(call.arguments) == {"city": "Paris"}

    second = await ask(
        model="mock:mock-1",
        previous_response_id=first.response.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )

    assert second.response.output_text == "Tool get_weather returned: sunny"


@STREAM
async def test_unknown_previous_response_is_not_found(ask: Ask, stream: bool) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await ask(model="fake-large", input="x", previous_response_id="resp_nope", stream=stream)

    assert "resp_nope" in caught.value.message
    assert caught.value.body["param"] == "previous_response_id"  # type: ignore[index]


async def test_store_false_is_not_kept(ask: Ask) -> None:
    first = await ask(model="mock:mock-1", input="secret", store=False)

    assert first.response.store is False
    with pytest.raises(openai.NotFoundError):
        await ask(model="mock:mock-1", input="x", previous_response_id=first.response.id)


def test_retrieve_and_delete_a_stored_response(client: openai.OpenAI) -> None:
    created = client.responses.create(model="mock:mock-1", input="keep me")

    fetched = client.responses.retrieve(created.id)
    assert fetched.output_text == created.output_text == "You said: keep me"
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created.id)


async def test_length_is_incomplete(ask: Ask, fake: FakeProvider) -> None:
    fake.script(Text("Once upon", finish_reason="length"))

    reply = await ask(model="fake-large", input="story", max_output_tokens=2, stream=True)

    assert reply.events[-1].type == "response.incomplete"
    assert reply.response.status == "incomplete"
    assert reply.response.incomplete_details is not None
    assert reply.response.incomplete_details.reason == "max_output_tokens"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
    ],
)
@STREAM
async def test_upstream_errors_map_to_sdk_errors(
    ask: Ask, fake: FakeProvider, status: int, error: type[openai.APIStatusError], stream: bool
) -> None:
    fake.script(HttpError(status, f"upstream says {status}", code="some_code"))

    with pytest.raises(error) as caught:
        await ask(model="fake-large", input="x", stream=stream)

    assert caught.value.status_code == status
    assert f"upstream says {status}" in caught.value.message


@STREAM
def test_what_a_chat_backend_cannot_carry_is_dropped_with_a_note(
    served: Proxy, fake: FakeProvider, stream: bool
) -> None:
    # Codex's defaults: a hosted web search and a namespace of function tools.
    body = {
        "model": "fake-large",
        "stream": stream,
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "look"}]},
            {"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]},
        ],
        "tools": [
            {"type": "web_search", "external_web_access": False},
            {
                "type": "namespace",
                "name": "multi_agent_v1",
                "description": "Sub-agents.",
                "tools": [{"type": "function", "name": "spawn_agent", "parameters": {}}],
            },
        ],
        "prompt_cache_key": "thread-1",
        "client_metadata": {"session_id": "s"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
    }
    response = httpx.post(
        f"{served.url}/responses", json=body, headers={"authorization": "Bearer k"}
    )

    assert response.status_code == 200, response.text
    assert response.headers["x-engine-dropped"] == (
        "input_image block, web_search tool, client_metadata"
    )
    upstream = fake.last.json
    assert [t["function"]["name"] for t in upstream["tools"]] == ["multi_agent_v1__spawn_agent"]
    assert upstream["prompt_cache_key"] == "thread-1"  # Chat Completions has it too
    assert upstream["messages"] == [{"role": "user", "content": "look"}]


async def test_error_mid_stream_fails_the_response(ask: Ask, fake: FakeProvider) -> None:
    fake.script(StreamError("Half of it", "Something broke upstream."))

    reply = await ask(model="fake-large", input="x", stream=True)

    assert reply.events[-1].type == "response.failed"
    assert reply.response.status == "failed"
    assert reply.response.error is not None
    assert "Something broke upstream." in reply.response.error.message
    assert (
        "".join(e.delta for e in reply.events if e.type == "response.output_text.delta")
        == "Half of it"
    )


async def test_failed_stream_is_not_stored(ask: Ask, fake: FakeProvider) -> None:
    fake.script(StreamError("Half", "broke"))

    reply = await ask(model="fake-large", input="x", stream=True)

    with pytest.raises(openai.NotFoundError):
        await ask(model="fake-large", input="y", previous_response_id=reply.response.id)


def test_stream_helper_reports_a_failed_response(client: openai.OpenAI, fake: FakeProvider) -> None:
    fake.script(StreamError("Half", "broke"))

    with client.responses.stream(model="fake-large", input="x") as stream:
        types = [e.type for e in stream]
        with pytest.raises(RuntimeError, match=r"response\.completed"):
            stream.get_final_response()

    assert types[-1] == "response.failed"


def test_malformed_body_is_a_400_in_openai_shape(served: Proxy) -> None:
    response = httpx.post(
        f"{served.url}/responses", content=b"{not json", headers={"authorization": "Bearer k"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_retrieve_unknown_is_a_404_in_openai_shape(served: Proxy) -> None:
    response = httpx.get(f"{served.url}/responses/resp_missing")

    assert response.status_code == 404
    assert "resp_missing" in response.json()["error"]["message"]


async def test_error_before_any_output_is_an_http_error(ask: Ask, fake: FakeProvider) -> None:
    fake.script(StreamError("", "Overloaded before the first token.", code="overloaded"))

    with pytest.raises(openai.InternalServerError) as caught:
        await ask(model="fake-large", input="x", stream=True)

    assert "Overloaded before the first token." in caught.value.message


@STREAM
async def test_in_chat_commands_answer_in_the_responses_shape(
    ask: Ask, fake: FakeProvider, stream: bool
) -> None:
    reply = await ask(model="fake-large", input="!/help", stream=stream)

    assert reply.response.status == "completed"
    assert "Commands:" in reply.response.output_text
    assert fake.requests == []


@STREAM
async def test_a_failing_store_does_not_cost_the_answer(
    ask: Ask, served: Proxy, monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    async def broken(stored: object) -> None:
        raise RuntimeError("the store is down")

    monkeypatch.setattr(served.server.responses, "put", broken)

    reply = await ask(model="mock:mock-1", input="still here", stream=stream)

    assert reply.response.output_text == "You said: still here"
    assert reply.response.status == "completed"
