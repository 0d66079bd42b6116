"""The shared SSE decoding loop every connector streams through."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from engine.backends.upstream import exchange, post_json, shown_url, stream_events
from engine.codecs import openai_chat
from engine.errors import ProxyError, UpstreamError, UpstreamUnavailable
from engine.model import (
    Bundle,
    ErrorEvent,
    Event,
    Finish,
    Relayed,
    ResponseStart,
    TextDelta,
    Usage,
)
from engine.response import direct_to

URL = "https://llm.example.test/v1/chat/completions"
TLS = ssl.create_default_context()


class Body(httpx.AsyncByteStream):
    """A streamed body that fails after its chunks."""

    def __init__(self, chunks: list[bytes], fail: Exception) -> None:
        self.chunks, self.fail = chunks, fail

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.chunks:
            yield piece
        raise self.fail


def sse(data: dict[str, Any] | str) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    return sse({"id": "c", "model": "m", "choices": [{"delta": delta, "finish_reason": finish}]})


@pytest.fixture
def upstream() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=True) as router:
        yield router


async def read_stream(http: httpx.AsyncClient, *, relay: bool = False) -> list[Event]:
    """The events of a Chat Completions stream from `URL` on `http`."""
    stream = stream_events(
        http,
        URL,
        lambda: b"{}",
        {},
        httpx.Timeout(5),
        openai_chat.decode_error,
        openai_chat.StreamDecoder(),
        done_marker="[DONE]",
        relay=relay,
    )
    return [event async for event in stream]


async def events_of(body: Body) -> list[Event]:
    async with httpx.AsyncClient(verify=TLS) as http:
        return await read_stream(http)


async def test_a_failure_after_the_response_completed_is_not_an_error(
    upstream: respx.MockRouter,
) -> None:
    body = Body(
        [chunk({"content": "hi"}), chunk({}, "stop"), sse("[DONE]")],
        fail=httpx.ReadError("connection reset"),
    )
    upstream.post(URL).mock(return_value=httpx.Response(200, stream=body))
    events = await events_of(body)
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta(text="hi")]
    assert events[-1] == Finish(reason="stop")


async def test_a_failure_before_the_response_completed_is_an_error(
    upstream: respx.MockRouter,
) -> None:
    body = Body([chunk({"content": "hi"})], fail=httpx.ReadError("connection reset"))
    upstream.post(URL).mock(return_value=httpx.Response(200, stream=body))
    with pytest.raises(UpstreamUnavailable) as caught:
        await events_of(body)
    assert caught.value.status == 502


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://api.example.test/v1/chat", "https://api.example.test/v1/chat"),
        ("http://user:secret@10.0.0.5:8080/v1/x", "http://10.0.0.5:8080/v1/x"),
        (
            "https://g.example.test/v1beta/m:gen?key=AIza-secret&alt=sse",
            "https://g.example.test/v1beta/m:gen",
        ),
    ],
)
def test_error_messages_show_no_credentials(url: str, shown: str) -> None:
    assert shown_url(url) == shown


async def test_an_unreachable_upstream_is_named_without_its_credentials(
    upstream: respx.MockRouter,
) -> None:
    secret_url = "https://user:hunter2@llm.example.test/v1/chat/completions?key=k-secret"
    upstream.post(secret_url).mock(side_effect=httpx.ConnectError("refused"))
    async with httpx.AsyncClient(verify=TLS) as http:
        with pytest.raises(UpstreamUnavailable) as caught:
            await post_json(http, secret_url, b"{}", {}, httpx.Timeout(5), openai_chat.decode_error)
    assert "hunter2" not in caught.value.message and "k-secret" not in caught.value.message
    assert "llm.example.test" in caught.value.message


async def whole_events() -> list[Event]:
    """The events of one non-streamed call through `exchange`, as the OpenAI connector asks."""
    async with httpx.AsyncClient(verify=TLS) as http:
        events = exchange(
            http,
            URL,
            lambda: b"{}",
            {},
            httpx.Timeout(5),
            openai_chat.decode_error,
            stream=False,
            decode_response=openai_chat.decode_response,
            stream_decoder=openai_chat.StreamDecoder,
        )
        return [event async for event in events]


@pytest.mark.parametrize("body", [[], "x", 1, {"choices": [None]}, {"choices": "all"}])
async def test_an_answer_of_a_shape_no_provider_sends_is_a_bad_gateway(
    upstream: respx.MockRouter, body: Any
) -> None:
    upstream.post(URL).respond(200, json=body)
    with pytest.raises(UpstreamError) as caught:
        await whole_events()
    assert (caught.value.status, caught.value.code) == (502, "upstream_bad_answer")


async def test_a_streamed_chunk_of_a_shape_no_provider_sends_ends_in_an_error_event(
    upstream: respx.MockRouter,
) -> None:
    body = Body([chunk({"content": "hi"}), sse({"choices": [None]})], fail=httpx.ReadError("x"))
    upstream.post(URL).mock(return_value=httpx.Response(200, stream=body))
    events = await events_of(body)
    assert isinstance(events[-1], ErrorEvent) and events[-1].code == "upstream_bad_answer"


@pytest.mark.parametrize("stream", [False, True])
async def test_a_redirect_names_where_the_base_url_should_point(
    upstream: respx.MockRouter, stream: bool
) -> None:
    moved = httpx.Response(308, headers={"location": "https://llm.example.test/v2/chat?key=s"})
    upstream.post(URL).mock(return_value=moved)
    with pytest.raises(UpstreamError) as caught:
        if stream:
            await events_of(Body([], fail=httpx.ReadError("x")))
        else:
            await whole_events()
    assert caught.value.code == "upstream_redirect"
    assert "https://llm.example.test/v2/chat" in caught.value.message
    assert "key=s" not in caught.value.message


async def test_an_error_sent_with_a_200_to_a_streamed_request_reaches_the_client(
    upstream: respx.MockRouter,
) -> None:
    error = {"error": {"message": "model overloaded", "type": "server_error"}}
    upstream.post(URL).respond(200, json=error)
    with pytest.raises(ProxyError) as caught:
        await events_of(Body([], fail=httpx.ReadError("x")))
    assert caught.value.status == 502 and "model overloaded" in caught.value.message


async def test_a_json_answer_to_a_streamed_request_says_the_server_does_not_stream(
    upstream: respx.MockRouter,
) -> None:
    upstream.post(URL).respond(200, json={"id": "c", "choices": []})
    with pytest.raises(UpstreamError) as caught:
        await events_of(Body([], fail=httpx.ReadError("x")))
    assert caught.value.code == "upstream_not_streaming"


def compact(delta: dict[str, Any], finish: str | None = None) -> bytes:
    """A chunk as OpenAI lays it out: compact JSON."""
    body = {
        "id": "c",
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


async def relayed_events(pieces: list[bytes]) -> list[Event]:
    """The events of a relayed stream of `pieces` (see `Backend.relays`)."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=b"".join(pieces), headers={"content-type": "text/event-stream"}
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        return await read_stream(http, relay=True)


async def test_a_relay_passes_plain_text_undecoded_and_decodes_what_counts() -> None:
    pieces = [
        compact({"role": "assistant", "content": "Hel"}),
        compact({"content": "lo"}),
        compact({}, "stop"),
        sse({"id": "c", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}),
        sse("[DONE]"),
    ]
    events = await relayed_events(pieces)
    assert [e.data for e in events if isinstance(e, Relayed)] == pieces  # all, as they came
    carried = [e.events for e in events if isinstance(e, Relayed)]
    assert isinstance(carried[0][0], ResponseStart)  # the first decoded: its id, its model
    assert carried[1] == ()  # plain text: undecoded
    assert carried[3] == (Usage(input_tokens=3, output_tokens=2),)  # usage: counted
    assert carried[4] == (Finish(reason="stop"),)


async def test_after_reasoning_a_relay_decodes_the_text_too() -> None:
    """The encoder writes every chunk itself from the first it cannot pass on as it came:
    the text after it must come with its events."""
    events = await relayed_events(
        [
            compact({"role": "assistant", "content": ""}),
            compact({"reasoning_content": "thinking"}),
            compact({"content": "answer"}),
            compact({}, "stop"),
            sse("[DONE]"),
        ]
    )
    carried = [e.events for e in events if isinstance(e, Relayed)]
    assert carried[2] == (TextDelta(text="answer"),)


async def test_a_relayed_stream_cut_short_ends_in_the_engines_error() -> None:
    events = await relayed_events([compact({"role": "assistant", "content": "Hi"}), sse("[DONE]")])
    assert isinstance(events[-1], ErrorEvent) and events[-1].code == "upstream_truncated"


async def test_unread_streams_come_in_bundles_an_error_on_its_own() -> None:
    """What the executor asks for a stream that no stage reads (`direct_to`): the events of
    each read together, but an error alone, where a strategy looks for it."""
    body = compact({"role": "assistant", "content": "Hi"}) + compact({"content": "!"})
    body += b'data: {"error":{"message":"overloaded","code":"overloaded"}}\n\n'

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    token = direct_to.set("anthropic")  # a client of another protocol: no relay
    try:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
            events = await read_stream(http)
    finally:
        direct_to.reset(token)
    assert [type(e) for e in events] == [Bundle, ErrorEvent]
    assert [type(e) for e in events[0].events] == [ResponseStart, TextDelta, TextDelta]
    assert events[1].code == "overloaded"


def one_line(body: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


TWO_CHOICES = {
    "id": "c",
    "choices": [
        {"index": 0, "delta": {"content": "a"}, "finish_reason": None},
        {"index": 1, "delta": {"content": "b"}, "finish_reason": None},
    ],
}


@pytest.mark.parametrize(
    "piece",
    [
        compact({"content": "plain"}),
        compact({"content": ""}),
        compact({}),
        compact({"content": None}),
        one_line(TWO_CHOICES),
        one_line({"id": "c", "choices": [{"delta": None, "finish_reason": None}]}),
        one_line({"id": "c", "choices": [{"delta": {"content": ["x"]}, "finish_reason": None}]}),
        one_line({"id": "c", "choices": [{"finish_reason": None}]}),
        b'data: {"choices":[{"delta":{"content":"cut"},"finish_reason":null}\n\n',
    ],
    ids=["text", "empty", "no-content", "null", "two", "null-delta", "list", "no-delta", "cut"],
)
async def test_text_read_without_the_general_decoding_is_what_it_would_say(
    piece: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream translated for the client reads plain text chunks with the decoder's
    `text_of`; whatever the chunk, the events are those the general decoding gives."""
    pieces = [compact({"role": "assistant", "content": "Hi"}), piece, compact({}, "stop")]

    def answer(request: httpx.Request) -> httpx.Response:
        body = b"".join(pieces) + sse("[DONE]")
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        shortcut = await read_stream(http)
        monkeypatch.delattr(openai_chat.StreamDecoder, "text_of")
        general = await read_stream(http)
    assert shortcut == general
