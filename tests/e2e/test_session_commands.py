"""Session commands and model selectors through the official SDKs of every front-end:
what the client reads, and what the provider is sent (precedence: session command >
selector > route > client)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from tests.support.fake_openai import FakeProvider
from tests.support.proxy import Proxy
from tests.support.sdk import CLIENT_KEY, SDK_TIMEOUT_SECS

ROUTES = """\
version: 1
backends:
  fake: {kind: openai, base_url: "${FAKE_URL}/v1", api_key: upstream-key}
  other: {kind: openai, base_url: "${FAKE_URL}/other/v1", api_key: other-key}
routes:
  - name: tuned
    match: {model: "tuned-*"}
    request: [commands]
    backend: {targets: ["fake?temperature=0.1&max_tokens=64"]}
  - name: default
    match: {model: "*"}
    request: [commands]
    backend: {targets: [fake]}
"""


@pytest.fixture
def served(proxy: Callable[..., Proxy]) -> Proxy:
    return proxy(ROUTES)


@pytest.fixture
def openai_client(served: Proxy) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=served.url, api_key=CLIENT_KEY, max_retries=0, timeout=SDK_TIMEOUT_SECS
    ) as client:
        yield client


def say(
    client: openai.OpenAI,
    text: str,
    session: str,
    *,
    model: str = "gpt-fake",
    stream: bool = False,
    **params: object,
) -> str:
    """The reply's text, whole or streamed."""
    messages = [{"role": "user", "content": text}]
    headers = {"x-session-id": session}
    if not stream:
        reply = client.chat.completions.create(
            model=model,
            messages=messages,
            extra_headers=headers,
            **params,  # type: ignore[arg-type]
        )
        return reply.choices[0].message.content or ""
    chunks = client.chat.completions.create(
        model=model,
        messages=messages,
        extra_headers=headers,
        stream=True,
        **params,  # type: ignore[arg-type]
    )
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_precedence_session_over_selector_over_route_over_client(
    openai_client: openai.OpenAI, fake: FakeProvider, stream: bool
) -> None:
    say(openai_client, "hi", "p", model="gpt-fake", temperature=0.9, stream=stream)
    assert fake.last.json["temperature"] == 0.9  # the client's
    say(openai_client, "hi", "p", model="tuned-a", temperature=0.9, stream=stream)
    assert (fake.last.json["temperature"], fake.last.model) == (0.1, "tuned-a")  # the route's
    say(openai_client, "hi", "p", model="tuned-a?temperature=0.5", temperature=0.9, stream=stream)
    assert fake.last.json["temperature"] == 0.5  # the selector's
    assert fake.last.json["max_tokens"] == 64 and fake.last.model == "tuned-a"
    reply = say(openai_client, "!/set(temperature=0.3)", "p", stream=stream)
    assert reply == "temperature=0.3 for this session."
    say(openai_client, "hi", "p", model="tuned-a?temperature=0.5", temperature=0.9, stream=stream)
    assert fake.last.json["temperature"] == 0.3  # the session's
    say(openai_client, "hi", "other-session", model="gpt-fake", temperature=0.9, stream=stream)
    assert fake.last.json["temperature"] == 0.9  # nothing leaks into another session


def test_a_selector_naming_a_backend_and_a_bad_one(
    openai_client: openai.OpenAI, fake: FakeProvider
) -> None:
    say(openai_client, "hi", "s", model="other:big?reasoning_effort=high&top_p=0.5")
    assert fake.last.path == "/other/v1/chat/completions"
    assert (fake.last.model, fake.last.json["reasoning_effort"]) == ("big", "high")
    assert fake.last.json["top_p"] == 0.5
    with pytest.raises(openai.BadRequestError) as caught:
        say(openai_client, "hi", "s", model="other:big?temperature=warm")
    assert "temperature: 'warm' is not a number" in caught.value.message
    assert caught.value.code == "invalid_model"


def test_a_command_only_turn_is_never_forwarded_later(
    openai_client: openai.OpenAI, fake: FakeProvider
) -> None:
    messages = [
        {"role": "user", "content": "!/set(max_tokens=100)"},
        {"role": "assistant", "content": "max_tokens=100 for this session."},
        {"role": "user", "content": "now the real question"},
    ]
    openai_client.chat.completions.create(
        model="gpt-fake",
        messages=messages,
        extra_headers={"x-session-id": "h"},  # type: ignore[arg-type]
    )
    assert fake.last.messages == [{"role": "user", "content": "now the real question"}]


def test_status_and_routes_through_the_anthropic_sdk_streaming(
    served: Proxy, fake: FakeProvider
) -> None:
    client = anthropic.Anthropic(
        base_url=served.base_url + "/anthropic", api_key=CLIENT_KEY, max_retries=0
    )
    headers = {"x-session-id": "a"}

    def say(text: str) -> str:
        with client.messages.stream(
            model="claude-x",
            max_tokens=100,
            messages=[{"role": "user", "content": text}],
            extra_headers=headers,
        ) as stream:
            return stream.get_final_text()

    with client:
        assert say("!/route-create(pair, other:first, fake:second)").startswith("Route pair")
        assert say("!/model(pair)") == "Model set to pair for this session."
        assert say("hello") == "first heard: hello"  # the fake answers as its model
        assert fake.last.path == "/other/v1/chat/completions"
        status = say("!/status")
        assert (
            "Model: session route pair (failover: other:first, fake:second), by !/model." in status
        )


def test_commands_through_the_gemini_sdk(served: Proxy, fake: FakeProvider) -> None:
    options = types.HttpOptions(
        base_url=served.base_url, timeout=SDK_TIMEOUT_SECS * 1000, headers={"x-session-id": "g"}
    )
    with genai.Client(api_key=CLIENT_KEY, http_options=options) as client:
        reply = client.models.generate_content(model="gemini-x", contents="!/low")
        assert reply.text == "reasoning_effort=low for this session."
        client.models.generate_content(model="gemini-x", contents="think a little")
    assert fake.last.json["reasoning_effort"] == "low"


def test_a_oneoff_through_the_responses_api(served: Proxy, fake: FakeProvider) -> None:
    with openai.OpenAI(base_url=served.url, api_key=CLIENT_KEY, max_retries=0) as client:
        headers = {"x-session-id": "r"}
        set_once = client.responses.create(
            model="gpt-fake", input="!/oneoff(other:once)", extra_headers=headers
        )
        assert set_once.output_text == "The next request goes to other:once."
        client.responses.create(model="gpt-fake", input="first", extra_headers=headers)
        assert (fake.last.path, fake.last.model) == ("/other/v1/chat/completions", "once")
        client.responses.create(model="gpt-fake", input="second", extra_headers=headers)
        assert (fake.last.path, fake.last.model) == ("/v1/chat/completions", "gpt-fake")


STRATEGY_ROUTES = """\
version: 1
backends:
  fake: {kind: openai, base_url: "${FAKE_URL}/v1", api_key: upstream-key}
  down: {kind: openai, base_url: "${REFUSED_URL}", api_key: k}
routes:
  - name: resilient
    match: {model: "resilient-only"}
    backend: {strategy: failover, targets: ["down:first", "fake:second?temperature=0.4"]}
  - name: default
    match: {model: "*"}
    request: [{model_rewrite: {rules: [{from: "smart", to: "resilient"}]}}]
    backend: {targets: [fake]}
"""


def test_model_rewrite_may_name_a_strategy_route(
    proxy: Callable[..., Proxy],
    fake: FakeProvider,
    refused_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REFUSED_URL", refused_url)
    served = proxy(STRATEGY_ROUTES)
    with openai.OpenAI(base_url=served.url, api_key=CLIENT_KEY, max_retries=0) as client:
        reply = client.chat.completions.with_raw_response.create(
            model="smart", messages=[{"role": "user", "content": "hi"}]
        )
    assert reply.headers["x-served-by"] == "fake:second"  # the first target was down
    assert (fake.last.model, fake.last.json["temperature"]) == ("second", 0.4)


async def test_concurrent_sessions_keep_their_own_state(served: Proxy, fake: FakeProvider) -> None:
    async with openai.AsyncOpenAI(base_url=served.url, api_key=CLIENT_KEY, max_retries=0) as client:

        async def session(number: int) -> str:
            headers = {"x-session-id": f"load-{number}"}

            async def say(text: str) -> str:
                reply = await client.chat.completions.create(
                    model="gpt-fake",
                    messages=[{"role": "user", "content": text}],
                    extra_headers=headers,
                )
                return reply.choices[0].message.content or ""

            await say(f"!/model(other:model-{number})")
            return await say("hi")

        answers = await asyncio.gather(*(session(n) for n in range(24)))
    assert answers == [f"model-{n} heard: hi" for n in range(24)]
