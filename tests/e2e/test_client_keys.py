"""Client keys and limits end to end, through the official SDKs against a proxy that
requires keys (`engine serve --require-keys`): each refusal in each client's own error
type and shape, with `Retry-After` where waiting helps."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from engine.cli import main
from engine.store import SqlStore
from engine.store.database import store_url
from tests.support.fake_openai import FakeProvider, Text
from tests.support.minutes import within_one_minute
from tests.support.proxy import Proxy
from tests.support.sdk import SDK_TIMEOUT_SECS

ROUTES = """\
version: 1
backends:
  fake: {kind: openai, base_url: "${FAKE_URL}/v1", api_key: upstream-key-0123456789}
routes:
  - name: limited
    match: {model: "limited-*"}
    request: [{rate_limit: {rpm: 2}}]
    backend: {targets: [fake]}
  - name: default
    backend: {targets: [fake]}
"""


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'engine.db'}"


def add_key(store: str, capsys: pytest.CaptureFixture[str], name: str, *limits: str) -> str:
    """A new client key, made as a user makes one."""
    assert main(["keys", "add", name, *limits, "--store", store]) == 0
    return capsys.readouterr().out.strip()


@pytest.fixture
def guarded(proxy: Callable[..., Proxy], store: str) -> Proxy:
    return proxy(ROUTES, store=SqlStore(store_url(store)), require_keys=True)


def chat(served: Proxy, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url, api_key=key, max_retries=0, timeout=SDK_TIMEOUT_SECS)


def ask(served: Proxy, key: str, model: str = "gpt-x") -> str:
    with chat(served, key) as client:
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}]
        )
    return reply.choices[0].message.content or ""


def test_a_key_from_the_cli_is_served_and_a_missing_or_wrong_one_refused(
    guarded: Proxy, fake: FakeProvider, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = add_key(store, capsys, "alice")
    fake.script(Text("hello alice"))
    assert ask(guarded, key) == "hello alice"

    with pytest.raises(openai.AuthenticationError) as wrong:
        ask(guarded, key[:-4] + "AAAA")
    assert "not valid" in str(wrong.value)
    body = {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}
    missing = httpx.post(f"{guarded.url}/chat/completions", json=body)
    assert missing.status_code == 401
    assert "client key is required" in missing.json()["error"]["message"]
    assert len(fake.requests) == 1  # only the served one reached the provider


def test_a_revoked_key_is_refused(
    guarded: Proxy, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = add_key(store, capsys, "bob")
    assert main(["keys", "revoke", "bob", "--store", store]) == 0
    with pytest.raises(openai.AuthenticationError):
        ask(guarded, key)


def test_each_sdk_sends_its_key_its_way_and_reads_a_refusal_in_its_shape(
    guarded: Proxy, fake: FakeProvider, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = add_key(store, capsys, "carol")
    fake.script(Text("from anthropic"), Text("from gemini"))
    with anthropic.Anthropic(
        base_url=f"{guarded.base_url}/anthropic", api_key=key, max_retries=0
    ) as claude:
        reply = claude.messages.create(
            model="claude-x", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.content[0].text == "from anthropic"  # type: ignore[union-attr]
    gemini = genai.Client(
        api_key=key, http_options=genai_types.HttpOptions(base_url=guarded.base_url)
    )
    assert gemini.models.generate_content(model="gemini-x", contents="hi").text == "from gemini"

    with (
        anthropic.Anthropic(
            base_url=f"{guarded.base_url}/anthropic", api_key="not-a-key", max_retries=0
        ) as claude,
        pytest.raises(anthropic.AuthenticationError) as refused,
    ):
        claude.messages.create(
            model="claude-x", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )
    assert refused.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    bad = genai.Client(
        api_key="not-a-key", http_options=genai_types.HttpOptions(base_url=guarded.base_url)
    )
    with pytest.raises(genai_errors.ClientError) as gemini_refused:
        bad.models.generate_content(model="gemini-x", contents="hi")
    assert gemini_refused.value.code == 401


def test_model_listings_need_a_key_too(
    guarded: Proxy, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = add_key(store, capsys, "dave")
    assert httpx.get(f"{guarded.url}/models").status_code == 401
    listed = httpx.get(f"{guarded.url}/models", headers={"authorization": f"Bearer {key}"})
    assert listed.status_code == 200


def test_wrong_keys_from_one_address_block_it_for_longer_and_longer(guarded: Proxy) -> None:
    statuses = []
    for _ in range(6):
        with pytest.raises(openai.APIStatusError) as refused:
            ask(guarded, "ek-AAAAAAAAAAAA-" + "B" * 43)
        statuses.append(refused.value.status_code)
        last = refused.value
    assert statuses == [401] * 5 + [429]
    assert last.response.headers["retry-after"] == "1"
    assert "too many wrong client keys" in str(last)


def test_a_keys_own_limit_and_a_routes_limit_refuse_with_retry_after(
    guarded: Proxy, fake: FakeProvider, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def keys_limit() -> None:
        key = add_key(store, capsys, f"erin-{time.monotonic_ns()}", "--rpm", "1")
        fake.script(Text("one"))
        assert ask(guarded, key) == "one"
        with pytest.raises(openai.RateLimitError) as refused:
            ask(guarded, key)
        assert 1 <= int(refused.value.response.headers["retry-after"]) <= 60
        assert "at most 1 requests a minute" in str(refused.value)

    def routes_limit() -> None:
        keys = [add_key(store, capsys, f"frank-{time.monotonic_ns()}-{n}") for n in range(3)]
        fake.script(Text("a"), Text("b"))
        assert [ask(guarded, keys[0], "limited-x"), ask(guarded, keys[1], "limited-x")] == [
            "a",
            "b",
        ]
        with pytest.raises(openai.RateLimitError):
            ask(guarded, keys[2], "limited-x")  # another client, the same route's limit

    within_one_minute(keys_limit)
    within_one_minute(routes_limit)
