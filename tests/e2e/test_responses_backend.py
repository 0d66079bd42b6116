"""The official SDKs through the proxy to a Responses backend (the fake Responses API).

The lossless path for Responses clients (Codex's request shape: namespaced tools, a
hosted web search, encrypted reasoning, `previous_response_id` the provider holds), and
Anthropic clients reaching Responses-only models.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from tests.conftest import ProxyFactory
from tests.support.fake_responses import (
    FakeResponses,
    FunctionCall,
    Hosted,
    Reasoning,
    Reply,
    Text,
)
from tests.support.proxy import Proxy
from tests.support.sdk import CLIENT_KEY

STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
ROUTES = """\
version: 1
backends:
  codex:
    kind: openai_responses
    base_url: "${RESPONSES_URL}/v1"
    api_key: responses-upstream-key
routes:
  - name: default
    backend: {targets: [codex]}
"""
NAMESPACE = {
    "type": "namespace",
    "name": "multi_agent_v1",
    "description": "Tools for spawning and managing sub-agents.",
    "tools": [
        {
            "type": "function",
            "name": "spawn_agent",
            "description": "Spawn a sub-agent.",
            "strict": False,
            "parameters": {"type": "object", "properties": {"task": {"type": "string"}}},
        }
    ],
}
WEB_SEARCH = {"type": "web_search", "external_web_access": False}


@pytest.fixture
def responses_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeResponses]:
    """A fake Responses API; routing files reach it as `${RESPONSES_URL}`."""
    with FakeResponses() as fake:
        monkeypatch.setenv("RESPONSES_URL", fake.url)
        yield fake


@pytest.fixture
def served(proxy: ProxyFactory, responses_fake: FakeResponses) -> Proxy:
    """The proxy with only the fake Responses API behind it."""
    return proxy(ROUTES)


@pytest.fixture
def client(served: Proxy) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=served.url, api_key=CLIENT_KEY, max_retries=0) as sdk:
        yield sdk


def create(
    client: openai.OpenAI, *, stream: bool, **params: Any
) -> openai.types.responses.Response:
    """A response, streamed or not, as the SDK assembles it."""
    if not stream:
        return client.responses.create(**params)
    with client.responses.stream(**params) as events:
        for _ in events:
            pass
        return events.get_final_response()


def test_the_fakes_stream_is_the_official_event_sequence() -> None:
    search = {"type": "search", "query": "q"}
    item = {"id": "ws_1", "type": "web_search_call", "status": "completed", "action": search}
    reply = Reply(Reasoning("why"), Text("Hi"), FunctionCall("f", '{"a": 1}'), Hosted(item))
    events = reply.events({"model": "m", "stream": True})

    adapter: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
    for number, event in enumerate(events):
        adapter.validate_python({**event, "sequence_number": number})
    assert [e["type"] for e in events][-1] == "response.completed"


@STREAM
def test_a_codex_turn_reaches_the_responses_api_as_it_was_sent(
    client: openai.OpenAI, responses_fake: FakeResponses, stream: bool
) -> None:
    search = {"type": "search", "query": "docs"}
    searched = {"id": "ws_9", "type": "web_search_call", "status": "completed", "action": search}
    responses_fake.script(
        Reply(
            Reasoning("Delegate it.", encrypted="gAAAAsecret"),
            Hosted(searched),
            FunctionCall(
                "spawn_agent", '{"task": "read"}', namespace="multi_agent_v1", call_id="call_ns"
            ),
        )
    )

    response = create(
        client,
        stream=stream,
        model="gpt-5.5-codex",
        input=[
            {"role": "developer", "content": "You are Codex."},
            {"role": "user", "content": "go"},
        ],
        tools=[NAMESPACE, WEB_SEARCH],
        reasoning={"effort": "high", "summary": "auto"},
        store=False,
        include=["reasoning.encrypted_content"],
        prompt_cache_key="thread-1",
        extra_body={"client_metadata": {"session_id": "thread-1"}},
    )

    sent = responses_fake.last.json
    assert sent["tools"] == [NAMESPACE, WEB_SEARCH]
    assert (sent["prompt_cache_key"], sent["client_metadata"]) == (
        "thread-1",
        {"session_id": "thread-1"},
    )
    assert sent["reasoning"] == {"effort": "high", "summary": "auto"} and sent["store"] is False
    kinds = [item.type for item in response.output]
    assert kinds == ["reasoning", "web_search_call", "function_call"]
    call = response.output[2]
    assert (call.name, call.namespace, call.call_id) == ("spawn_agent", "multi_agent_v1", "call_ns")

    # The next turn: Codex sends the whole history back with the call's output.
    history = [item.model_dump(exclude_none=True) for item in response.output]
    create(
        client,
        stream=stream,
        model="gpt-5.5-codex",
        input=[
            {"role": "user", "content": "go"},
            *history,
            {"type": "function_call_output", "call_id": "call_ns", "output": "agent started"},
        ],
        tools=[NAMESPACE, WEB_SEARCH],
        store=False,
    )
    again = responses_fake.last.json["input"]
    reasoning = next(i for i in again if i["type"] == "reasoning")
    assert reasoning["encrypted_content"] == "gAAAAsecret"  # the provider's own, untagged
    assert reasoning["id"] == response.output[0].id
    assert searched in again
    function_call = next(i for i in again if i["type"] == "function_call")
    assert (function_call["name"], function_call["namespace"]) == ("spawn_agent", "multi_agent_v1")
    assert again[-1] == {
        "type": "function_call_output",
        "call_id": "call_ns",
        "output": "agent started",
    }


def test_a_previous_response_the_proxy_does_not_hold_is_asked_of_the_provider(
    client: openai.OpenAI, responses_fake: FakeResponses
) -> None:
    response = client.responses.create(
        model="gpt-5.5", input="and then?", previous_response_id="resp_from_elsewhere"
    )

    assert responses_fake.last.json["previous_response_id"] == "resp_from_elsewhere"
    assert response.output_text.endswith("heard: and then?")


def test_a_previous_response_the_proxy_holds_is_expanded_here(
    client: openai.OpenAI, responses_fake: FakeResponses
) -> None:
    first = client.responses.create(model="gpt-5.5", input="I am Ada.")
    client.responses.create(model="gpt-5.5", input="Who am I?", previous_response_id=first.id)

    sent = responses_fake.last.json
    assert "previous_response_id" not in sent
    assert [i["content"][0]["text"] for i in sent["input"] if i.get("role") == "user"] == [
        "I am Ada.",
        "Who am I?",
    ]


@STREAM
def test_an_anthropic_client_reaches_a_responses_only_model(
    served: Proxy, responses_fake: FakeResponses, stream: bool
) -> None:
    responses_fake.script(Reply(Reasoning("Add them."), Text("4")))
    claude = anthropic.Anthropic(
        base_url=f"{served.base_url}/anthropic", api_key=CLIENT_KEY, max_retries=0
    )
    params: dict[str, Any] = {
        "model": "gpt-5.5-pro",
        "max_tokens": 200,
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "messages": [{"role": "user", "content": "2+2?"}],
    }
    if stream:
        with claude.messages.stream(**params) as events:
            message = events.get_final_message()
    else:
        message = claude.messages.create(**params)

    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[1].text == "4"  # type: ignore[union-attr]
    sent = responses_fake.last.json
    assert sent["reasoning"] == {"effort": "high", "summary": "auto"}
    assert sent["max_output_tokens"] == 200
    assert json.dumps(sent).count("thinking") == 0
