"""HTTP calls to providers on the shared client, with failures mapped to ProxyError."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from engine.codecs.sse import SSEMessage, parse_sse
from engine.errors import ProxyError, UpstreamError, UpstreamUnavailable

ErrorDecoder = Callable[[int, Any], ProxyError]


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


@asynccontextmanager
async def _mapped_failures(url: str) -> AsyncIterator[None]:
    try:
        yield
    except httpx.TimeoutException as exc:
        raise UpstreamUnavailable(
            504,
            f"the upstream at {url} did not answer in time ({type(exc).__name__})",
            code="upstream_timeout",
        ) from exc
    except httpx.TransportError as exc:
        raise UpstreamUnavailable(
            502,
            f"could not reach the upstream at {url}: {exc or type(exc).__name__}",
            code="upstream_unreachable",
        ) from exc


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
    if response.status_code >= 400:
        raise decode_error(response.status_code, _body(response))
    try:
        return response.json()
    except ValueError as exc:
        raise UpstreamError(
            502,
            f"the upstream sent invalid JSON: {response.text[:200]!r}",
            code="upstream_invalid_json",
        ) from exc


async def stream_sse(
    http: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: httpx.Timeout,
    decode_error: ErrorDecoder,
) -> AsyncGenerator[SSEMessage, None]:
    """POST and yield the SSE messages of the response; closing the iterator closes the call."""
    async with _mapped_failures(url):
        request = http.build_request("POST", url, content=body, headers=headers, timeout=timeout)
        response = await http.send(request, stream=True)
        try:
            if response.status_code >= 400:
                await response.aread()
                raise decode_error(response.status_code, _body(response))
            async for message in parse_sse(response.aiter_lines()):
                yield message
        finally:
            await response.aclose()
