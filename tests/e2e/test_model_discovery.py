"""Model listings: each backend's declared models, else what its upstream's list endpoint
reports, in every front-end's shape, each id one a client can send back."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types

from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_gemini import FakeGemini
from tests.support.fake_openai import FakeProvider
from tests.support.fake_responses import FakeResponses
from tests.support.proxy import Proxy
from tests.support.sdk import CLIENT_KEY
from tests.support.signals import DEFAULT_TIMEOUT_SECS

ROUTES = """\
version: 1
backends:
  oai: {kind: openai, base_url: "${D_OPENAI}/v1", api_key: k}
  claude: {kind: anthropic, base_url: "${D_ANTHROPIC}", api_key: k}
  gem: {kind: gemini, base_url: "${D_GEMINI}", api_key: k}
  codex: {kind: openai_responses, base_url: "${D_RESPONSES}/v1", api_key: k}
  pinned: {kind: openai, base_url: "${D_OPENAI}/v1", models: [only-this]}
  offline: {kind: openai, base_url: "${D_REFUSED}"}
  mock: {kind: mock}
stages:
  aliases: {use: model_rewrite, with: {rules: [{from: claude-fast, to: "claude:claude-haiku"}]}}
routes:
  - {name: all, match: {model: "*"}, request: [aliases], backend: {targets: [mock]}}
"""

EXPECTED = [
    "oai:gpt-a",
    "oai:gpt-b",
    "claude:claude-opus",
    "claude:claude-haiku",
    "claude:claude-extra",
    "gem:gemini-pro",
    "codex:gpt-codex",
    "pinned:only-this",
    "mock:mock-1",
    "claude-fast",
]


@pytest.fixture
def discovering(tmp_path: Path, refused_url: str) -> Iterator[Proxy]:
    """The proxy on ROUTES once its first round of discovery is over."""
    with ExitStack() as stack, pytest.MonkeyPatch.context() as env:
        fakes = {
            "D_OPENAI": (FakeProvider(), ["gpt-a", "gpt-b"]),
            "D_ANTHROPIC": (FakeAnthropic(), ["claude-opus", "claude-haiku", "claude-extra"]),
            "D_GEMINI": (FakeGemini(), ["gemini-pro"]),
            "D_RESPONSES": (FakeResponses(), ["gpt-codex"]),
        }
        for variable, (fake, models) in fakes.items():
            fake.listed_models = models
            env.setenv(variable, stack.enter_context(fake).url)
        env.setenv("D_REFUSED", refused_url)
        (tmp_path / "routes.yaml").write_text(ROUTES, encoding="utf-8")
        proxy = Proxy(tmp_path, watch=False)
        refreshed = threading.Event()
        proxy.server.catalog.listeners.append(refreshed.set)
        stack.enter_context(proxy)
        assert refreshed.wait(DEFAULT_TIMEOUT_SECS), "no discovery round finished"
        yield proxy


def test_openai_lists_declared_and_discovered_models(discovering: Proxy) -> None:
    with openai.OpenAI(base_url=discovering.url, api_key=CLIENT_KEY) as client:
        ids = [model.id for model in client.models.list()]
        one = client.models.retrieve("gem:gemini-pro")

    assert ids == EXPECTED
    assert one.id == "gem:gemini-pro"


def test_anthropic_lists_them_as_claude_code_asks(discovering: Proxy) -> None:
    # Claude Code's gateway discovery: one GET …/v1/models?limit=1000; it keeps ids with
    # "claude" or "anthropic" in them.
    response = httpx.get(
        f"{discovering.base_url}/anthropic/v1/models",
        params={"limit": 1000},
        headers={"authorization": "Bearer k", "anthropic-version": "2023-06-01"},
    )
    claude = anthropic.Anthropic(base_url=f"{discovering.base_url}/anthropic", api_key=CLIENT_KEY)

    assert [m["id"] for m in response.json()["data"]] == EXPECTED
    kept = [m["id"] for m in response.json()["data"] if "claude" in m["id"].lower()]
    assert kept == [
        "claude:claude-opus",
        "claude:claude-haiku",
        "claude:claude-extra",
        "claude-fast",
    ]
    assert [m.id for m in claude.models.list(limit=3)] == EXPECTED  # page after page


def test_gemini_lists_them_in_its_shape(discovering: Proxy) -> None:
    client = genai.Client(
        api_key=CLIENT_KEY, http_options=types.HttpOptions(base_url=discovering.base_url)
    )

    names = [model.name for model in client.models.list()]

    assert names == [f"models/{m}" for m in EXPECTED]


def test_a_discovered_id_routes_back_to_its_backend(discovering: Proxy) -> None:
    with openai.OpenAI(base_url=discovering.url, api_key=CLIENT_KEY) as client:
        reply = client.chat.completions.create(
            model="oai:gpt-b", messages=[{"role": "user", "content": "hi"}]
        )

    assert reply.choices[0].message.content == "gpt-b heard: hi"
