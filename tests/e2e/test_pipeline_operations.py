"""Every endpoint goes through the pipeline: a `pipeline:` stage that guards the calls that
route nowhere or only read (model listings, stored responses, counts of tokens) refuses
them in each front-end's own error shape, and chats, which it does not declare, pass."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from engine.stage import Answer, Exchange, Stage, StrictModel, registry, stage
from tests.support.proxy import Proxy


class Gate(Stage):
    """Refuses what it guards unless the call says `x-gate: open`."""

    class Config(StrictModel):
        """Nothing to set."""

    operations = frozenset({"models", "stored_response", "count_tokens"})

    async def on_request(self, ctx: Exchange) -> Answer | None:
        if ctx.headers.get("x-gate") == "open":
            return None
        return Answer.refuse(401, f"the gate is shut for {ctx.operation}", code="gated")


ROUTES = """\
version: 1
backends: {mock: {kind: mock}}
pipeline: {request: [test_e2e_gate]}
routes: [{name: all, backend: {targets: [mock]}}]
"""


@pytest.fixture
def gated(proxy: Callable[..., Proxy]) -> Iterator[Proxy]:
    stage("test_e2e_gate")(Gate)
    yield proxy(ROUTES)
    registry().pop("test_e2e_gate")


COUNT = {"model": "mock-1", "messages": [{"role": "user", "content": "hi"}]}
GEMINI_KEY = {"x-goog-api-key": "k"}

# method, path, headers, body, and the status once the gate lets the call through (no
# response `resp_1` is stored: reading or deleting it is then a 404)
GUARDED: list[tuple[str, str, dict[str, str], Any, int]] = [
    ("GET", "/v1/models", {}, None, 200),
    ("GET", "/v1/models", GEMINI_KEY, None, 200),
    ("GET", "/v1beta/models/mock:mock-1", GEMINI_KEY, None, 200),
    ("GET", "/anthropic/v1/models", {}, None, 200),
    ("GET", "/v1/responses/resp_1", {}, None, 404),
    ("DELETE", "/v1/responses/resp_1", {}, None, 404),
    ("POST", "/anthropic/v1/messages/count_tokens", {}, COUNT, 200),
    (
        "POST",
        "/v1beta/models/mock-1:countTokens",
        GEMINI_KEY,
        {"contents": [{"parts": [{"text": "hi"}]}]},
        200,
    ),
]


@pytest.mark.parametrize(("method", "path", "headers", "body", "opened_status"), GUARDED)
def test_a_pipeline_stage_guards_every_endpoint_that_declares_its_operation(
    gated: Proxy,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Any,
    opened_status: int,
) -> None:
    with httpx.Client(base_url=gated.base_url) as client:
        refused = client.request(method, path, headers=headers, json=body)
        opened = client.request(method, path, headers={**headers, "x-gate": "open"}, json=body)
    assert refused.status_code == 401
    assert refused.json()["error"]["message"].startswith("the gate is shut for ")
    assert opened.status_code == opened_status


def test_the_error_shapes_are_each_front_ends_own(gated: Proxy) -> None:
    with httpx.Client(base_url=gated.base_url) as client:
        gemini = client.get("/v1/models", headers=GEMINI_KEY).json()
        chat = client.get("/v1/models").json()
        anthropic = client.get("/anthropic/v1/models").json()
    assert gemini["error"]["status"] == "UNAUTHENTICATED"
    assert chat["error"]["code"] == "gated" and "type" in chat["error"]
    assert anthropic["type"] == "error"


def test_a_chat_is_not_guarded_by_a_stage_that_does_not_declare_it(gated: Proxy) -> None:
    client = openai.OpenAI(base_url=gated.url, api_key="client-key", max_retries=0)
    reply = client.chat.completions.create(
        model="mock-1", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == "You said: hi"
    with pytest.raises(openai.AuthenticationError, match="the gate is shut for models"):
        client.models.list()
