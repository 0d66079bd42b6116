"""Keep-alives while a strategy waits for its targets, through each official SDK.

Both targets of a `race` hang until the client has received its first bytes, which can
then only be keep-alives: the SDK must read past them to the answer, or to the error that
a failure after them becomes inside the stream.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from google import genai
from google.genai import errors, types

from engine.codecs.sse import KEEP_ALIVE
from tests.support.fake_openai import FakeProvider, Hang, HttpError, Text
from tests.support.proxy import Proxy
from tests.support.sdk import CLIENT_KEY, SDK_TIMEOUT_SECS

ROUTES = """\
version: 1
backends:
  slow: {{kind: openai, base_url: "{slow}/v1"}}
  secondary: {{kind: openai, base_url: "${{FAKE_URL}}/secondary/v1"}}
routes:
  - name: fast
    match: {{model: "race-*"}}
    backend: {{strategy: race, targets: [slow, secondary], keep_alive: {every}}}
"""
PROTOCOLS = ["chat", "responses", "anthropic", "gemini"]


@pytest.fixture
def slow() -> FakeProvider:
    with FakeProvider() as provider:
        yield provider


class FirstBytes:
    """A client transport that lets hanging replies go on once the client has received
    the first bytes of a response body, and keeps those bytes. `http` is the HTTP
    library of the SDK it serves (the Anthropic SDK uses the `httpx2` fork)."""

    def __init__(self, hangs: list[Hang], http: ModuleType = httpx) -> None:
        self.http = http
        self.inner = http.AsyncHTTPTransport()
        self.hangs = hangs
        self.first = b""

    def client(self) -> Any:
        """An async client of `http` on this transport."""
        return self.http.AsyncClient(transport=self, timeout=SDK_TIMEOUT_SECS)

    async def handle_async_request(self, request: Any) -> Any:
        response = await self.inner.handle_async_request(request)
        return self.http.Response(
            response.status_code,
            headers=response.headers,
            stream=_watched(self.http)(response.stream, self),
            extensions=response.extensions,
        )

    def received(self, chunk: bytes) -> None:
        if not self.first and chunk:
            self.first = chunk
            for hang in self.hangs:
                hang.release()

    async def __aenter__(self) -> FirstBytes:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.inner.aclose()


@functools.cache
def _watched(http: ModuleType) -> type:
    """A response body of `http` that tells its transport of each chunk read."""

    class Watched(http.AsyncByteStream):  # type: ignore[misc,name-defined]
        def __init__(self, stream: Any, watcher: FirstBytes) -> None:
            self.stream = stream
            self.watcher = watcher

        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for chunk in self.stream:
                self.watcher.received(chunk)
                yield chunk

        async def aclose(self) -> None:
            await self.stream.aclose()

    return Watched


async def streamed_text(protocol: str, proxy: Proxy, transport: FirstBytes) -> str:
    """Ask model `race-x` with `protocol`'s SDK, streaming, and return the text."""
    http = transport.client()
    ask = "hi"
    async with http:
        if protocol == "chat":
            chat = openai.AsyncOpenAI(
                base_url=f"{proxy.base_url}/v1", api_key=CLIENT_KEY, http_client=http, max_retries=0
            )
            chunks = await chat.chat.completions.create(
                model="race-x", messages=[{"role": "user", "content": ask}], stream=True
            )
            return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
        if protocol == "responses":
            client = openai.AsyncOpenAI(
                base_url=f"{proxy.base_url}/v1", api_key=CLIENT_KEY, http_client=http, max_retries=0
            )
            events = await client.responses.create(model="race-x", input=ask, stream=True)
            texts: list[str] = []
            async for event in events:
                if event.type == "response.output_text.delta":
                    texts.append(event.delta)
                elif event.type in ("error", "response.failed"):
                    raise RuntimeError(str(event))
            return "".join(texts)
        if protocol == "anthropic":
            claude = anthropic.AsyncAnthropic(
                base_url=f"{proxy.base_url}/anthropic",
                api_key=CLIENT_KEY,
                http_client=http,
                max_retries=0,
            )
            async with claude.messages.stream(
                model="race-x", max_tokens=50, messages=[{"role": "user", "content": ask}]
            ) as stream:
                return "".join([text async for text in stream.text_stream])
        options = types.HttpOptions(base_url=proxy.base_url, httpx_async_client=http)
        gemini = genai.Client(api_key=CLIENT_KEY, http_options=options)
        pieces = await gemini.aio.models.generate_content_stream(model="race-x", contents=ask)
        return "".join([piece.text or "" async for piece in pieces])


def only_keep_alives(protocol: str, data: bytes) -> bool:
    """Whether `data` is nothing but keep-alives in `protocol`'s stream."""
    if protocol == "gemini":  # blank lines
        return data.strip() == b""
    return data.replace(KEEP_ALIVE, b"") == b"" and KEEP_ALIVE in data


def sdk_http(protocol: str) -> ModuleType:
    """The HTTP library `protocol`'s SDK is built on."""
    return httpx2 if protocol == "anthropic" else httpx


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_waiting_race_keeps_the_stream_alive(
    proxy: Callable[..., Proxy], fake: FakeProvider, slow: FakeProvider, protocol: str
) -> None:
    hangs = [slow.script(Hang()), fake.script(Hang())]
    transport = FirstBytes(hangs, sdk_http(protocol))

    text = await streamed_text(protocol, proxy(ROUTES.format(slow=slow.url, every=0.01)), transport)

    assert only_keep_alives(protocol, transport.first), transport.first
    assert text == " done"  # what either hanging target answers once released


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_every_target_failing_after_a_keep_alive_is_an_error_in_the_stream(
    proxy: Callable[..., Proxy], fake: FakeProvider, slow: FakeProvider, protocol: str
) -> None:
    hangs = [
        slow.script(Hang(then=HttpError(503, "slow is down"))),
        fake.script(Hang(then=HttpError(500, "secondary is down"))),
    ]
    transport = FirstBytes(hangs, sdk_http(protocol))
    failures: dict[str, Any] = {
        "chat": openai.APIError,
        "responses": RuntimeError,  # the `response.failed` event
        "anthropic": anthropic.APIError,
        "gemini": errors.APIError,
    }

    with pytest.raises(failures[protocol]) as caught:
        await streamed_text(protocol, proxy(ROUTES.format(slow=slow.url, every=0.01)), transport)

    assert only_keep_alives(protocol, transport.first), transport.first
    assert "every target failed" in str(caught.value)
    assert "slow is down" in str(caught.value) and "secondary is down" in str(caught.value)


async def test_a_failure_before_any_keep_alive_is_still_an_http_status(
    proxy: Callable[..., Proxy], fake: FakeProvider, slow: FakeProvider
) -> None:
    slow.script(HttpError(503, "slow is down"))
    fake.script(HttpError(503, "secondary is down"))
    transport = FirstBytes([])

    with pytest.raises(openai.InternalServerError) as caught:
        await streamed_text("chat", proxy(ROUTES.format(slow=slow.url, every=600)), transport)

    assert caught.value.status_code == 503 and transport.first.startswith(b"{")


async def test_a_client_leaving_while_kept_alive_closes_both_calls(
    proxy: Callable[..., Proxy], fake: FakeProvider, slow: FakeProvider
) -> None:
    hangs = [slow.script(Hang()), fake.script(Hang())]
    served = proxy(ROUTES.format(slow=slow.url, every=0.01))
    body = {"model": "race-x", "messages": [{"role": "user", "content": "hi"}], "stream": True}

    async with (
        httpx.AsyncClient(base_url=served.base_url) as client,
        client.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        first = await anext(response.aiter_raw())
        assert only_keep_alives("chat", first)
    # The client hung up while neither target had answered: both calls end.
    for hang in hangs:
        await hang.closed_early.wait_async()


async def test_a_whole_reply_waits_without_keep_alives(
    proxy: Callable[..., Proxy], fake: FakeProvider, slow: FakeProvider
) -> None:
    slow.script(Hang())
    fake.script(Text("the answer"))
    served = proxy(ROUTES.format(slow=slow.url, every=0.01))
    body = {"model": "race-x", "messages": [{"role": "user", "content": "hi"}]}

    async with httpx.AsyncClient(base_url=served.base_url) as client:
        response = await client.post("/v1/chat/completions", json=body)

    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "the answer"
