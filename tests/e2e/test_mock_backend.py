"""The built-in mock backend, through the repository's own `routes/default.yaml`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import openai
import pytest

from tests.support.fake_openai import FakeProvider
from tests.support.proxy import Proxy
from tests.support.sdk import Chat, ask

ROUTES = Path(__file__).resolve().parents[2] / "routes"
STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TIME_TOOL = {"type": "function", "function": {"name": "get_time", "parameters": {}}}


@pytest.fixture
def default_proxy(proxy: Callable[..., Proxy]) -> Proxy:
    # Not watched: the tests must not depend on, or hold a watch on, the working tree.
    return proxy(routes_dir=ROUTES, watch=False)


@pytest.fixture
def mock_chat(default_proxy: Proxy, chat_for: Callable[..., Chat]) -> Chat:
    return chat_for(default_proxy)


@STREAM
async def test_echo(mock_chat: Chat, fake: FakeProvider, stream: bool) -> None:
    said = "Hello mock, how are you today?"

    answer = await mock_chat(model="any-model", messages=ask(said), stream=stream)

    assert answer.text == f"You said: {said}"
    assert answer.finish_reason == "stop"
    assert answer.model == "any-model"
    assert answer.usage is None or answer.usage.completion_tokens > 0
    assert fake.requests == [], "the default graph is offline"


def test_echo_streams_a_word_at_a_time(default_proxy: Proxy, connect: Callable[..., openai.OpenAI]):
    client = connect(default_proxy)
    said = "one two three"

    stream = client.chat.completions.create(
        model="m", messages=ask(said), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)

    words = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(words) == f"You said: {said}"
    assert len(words) == len(f"You said: {said}".split())
    assert chunks[-1].usage is not None and chunks[-1].choices == []


@STREAM
async def test_tool_call_when_asked_for_an_offered_tool(mock_chat: Chat, stream: bool) -> None:
    arguments = {"city": "Paris"}

    answer = await mock_chat(
        model="m",
        messages=ask(f"call get_weather {json.dumps(arguments)}"),
        tools=[WEATHER_TOOL],
        stream=stream,
    )

    assert answer.finish_reason == "tool_calls"
    assert [(c.name, json.loads(c.arguments)) for c in answer.calls] == [("get_weather", arguments)]
    assert answer.calls[0].id
    assert answer.text == ""


@STREAM
async def test_parallel_tool_calls(mock_chat: Chat, stream: bool) -> None:
    answer = await mock_chat(
        model="m",
        messages=ask('call get_weather {"city": "Oslo"}\ncall get_time'),
        tools=[WEATHER_TOOL, TIME_TOOL],
        stream=stream,
    )

    assert [(c.name, json.loads(c.arguments)) for c in answer.calls] == [
        ("get_weather", {"city": "Oslo"}),
        ("get_time", {}),
    ]
    assert len({c.id for c in answer.calls}) == 2


async def test_a_tool_not_offered_is_not_called(mock_chat: Chat) -> None:
    text = 'call delete_everything {"force": true}'

    answer = await mock_chat(model="m", messages=ask(text), tools=[WEATHER_TOOL])

    assert answer.calls == []
    assert answer.text == f"You said: {text}"


async def test_tool_result(mock_chat: Chat) -> None:
    messages = [
        *ask('call get_weather {"city": "Rome"}'),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 24C"},
    ]

    answer = await mock_chat(model="m", messages=messages, tools=[WEATHER_TOOL])

    assert answer.calls == []
    assert answer.text.endswith("returned: sunny, 24C")


async def test_fast_alias_goes_to_mock_1(mock_chat: Chat) -> None:
    answer = await mock_chat(model="fast", messages=ask("hi"))

    assert answer.model == "mock-1"
    assert answer.text == "You said: hi"


def test_models_include_the_mock(default_proxy: Proxy, connect: Callable[..., openai.OpenAI]):
    ids = [m.id for m in connect(default_proxy).models.list()]

    assert "mock:mock-1" in ids
    assert "fast" in ids


async def test_model_command_picks_the_mock_for_the_session(mock_chat: Chat) -> None:
    session = {"x-session-id": "mocking"}

    reply = await mock_chat(
        model="whatever", messages=ask("!/model(mock:mock-2)"), extra_headers=session
    )
    answer = await mock_chat(model="whatever", messages=ask("hi"), extra_headers=session)

    assert "mock:mock-2" in reply.text
    assert answer.model == "mock-2"
