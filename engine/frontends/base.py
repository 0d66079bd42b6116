"""What a front-end is: a client-facing protocol, its codec functions and its endpoints.

Each front-end module builds one :class:`Frontend` and a ``mount`` function that adds its
endpoints to the app, calling :meth:`engine.server.app.Server.handle` for the chat endpoint
so that every protocol shares one request path (decode → execute → encode).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from engine.errors import ProxyError
from engine.model import ChatRequest, Event
from engine.response import ChatResponse

if TYPE_CHECKING:
    from quart import Quart

    from engine.server.app import Server


class StreamEncoder(Protocol):
    """Encodes events as the bytes of a client stream."""

    def event(self, event: Event) -> bytes:
        """The bytes for one event (possibly none)."""
        ...

    def error(self, error: ProxyError) -> bytes:
        """The bytes reporting an error after the stream started."""
        ...


@dataclass(frozen=True)
class Call:
    """What a front-end may need from the HTTP request besides its body."""

    path_params: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # names lower-cased


@dataclass(frozen=True)
class Frontend:
    """A client-facing protocol."""

    name: str
    decode_request: Callable[[Any, Call], ChatRequest]
    encode_response: Callable[[ChatResponse, ChatRequest], dict[str, Any]]
    stream_encoder: Callable[[ChatRequest], StreamEncoder]
    encode_error: Callable[[ProxyError], dict[str, Any]]
    mount: Callable[[Quart, Server], None]
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
    prepare: Callable[[ChatRequest, Server], Awaitable[ChatRequest]] | None = None
    complete: Callable[[ChatRequest, dict[str, Any], Server], Awaitable[None]] | None = None
