"""A stream that no stage reads, from a backend speaking the client's protocol, is relayed:
the client gets the upstream's chunks as they came (fields the engine does not know
included), without the usage chunk it did not ask for; once a chunk says something the
engine would say otherwise (a tool call), the engine encodes the rest. With a stage that
reads the events, the engine encodes the whole stream."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import ProxyFactory
from tests.support.fake_openai import FakeProvider, Text, ToolCall, ToolCalls
from tests.support.proxy import FAKE_ROUTES, Proxy
from tests.support.sdk import CLIENT_KEY

WITH_A_STREAM_STAGE = FAKE_ROUTES.replace(
    "    backend: {targets: [fake]}",
    "    response: [{redact_words: {words: [hunter2]}}]\n    backend: {targets: [fake]}",
)


def stream(proxy: Proxy, **body: Any) -> list[dict[str, Any]]:
    """The chunks of one streamed Chat Completions request, `[DONE]` checked."""
    request = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(
        f"{proxy.url}/chat/completions",
        json={**request, "stream": True, **body},
        headers={"authorization": f"Bearer {CLIENT_KEY}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    data = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    return [json.loads(item) for item in data[:-1]]


def text(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


@pytest.mark.parametrize("include_usage", [True, False])
def test_the_upstream_chunks_reach_the_client_as_they_came(
    proxy: ProxyFactory, fake: FakeProvider, include_usage: bool
) -> None:
    reply = fake.script(Text("The quick brown fox jumps.", chunks=4))

    chunks = stream(proxy(), stream_options={"include_usage": include_usage})

    assert text(chunks) == reply.text
    assert all(chunk["system_fingerprint"] == "fp_fake" for chunk in chunks)  # the fake's
    usage = [chunk for chunk in chunks if chunk.get("usage")]
    assert len(usage) == (1 if include_usage else 0)
    assert fake.last.json["stream_options"] == {"include_usage": True}  # asked upstream


def test_a_stage_reading_the_events_gets_the_engines_own_encoding(
    proxy: ProxyFactory, fake: FakeProvider
) -> None:
    reply = fake.script(Text("The quick brown fox jumps.", chunks=4))

    chunks = stream(proxy(WITH_A_STREAM_STAGE))

    assert text(chunks) == reply.text
    assert not any("system_fingerprint" in chunk for chunk in chunks)


def test_from_a_tool_call_on_the_engine_encodes_the_stream(
    proxy: ProxyFactory, fake: FakeProvider
) -> None:
    fake.script(ToolCalls(ToolCall("read_file", json.dumps({"path": "a.py"})), content="Reading."))

    chunks = stream(proxy())

    relayed = [chunk for chunk in chunks if "system_fingerprint" in chunk]
    assert relayed and text(relayed) == "Reading."  # the text came as it was sent
    rest = chunks[len(relayed) :]
    assert rest and not any("system_fingerprint" in chunk for chunk in rest)
    calls = [
        call
        for chunk in rest
        if chunk["choices"]
        for call in chunk["choices"][0]["delta"].get("tool_calls") or ()
    ]
    assert calls[0]["function"]["name"] == "read_file"
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {"path": "a.py"}
    assert [c["choices"][0]["finish_reason"] for c in rest if c["choices"]][-1] == "tool_calls"


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "stream"])
def test_server_timing_names_the_response_stages_too(
    proxy: ProxyFactory, fake: FakeProvider, streamed: bool
) -> None:
    fake.script(Text("The quick brown fox jumps.", chunks=4))
    request = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(
        f"{proxy(WITH_A_STREAM_STAGE).url}/chat/completions",
        json={**request, "stream": streamed},
        headers={"authorization": f"Bearer {CLIENT_KEY}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    names = [e.strip().partition(";")[0] for e in response.headers["server-timing"].split(",")]
    assert names[:4] == ["commands", "model_rewrite", "backend", "redact_words"]
