"""The OpenAI SDK, sync and async, streaming and not, through the proxy to the fake provider."""

from __future__ import annotations

import json

import openai
import pytest
from openai.types.chat import ChatCompletionUserMessageParam

from tests.support.fake_openai import FakeProvider, Text, ToolCall, ToolCalls, Usage
from tests.support.sdk import CLIENT_KEY, Chat
from tests.support.streams import aassemble, assemble

STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    },
}


def user(text: str) -> ChatCompletionUserMessageParam:
    return {"role": "user", "content": text}


@STREAM
async def test_plain_text(chat: Chat, fake: FakeProvider, stream: bool) -> None:
    reply = fake.script(Text("The quick brown fox jumps over the lazy dog.", chunks=4))

    answer = await chat(model="gpt-fake", messages=[user("Tell me a sentence")], stream=stream)

    assert answer.text == reply.text
    assert answer.finish_reason == "stop"
    assert answer.calls == []
    assert answer.model == "gpt-fake"
    assert fake.last.model == "gpt-fake"
    assert fake.last.messages == [user("Tell me a sentence")]
    assert fake.last.json.get("stream", False) is stream


def test_streamed_text_arrives_in_the_upstream_pieces(
    client: openai.OpenAI, fake: FakeProvider
) -> None:
    reply = fake.script(Text("one two three four five", chunks=5))

    with client.chat.completions.create(
        model="gpt-fake", messages=[user("count")], stream=True
    ) as stream:
        assembled = assemble(stream)

    contents = [c.choices[0].delta.content for c in assembled.chunks if c.choices]
    assert [c for c in contents if c] == reply.pieces
    assert assembled.roles == ["assistant"]
    assert len({c.id for c in assembled.chunks}) == 1


@STREAM
async def test_multibyte_text_cut_at_odd_byte_boundaries(
    chat: Chat, fake: FakeProvider, stream: bool
) -> None:
    # The fake writes its body 3 bytes at a time, cutting UTF-8 characters and SSE lines.
    reply = fake.script(Text("Grüße aus Zürich ☃ — 東京 🚀 ok", chunks=5, write_size=3))

    answer = await chat(model="gpt-fake", messages=[user("greet")], stream=stream)

    assert answer.text == reply.text


@STREAM
async def test_system_prompt_reaches_upstream(chat: Chat, fake: FakeProvider, stream: bool) -> None:
    system = {"role": "system", "content": "You are terse. Answer in one word."}

    await chat(model="gpt-fake", messages=[system, user("Sky colour?")], stream=stream)

    assert fake.last.messages == [system, user("Sky colour?")]


@STREAM
async def test_sampling_parameters_reach_upstream(
    chat: Chat, fake: FakeProvider, stream: bool
) -> None:
    params = {
        "temperature": 0.25,
        "top_p": 0.5,
        "max_tokens": 42,
        "stop": ["END", "\n\n"],
        "seed": 7,
        "presence_penalty": 0.1,
        "frequency_penalty": -0.2,
    }

    await chat(model="gpt-fake", messages=[user("hi")], stream=stream, **params)

    sent = fake.last.json
    assert {key: sent.get(key) for key in params} == params


async def test_upstream_gets_the_backend_key_not_the_clients(
    chat: Chat, fake: FakeProvider
) -> None:
    await chat(model="gpt-fake", messages=[user("hi")])

    assert fake.last.headers["authorization"] == "Bearer upstream-key"
    assert CLIENT_KEY not in json.dumps(fake.last.headers)


@STREAM
async def test_single_tool_call(chat: Chat, fake: FakeProvider, stream: bool) -> None:
    call = ToolCall("get_weather", '{"city": "Paris", "unit": "C"}', cuts=(5, 17))
    fake.script(ToolCalls(call))

    answer = await chat(
        model="gpt-fake", messages=[user("Weather in Paris?")], tools=[WEATHER_TOOL], stream=stream
    )

    assert answer.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in answer.calls] == [
        (call.id, call.name, call.arguments)
    ]
    assert fake.last.json["tools"] == [WEATHER_TOOL]


@STREAM
@pytest.mark.parametrize("interleave", [False, True], ids=["in-turn", "interleaved"])
async def test_parallel_tool_calls(
    chat: Chat, fake: FakeProvider, stream: bool, interleave: bool
) -> None:
    calls = (
        ToolCall("get_weather", '{"city": "Oslo"}', cuts=(3, 9)),
        ToolCall("get_time", '{"zone": "Europe/Oslo"}', cuts=(1, 2, 12)),
        ToolCall("get_weather", '{"city": "Lima", "unit": "F"}', cuts=(20,)),
    )
    fake.script(ToolCalls(*calls, interleave=interleave))

    answer = await chat(
        model="gpt-fake",
        messages=[user("Weather and time in Oslo, weather in Lima")],
        tools=[WEATHER_TOOL, TIME_TOOL],
        parallel_tool_calls=True,
        stream=stream,
    )

    assert [(c.id, c.name, c.arguments) for c in answer.calls] == [
        (c.id, c.name, c.arguments) for c in calls
    ]
    assert all(json.loads(c.arguments) for c in answer.calls)
    assert fake.last.json["parallel_tool_calls"] is True


@pytest.mark.parametrize("write_size", [None, 3, 7], ids=["whole-chunks", "3-byte", "7-byte"])
async def test_tool_arguments_split_everywhere_are_reassembled_exactly(
    chat: Chat, fake: FakeProvider, write_size: int | None
) -> None:
    # Every character its own delta, escapes, quotes and non-ASCII included.
    arguments = json.dumps(
        {"path": 'C:\\tmp\\"quoted".txt', "text": "naïve café ☕ 𝄞", "n": [1, 2.5, None, True]},
        ensure_ascii=False,
    )
    call = ToolCall("write_file", arguments, cuts=tuple(range(1, len(arguments))))
    fake.script(ToolCalls(call, content="Writing it now.", write_size=write_size))

    answer = await chat(
        model="gpt-fake",
        messages=[user("save it")],
        tools=[{"type": "function", "function": {"name": "write_file", "parameters": {}}}],
        stream=True,
    )

    assert answer.text == "Writing it now."
    assert [c.arguments for c in answer.calls] == [arguments]
    assert json.loads(answer.calls[0].arguments) == json.loads(arguments)


@STREAM
async def test_tool_result_round_trip(chat: Chat, fake: FakeProvider, stream: bool) -> None:
    call = ToolCall("get_weather", '{"city": "Rome"}')
    fake.script(ToolCalls(call))
    question = user("Weather in Rome?")
    first = await chat(model="gpt-fake", messages=[question], tools=[WEATHER_TOOL], stream=stream)
    [made] = first.calls
    reply = fake.script(Text("It is sunny in Rome, 24°C."))
    history = [
        question,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": made.id,
                    "type": "function",
                    "function": {"name": made.name, "arguments": made.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": made.id, "content": '{"sky": "sunny", "celsius": 24}'},
    ]

    second = await chat(model="gpt-fake", messages=history, tools=[WEATHER_TOOL], stream=stream)

    assert second.text == reply.text
    sent = fake.last.messages
    assert sent[1]["tool_calls"] == history[1]["tool_calls"]
    assert sent[1].get("content") in (None, "")
    assert sent[2] == history[2]


def test_include_usage_gives_a_final_usage_chunk(client: openai.OpenAI, fake: FakeProvider) -> None:
    usage = Usage(prompt_tokens=123, completion_tokens=45, cached_tokens=6, reasoning_tokens=7)
    fake.script(Text("counted", usage=usage))

    stream = client.chat.completions.create(
        model="gpt-fake",
        messages=[user("count tokens")],
        stream=True,
        stream_options={"include_usage": True},
    )
    assembled = assemble(stream)

    last = assembled.chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.prompt_tokens + usage.completion_tokens,
    )
    assert last.usage.prompt_tokens_details is not None
    assert last.usage.prompt_tokens_details.cached_tokens == usage.cached_tokens
    assert last.usage.completion_tokens_details is not None
    assert last.usage.completion_tokens_details.reasoning_tokens == usage.reasoning_tokens
    assert [c for c in assembled.chunks[:-1] if c.usage is not None] == []


async def test_no_usage_chunk_unless_asked(aclient: openai.AsyncOpenAI, fake: FakeProvider) -> None:
    fake.script(Text("no usage here"))

    stream = await aclient.chat.completions.create(
        model="gpt-fake", messages=[user("hi")], stream=True
    )
    assembled = await aassemble(stream)

    assert assembled.text == "no usage here"
    assert all(c.usage is None and c.choices for c in assembled.chunks)
    # The proxy still asks the upstream for usage, for its own accounting.
    assert fake.last.json["stream_options"] == {"include_usage": True}


async def test_usage_without_streaming(chat: Chat, fake: FakeProvider) -> None:
    usage = Usage(prompt_tokens=31, completion_tokens=9)
    fake.script(Text("done", usage=usage))

    answer = await chat(model="gpt-fake", messages=[user("hi")])

    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (31, 9)
    assert answer.usage.total_tokens == 40


@STREAM
async def test_finish_reason_length_passes_through(
    chat: Chat, fake: FakeProvider, stream: bool
) -> None:
    fake.script(Text("cut off mid", finish_reason="length"))

    answer = await chat(model="gpt-fake", messages=[user("go on")], max_tokens=3, stream=stream)

    assert (answer.text, answer.finish_reason) == ("cut off mid", "length")


async def test_unmodelled_fields_reach_an_openai_upstream(chat: Chat, fake: FakeProvider) -> None:
    await chat(
        model="gpt-fake",
        messages=[user("hi")],
        user="end-user-17",
        logit_bias={"50256": -100},
        response_format={"type": "json_object"},
        metadata={"team": "search"},
    )

    sent = fake.last.json
    assert sent["user"] == "end-user-17"
    assert sent["logit_bias"] == {"50256": -100}
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["metadata"] == {"team": "search"}
