"""Recording one exchange as it happens, for the `capture` stage.

The server's access middleware opens a :class:`Recording` for each HTTP request while the
graph has a `capture` stage, and makes it `current` for the request's context; the
upstream transport (`engine.http`) adds each call it sends and the bytes it gets back, with
their timings; the `capture` stage, when a request reaches it, says which sink takes the
record; the middleware then finishes the record with what the client got, and offers it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from typing import Protocol

import httpx

from engine.capture.records import CapturedExchange, Message, UpstreamCall

current: ContextVar[Recording | None] = ContextVar("engine.capture", default=None)


class Sink(Protocol):
    """Where a finished record goes (a `CaptureSink`)."""

    def offer(self, record: CapturedExchange) -> bool:
        """Take the record, never blocking; whether it was taken."""


class _Call:
    """One upstream call being recorded."""

    __slots__ = ("chunks", "error", "headers", "request", "status", "url")

    def __init__(self, request: Message, url: str) -> None:
        self.request, self.url = request, url
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[tuple[float, bytes]] = []
        self.error: str | None = None


class Recording:
    """What one exchange sent and got so far."""

    __slots__ = ("_calls", "_started", "body", "chunks", "headers", "sink", "started", "status")

    def __init__(self) -> None:
        self.started = time.time()
        self._started = time.perf_counter()
        self.sink: Sink | None = None  # set by the capture stage the request reached
        self._calls: list[_Call] = []
        self.body: list[bytes] = []  # the client's request body, as it came
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[tuple[float, bytes]] = []  # what the client got, as it went

    def ms(self) -> float:
        """Milliseconds since the exchange started."""
        return (time.perf_counter() - self._started) * 1000

    def sent(self, request: httpx.Request) -> _Call:
        """Record an upstream request (its body must be read already, as the backends'
        JSON bodies are)."""
        message = Message(
            method=request.method,
            path=request.url.raw_path.decode("ascii", "replace"),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
            body=request.content,
        )
        call = _Call(message, str(request.url.copy_with(query=None)))
        self._calls.append(call)
        return call

    def answered(self, call: _Call, response: httpx.Response) -> None:
        """Record an upstream response's head, and its body as it is read."""
        call.status = response.status_code
        call.headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw]
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _RecordedBody(response.stream, call, self)

    def finish(
        self,
        method: str,
        path: str,
        request_headers: list[tuple[str, str]],
        fields: Mapping[str, str],
        error: str | None,
    ) -> CapturedExchange:
        """The record, once the client's response is over; `fields` are what the server
        noted (front-end, route, session, backend, tokens)."""
        served = fields.get("backend", "")
        calls = [
            UpstreamCall(
                backend=served.partition(":")[0] if i == len(self._calls) - 1 else "",
                model=served.partition(":")[2] if i == len(self._calls) - 1 else "",
                url=call.url,
                request=call.request,
                response=None
                if call.status is None
                else Message(
                    status=call.status,
                    headers=call.headers,
                    chunks=call.chunks,
                    body=b"".join(piece for _, piece in call.chunks),
                ),
                error=call.error,
            )
            for i, call in enumerate(self._calls)
        ]
        usage = {
            kind: int(fields[f"{kind}_tokens"])
            for kind in ("input", "output")
            if fields.get(f"{kind}_tokens", "").isdigit()
        }
        return CapturedExchange(
            id=f"x-{uuid.uuid4().hex}",
            started=self.started,
            session=fields.get("session"),
            frontend=fields.get("frontend", "-"),
            route=fields.get("route"),
            client_request=Message(
                method=method, path=path, headers=request_headers, body=b"".join(self.body)
            ),
            upstream=calls,
            client_response=Message(
                status=self.status,
                headers=self.headers,
                chunks=self.chunks if "stream" in fields else [],
                body=b"".join(piece for _, piece in self.chunks),
            ),
            usage=usage or None,
            error=error,
        )


class _RecordedBody(httpx.AsyncByteStream):
    """An upstream response body, each chunk recorded with its time as it is read."""

    def __init__(self, stream: httpx.AsyncByteStream, call: _Call, recording: Recording) -> None:
        self._stream, self._call, self._recording = stream, call, recording

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                self._call.chunks.append((self._recording.ms(), chunk))
                yield chunk
        except Exception as exc:
            self._call.error = f"{type(exc).__name__}: {exc}"
            raise

    async def aclose(self) -> None:
        await self._stream.aclose()


__all__ = ["Recording", "Sink", "current"]
