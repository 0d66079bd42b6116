"""The operations endpoints as a monitoring system reads them: `/metrics` (Prometheus text,
checked by the official parser), `/readyz`, `/healthz`, and the JSON access line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.logs import JsonFormatter
from engine.store import SqlStore
from engine.store.database import store_url
from tests.support.fake_openai import FakeProvider, Text, ToolCall, ToolCalls
from tests.support.logs import access_records
from tests.support.postgres import Postgres
from tests.support.proxy import Proxy
from tests.support.sdk import CLIENT_KEY, SDK_TIMEOUT_SECS

ROUTES = """\
version: 1
backends:
  fake: {kind: openai, base_url: "${FAKE_URL}/v1", api_key: upstream-key-0123456789}
routes:
  - name: guarded
    match: {model: "guard-*"}
    response: [tool_safety]
    backend: {targets: [fake]}
  - name: default
    backend: {targets: [fake]}
"""


def samples(served: Proxy) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample `/metrics` shows, by name and labels, read by Prometheus's own parser."""
    response = httpx.get(f"{served.base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def labelled(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


def client(served: Proxy) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=served.url, api_key=CLIENT_KEY, max_retries=0, timeout=SDK_TIMEOUT_SECS
    )


@pytest.fixture
def served(proxy: Callable[..., Proxy]) -> Proxy:
    return proxy(ROUTES)


def test_metrics_count_requests_tokens_first_bytes_and_stopped_calls(
    served: Proxy, fake: FakeProvider
) -> None:
    fake.script(
        Text("hello", chunks=3),
        Text("streamed", chunks=4),
        ToolCalls(ToolCall("Bash", '{"command": "git reset --hard"}')),
    )
    with client(served) as sdk:
        sdk.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "hi"}])
        for _ in sdk.chat.completions.create(
            model="gpt-x",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        ):
            pass
        sdk.chat.completions.create(model="guard-x", messages=[{"role": "user", "content": "x"}])
        with pytest.raises(openai.NotFoundError):
            sdk.chat.completions.create(
                model="nowhere:x", messages=[{"role": "user", "content": "x"}]
            )

    found = samples(served)
    served_by = {"frontend": "openai_chat", "route": "default", "backend": "fake:gpt-x"}
    assert found[("engine_requests_total", labelled(**served_by, status="200"))] == 2
    assert found[("engine_tokens_total", labelled(**served_by, kind="input"))] == 22
    assert found[("engine_tokens_total", labelled(**served_by, kind="output"))] == 14
    first_bytes = (
        "engine_time_to_first_byte_seconds_count",
        labelled(frontend="openai_chat", route="default"),
    )
    assert found[first_bytes] == 1  # the stream's only
    stopped = labelled(stage="tool_safety", event="blocked", reason="git-reset-hard")
    assert found[("engine_stage_events_total", stopped)] == 1
    refused = [
        value
        for (name, labels), value in found.items()
        if name == "engine_requests_total" and ("status", "404") in labels
    ]
    assert refused == [1]


def test_reloads_are_counted_by_outcome(served: Proxy) -> None:
    assert served.edit(ROUTES.replace("guard-*", "safe-*")).ok
    assert not served.edit("routes: [").ok
    found = samples(served)
    assert found[("engine_reloads_total", labelled(outcome="accepted"))] == 1
    assert found[("engine_reloads_total", labelled(outcome="rejected"))] == 1


def test_readyz_says_ready_with_a_reachable_store(
    proxy: Callable[..., Proxy], tmp_path: Path
) -> None:
    served = proxy(ROUTES, store=SqlStore(store_url(f"sqlite:///{tmp_path / 'engine.db'}")))
    ready = httpx.get(f"{served.base_url}/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "problems": []})
    health = httpx.get(f"{served.base_url}/healthz").json()
    assert health["status"] == "ok" and isinstance(health["pid"], int)


def test_readyz_says_not_ready_when_the_store_is_gone(
    proxy: Callable[..., Proxy], postgres_server: Postgres
) -> None:
    database = postgres_server.database()
    served = proxy(ROUTES, store=SqlStore(store_url(database)))
    assert httpx.get(f"{served.base_url}/readyz").status_code == 200
    postgres_server.drop(database)
    ready = httpx.get(f"{served.base_url}/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "not ready" and "store" in ready.json()["problems"][0]
    assert httpx.get(f"{served.base_url}/healthz").status_code == 200  # alive all the same


def test_the_access_line_as_json_carries_what_the_request_went_through(
    served: Proxy, fake: FakeProvider
) -> None:
    fake.script(Text("hello"))
    with access_records() as records, client(served) as sdk:
        sdk.chat.completions.create(
            model="gpt-x",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-session-id": "s-42"},
        )
        (record,) = records.wait(1)
    line = json.loads(JsonFormatter().format(record))
    assert line["logger"] == "engine.access" and line["status"] == 200
    assert (line["route"], line["backend"], line["session"]) == ("default", "fake:gpt-x", "s-42")
    assert (line["strategy"], line["frontend"]) == ("single", "openai_chat")
    assert (line["input_tokens"], line["output_tokens"]) == ("11", "7")
    assert line["path"] == "/v1/chat/completions" and line["ms"] > 0
