"""The google-genai SDK, sync and async, streaming and not, through the proxy's Gemini front-end.

Behind the proxy: the built-in mock, the fake OpenAI provider (Gemini → Chat Completions)
and the fake Gemini API (Gemini → Gemini, thought signatures kept). The SDK does the HTTP,
the SSE parsing and the error mapping.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.conftest import ProxyFactory
from tests.support import fake_gemini
from tests.support.fake_gemini import FakeGemini, FunctionCall, FunctionCalls, Thoughts
from tests.support.fake_openai import (
    FakeProvider,
    HttpError,
    StreamError,
    Text,
    ToolCall,
    ToolCalls,
)
from tests.support.proxy import Proxy

CLIENT_KEY = "gemini-client-key"
TIMEOUT_MS = 15_000

ROUTES = """\
version: 1
backends:
  fake:
    kind: openai
    base_url: "${FAKE_URL}/v1"
    api_key: upstream-key
    models: [fake-large]
  gem:
    kind: gemini
    base_url: "${GEMINI_URL}"
    api_key: gemini-upstream-key
    models: [gemini-up]
  mock: {kind: mock}
routes:
  - name: to-gemini
    match: {model: "gemini-*"}
    backend: {targets: [gem]}
  - name: to-mock
    match: {model: "mock-*"}
    backend: {targets: [mock]}
  - name: default
    backend: {targets: [fake]}
"""

STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
Flavour = Literal["sync", "async"]

WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="The weather in a city",
    parameters=types.Schema(
        type=types.Type.OBJECT,
        properties={"city": types.Schema(type=types.Type.STRING)},
        required=["city"],
    ),
)
NO_AFC = types.AutomaticFunctionCallingConfig(disable=True)


@pytest.fixture
def gemini_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGemini]:
    """A fake Gemini API; routing files reach it as `${GEMINI_URL}`."""
    with FakeGemini() as fake:
        monkeypatch.setenv("GEMINI_URL", fake.url)
        yield fake


@pytest.fixture
def served(proxy: ProxyFactory, gemini_fake: FakeGemini) -> Proxy:
    """The proxy with the mock, the fake OpenAI provider and the fake Gemini behind it."""
    return proxy(ROUTES)


@pytest.fixture
def client(served: Proxy) -> Iterator[genai.Client]:
    """A google-genai client on the proxy."""
    options = types.HttpOptions(base_url=served.base_url, timeout=TIMEOUT_MS)
    with genai.Client(api_key=CLIENT_KEY, http_options=options) as made:
        yield made


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> Flavour:
    """Which client a table test drives: `client.models` or `client.aio.models`."""
    return request.param


class Ask:
    """`generate_content(…)` with one flavour of client, streamed or not, read to the end."""

    def __init__(self, client: genai.Client, flavour: Flavour) -> None:
        self.client = client
        self.flavour = flavour

    async def __call__(
        self, *, stream: bool = False, **params: Any
    ) -> list[types.GenerateContentResponse]:
        models = self.client.models
        if self.flavour == "async":
            if stream:
                chunks = await self.client.aio.models.generate_content_stream(**params)
                return [chunk async for chunk in chunks]
            return [await self.client.aio.models.generate_content(**params)]

        def call() -> list[types.GenerateContentResponse]:
            if stream:
                return list(models.generate_content_stream(**params))
            return [models.generate_content(**params)]

        return await asyncio.to_thread(call)


@pytest.fixture
async def ask(client: genai.Client, flavour: Flavour) -> AsyncIterator[Ask]:
    """Ask the proxy with this test's client flavour."""
    yield Ask(client, flavour)
    if flavour == "async":
        await client.aio.aclose()  # its connections belong to this test's event loop


def text_of(responses: list[types.GenerateContentResponse]) -> str:
    return "".join(
        part.text or ""
        for r in responses
        for c in r.candidates or ()
        for part in (c.content.parts if c.content else None) or ()
        if not part.thought
    )


def parts_of(responses: list[types.GenerateContentResponse]) -> list[types.Part]:
    return [
        part
        for r in responses
        for c in r.candidates or ()
        for part in (c.content.parts if c.content else None) or ()
    ]


def calls_of(responses: list[types.GenerateContentResponse]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (p.function_call.name or "", dict(p.function_call.args or {}))
        for p in parts_of(responses)
        if p.function_call
    ]


# --- (a) the mock backend --------------------------------------------------------------------


@STREAM
async def test_text_from_the_mock(ask: Ask, stream: bool) -> None:
    responses = await ask(model="mock-1", contents="hello there", stream=stream)

    assert text_of(responses) == "You said: hello there"
    last = responses[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata and last.usage_metadata.prompt_token_count
    if stream:
        assert len(responses) > 2


@STREAM
async def test_function_calling_round_trip_with_the_mock(ask: Ask, stream: bool) -> None:
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])], automatic_function_calling=NO_AFC
    )
    question = types.Content(
        role="user", parts=[types.Part(text='call get_weather {"city": "Paris"}')]
    )
    first = await ask(model="mock-1", contents=[question], config=config, stream=stream)
    assert calls_of(first) == [("get_weather", {"city": "Paris"})]

    history = [
        question,
        types.Content(role="model", parts=[p for p in parts_of(first) if p.function_call]),
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(name="get_weather", response={"output": "sunny"})
            ],
        ),
    ]
    second = await ask(model="mock-1", contents=history, config=config, stream=stream)

    assert text_of(second) == "Tool get_weather returned: sunny"


def test_automatic_function_calling_runs_the_python_tool(client: genai.Client) -> None:
    seen: list[str] = []

    def get_weather(city: str) -> str:
        """The weather in a city."""
        seen.append(city)
        return "sunny"

    response = client.models.generate_content(
        model="mock-1",
        contents='call get_weather {"city": "Oslo"}',
        config=types.GenerateContentConfig(tools=[get_weather]),
    )

    assert seen == ["Oslo"]
    assert response.text == 'Tool get_weather returned: {"result":"sunny"}'


async def test_models_list(ask: Ask) -> None:
    client = ask.client
    if ask.flavour == "sync":
        names = await asyncio.to_thread(lambda: [m.name for m in client.models.list()])
    else:
        names = [m.name async for m in await client.aio.models.list()]

    assert "models/mock:mock-1" in names
    assert "models/gem:gemini-up" in names


def test_models_get(client: genai.Client) -> None:
    model = client.models.get(model="gem:gemini-up")
    assert (model.name, model.display_name) == ("models/gem:gemini-up", "gem:gemini-up")
    assert model.supported_actions and "generateContent" in model.supported_actions


def test_count_tokens_is_estimated(client: genai.Client) -> None:
    counted = client.models.count_tokens(model="mock-1", contents="a" * 40)
    assert counted.total_tokens == 10


@STREAM
async def test_unknown_backend_is_a_404_api_error(ask: Ask, stream: bool) -> None:
    with pytest.raises(errors.APIError) as caught:
        await ask(model="nope:thing", contents="hi", stream=stream)

    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")
    assert "nope" in (caught.value.message or "")


# --- the wire, below the SDK ------------------------------------------------------------------


@pytest.fixture
def http(served: Proxy) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.base_url, timeout=TIMEOUT_MS / 1000) as made:
        yield made


@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_invalid_body_is_a_400_naming_the_field(http: httpx.Client, version: str) -> None:
    body = {"contents": [{"role": "robot", "parts": [{"text": "hi"}]}]}
    response = http.post(f"/{version}/models/mock-1:generateContent", json=body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    violations = error["details"][0]["fieldViolations"]
    assert violations[0]["field"] == "contents[0].role"


def test_unknown_action_and_paths_are_404_in_gemini_shape(http: httpx.Client) -> None:
    for path in ("/v1beta/models/mock-1:embedContent", "/v1beta/tunedModels", "/v1beta/files"):
        response = http.post(path, json={}) if "models" in path else http.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["status"] == "NOT_FOUND", path


def test_key_in_the_query_and_openai_listing_kept_for_bearer_clients(http: httpx.Client) -> None:
    gemini_list = http.get("/v1/models", params={"key": "k"}).json()
    openai_list = http.get("/v1/models", headers={"authorization": "Bearer k"}).json()

    assert "models/mock:mock-1" in [m["name"] for m in gemini_list["models"]]
    assert "mock:mock-1" in [m["id"] for m in openai_list["data"]]


@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/"])
def test_the_listing_under_v1_takes_the_shape_of_whoever_asks(
    http: httpx.Client, path: str
) -> None:
    gemini = http.get(path, headers={"x-goog-api-key": "k"})
    openai = http.get(path, headers={"authorization": "Bearer k", "x-goog-api-key": "k"})
    assert (gemini.status_code, openai.status_code) == (200, 200)
    assert "models/mock:mock-1" in [m["name"] for m in gemini.json()["models"]]
    assert "mock:mock-1" in [m["id"] for m in openai.json()["data"]]


def test_stream_without_alt_sse_is_a_json_array(http: httpx.Client) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hello array"}]}]}
    response = http.post("/v1beta/models/mock-1:streamGenerateContent", json=body)

    assert response.headers["content-type"].startswith("application/json")
    chunks = response.json()
    text = "".join(
        p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"]
    )
    assert text == "You said: hello array"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


# --- (b) Gemini front-end → OpenAI backend ---------------------------------------------------


@STREAM
async def test_text_and_system_instruction_to_openai(
    ask: Ask, fake: FakeProvider, stream: bool
) -> None:
    reply = fake.script(Text("Blue.", chunks=3))
    config = types.GenerateContentConfig(
        system_instruction="You are terse.",
        temperature=0.25,
        top_p=0.5,
        max_output_tokens=42,
        stop_sequences=["END"],
        seed=7,
    )

    responses = await ask(model="fake-large", contents="Sky colour?", config=config, stream=stream)

    assert text_of(responses) == reply.text
    sent = fake.last.json
    assert sent["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Sky colour?"},
    ]
    assert {k: sent[k] for k in ("temperature", "top_p", "max_tokens", "stop", "seed")} == {
        "temperature": 0.25,
        "top_p": 0.5,
        "max_tokens": 42,
        "stop": ["END"],
        "seed": 7,
    }
    assert sent.get("stream", False) is stream
    assert fake.last.headers["authorization"] == "Bearer upstream-key"
    assert CLIENT_KEY not in json.dumps(fake.last.headers)


@STREAM
async def test_function_calling_round_trip_to_openai(
    ask: Ask, fake: FakeProvider, stream: bool
) -> None:
    calls = (
        ToolCall("get_weather", '{"city": "Oslo"}', cuts=(3, 9)),
        ToolCall("get_weather", '{"city": "Lima"}', cuts=(5,)),
    )
    fake.script(ToolCalls(*calls, interleave=True))
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        automatic_function_calling=NO_AFC,
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.ANY
            )
        ),
    )
    question = types.Content(role="user", parts=[types.Part(text="Weather in Oslo and Lima?")])

    first = await ask(model="fake-large", contents=[question], config=config, stream=stream)

    assert calls_of(first) == [("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Lima"})]
    assert fake.last.json["tool_choice"] == "required"
    assert fake.last.json["tools"][0]["function"]["parameters"] == {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    }

    fake.script(Text("Cold in Oslo, warm in Lima."))
    history = [
        question,
        types.Content(role="model", parts=[p for p in parts_of(first) if p.function_call]),
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(name="get_weather", response={"output": "-3C"}),
                types.Part.from_function_response(name="get_weather", response={"celsius": 24}),
            ],
        ),
    ]
    second = await ask(model="fake-large", contents=history, config=config, stream=stream)

    assert text_of(second) == "Cold in Oslo, warm in Lima."
    sent = fake.last.messages
    ids = [c["id"] for c in sent[1]["tool_calls"]]
    assert len(set(ids)) == 2
    assert sent[2:] == [
        {"role": "tool", "tool_call_id": ids[0], "content": "-3C"},
        {"role": "tool", "tool_call_id": ids[1], "content": '{"celsius":24}'},
    ]


@STREAM
@pytest.mark.parametrize(
    ("status", "name"),
    [
        (400, "INVALID_ARGUMENT"),
        (401, "UNAUTHENTICATED"),
        (429, "RESOURCE_EXHAUSTED"),
        (503, "UNAVAILABLE"),
    ],
)
async def test_openai_errors_become_gemini_errors(
    ask: Ask, fake: FakeProvider, stream: bool, status: int, name: str
) -> None:
    fake.script(HttpError(status, f"upstream says {status}"))

    with pytest.raises(errors.APIError) as caught:
        await ask(model="fake-large", contents="hi", stream=stream)

    assert (caught.value.code, caught.value.status) == (status, name)
    assert caught.value.message == f"upstream says {status}"


async def test_mid_stream_failure_is_a_last_error_chunk(ask: Ask, fake: FakeProvider) -> None:
    fake.script(StreamError("Once upon a time", "the model fell over"))

    with pytest.raises(errors.APIError) as caught:
        await ask(model="fake-large", contents="story", stream=True)

    assert caught.value.code == 500
    assert caught.value.message == "the model fell over"


# --- (c) Gemini front-end → Gemini backend ----------------------------------------------------


@STREAM
async def test_gemini_to_gemini_text_and_headers(
    ask: Ask, gemini_fake: FakeGemini, stream: bool
) -> None:
    gemini_fake.script(fake_gemini.Text("Hello from Gemini", chunks=3))
    config = types.GenerateContentConfig(
        system_instruction="Be kind.",
        safety_settings=[
            types.SafetySetting(
                category=types.HarmCategory.HARM_CATEGORY_HARASSMENT,
                threshold=types.HarmBlockThreshold.BLOCK_NONE,
            )
        ],
    )

    responses = await ask(model="gemini-up", contents="hi", config=config, stream=stream)

    assert text_of(responses) == "Hello from Gemini"
    recorded = gemini_fake.last
    action = "streamGenerateContent" if stream else "generateContent"
    assert recorded.path == f"/v1beta/models/gemini-up:{action}"
    assert recorded.query == ({"alt": "sse"} if stream else {})
    assert recorded.headers["x-goog-api-key"] == "gemini-upstream-key"
    assert CLIENT_KEY not in json.dumps(recorded.headers)
    assert recorded.json["systemInstruction"] == {"parts": [{"text": "Be kind."}]}
    assert recorded.json["safetySettings"] == [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}
    ]
    usage = responses[-1].usage_metadata
    assert usage and (usage.prompt_token_count, usage.candidates_token_count) == (11, 7)


@STREAM
async def test_thought_signatures_survive_the_round_trip(
    ask: Ask, gemini_fake: FakeGemini, stream: bool
) -> None:
    gemini_fake.script(
        FunctionCalls(
            FunctionCall("get_weather", {"city": "Oslo"}),
            FunctionCall("get_weather", {"city": "Rome"}),
            thought="I should look both up.",
            signature="c2lnbmVkLWNhbGw=",
        )
    )
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        automatic_function_calling=NO_AFC,
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=1024),
    )
    question = types.Content(role="user", parts=[types.Part(text="Oslo and Rome?")])

    first = await ask(model="gemini-up", contents=[question], config=config, stream=stream)

    parts = parts_of(first)
    thoughts = [p.text for p in parts if p.thought]
    assert "".join(t or "" for t in thoughts) == "I should look both up."
    called = [p for p in parts if p.function_call]
    assert [p.thought_signature for p in called] == [b"signed-call", None]
    assert gemini_fake.last.json["generationConfig"]["thinkingConfig"] == {
        "includeThoughts": True,
        "thinkingBudget": 1024,
    }

    gemini_fake.script(Thoughts(["Both checked."], "Oslo cold, Rome warm.", signature="ZW5k"))
    history = [
        question,
        types.Content(role="model", parts=[p for p in parts if p.text or p.function_call]),
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(name="get_weather", response={"output": "-3C"}),
                types.Part.from_function_response(name="get_weather", response={"output": "20C"}),
            ],
        ),
    ]
    second = await ask(model="gemini-up", contents=history, config=config, stream=stream)

    assert text_of(second) == "Oslo cold, Rome warm."
    signed = [p.thought_signature for p in parts_of(second) if p.thought_signature]
    assert signed == [b"end"]
    sent = gemini_fake.last.json["contents"]
    assert sent[1]["parts"] == [
        {"text": "I should look both up.", "thought": True},
        {
            "functionCall": {"name": "get_weather", "args": {"city": "Oslo"}},
            "thoughtSignature": "c2lnbmVkLWNhbGw=",
        },
        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
    ]
    assert sent[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"output": "-3C"}}},
            {"functionResponse": {"name": "get_weather", "response": {"output": "20C"}}},
        ],
    }


@STREAM
@pytest.mark.parametrize(
    ("status", "name"),
    [(400, "INVALID_ARGUMENT"), (403, "PERMISSION_DENIED"), (429, "RESOURCE_EXHAUSTED")],
)
async def test_gemini_errors_pass_through(
    ask: Ask, gemini_fake: FakeGemini, stream: bool, status: int, name: str
) -> None:
    gemini_fake.script(fake_gemini.HttpError(status, f"gemini says {status}"))

    with pytest.raises(errors.APIError) as caught:
        await ask(model="gemini-up", contents="hi", stream=stream)

    assert (caught.value.code, caught.value.status, caught.value.message) == (
        status,
        name,
        f"gemini says {status}",
    )


async def test_gemini_mid_stream_error_reaches_the_client(
    ask: Ask, gemini_fake: FakeGemini
) -> None:
    gemini_fake.script(fake_gemini.StreamError("Once upon", "overloaded", status=503))

    with pytest.raises(errors.APIError) as caught:
        await ask(model="gemini-up", contents="story", stream=True)

    assert (caught.value.code, caught.value.status) == (503, "UNAVAILABLE")


def test_an_sdk_on_the_v1beta_api_version_works_too(served: Proxy, gemini_fake: FakeGemini) -> None:
    options = types.HttpOptions(base_url=served.base_url, api_version="v1beta", timeout=TIMEOUT_MS)
    with genai.Client(api_key=CLIENT_KEY, http_options=options) as client:
        response = client.models.generate_content(model="gemini-up", contents="beta?")
        names = [m.name for m in client.models.list()]

    assert response.text == "gemini-up heard: beta?"
    assert "models/gem:gemini-up" in names


def test_sdk_chat_sessions_send_signatures_back(
    client: genai.Client, gemini_fake: FakeGemini
) -> None:
    gemini_fake.script(
        FunctionCalls(FunctionCall("get_weather", {"city": "Bern"}), signature="YmVybg=="),
        fake_gemini.Text("Mild in Bern.", signature="bWlsZA=="),
        fake_gemini.Text("You are welcome."),
    )
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])], automatic_function_calling=NO_AFC
    )
    chat = client.chats.create(model="gemini-up", config=config)

    first = chat.send_message("Weather in Bern?")
    assert first.function_calls and first.function_calls[0].args == {"city": "Bern"}
    second = chat.send_message(
        types.Part.from_function_response(name="get_weather", response={"output": "14C"})
    )
    assert second.text == "Mild in Bern."
    chat.send_message("Thanks!")

    contents = gemini_fake.last.contents
    assert [c["role"] for c in contents] == ["user", "model", "user", "model", "user"]
    assert contents[1]["parts"][0]["thoughtSignature"] == "YmVybg=="
    assert contents[3]["parts"] == [{"text": "Mild in Bern.", "thoughtSignature": "bWlsZA=="}]
