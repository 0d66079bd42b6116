"""The `capture` stage end to end: what the OpenAI SDK sent and got, and what the fake
provider was asked and answered, recorded byte for byte with each chunk's time."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import openai
import pytest

from engine.capture import read_all, summarize
from stages.capture import Capture
from tests.support.fake_openai import FakeProvider, Text
from tests.support.proxy import Proxy
from tests.support.sdk import CLIENT_KEY, SDK_TIMEOUT_SECS

ROUTES = """\
version: 1
backends:
  fake: {kind: openai, base_url: "${FAKE_URL}/v1", api_key: upstream-key-0123456789}
pipeline:
  request: [{capture: {dir: "CAPTURES", formats: [jsonl, cbor], per_session: true}}]
routes:
  - name: default
    response: [tool_safety]
    backend: {targets: [fake]}
"""


@pytest.fixture
def captures(tmp_path: Path) -> Path:
    return tmp_path / "captures"


@pytest.fixture
def served(proxy: Callable[..., Proxy], captures: Path) -> Proxy:
    return proxy(ROUTES.replace("CAPTURES", str(captures)))


def flushed(served: Proxy) -> None:
    (stage,) = [s for s in served.server.holder.graph.stages() if isinstance(s, Capture)]
    assert stage.flush()


def test_each_exchange_is_recorded_at_both_boundaries(
    served: Proxy, fake: FakeProvider, captures: Path
) -> None:
    fake.script(Text("whole answer"), Text("streamed answer", chunks=4))
    session = {"x-session-id": "bug-42"}
    with openai.OpenAI(
        base_url=served.url, api_key=CLIENT_KEY, max_retries=0, timeout=SDK_TIMEOUT_SECS
    ) as client:
        client.chat.completions.create(
            model="gpt-x", messages=[{"role": "user", "content": "hi"}], extra_headers=session
        )
        stream = client.chat.completions.create(
            model="gpt-x",
            messages=[{"role": "user", "content": "again"}],
            stream=True,
            extra_headers=session,
        )
        streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    flushed(served)

    (jsonl,) = captures.glob("session-bug-42*.jsonl")  # one file for the session
    (cbor,) = captures.glob("session-bug-42*.cbor")
    whole, stream_record = list(read_all([jsonl]))
    assert [r.id for r in read_all([cbor])] == [whole.id, stream_record.id]
    assert (whole.session, whole.frontend, whole.route) == ("bug-42", "openai_chat", "default")
    assert whole.client_request.path == "/v1/chat/completions"
    assert json.loads(whole.client_request.body)["messages"][0]["content"] == "hi"
    assert whole.client_response is not None and whole.client_response.status == 200
    assert json.loads(whole.client_response.body)["choices"][0]["message"]["content"] == (
        "whole answer"
    )
    (upstream,) = whole.upstream
    assert upstream.url.endswith("/v1/chat/completions") and upstream.backend == "fake"
    assert json.loads(upstream.request.body)["model"] == "gpt-x"
    headers = dict(upstream.request.headers)
    assert headers["authorization"] == "***"  # the backend key is not in the capture
    assert upstream.response is not None and upstream.response.status == 200
    assert whole.usage == {"input": 11, "output": 7}

    assert streamed == "streamed answer"
    response = stream_record.client_response
    assert response is not None and response.chunks  # as many as the writes it took
    times = [ms for ms, _ in response.chunks]
    assert times == sorted(times)
    assert b"".join(piece for _, piece in response.chunks) == response.body
    assert b"[DONE]" in response.body
    upstream_response = stream_record.upstream[0].response
    assert upstream_response is not None and upstream_response.chunks
    deltas = [
        json.loads(line[6:])["choices"]
        for line in upstream_response.body.decode().splitlines()
        if line.startswith("data: {")
    ]
    text = "".join(c[0]["delta"].get("content") or "" for c in deltas if c)
    assert text == "streamed answer"  # the provider's own bytes

    lines = summarize(read_all([captures]))
    assert any("bug-42" in line and "status=200" in line for line in lines)
