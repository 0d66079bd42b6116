"""HTTP calls to providers on the shared client, with failures mapped to ProxyError."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

import httpx
import orjson

from engine.codecs.sse import SSEParser, message_of
from engine.errors import ProxyError, UpstreamError, UpstreamUnavailable
from engine.logs import redact
from engine.model import Bundle, ErrorEvent, Event, Relayed, TextDelta
from engine.response import direct_to

ErrorDecoder = Callable[[int, Any], ProxyError]
# Model listings are background work: a slow upstream must not hold them long.
DISCOVERY_TIMEOUT = httpx.Timeout(15, connect=5)
# What a codec's decoder raises on an answer of a shape no provider sends ([] for an
# object, null for a choice): the upstream's fault, a 502 that failover can pass over.
_SHAPE_ERRORS = (AttributeError, TypeError, KeyError, IndexError, ValueError)


def bad_shape(exc: Exception) -> UpstreamError:
    """The error for an upstream answer its codec could not read."""
    return UpstreamError(
        502,
        f"the upstream's answer has an unexpected shape ({type(exc).__name__}: {exc})"[:300],
        code="upstream_bad_answer",
    )


def decoded(decode: Callable[[Any], Iterable[Event]], body: Any) -> list[Event]:
    """The events of a whole answer; a shape no provider sends raises `bad_shape`."""
    try:
        return list(decode(body))
    except _SHAPE_ERRORS as exc:
        raise bad_shape(exc) from exc


def model_ids(entries: Any, key: str, prefix: str = "") -> list[str]:
    """The model names in a list endpoint's entries (`entry[key]`, without `prefix`)."""
    return [
        str(entry[key]).removeprefix(prefix)
        for entry in (entries if isinstance(entries, list) else ())
        if isinstance(entry, dict) and isinstance(entry.get(key), str) and entry[key]
    ]


# Response headers of an upstream error that clients' SDKs read to decide when to retry.
_PASSED_HEADERS = ("retry-after", "retry-after-ms", "x-should-retry")
_PASSED_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")


def _error(
    response: httpx.Response, decode_error: ErrorDecoder, status: int | None = None
) -> ProxyError:
    """The upstream's error (as `status`, by default its own), carrying its retry and
    rate-limit headers for the client."""
    error = decode_error(status or response.status_code, _body(response))
    error.message = redact(error.message)  # an upstream may echo the key it refused
    error.args = (error.message,)
    error.headers.update(
        (name, value)
        for name, value in response.headers.items()
        if name in _PASSED_HEADERS or name.startswith(_PASSED_PREFIXES)
    )
    return error


def _is_json(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("application/json")


def _body(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text


def shown_url(url: str) -> str:
    """`url` as error messages may show it: no credentials, no query (it may carry a key)."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"


@asynccontextmanager
async def _mapped_failures(address: str) -> AsyncIterator[None]:
    try:
        yield
    except (httpx.RequestError, UnicodeEncodeError) as exc:
        raise _unavailable(shown_url(address), exc) from exc


def _unavailable(url: str, exc: Exception) -> UpstreamUnavailable:
    """What a failure of the HTTP client means for the client (`url` as shown)."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamUnavailable(
            504,
            f"the upstream at {url} did not answer in time ({type(exc).__name__})",
            code="upstream_timeout",
        )
    if isinstance(exc, httpx.LocalProtocolError | UnicodeEncodeError):
        # Its text quotes the header it refused, which may be a key: say which, not what.
        return UpstreamUnavailable(
            502,
            f"the request to the upstream at {url} could not be sent: the HTTP client "
            "refused a header or the body (check the backend's api_key and headers)",
            code="upstream_unreachable",
        )
    if isinstance(exc, httpx.TransportError):
        return UpstreamUnavailable(
            502,
            f"could not reach the upstream at {url}: {redact(str(exc)) or type(exc).__name__}",
            code="upstream_unreachable",
        )
    return UpstreamUnavailable(  # a body it could not decode, too many redirects…
        502,
        f"could not read the answer of the upstream at {url}: {type(exc).__name__}",
        code="upstream_bad_answer",
    )


async def post_json(
    http: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: httpx.Timeout,
    decode_error: ErrorDecoder,
) -> Any:
    """POST and return the decoded JSON body; an error status raises its decoded error."""
    async with _mapped_failures(url):
        response = await http.post(url, content=body, headers=headers, timeout=timeout)
        return _json_of(response, decode_error)


async def get_json(
    http: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    timeout: httpx.Timeout,
    decode_error: ErrorDecoder,
    params: dict[str, str] | None = None,
) -> Any:
    """GET and return the decoded JSON body; an error status raises its decoded error."""
    async with _mapped_failures(url):
        response = await http.get(url, headers=headers, params=params, timeout=timeout)
        return _json_of(response, decode_error)


def _json_of(response: httpx.Response, decode_error: ErrorDecoder) -> Any:
    _raise_for_status(response, decode_error)
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError(
            502,
            f"the upstream sent invalid JSON: {response.text[:200]!r}",
            code="upstream_invalid_json",
        ) from exc


def _raise_for_status(response: httpx.Response, decode_error: ErrorDecoder) -> None:
    """Raise the upstream's error for an error status, and for a redirect (the client does
    not follow them: a base_url that redirects is one to correct, not to follow on every
    request)."""
    if response.status_code >= 400:
        raise _error(response, decode_error)
    if response.status_code >= 300:
        location = response.headers.get("location", "")
        target = shown_url(str(response.url.join(location))) if location else "elsewhere"
        raise UpstreamError(
            502,
            f"the upstream at {shown_url(str(response.url))} answered "
            f"{response.status_code}, a redirect to {target}: set the backend's base_url to "
            "where it points",
            code="upstream_redirect",
        )


def _not_a_stream(response: httpx.Response, decode_error: ErrorDecoder) -> ProxyError:
    """What a JSON answer to a streamed request means: an error some servers send with a
    200, or a server that does not stream."""
    body = _body(response)
    if isinstance(body, dict) and "error" in body:
        return _error(response, decode_error, status=502)
    return UpstreamError(
        502,
        f"the upstream at {shown_url(str(response.url))} answered a streamed request with a "
        "JSON body, not an event stream (does it support streaming?)",
        code="upstream_not_streaming",
    )


class StreamDecoder(Protocol):
    """Turns the JSON objects of a provider's stream into events."""

    done: bool  # the provider said the response is complete

    def chunk(self, data: dict[str, Any]) -> Iterator[Event]:
        """The events carried by one streamed object."""
        ...

    def end(self) -> Iterator[Event]:
        """The closing events, or an error when the response never completed."""
        ...


def _as_sent(blocks: list[bytes], events: tuple[Event, ...] = (), *, text: bool = False) -> Relayed:
    """SSE events relayed as they were sent (LF line ends), with what they carry (`text`:
    plain text, undecoded)."""
    return Relayed(b"\n\n".join(blocks) + b"\n\n", events, text)


class _Decoding:
    """Decodes a provider's SSE messages into events, stopping at the first error.

    Once the response is complete (the decoder says so, or `done_marker` arrives) the
    closing events go out at once and later messages are ignored; the caller still reads
    the body to its end, since only a response read whole leaves its connection in the
    pool (else every stream would open a new TCP/TLS connection).
    """

    __slots__ = ("complete", "decoder", "done_marker", "failed", "plain", "relay", "text_of")

    def __init__(self, decoder: StreamDecoder, done_marker: str | None, relay: bool) -> None:
        self.decoder = decoder
        self.done_marker = done_marker
        self.relay = relay  # hand each message over whole (`Relayed`), with its events
        # A relay passes a message of plain text on undecoded, where the decoder can tell.
        self.plain: Callable[[bytes], bool] | None = (
            getattr(decoder, "plain", None) if relay else None
        )
        # Otherwise it reads the text of such a message straight away, where it can.
        self.text_of: Callable[[bytes], str | None] | None = (
            None if relay else getattr(decoder, "text_of", None)
        )
        self.complete = False
        self.failed = False  # an error event went out: nothing more does

    def blocks(self, blocks: Iterable[bytes]) -> list[Event]:
        """The events of the SSE events in `blocks` (see `SSEParser.blocks`). Relayed
        events of plain text in a row go as one, undecoded; otherwise the text of each is
        read by the decoder's `text_of`, where it has one."""
        events: list[Event] = []
        if self.complete or self.failed:
            return events
        plain, text_of = self.plain, self.text_of
        run: list[bytes] = []  # events of plain text in a row, not yet handed on
        for block in blocks:
            if block.startswith(b"data: "):
                if plain is not None and plain(block):
                    run.append(block)
                    continue
                if text_of is not None and (text := text_of(block)) is not None:
                    if text:
                        events.append(TextDelta(text=text))
                    continue
            message = message_of(block)
            if message is None:
                continue
            if run:
                events.append(_as_sent(run, text=True))
                run.clear()
            start = len(events)
            if message.data == self.done_marker:
                self.decoder.done = True
            else:
                self._message(message.data, events)
            if self.decoder.done and not self.failed:
                self.complete = True
                events.extend(self.decoder.end())
            if self.relay and not self.failed:
                carried = tuple(events[start:])
                # An error (the decoder's end may say the stream was cut) goes out as the
                # engine says it.
                if not (self.complete and any(isinstance(e, ErrorEvent) for e in carried)):
                    del events[start:]
                    events.append(_as_sent([block], carried))
            if self.complete or self.failed:
                break  # an error event, if any, is the last
        if run:
            events.append(_as_sent(run, text=True))
        return events

    def _message(self, data: str, events: list[Event]) -> None:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            self._fail(
                events,
                502,
                "upstream_invalid_json",
                f"the upstream sent invalid JSON: {data[:200]!r}",
            )
            return
        if not isinstance(value, dict):
            return
        try:
            for event in self.decoder.chunk(value):
                if isinstance(event, ErrorEvent):  # it may echo the key it refused
                    self._fail(events, event.status, event.code, redact(event.message))
                    return
                events.append(event)
        except _SHAPE_ERRORS as exc:
            error = bad_shape(exc)
            self._fail(events, 502, error.code, error.message)

    def _fail(self, events: list[Event], status: int, code: str, message: str) -> None:
        self.failed = True
        events.append(ErrorEvent(status=status, code=code, message=message))

    def end(self) -> list[Event]:
        """The closing events of a stream that ended before it said it was complete."""
        if self.complete or self.failed:
            return []
        self.complete = True
        return list(self.decoder.end())


async def stream_events(
    http: httpx.AsyncClient,
    url: str,
    encode: Callable[[], bytes],
    headers: dict[str, str],
    timeout: httpx.Timeout,
    decode_error: ErrorDecoder,
    decoder: StreamDecoder,
    *,
    done_marker: str | None = None,
    relay: bool = False,
) -> AsyncGenerator[Event, None]:
    """POST the body `encode` makes (when the first event is asked for) and decode the SSE
    response into events (see `_Decoding`; `relay`: each message handed over whole, as
    `Relayed`); closing this iterator early closes the call.

    Each piece of the body is parsed and decoded at once, and its events handed on in a
    row, nothing between this generator and the body; with a stream that goes straight to
    the client (`direct_to`), as one `Bundle`.
    """
    decoding = _Decoding(decoder, done_marker, relay)
    parser = SSEParser()
    bundle = direct_to.get() is not None
    body = encode()
    try:
        async with _mapped_failures(url):
            request = http.build_request(
                "POST", url, content=body, headers=headers, timeout=timeout
            )
            response = await http.send(request, stream=True)
            try:
                if response.status_code >= 300 or _is_json(response):
                    await response.aread()  # an error, also one a server sends with a 200
                    _raise_for_status(response, decode_error)
                    raise _not_a_stream(response, decode_error)
                async for piece in response.aiter_bytes():
                    if decoding.complete:
                        continue  # read to its end, for the pool
                    for event in _handed_on(decoding.blocks(parser.blocks(piece)), bundle):
                        yield event
                    if decoding.failed:
                        return
                for event in _handed_on(decoding.blocks(parser.close_blocks()), bundle):
                    yield event
            finally:
                await response.aclose()
    except ProxyError:
        if not decoding.complete:
            raise
        # The response was whole: failing to read the rest of the body costs only the
        # pooled connection, and the client must not see an error after its finish.
        return
    for event in decoding.end():
        yield event


def _handed_on(events: list[Event], bundle: bool) -> Sequence[Event]:
    """`events` as they go on: with `bundle`, those in a row as one `Bundle`, but an error
    event (always the last: nothing is read after one) on its own, since a strategy reads
    a first event that is an error as the upstream's failure."""
    if not bundle or len(events) < 2:
        return events
    if isinstance(events[-1], ErrorEvent):
        return [Bundle(tuple(events[:-1])) if len(events) > 2 else events[0], events[-1]]
    return (Bundle(tuple(events)),)


def exchange(
    http: httpx.AsyncClient,
    url: str,
    encode: Callable[[], bytes],
    headers: dict[str, str],
    timeout: httpx.Timeout,
    decode_error: ErrorDecoder,
    *,
    stream: bool,
    decode_response: Callable[[Any], Iterable[Event]],
    stream_decoder: Callable[[], StreamDecoder],
    done_marker: str | None = None,
    relay: bool = False,
) -> AsyncGenerator[Event, None]:
    """One call to a provider, as events: the whole JSON body decoded, or the SSE stream
    (see `stream_events`, and `relay` there). The body is encoded when the first event is
    asked for, so that what goes wrong there goes wrong where the caller handles upstream
    failures."""
    if stream:
        decoder = stream_decoder()
        return stream_events(
            http,
            url,
            encode,
            headers,
            timeout,
            decode_error,
            decoder,
            done_marker=done_marker,
            relay=relay,
        )
    return _whole(http, url, encode, headers, timeout, decode_error, decode_response)


async def _whole(
    http: httpx.AsyncClient,
    url: str,
    encode: Callable[[], bytes],
    headers: dict[str, str],
    timeout: httpx.Timeout,
    decode_error: ErrorDecoder,
    decode_response: Callable[[Any], Iterable[Event]],
) -> AsyncGenerator[Event, None]:
    answer = await post_json(http, url, encode(), headers, timeout, decode_error)
    for event in decoded(decode_response, answer):
        yield event
