"""The Anthropic SDK, sync and async, streaming and not, through the proxy's `/anthropic`
front-end to the mock backend, the fake OpenAI provider and the fake Anthropic provider;
and the OpenAI SDK through the proxy to the fake Anthropic provider."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import pytest
from anthropic.types import Message, MessageParam

from tests.support import fake_anthropic as fa
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_openai import FakeProvider, Text, ToolCall, ToolCalls
from tests.support.proxy import Proxy
from tests.support.sdk import CLIENT_KEY, SDK_TIMEOUT_SECS, Flavour

STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])

ROUTES = """\
version: 1
backends:
  fake:
    kind: openai
    base_url: "${FAKE_URL}/v1"
    api_key: upstream-key
    models: [fake-large]
  claude:
    kind: anthropic
    base_url: "${FAKE_ANTHROPIC_URL}"
    api_key: upstream-ant-key
    betas: [configured-beta-2025-01-01]
    models: [claude-fake-1, claude-fake-2]
  mock: {kind: mock}
routes:
  - name: claude
    match: {model: "claude-*"}
    request: [commands]
    backend: {targets: [claude]}
  - name: default
    match: {model: "*"}
    backend: {targets: [fake]}
"""

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def user(text: str) -> MessageParam:
    return {"role": "user", "content": text}


@pytest.fixture
def gateway(proxy: Callable[..., Proxy], fake_anthropic: FakeAnthropic) -> Proxy:
    """The proxy serving ROUTES."""
    return proxy(ROUTES)


@pytest.fixture
def sync_client(gateway: Proxy, tls: ssl.SSLContext) -> Iterator[anthropic.Anthropic]:
    """A synchronous Anthropic SDK client on the proxy."""
    with anthropic.Anthropic(
        base_url=f"{gateway.base_url}/anthropic",
        api_key=CLIENT_KEY,
        max_retries=0,
        timeout=SDK_TIMEOUT_SECS,
        http_client=anthropic.DefaultHttpxClient(verify=tls),
    ) as client:
        yield client


@pytest.fixture
async def async_client(
    gateway: Proxy, tls: ssl.SSLContext
) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """An asynchronous Anthropic SDK client on the proxy."""
    async with AsyncExitStack() as stack:
        client = anthropic.AsyncAnthropic(
            base_url=f"{gateway.base_url}/anthropic",
            api_key=CLIENT_KEY,
            max_retries=0,
            timeout=SDK_TIMEOUT_SECS,
            http_client=anthropic.DefaultAsyncHttpxClient(verify=tls),
        )
        stack.push_async_callback(client.close)
        yield client


@dataclass
class Claude:
    """Ask with one flavour of client; streams go through `messages.stream`."""

    client: anthropic.Anthropic | None = None
    aclient: anthropic.AsyncAnthropic | None = None

    async def __call__(self, *, stream: bool = False, **params: Any) -> Message:
        params.setdefault("max_tokens", 256)
        if self.aclient is not None:
            if stream:
                async with self.aclient.messages.stream(**params) as events:
                    return await events.get_final_message()
            return await self.aclient.messages.create(**params)
        client = self.client
        assert client is not None

        def call() -> Message:
            if stream:
                with client.messages.stream(**params) as events:
                    return events.get_final_message()
            return client.messages.create(**params)

        return await asyncio.to_thread(call)


@pytest.fixture
def claude(
    flavour: Flavour, sync_client: anthropic.Anthropic, async_client: anthropic.AsyncAnthropic
) -> Claude:
    """This test's flavour of Anthropic client on the proxy."""
    return Claude(client=sync_client) if flavour == "sync" else Claude(aclient=async_client)


def text_of(message: Message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


def tool_uses(message: Message) -> list[tuple[str, str, Any]]:
    return [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]


@STREAM
async def test_a_stage_answer_is_a_proper_anthropic_message(
    claude: Claude, fake_anthropic: FakeAnthropic, stream: bool
) -> None:
    message = await claude(model="claude-fake-1", messages=[user("!/help")], stream=stream)

    assert text_of(message).startswith("Commands:")
    assert message.stop_reason == "end_turn"
    assert fake_anthropic.requests == []


# --- (a) the mock backend ----------------------------------------------------------------------


@STREAM
async def test_mock_backend_text(claude: Claude, stream: bool) -> None:
    message = await claude(model="mock:mock-1", messages=[user("hello there")], stream=stream)

    assert text_of(message) == "You said: hello there"
    assert message.stop_reason == "end_turn"
    assert message.model == "mock-1"
    assert message.role == "assistant"
    assert message.usage.output_tokens > 0


@STREAM
async def test_mock_backend_tool_round_trip(claude: Claude, stream: bool) -> None:
    question = user('call get_weather {"city": "Oslo"}')
    first = await claude(model="mock:mock-1", messages=[question], tools=[WEATHER], stream=stream)

    assert first.stop_reason == "tool_use"
    [(call_id, name, arguments)] = tool_uses(first)
    assert (name, arguments) == ("get_weather", {"city": "Oslo"})

    second = await claude(
        model="mock:mock-1",
        messages=[
            question,
            {"role": "assistant", "content": first.content},  # type: ignore[typeddict-item]
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "sunny"}],
            },
        ],
        tools=[WEATHER],
        stream=stream,
    )
    assert text_of(second) == "Tool get_weather returned: sunny"


# --- (b) the fake OpenAI provider --------------------------------------------------------------


@STREAM
async def test_openai_backend_text_and_system(
    claude: Claude, fake: FakeProvider, stream: bool
) -> None:
    fake.script(Text("Bonjour tout le monde", chunks=4))

    message = await claude(
        model="gpt-x",
        system="Answer in French.",
        messages=[user("Hello world")],
        stop_sequences=["END"],
        extra_body={"temperature": 0.3},
        max_tokens=100,
        stream=stream,
    )

    assert text_of(message) == "Bonjour tout le monde"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 7)
    sent = fake.last.json
    assert sent["messages"] == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hello world"},
    ]
    assert (sent["temperature"], sent["stop"], sent["max_tokens"]) == (0.3, ["END"], 100)


@STREAM
@pytest.mark.parametrize("interleave", [False, True], ids=["in-turn", "interleaved"])
async def test_openai_backend_parallel_tool_calls(
    claude: Claude, fake: FakeProvider, stream: bool, interleave: bool
) -> None:
    calls = (
        ToolCall("get_weather", '{"city": "Oslo"}', cuts=(3, 9)),
        ToolCall("get_weather", '{"city": "Lima"}', cuts=(1, 12)),
    )
    fake.script(ToolCalls(*calls, content="Checking.", interleave=interleave))

    message = await claude(
        model="gpt-x", messages=[user("Oslo and Lima?")], tools=[WEATHER], stream=stream
    )

    assert message.stop_reason == "tool_use"
    assert text_of(message) == "Checking."
    assert tool_uses(message) == [(c.id, c.name, json.loads(c.arguments)) for c in calls]
    assert fake.last.json["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER["input_schema"],
                "description": WEATHER["description"],
            },
        }
    ]


async def test_openai_backend_tool_results_become_tool_messages(
    claude: Claude, fake: FakeProvider
) -> None:
    fake.script(Text("Done."))
    history: list[MessageParam] = [
        user("Weather?"),
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "A"}}
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "rain"},
                {"type": "text", "text": "Summarise."},
            ],
        },
    ]

    message = await claude(model="gpt-x", messages=history, tools=[WEATHER])

    assert text_of(message) == "Done."
    assert fake.last.messages[1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"A"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "rain"},
        {"role": "user", "content": "Summarise."},
    ]


def test_raw_stream_event_sequence(sync_client: anthropic.Anthropic, fake: FakeProvider) -> None:
    fake.script(ToolCalls(ToolCall("get_weather", '{"city": "Rome"}'), content="One moment."))

    events = list(
        sync_client.messages.create(
            model="gpt-x", max_tokens=50, messages=[user("Rome?")], tools=[WEATHER], stream=True
        )
    )

    kinds = [(e.type, getattr(e, "index", None)) for e in events]
    assert kinds == [
        ("message_start", None),
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
        ("content_block_stop", 1),
        ("message_delta", None),
        ("message_stop", None),
    ]


async def test_count_tokens_estimates_for_other_backends(
    async_client: anthropic.AsyncAnthropic, fake_anthropic: FakeAnthropic
) -> None:
    counted = await async_client.messages.count_tokens(
        model="gpt-x", system="x" * 40, messages=[user("y" * 80)]
    )

    assert counted.input_tokens == 30
    assert fake_anthropic.counted == []


# --- (c) the fake Anthropic provider -----------------------------------------------------------


@STREAM
async def test_anthropic_backend_text(
    claude: Claude, fake_anthropic: FakeAnthropic, stream: bool
) -> None:
    usage = fa.Usage(input_tokens=20, output_tokens=5, cache_read_input_tokens=100)
    fake_anthropic.script(fa.Reply(fa.Text("Hello from Claude", chunks=4), usage=usage))

    message = await claude(
        model="claude-fake-1",
        system=[{"type": "text", "text": "Be kind.", "cache_control": {"type": "ephemeral"}}],
        messages=[user("hi")],
        metadata={"user_id": "u-1"},
        stream=stream,
    )

    assert text_of(message) == "Hello from Claude"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 20
    assert message.usage.cache_read_input_tokens == 100
    assert message.usage.output_tokens == 5
    sent = fake_anthropic.last
    assert sent.json["system"] == [
        {"type": "text", "text": "Be kind.", "cache_control": {"type": "ephemeral"}}
    ]
    assert sent.json["metadata"] == {"user_id": "u-1"}
    assert sent.json["model"] == "claude-fake-1"
    assert sent.json.get("stream", False) is stream
    assert sent.headers["x-api-key"] == "upstream-ant-key"
    assert CLIENT_KEY not in json.dumps(sent.headers)


@STREAM
async def test_anthropic_backend_thinking_signatures_survive_the_round_trip(
    claude: Claude, fake_anthropic: FakeAnthropic, stream: bool
) -> None:
    thinking = fa.Thinking("Let me add: 2 + 2 = 4.", signature="sig-abc", chunks=3)
    redacted = fa.Thinking("", signature="encrypted-xyz", redacted=True)
    fake_anthropic.script(fa.Reply(thinking, redacted, fa.Text("4")))
    question = user("2 + 2?")

    first = await claude(
        model="claude-fake-1",
        messages=[question],
        thinking={"type": "enabled", "budget_tokens": 2000},
        max_tokens=4000,
        stream=stream,
    )

    assert [b.type for b in first.content] == ["thinking", "redacted_thinking", "text"]
    assert first.content[0].thinking == thinking.thinking  # type: ignore[union-attr]
    assert first.content[0].signature == "sig-abc"  # type: ignore[union-attr]
    assert first.content[1].data == "encrypted-xyz"  # type: ignore[union-attr]
    assert fake_anthropic.last.json["thinking"] == {"type": "enabled", "budget_tokens": 2000}

    await claude(
        model="claude-fake-1",
        messages=[
            question,
            {"role": "assistant", "content": first.content},  # type: ignore[typeddict-item]
            user("And 3 + 3?"),
        ],
        thinking={"type": "enabled", "budget_tokens": 2000},
        max_tokens=4000,
        stream=stream,
    )

    assert fake_anthropic.last.messages[1]["content"] == [
        {"type": "thinking", "thinking": thinking.thinking, "signature": "sig-abc"},
        {"type": "redacted_thinking", "data": "encrypted-xyz"},
        {"type": "text", "text": "4"},
    ]


@STREAM
async def test_anthropic_backend_parallel_tool_use_split_json(
    claude: Claude, fake_anthropic: FakeAnthropic, stream: bool
) -> None:
    arguments = json.dumps({"city": "Zürich", "note": 'say "hi" \\ ☃'}, ensure_ascii=False)
    calls = (
        fa.ToolUse("get_weather", arguments, cuts=tuple(range(1, len(arguments)))),
        fa.ToolUse("get_weather", '{"city": "Bern"}', cuts=(2, 5)),
    )
    fake_anthropic.script(fa.Reply(fa.Text("Looking."), *calls))

    message = await claude(
        model="claude-fake-2",
        messages=[user("Zürich and Bern?")],
        tools=[WEATHER],
        tool_choice={"type": "any"},
        stream=stream,
    )

    assert message.stop_reason == "tool_use"
    assert tool_uses(message) == [(c.id, c.name, json.loads(c.arguments)) for c in calls]
    sent = fake_anthropic.last.json
    assert sent["tools"] == [WEATHER]
    assert sent["tool_choice"] == {"type": "any"}


async def test_anthropic_backend_tool_result_round_trip(
    claude: Claude, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(fa.Reply(fa.Text("It rains.")))
    history: list[MessageParam] = [
        user("Weather?"),
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "A"}}
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "rain"}],
                    "is_error": True,
                },
                {"type": "text", "text": "Summarise.", "cache_control": {"type": "ephemeral"}},
            ],
        },
    ]

    message = await claude(model="claude-fake-1", messages=history, tools=[WEATHER])

    assert text_of(message) == "It rains."
    assert fake_anthropic.last.messages == [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "A"}}
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": "rain",
                    "is_error": True,
                },
                {"type": "text", "text": "Summarise.", "cache_control": {"type": "ephemeral"}},
            ],
        },
    ]


async def test_anthropic_headers_are_forwarded(
    sync_client: anthropic.Anthropic, fake_anthropic: FakeAnthropic
) -> None:
    await asyncio.to_thread(
        sync_client.beta.messages.create,
        model="claude-fake-1",
        max_tokens=10,
        messages=[user("hi")],
        betas=["interleaved-thinking-2025-05-14"],
    )

    headers = fake_anthropic.last.headers
    assert headers["anthropic-version"] == sync_client.default_headers["anthropic-version"]
    assert headers["anthropic-beta"] == "configured-beta-2025-01-01,interleaved-thinking-2025-05-14"


def test_bearer_token_clients_are_served(gateway: Proxy, fake_anthropic: FakeAnthropic) -> None:
    # Claude Code with ANTHROPIC_AUTH_TOKEN sends `Authorization: Bearer`, not `x-api-key`.
    with anthropic.Anthropic(
        base_url=f"{gateway.base_url}/anthropic", auth_token="tok", api_key=None, max_retries=0
    ) as client:
        message = client.messages.create(
            model="claude-fake-1", max_tokens=10, messages=[user("hi")]
        )
    assert text_of(message) == "claude-fake-1 heard: hi"
    assert fake_anthropic.last.headers["x-api-key"] == "upstream-ant-key"


async def test_count_tokens_is_forwarded_to_anthropic(
    async_client: anthropic.AsyncAnthropic, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.token_count = 321

    counted = await async_client.messages.count_tokens(
        model="claude-fake-1", messages=[user("count me")], tools=[WEATHER]
    )

    assert counted.input_tokens == 321
    [sent] = fake_anthropic.counted
    assert sent.json == {
        "model": "claude-fake-1",
        "messages": [{"role": "user", "content": "count me"}],
        "tools": [WEATHER],
    }
    assert sent.headers["x-api-key"] == "upstream-ant-key"


async def test_count_tokens_follows_the_sessions_model_choice(
    async_client: anthropic.AsyncAnthropic, fake_anthropic: FakeAnthropic
) -> None:
    session = {"x-session-id": "count-tokens-session"}
    await async_client.messages.create(
        model="claude-fake-1",
        max_tokens=10,
        messages=[user("!/model(mock:mock-1)")],
        extra_headers=session,
    )

    counted = await async_client.messages.count_tokens(
        model="claude-fake-1", messages=[user("count me here")], extra_headers=session
    )

    assert counted.input_tokens == 4  # 13 characters at four a token, rounded up
    assert fake_anthropic.counted == []  # the session goes to the mock: estimated, not asked


async def test_a_count_of_tokens_runs_no_command(
    async_client: anthropic.AsyncAnthropic, fake_anthropic: FakeAnthropic
) -> None:
    session = {"x-session-id": "count-runs-no-command"}

    await async_client.messages.count_tokens(
        model="claude-fake-1",
        messages=[user("!/model(mock:mock-1) count me")],
        extra_headers=session,
    )
    message = await async_client.messages.create(
        model="claude-fake-1", max_tokens=10, messages=[user("hi")], extra_headers=session
    )

    # Counting is read-only: the session still goes where the request asks.
    assert text_of(message) == "claude-fake-1 heard: hi"
    [sent] = fake_anthropic.counted
    assert sent.json["messages"] == [{"role": "user", "content": "count me"}]


def test_models_list(sync_client: anthropic.Anthropic) -> None:
    models = list(sync_client.models.list(limit=2))  # pages through with after_id

    assert [m.id for m in models] == [
        "fake:fake-large",
        "claude:claude-fake-1",
        "claude:claude-fake-2",
        "mock:mock-1",
    ]
    assert all(m.type == "model" and m.display_name == m.id for m in models)
    assert sync_client.models.retrieve("claude:claude-fake-1").id == "claude:claude-fake-1"
    with pytest.raises(anthropic.NotFoundError):
        sync_client.models.retrieve("nope")


@STREAM
@pytest.mark.parametrize(
    ("status", "kind", "exception"),
    [
        (400, "invalid_request_error", anthropic.BadRequestError),
        (401, "authentication_error", anthropic.AuthenticationError),
        (403, "permission_error", anthropic.PermissionDeniedError),
        (404, "not_found_error", anthropic.NotFoundError),
        (429, "rate_limit_error", anthropic.RateLimitError),
        (500, "api_error", anthropic.InternalServerError),
        (529, "overloaded_error", anthropic.InternalServerError),
    ],
)
async def test_upstream_errors_raise_the_right_exception(
    claude: Claude,
    fake_anthropic: FakeAnthropic,
    stream: bool,
    status: int,
    kind: str,
    exception: type[anthropic.APIStatusError],
) -> None:
    fake_anthropic.script(fa.HttpError(status, kind, f"upstream says {kind}"))

    with pytest.raises(exception) as caught:
        await claude(model="claude-fake-1", messages=[user("hi")], stream=stream)

    assert caught.value.status_code == status
    assert caught.value.body == {
        "type": "error",
        "error": {"type": kind, "message": f"upstream says {kind}"},
    }


def test_overloaded_is_the_sdks_overloaded_error(
    sync_client: anthropic.Anthropic, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(fa.HttpError(529, "overloaded_error", "Overloaded"))
    with pytest.raises(anthropic.OverloadedError):
        sync_client.messages.create(model="claude-fake-1", max_tokens=5, messages=[user("hi")])


def test_mid_stream_error_reaches_the_client(
    sync_client: anthropic.Anthropic, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(fa.StreamError("Once upon a time", "overloaded_error", "Overloaded"))
    seen: list[str] = []

    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        sync_client.messages.stream(
            model="claude-fake-1", max_tokens=50, messages=[user("story")]
        ) as events,
    ):
        for text in events.text_stream:
            seen.append(text)

    assert "".join(seen) == "Once upon a time"
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


async def test_error_before_any_output_is_an_http_status(
    claude: Claude, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(fa.StreamError("", "overloaded_error", "Overloaded"))

    with pytest.raises(anthropic.InternalServerError) as caught:
        await claude(model="claude-fake-1", messages=[user("story")], stream=True)

    assert caught.value.status_code == 529


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "claude-fake-1", "messages": []}, "max_tokens"),
        (
            {"model": "claude-fake-1", "max_tokens": 5, "messages": [{"role": "bot"}]},
            "messages.0.role",
        ),
    ],
)
def test_invalid_requests_are_400_in_anthropic_shape(
    sync_client: anthropic.Anthropic, body: dict[str, Any], message: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        sync_client.post("/v1/messages", body=body, cast_to=httpx.Response)
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert message in caught.value.message


def test_unknown_paths_answer_in_anthropic_shape(gateway: Proxy) -> None:
    response = httpx.get(f"{gateway.base_url}/anthropic/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "not_found_error"


# --- the OpenAI SDK against the Anthropic backend --------------------------------------------


@pytest.fixture
def openai_client(gateway: Proxy, connect: Callable[..., openai.OpenAI]) -> openai.OpenAI:
    """An OpenAI SDK client on the proxy serving ROUTES."""
    return connect(gateway)


@STREAM
def test_openai_sdk_to_anthropic_backend_text(
    openai_client: openai.OpenAI, fake_anthropic: FakeAnthropic, stream: bool
) -> None:
    fake_anthropic.script(fa.Reply(fa.Thinking("hmm"), fa.Text("Hello, OpenAI client", chunks=3)))
    messages: list[Any] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]

    if stream:
        chunks = list(
            openai_client.chat.completions.create(
                model="claude-fake-1", messages=messages, stream=True, max_tokens=64
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
    else:
        completion = openai_client.chat.completions.create(
            model="claude-fake-1", messages=messages, max_tokens=64
        )
        text, finish = (
            completion.choices[0].message.content or "",
            completion.choices[0].finish_reason,
        )

    assert (text, finish) == ("Hello, OpenAI client", "stop")
    sent = fake_anthropic.last.json
    assert sent["system"] == "Be brief."
    assert sent["messages"] == [{"role": "user", "content": "hi"}]
    assert sent["max_tokens"] == 64
    assert "anthropic-beta" in fake_anthropic.last.headers  # the configured beta only
    assert fake_anthropic.last.headers["anthropic-beta"] == "configured-beta-2025-01-01"


def test_openai_sdk_to_anthropic_backend_tools(
    openai_client: openai.OpenAI, fake_anthropic: FakeAnthropic
) -> None:
    call = fa.ToolUse("get_weather", '{"city": "Oslo"}', cuts=(4,))
    fake_anthropic.script(fa.Reply(call), fa.Reply(fa.Text("Sunny.")))
    tool: Any = {
        "type": "function",
        "function": {"name": "get_weather", "parameters": WEATHER["input_schema"]},
    }
    messages: list[Any] = [{"role": "user", "content": "Oslo?"}]

    first = openai_client.chat.completions.create(
        model="claude-fake-1", messages=messages, tools=[tool], reasoning_effort="low"
    )
    [made] = first.choices[0].message.tool_calls or []
    assert (made.id, made.function.name, json.loads(made.function.arguments)) == (  # type: ignore[union-attr]
        call.id,
        "get_weather",
        {"city": "Oslo"},
    )
    assert fake_anthropic.last.json["thinking"] == {"type": "enabled", "budget_tokens": 2048}

    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": made.id, "content": "sunny"},
    ]
    second = openai_client.chat.completions.create(
        model="claude-fake-1", messages=messages, tools=[tool]
    )
    assert second.choices[0].message.content == "Sunny."
    assert fake_anthropic.last.messages[1:] == [
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": "get_weather",
                    "input": {"city": "Oslo"},
                }
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}],
        },
    ]


def test_openai_sdk_sees_anthropic_overload_as_529(
    openai_client: openai.OpenAI, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(fa.HttpError(529, "overloaded_error", "Overloaded"))

    with pytest.raises(openai.InternalServerError) as caught:
        openai_client.chat.completions.create(
            model="claude-fake-1", messages=[{"role": "user", "content": "hi"}]
        )

    assert caught.value.status_code == 529


def test_a_claude_code_shaped_request_reaches_anthropic_intact(
    gateway: Proxy, fake_anthropic: FakeAnthropic
) -> None:
    # What Claude Code sends through a gateway: `?beta=true`, a bearer token, betas, cache
    # markers and body fields the codec does not model.
    body = {
        "model": "claude-fake-1",
        "max_tokens": 32000,
        "system": [
            {"type": "text", "text": "You are Claude Code."},
            {"type": "text", "text": "Project notes.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
                    {"type": "text", "text": "fix it", "cache_control": {"type": "ephemeral"}},
                ],
            }
        ],
        "tools": [{"name": "Bash", "description": "Run", "input_schema": {"type": "object"}}],
        "metadata": {"user_id": "user_abc_account_x_session_y"},
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "context_management": {"edits": [{"type": "clear_thinking_20251015"}]},
        "stream": True,
    }
    headers = {
        "authorization": "Bearer client-token",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
        "x-app": "cli",
    }

    with httpx.stream(
        "POST",
        f"{gateway.base_url}/anthropic/v1/messages?beta=true",
        json=body,
        headers=headers,
        timeout=SDK_TIMEOUT_SECS,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        names = [line for line in response.iter_lines() if line.startswith("event: ")]

    assert names[0] == "event: message_start"
    assert names[-2:] == ["event: message_delta", "event: message_stop"]
    sent = fake_anthropic.last
    assert sent.json == body
    assert sent.headers["anthropic-beta"] == (
        "configured-beta-2025-01-01,claude-code-20250219,interleaved-thinking-2025-05-14"
    )
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["x-api-key"] == "upstream-ant-key"
    assert "authorization" not in sent.headers


def test_closing_a_stream_cancels_the_anthropic_upstream(
    sync_client: anthropic.Anthropic, fake_anthropic: FakeAnthropic
) -> None:
    hang = fake_anthropic.script(fa.Hang("Once upon a time"))
    assert isinstance(hang, fa.Hang)

    with sync_client.messages.stream(
        model="claude-fake-1", max_tokens=50, messages=[user("story")]
    ) as events:
        seen = ""
        for text in events.text_stream:
            seen += text
            if seen == "Once upon a time":
                break
        hang.reached.wait()

    hang.closed_early.wait()
    assert not hang.finished.is_set()
    assert not hang.released.is_set()
