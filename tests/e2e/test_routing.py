"""Routing through the SDK: `BACKEND:MODEL`, route targets, aliases, model listing, timings."""

from __future__ import annotations

from collections.abc import Callable

import openai
import pytest

from tests.support.fake_openai import FakeProvider, Text
from tests.support.proxy import Proxy
from tests.support.sdk import Chat, ask

STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])

ROUTED = """\
version: 1
backends:
  fake: {kind: openai, base_url: "${FAKE_URL}/v1", api_key: upstream-key}
  other: {kind: openai, base_url: "${FAKE_URL}/other/v1", api_key: other-key}
routes:
  - name: cheap
    match: {model: "cheap-*"}
    backend: {targets: ["other:pinned-model"]}
  - name: numbered
    match: {model: {regex: "gpt-[0-9].*"}}
    backend: {targets: [fake]}
"""


@STREAM
async def test_backend_model_string_selects_backend_and_model(
    chat: Chat, fake: FakeProvider, stream: bool
) -> None:
    answer = await chat(model="other:some-model", messages=ask("hi"), stream=stream)

    sent = fake.last
    assert sent.path == "/other/v1/chat/completions"
    assert sent.model == "some-model"
    assert sent.headers["authorization"] == "Bearer other-key"
    assert sent.headers["x-backend"] == "other"
    assert answer.text == "some-model heard: hi"


async def test_a_model_without_backend_goes_to_the_route_target(
    chat: Chat, fake: FakeProvider
) -> None:
    await chat(model="plain-model", messages=ask("hi"))

    assert (fake.last.path, fake.last.model) == ("/v1/chat/completions", "plain-model")
    assert fake.last.headers["authorization"] == "Bearer upstream-key"


@STREAM
@pytest.mark.parametrize(
    ("model", "path", "upstream_model"),
    [
        ("cheap-anything", "/other/v1/chat/completions", "pinned-model"),
        ("cheap-", "/other/v1/chat/completions", "pinned-model"),
        ("gpt-4o", "/v1/chat/completions", "gpt-4o"),
        ("gpt-5-mini", "/v1/chat/completions", "gpt-5-mini"),
    ],
)
async def test_route_targets(
    proxy: Callable[..., Proxy],
    chat_for: Callable[..., Chat],
    fake: FakeProvider,
    stream: bool,
    model: str,
    path: str,
    upstream_model: str,
) -> None:
    chat = chat_for(proxy(ROUTED))
    reply = fake.script(Text(f"answer for {model}"))

    answer = await chat(model=model, messages=ask("hi"), stream=stream)

    assert (fake.last.path, fake.last.model) == (path, upstream_model)
    assert answer.text == reply.text


async def test_model_rewrite_alias(chat: Chat, fake: FakeProvider) -> None:
    # FAKE_ROUTES rewrites `smart` to `other:big-model`.
    await chat(model="smart", messages=ask("hi"))

    assert (fake.last.path, fake.last.model) == ("/other/v1/chat/completions", "big-model")


def test_models_list(client: openai.OpenAI) -> None:
    models = client.models.list()

    ids = [m.id for m in models]
    # Each backend's declared models as BACKEND:MODEL, the mock's default, then aliases.
    assert ids == ["fake:fake-large", "fake:fake-small", "other:big-model", "mock:mock-1", "smart"]
    owners = {m.id: m.owned_by for m in models}
    assert owners["fake:fake-large"] == "fake"
    assert owners["mock:mock-1"] == "mock"
    assert all(m.object == "model" for m in models)


def test_listed_models_can_be_asked_for(client: openai.OpenAI, fake: FakeProvider) -> None:
    listed = [m.id for m in client.models.list() if m.id.startswith("fake:")]

    for model in listed:
        client.chat.completions.create(model=model, messages=ask("hi"))

    assert [r.model for r in fake.requests] == [m.partition(":")[2] for m in listed]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_server_timing_names_the_stages(
    client: openai.OpenAI, fake: FakeProvider, stream: bool
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-fake",
        messages=ask("hi"),
        stream=stream,
    )
    parsed = raw.parse()
    if stream:
        for _ in parsed:
            pass

    entries = [entry.strip() for entry in raw.headers["server-timing"].split(",")]
    names = [entry.partition(";")[0] for entry in entries]
    assert names[:3] == ["commands", "model_rewrite", "backend"]
    assert all(entry.partition(";")[2].startswith("dur=") for entry in entries)
    assert all(float(e.partition("dur=")[2]) >= 0 for e in entries)


async def test_server_timing_with_the_async_client(
    aclient: openai.AsyncOpenAI, fake: FakeProvider
) -> None:
    raw = await aclient.chat.completions.with_raw_response.create(
        model="gpt-fake", messages=ask("hi")
    )

    completion = raw.parse()
    assert completion.choices[0].message.content == "gpt-fake heard: hi"
    names = [e.strip().partition(";")[0] for e in raw.headers["server-timing"].split(",")]
    assert names == ["commands", "model_rewrite", "backend", "response"]
