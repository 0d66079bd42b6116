"""The OpenAI SDK through the proxy to a Gemini backend (the fake Gemini API)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import openai
import pytest

from tests.conftest import ProxyFactory
from tests.support.fake_gemini import (
    FakeGemini,
    FunctionCall,
    FunctionCalls,
    HttpError,
    StreamError,
    Text,
    Thoughts,
    Usage,
)
from tests.support.proxy import Proxy
from tests.support.sdk import CLIENT_KEY, Chat, ask

STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])

ROUTES = """\
version: 1
backends:
  gem:
    kind: gemini
    base_url: "${GEMINI_URL}"
    api_key: gemini-upstream-key
    models: [gemini-up]
routes:
  - name: default
    backend: {targets: [gem]}
"""

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
def gemini_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGemini]:
    """A fake Gemini API; routing files reach it as `${GEMINI_URL}`."""
    with FakeGemini() as fake:
        monkeypatch.setenv("GEMINI_URL", fake.url)
        yield fake


@pytest.fixture
def served(proxy: ProxyFactory, gemini_fake: FakeGemini) -> Proxy:
    """The proxy with only the fake Gemini behind it."""
    return proxy(ROUTES)


@pytest.fixture
def chat(served: Proxy, chat_for: Callable[..., Chat]) -> Chat:
    """Ask the proxy with this test's OpenAI client flavour."""
    return chat_for(served)


@STREAM
async def test_text_sampling_and_system(chat: Chat, gemini_fake: FakeGemini, stream: bool) -> None:
    reply = gemini_fake.script(Text("Blue, mostly.", chunks=3, usage=Usage(prompt=9, candidates=4)))

    answer = await chat(
        model="gemini-2.5-flash",
        messages=[{"role": "system", "content": "Be terse."}, *ask("Sky colour?")],
        temperature=0.5,
        max_tokens=20,
        stop=["END"],
        stream=stream,
        stream_options={"include_usage": True} if stream else openai.NOT_GIVEN,
    )

    assert (answer.text, answer.finish_reason) == (reply.text, "stop")
    assert answer.model == "gemini-2.5-flash"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (9, 4)
    recorded = gemini_fake.last
    assert recorded.model == "gemini-2.5-flash"
    assert recorded.headers["x-goog-api-key"] == "gemini-upstream-key"
    assert CLIENT_KEY not in json.dumps(recorded.headers)
    assert recorded.json == {
        "contents": [{"role": "user", "parts": [{"text": "Sky colour?"}]}],
        "systemInstruction": {"parts": [{"text": "Be terse."}]},
        "generationConfig": {"temperature": 0.5, "maxOutputTokens": 20, "stopSequences": ["END"]},
    }


@STREAM
async def test_parallel_calls_and_the_tool_result_round_trip(
    chat: Chat, gemini_fake: FakeGemini, stream: bool
) -> None:
    gemini_fake.script(
        FunctionCalls(
            FunctionCall("get_weather", {"city": "Oslo"}),
            FunctionCall("get_weather", {"city": "Lima"}),
            signature="c2ln",
        )
    )
    question = ask("Weather in Oslo and Lima?")

    first = await chat(model="gemini-up", messages=question, tools=[WEATHER_TOOL], stream=stream)

    assert first.finish_reason == "tool_calls"
    assert [(c.name, json.loads(c.arguments)) for c in first.calls] == [
        ("get_weather", {"city": "Oslo"}),
        ("get_weather", {"city": "Lima"}),
    ]
    ids = [c.id for c in first.calls]
    assert len(set(ids)) == 2 and all(ids)
    assert gemini_fake.last.json["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "parametersJsonSchema": WEATHER_TOOL["function"]["parameters"],
                }  # type: ignore[index]
            ]
        }
    ]

    gemini_fake.script(Text("Cold and warm."))
    history = [
        *question,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in first.calls
            ],
        },
        {"role": "tool", "tool_call_id": ids[1], "content": "25C"},
        {"role": "tool", "tool_call_id": ids[0], "content": '{"celsius": -3}'},
    ]
    second = await chat(model="gemini-up", messages=history, tools=[WEATHER_TOOL], stream=stream)

    assert second.text == "Cold and warm."
    contents = gemini_fake.last.contents
    # An OpenAI client cannot carry Gemini's signature: the first call gets the documented
    # stand-in, which Gemini 3 accepts for calls it did not make itself.
    assert contents[1] == {
        "role": "model",
        "parts": [
            {
                "functionCall": {"name": "get_weather", "args": {"city": "Oslo"}},
                "thoughtSignature": "skip_thought_signature_validator",
            },
            {"functionCall": {"name": "get_weather", "args": {"city": "Lima"}}},
        ],
    }
    assert contents[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"output": "25C"}}},
            {"functionResponse": {"name": "get_weather", "response": {"celsius": -3}}},
        ],
    }


@STREAM
async def test_thoughts_become_reasoning_and_effort_a_thinking_config(
    chat: Chat, gemini_fake: FakeGemini, stream: bool
) -> None:
    gemini_fake.script(Thoughts(["Divide by small primes."], "Yes.", signature="c2ln"))

    answer = await chat(
        model="gemini-up",
        messages=ask("Is 1009 prime?"),
        reasoning_effort="high",
        stream=stream,
        stream_options={"include_usage": True} if stream else openai.NOT_GIVEN,
    )

    assert answer.text == "Yes."
    assert answer.usage.completion_tokens_details.reasoning_tokens == 40
    assert answer.usage.completion_tokens == 47
    assert gemini_fake.last.json["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 24576,
        "includeThoughts": True,
    }


@STREAM
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (403, openai.PermissionDeniedError),
        (429, openai.RateLimitError),
        (503, openai.InternalServerError),
    ],
)
async def test_gemini_errors_keep_their_status(
    chat: Chat,
    gemini_fake: FakeGemini,
    stream: bool,
    status: int,
    error: type[openai.APIStatusError],
) -> None:
    gemini_fake.script(HttpError(status, f"gemini says {status}"))

    with pytest.raises(error) as caught:
        await chat(model="gemini-up", messages=ask("hi"), stream=stream)

    assert caught.value.status_code == status
    assert f"gemini says {status}" in str(caught.value)


async def test_mid_stream_error_reaches_the_openai_client(
    served: Proxy, connect: Callable[..., openai.OpenAI], gemini_fake: FakeGemini
) -> None:
    gemini_fake.script(StreamError("Once upon a time", "overloaded"))
    client = connect(served)

    stream = client.chat.completions.create(model="gemini-up", messages=ask("story"), stream=True)
    received: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.extend(c.delta.content or "" for c in chunk.choices)

    assert "".join(received) == "Once upon a time"
    assert "overloaded" in str(caught.value)
