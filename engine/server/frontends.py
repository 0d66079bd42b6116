"""The front-ends: for each client protocol, its codec functions and error shape."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from engine.codecs import openai_chat
from engine.errors import ProxyError
from engine.model import ChatRequest, Event
from engine.response import ChatResponse


class StreamEncoder(Protocol):
    """Encodes events as the bytes of a client stream."""

    def event(self, event: Event) -> bytes:
        """The bytes for one event."""
        ...

    def error(self, error: ProxyError) -> bytes:
        """The bytes reporting an error mid-stream."""
        ...


@dataclass(frozen=True)
class Frontend:
    """A client-facing protocol."""

    name: str
    decode_request: Callable[[Any], ChatRequest]
    encode_response: Callable[[ChatResponse], dict[str, Any]]
    stream_encoder: Callable[[ChatRequest], StreamEncoder]
    encode_error: Callable[[ProxyError], dict[str, Any]]


OPENAI_CHAT = Frontend(
    name="openai_chat",
    decode_request=openai_chat.decode_request,
    encode_response=openai_chat.encode_response,
    stream_encoder=lambda request: openai_chat.StreamEncoder(include_usage=request.include_usage),
    encode_error=openai_chat.encode_error,
)
