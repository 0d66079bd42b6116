"""Errors as the OpenAI SDK sees them: exception class, HTTP status and message."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import openai
import pytest

from tests.support.fake_openai import (
    FakeProvider,
    Hang,
    HttpError,
    StreamError,
    Text,
    Truncated,
)
from tests.support.proxy import Proxy
from tests.support.sdk import Chat, ask

STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])


def said(error: openai.APIError) -> str:
    """The message of the error body the proxy sent (the SDK prefixes its own text)."""
    body = error.body
    assert isinstance(body, dict), f"not an OpenAI error body: {body!r}"
    assert str(body["message"]) in str(error)
    return str(body["message"])


# --- the client's request -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b'{"model": "m", "messages": [}', "\u00e9t\u00e9".encode("latin-1")],
    ids=["broken", "empty", "unbalanced", "not-utf8"],
)
def test_malformed_json_is_a_400_in_openai_shape(served: Proxy, body: bytes) -> None:
    response = httpx.post(
        f"{served.url}/chat/completions",
        content=body,
        headers={"content-type": "application/json", "authorization": "Bearer sk-x"},
    )

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_json"
    assert "JSON" in error["message"]


@pytest.mark.parametrize(
    ("override", "param"),
    [
        ({"messages": "hello"}, "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 42}]}, "messages[0].content"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"model": 7}, "model"),
        ({"temperature": "hot"}, "temperature"),
        ({"tools": [{"type": "function", "function": {"name": 3}}]}, "tools[0].function.name"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
async def test_schema_invalid_body_is_a_400_naming_the_param(
    chat: Chat, fake: FakeProvider, override: dict[str, object], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await chat(model="gpt-fake", messages=ask("hi"), extra_body=override)

    error = caught.value
    assert error.status_code == 400
    assert error.param == param
    assert param in said(error)
    assert error.type == "invalid_request_error"
    assert fake.requests == []


def test_unknown_path_is_a_404_in_openai_shape(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.get("/no/such/endpoint", cast_to=object)

    assert caught.value.status_code == 404
    assert "/v1/no/such/endpoint" in said(caught.value)


@STREAM
async def test_unknown_backend_is_a_404_naming_it(
    chat: Chat, fake: FakeProvider, stream: bool
) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await chat(model="nosuchbackend:some-model", messages=ask("hi"), stream=stream)

    error = caught.value
    assert error.status_code == 404
    assert "'nosuchbackend'" in said(error)
    assert error.code == "unknown_backend"
    assert error.param == "model"
    assert fake.requests == []


async def test_unknown_backend_suggests_the_nearest(chat: Chat) -> None:
    with pytest.raises(openai.NotFoundError, match="did you mean 'other'"):
        await chat(model="othr:some-model", messages=ask("hi"))


@STREAM
async def test_no_matching_route_is_a_404(
    proxy: Callable[..., Proxy], chat_for: Callable[..., Chat], fake: FakeProvider, stream: bool
) -> None:
    chat = chat_for(
        proxy(
            """\
version: 1
backends:
  fake: {kind: openai, base_url: "${FAKE_URL}/v1"}
routes:
  - name: gpt-only
    match: {model: "gpt-*"}
    backend: {targets: [fake]}
"""
        )
    )

    with pytest.raises(openai.NotFoundError) as caught:
        await chat(model="claude-3-opus", messages=ask("hi"), stream=stream)

    assert caught.value.status_code == 404
    assert "'claude-3-opus'" in said(caught.value)
    assert caught.value.code == "no_route"
    assert fake.requests == []


# --- the upstream's errors ------------------------------------------------------------------

UPSTREAM_ERRORS = [
    (400, openai.BadRequestError, "invalid_request_error", "context_length_exceeded"),
    (401, openai.AuthenticationError, "invalid_request_error", "invalid_api_key"),
    (403, openai.PermissionDeniedError, "invalid_request_error", "unsupported_country"),
    (404, openai.NotFoundError, "invalid_request_error", "model_not_found"),
    (422, openai.UnprocessableEntityError, "invalid_request_error", None),
    (429, openai.RateLimitError, "requests", "rate_limit_exceeded"),
    (500, openai.InternalServerError, "server_error", None),
    (503, openai.InternalServerError, "server_error", "overloaded"),
]


@STREAM
@pytest.mark.parametrize(
    ("status", "exception", "kind", "code"),
    UPSTREAM_ERRORS,
    ids=[str(e[0]) for e in UPSTREAM_ERRORS],
)
async def test_upstream_error_passes_through(
    chat: Chat,
    fake: FakeProvider,
    stream: bool,
    status: int,
    exception: type[openai.APIStatusError],
    kind: str,
    code: str | None,
) -> None:
    message = f"Upstream says no ({status}): please check your request."
    fake.script(HttpError(status, message, type=kind, code=code, param="messages"))

    with pytest.raises(exception) as caught:
        await chat(model="gpt-fake", messages=ask("hi"), stream=stream)

    error = caught.value
    assert type(error) is exception
    assert error.status_code == status
    assert said(error) == message
    assert error.param == "messages"
    if code is not None:
        assert error.code == code
    assert len(fake.requests) == 1


@STREAM
async def test_upstream_error_without_an_openai_body(
    chat: Chat, fake: FakeProvider, stream: bool
) -> None:
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    fake.script(HttpError(502, "unused", raw=page))

    with pytest.raises(openai.InternalServerError) as caught:
        await chat(model="gpt-fake", messages=ask("hi"), stream=stream)

    assert caught.value.status_code == 502
    assert "502 Bad Gateway" in said(caught.value)


@STREAM
async def test_an_upstream_429_keeps_its_retry_and_rate_limit_headers(
    chat: Chat, fake: FakeProvider, stream: bool
) -> None:
    headers = {
        "retry-after": "7",
        "retry-after-ms": "7000",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "7s",
        "x-internal-trace": "not for clients",
    }
    fake.script(HttpError(429, "slow down", type="requests", headers=headers))

    with pytest.raises(openai.RateLimitError) as caught:
        await chat(model="gpt-fake", messages=ask("hi"), stream=stream)

    seen = caught.value.response.headers
    assert seen["retry-after"] == "7" and seen["retry-after-ms"] == "7000"
    assert seen["x-ratelimit-remaining-requests"] == "0"
    assert seen["x-ratelimit-reset-requests"] == "7s"
    assert "x-internal-trace" not in seen


def test_every_refusal_is_logged_once_at_warning(
    served: Proxy, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    fake.script(HttpError(503, "upstream overloaded", type="server_error"))
    with caplog.at_level(logging.WARNING, logger="engine.server"):
        bad = httpx.post(f"{served.url}/chat/completions", json={"model": "m", "messages": 1})
        upstream = httpx.post(
            f"{served.url}/chat/completions", json={"model": "m", "messages": ask("hi")}
        )
        unrouted = httpx.get(f"{served.base_url}/nowhere")

    assert (bad.status_code, upstream.status_code, unrouted.status_code) == (400, 503, 404)
    lines = [r.getMessage() for r in caplog.records if r.name == "engine.server"]
    assert len(lines) == 3, lines
    assert "400 invalid_request: 'messages' must be an array" in lines[0]
    assert "front-end openai_chat, route -" in lines[0]
    assert "503" in lines[1] and "upstream overloaded" in lines[1] and "route default" in lines[1]
    assert "GET /nowhere: 404" in lines[2]
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name == "engine.server")


TIMEOUT_ROUTES = """\
version: 1
backends:
  slow: {kind: openai, base_url: "${FAKE_URL}/v1", timeout_secs: 0.3}
routes:
  - name: slow
    backend: {targets: [slow]}
"""


@STREAM
async def test_upstream_timeout_is_a_504(
    proxy: Callable[..., Proxy], chat_for: Callable[..., Chat], fake: FakeProvider, stream: bool
) -> None:
    chat = chat_for(proxy(TIMEOUT_ROUTES))
    hang = fake.script(Hang())

    with pytest.raises(openai.InternalServerError) as caught:
        await chat(model="gpt-fake", messages=ask("hi"), stream=stream)

    assert caught.value.status_code == 504
    assert "did not answer in time" in said(caught.value)
    assert caught.value.code == "upstream_timeout"
    # The proxy gave up on the upstream request rather than leaving it open.
    await hang.closed_early.wait_async()


async def test_upstream_timeout_mid_stream_is_an_error_chunk(
    proxy: Callable[..., Proxy], chat_for: Callable[..., Chat], fake: FakeProvider
) -> None:
    chat = chat_for(proxy(TIMEOUT_ROUTES))
    fake.script(Hang(prefix="The answer is"))

    with pytest.raises(openai.APIError) as caught:
        await chat(model="gpt-fake", messages=ask("hi"), stream=True)

    assert type(caught.value) is openai.APIError
    assert "did not answer in time" in said(caught.value)
    assert caught.value.code == "upstream_timeout"


@STREAM
async def test_connection_refused_is_a_502(
    proxy: Callable[..., Proxy], chat_for: Callable[..., Chat], refused_url: str, stream: bool
) -> None:
    chat = chat_for(
        proxy(
            f"""\
version: 1
backends:
  down: {{kind: openai, base_url: "{refused_url}"}}
routes:
  - name: down
    backend: {{targets: [down]}}
"""
        )
    )

    with pytest.raises(openai.InternalServerError) as caught:
        await chat(model="gpt-fake", messages=ask("hi"), stream=stream)

    assert caught.value.status_code == 502
    assert "could not reach the upstream" in said(caught.value)
    assert refused_url in said(caught.value)
    assert caught.value.code == "upstream_unreachable"


# --- broken streams -------------------------------------------------------------------------


def test_error_mid_stream_raises_during_iteration(client: openai.OpenAI, fake: FakeProvider):
    reply = fake.script(
        StreamError(
            "Partial answer before ",
            "The server had an error while processing your request.",
            code="server_overloaded",
        )
    )

    stream = client.chat.completions.create(model="gpt-fake", messages=ask("hi"), stream=True)
    received: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.extend(c.delta.content or "" for c in chunk.choices)

    assert type(caught.value) is openai.APIError
    assert "".join(received) == reply.before
    assert said(caught.value) == reply.message
    assert caught.value.code == "server_overloaded"


async def test_error_mid_stream_raises_during_async_iteration(
    aclient: openai.AsyncOpenAI, fake: FakeProvider
) -> None:
    reply = fake.script(StreamError("Half of it", "Something broke upstream."))

    stream = await aclient.chat.completions.create(
        model="gpt-fake", messages=ask("hi"), stream=True
    )
    received: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            received.extend(c.delta.content or "" for c in chunk.choices)

    assert "".join(received) == reply.before
    assert said(caught.value) == reply.message


def test_error_as_the_first_stream_event_is_an_http_error(
    client: openai.OpenAI, fake: FakeProvider
) -> None:
    fake.script(StreamError("", "Overloaded before the first token.", code="overloaded"))

    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="gpt-fake", messages=ask("hi"), stream=True)

    assert caught.value.status_code == 500
    assert said(caught.value) == "Overloaded before the first token."


@pytest.mark.parametrize("flavour", ["sync", "async"], indirect=True)
async def test_truncated_stream_is_an_error_not_a_short_answer(
    chat: Chat, fake: FakeProvider
) -> None:
    fake.script(Truncated("The beginning of a long"))

    with pytest.raises(openai.APIError) as caught:
        await chat(model="gpt-fake", messages=ask("hi"), stream=True)

    assert type(caught.value) is openai.APIError
    assert "closed the stream before it finished" in said(caught.value)
    assert caught.value.code == "upstream_truncated"


async def test_empty_stream_is_a_502(chat: Chat, fake: FakeProvider) -> None:
    fake.script(Truncated(""))

    with pytest.raises(openai.InternalServerError) as caught:
        await chat(model="gpt-fake", messages=ask("hi"), stream=True)

    assert caught.value.status_code == 502
    assert "closed the stream before it finished" in said(caught.value)


async def test_truncated_body_is_a_502(chat: Chat, fake: FakeProvider) -> None:
    fake.script(Truncated("The beginning of a long answer"))

    with pytest.raises(openai.InternalServerError) as caught:
        await chat(model="gpt-fake", messages=ask("hi"))

    assert caught.value.status_code == 502
    assert "invalid JSON" in said(caught.value)


# --- failover -------------------------------------------------------------------------------

FAILOVER_ROUTES = """\
version: 1
backends:
  primary: {{kind: openai, base_url: "{primary}", timeout_secs: {timeout}}}
  secondary: {{kind: openai, base_url: "${{FAKE_URL}}/secondary/v1"}}
routes:
  - name: resilient
    backend: {{strategy: failover, targets: [primary, "secondary:backup-model"]}}
"""


@pytest.fixture
def failover_chat(
    proxy: Callable[..., Proxy], chat_for: Callable[..., Chat], fake: FakeProvider
) -> Chat:
    routes = FAILOVER_ROUTES.format(primary=f"{fake.url}/primary/v1", timeout=10)
    return chat_for(proxy(routes))


@STREAM
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 529])
async def test_failover_moves_on_after_a_retryable_status(
    failover_chat: Chat, fake: FakeProvider, stream: bool, status: int
) -> None:
    fake.script(HttpError(status, "primary is struggling"))
    reply = fake.script(Text("answered by the secondary"))

    answer = await failover_chat(model="client-model", messages=ask("hi"), stream=stream)

    assert answer.text == reply.text
    assert [(r.path, r.model) for r in fake.requests] == [
        ("/primary/v1/chat/completions", "client-model"),
        ("/secondary/v1/chat/completions", "backup-model"),
    ]
    assert fake.requests[0].json == {**fake.requests[1].json, "model": "client-model"}


@STREAM
@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_failover_stops_at_a_client_error(
    failover_chat: Chat, fake: FakeProvider, stream: bool, status: int
) -> None:
    fake.script(HttpError(status, "your request is wrong"))

    with pytest.raises(openai.APIStatusError) as caught:
        await failover_chat(model="client-model", messages=ask("hi"), stream=stream)

    assert caught.value.status_code == status
    assert said(caught.value) == "your request is wrong"
    assert [r.path for r in fake.requests] == ["/primary/v1/chat/completions"]


@STREAM
async def test_failover_moves_on_after_a_connection_failure(
    proxy: Callable[..., Proxy],
    chat_for: Callable[..., Chat],
    fake: FakeProvider,
    refused_url: str,
    stream: bool,
) -> None:
    chat = chat_for(proxy(FAILOVER_ROUTES.format(primary=refused_url, timeout=10)))

    answer = await chat(model="client-model", messages=ask("hi"), stream=stream)

    assert answer.text == "backup-model heard: hi"
    assert [r.path for r in fake.requests] == ["/secondary/v1/chat/completions"]


async def test_failover_moves_on_after_a_timeout(
    proxy: Callable[..., Proxy], chat_for: Callable[..., Chat], fake: FakeProvider
) -> None:
    routes = FAILOVER_ROUTES.format(primary=f"{fake.url}/primary/v1", timeout=0.3)
    chat = chat_for(proxy(routes))
    hang = fake.script(Hang())

    answer = await chat(model="client-model", messages=ask("hi"))

    assert answer.text == "backup-model heard: hi"
    assert [r.path for r in fake.requests] == [
        "/primary/v1/chat/completions",
        "/secondary/v1/chat/completions",
    ]
    await hang.closed_early.wait_async()


async def test_failover_says_what_each_target_answered_when_all_fail(
    failover_chat: Chat, fake: FakeProvider
) -> None:
    fake.script(HttpError(503, "primary down"), HttpError(500, "secondary down too"))

    with pytest.raises(openai.InternalServerError) as caught:
        await failover_chat(model="client-model", messages=ask("hi"))

    assert caught.value.status_code == 500  # the last one's status
    assert said(caught.value) == (
        "every target failed: primary:client-model: 503 primary down; "
        "secondary:backup-model: 500 secondary down too"
    )
    assert len(fake.requests) == 2


async def test_single_strategy_does_not_fail_over(
    proxy: Callable[..., Proxy], chat_for: Callable[..., Chat], fake: FakeProvider
) -> None:
    chat = chat_for(
        proxy(
            """\
version: 1
backends:
  primary: {kind: openai, base_url: "${FAKE_URL}/primary/v1"}
  secondary: {kind: openai, base_url: "${FAKE_URL}/secondary/v1"}
routes:
  - name: plain
    backend: {targets: [primary, secondary]}
"""
        )
    )
    fake.script(HttpError(503, "primary down"))

    with pytest.raises(openai.InternalServerError) as caught:
        await chat(model="client-model", messages=ask("hi"))

    assert caught.value.status_code == 503
    assert [r.path for r in fake.requests] == ["/primary/v1/chat/completions"]


def test_an_error_inside_a_stream_is_logged_once_at_warning(
    served: Proxy, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    fake.script(StreamError("Half of it", "Something broke upstream."))
    body = {"model": "m", "messages": ask("hi"), "stream": True}
    with caplog.at_level(logging.WARNING, logger="engine"):
        text = httpx.post(f"{served.url}/chat/completions", json=body).text

    assert "Something broke upstream." in text
    lines = [r.getMessage() for r in caplog.records if r.name == "engine.server"]
    assert len(lines) == 1 and "in the stream: Something broke upstream." in lines[0]


def test_a_hostile_block_type_is_left_out_with_a_header_that_can_be_sent(
    served: Proxy, fake: FakeProvider
) -> None:
    # An Anthropic client's block of an unknown type goes to the OpenAI backend as a note;
    # its name holds characters no header may carry.
    body = {
        "model": "m",
        "max_tokens": 20,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "x\u0000y\r\n"}]}
        ],
    }
    response = httpx.post(f"{served.base_url}/anthropic/v1/messages", json=body)

    assert response.status_code == 200, response.text
    assert response.headers["x-engine-dropped"] == "x?y?? block"
    assert fake.last.messages == [{"role": "user", "content": "hi"}]
