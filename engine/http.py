"""The shared upstream HTTP client: httpx's API over aiohttp's connection pool.

The connectors are written against `httpx.AsyncClient` (and tested with respx on one);
the server sends on one whose transport is `httpx_aiohttp.AiohttpTransport`: on the
benchmark's null proxy that is 2.5 to 4 times the requests/s of httpx's own pool (README,
Benchmarks). Its failures are mapped to the httpx errors they are: a connection the
upstream dropped is a remote protocol error, not a connect timeout, and a header the client
refuses is a local protocol error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from engine.capture.recorder import current as capturing

POOL_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=60)
DEFAULT_TIMEOUT = httpx.Timeout(600, connect=10)

# The most specific first: the first that matches the aiohttp error names the httpx one.
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (TimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientOSError, httpx.ReadError),
    (aiohttp.ClientError, httpx.TransportError),
)


def _mapped(exc: BaseException) -> BaseException:
    """The httpx error for what aiohttp raised (itself, or as the cause httpx-aiohttp kept)."""
    cause = exc.__cause__ if isinstance(exc, httpx.TransportError) else exc
    for kind, mapped in _ERRORS:
        if isinstance(cause, kind):
            return mapped(str(cause) or type(cause).__name__)
    return exc


class _Body(httpx.AsyncByteStream):
    """A response body whose read failures are mapped like the request's."""

    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except (httpx.TransportError, aiohttp.ClientError, TimeoutError) as exc:
            raise _mapped(exc) from exc

    async def aclose(self) -> None:
        await self._stream.aclose()


class UpstreamTransport(AiohttpTransport):
    """httpx-aiohttp's transport with its failures mapped to the right httpx errors."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` on the aiohttp pool (recorded, with its answer, when the
        exchange is being captured)."""
        recording = capturing.get()
        call = recording.sent(request) if recording is not None else None
        try:
            response = await super().handle_async_request(request)
        except (httpx.TransportError, aiohttp.ClientError, TimeoutError) as exc:
            mapped = _mapped(exc)
            if call is not None:
                call.error = f"{type(mapped).__name__}: {mapped}"
            raise mapped from exc
        except ValueError as exc:  # aiohttp refusing a header value (a newline in a key…)
            raise httpx.LocalProtocolError(str(exc)) from exc
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Body(response.stream)
        if recording is not None and call is not None:
            recording.answered(call, response)
        return response


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Keep none of the cookies an upstream sets."""

    def __bool__(self) -> bool:
        return False


class UpstreamClient(httpx.AsyncClient):
    """An `httpx.AsyncClient` without a cookie jar. A proxy's clients share its upstream
    client: a cookie one upstream answer set would go out with everyone's next request.
    (It also spares each response the jar's work.)"""

    @property
    def cookies(self) -> httpx.Cookies:
        """None, ever."""
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("the upstream client keeps no cookies")


_NO_COOKIES = _NoCookies()


def upstream_client(limits: httpx.Limits = POOL_LIMITS) -> httpx.AsyncClient:
    """The client every backend sends on, following no redirects and keeping no cookies.
    (Requests through a proxy named by HTTPS_PROXY and its kin go on httpx's own
    transport.)"""
    return UpstreamClient(
        transport=UpstreamTransport(limits=limits),
        timeout=DEFAULT_TIMEOUT,
        follow_redirects=False,
    )
