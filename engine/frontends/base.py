"""What a front-end is: a client-facing protocol's codec functions and its route table.

A front-end knows its protocol, not the web framework or the server: each endpoint is a
handler that gets the HTTP :class:`Call` and the :class:`Host` (the server, seen through
the few things a front-end may ask of it) and returns a :class:`Reply`. The server mounts
the endpoints, runs every operation through the executor and turns replies into HTTP
responses; a handler raises ProxyError for an error, which the server sends in the
front-end's shape.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.errors import ProxyError
from engine.exchange import Call, Operation
from engine.model import ChatRequest, Event
from engine.response import ChatResponse
from engine.stored_responses import ResponseStore


class StreamEncoder(Protocol):
    """Encodes events as the bytes of a client stream."""

    def event(self, event: Event) -> bytes:
        """The bytes for one event (possibly none)."""
        ...

    def error(self, error: ProxyError) -> bytes:
        """The bytes reporting an error after the stream started."""
        ...


@dataclass(slots=True)
class Reply:
    """What an endpoint answers: a JSON body, or the bytes of a stream."""

    body: dict[str, Any] | AsyncIterator[bytes]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


class Host(Protocol):
    """What a front-end's endpoints may ask of the server."""

    @property
    def responses(self) -> ResponseStore:
        """The stored Responses-API responses."""
        ...

    async def chat(self, frontend: Frontend, call: Call) -> Reply:
        """Serve a chat call: decode, run the pipeline, encode (streaming or not)."""
        ...

    async def count_tokens(
        self, frontend: Frontend, call: Call, request: ChatRequest, estimate: Estimate
    ) -> int:
        """Count the input tokens of `request` through the pipeline's `count_tokens` stages."""
        ...

    async def models(self, frontend: Frontend, call: Call) -> list[str]:
        """The model ids to list, once the pipeline admitted the call."""
        ...

    async def admit(self, frontend: Frontend, call: Call, operation: Operation) -> None:
        """Run the pipeline's stages for `operation`, a call that routes nowhere (reading
        a stored response); a refusal raises ProxyError."""
        ...


Handler = Callable[[Call, Host], Awaitable[Reply]]
Estimate = Callable[[ChatRequest], int]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One route of a front-end: method, path rule (`<name>` and `<path:name>` parts are
    path parameters) and handler. When several front-ends declare one method and rule,
    the first whose `when` accepts the call serves it; the one without `when` is the
    fallback."""

    method: str
    rule: str
    handler: Handler
    when: Callable[[Call], bool] | None = None


@dataclass(frozen=True)
class Frontend:
    """A client-facing protocol."""

    name: str
    decode_request: Callable[[Any, Call], ChatRequest]
    encode_response: Callable[[ChatResponse, ChatRequest], dict[str, Any]]
    stream_encoder: Callable[[ChatRequest, Call], StreamEncoder]
    encode_error: Callable[[ProxyError], dict[str, Any]]
    endpoints: tuple[Endpoint, ...]
    path_prefixes: tuple[str, ...] = ()  # its errors for unknown paths under these
    path_pattern: re.Pattern[str] | None = None  # … and for paths this matches at the start
    stream_content_type: str = "text/event-stream"

    def claim(self, path: str) -> int:
        """How specifically this front-end owns `path` (0: not at all), to pick the shape
        of errors for paths no endpoint took."""
        claims = [len(p) for p in self.path_prefixes if path.startswith(p)]
        if self.path_pattern is not None and (found := self.path_pattern.match(path)):
            claims.append(found.end())
        return max(claims, default=0)

    # Optional async steps around the shared request path: `prepare` runs after decoding
    # (e.g. loading a stored conversation), `complete` gets the final client body of a
    # finished response, streamed (the encoder's `final`) or not (e.g. to store it).
    prepare: Callable[[ChatRequest, Host], Awaitable[ChatRequest]] | None = None
    complete: Callable[[ChatRequest, dict[str, Any], Host], Awaitable[None]] | None = None
