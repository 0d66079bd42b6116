"""Connector for the OpenAI Responses API: Responses-only models (the Codex and pro models)
and a lossless path for Responses clients (see `engine.codecs.openai_responses.upstream`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from engine.backends.openai import OpenAIEndpoint, OpenAIEndpointConfig
from engine.codecs.openai_responses import upstream
from engine.model import ChatRequest, Event
from engine.notes import Dropped


class OpenAIResponsesConfig(OpenAIEndpointConfig):
    """The OpenAI Responses API, or a server that speaks it."""

    kind: Literal["openai_responses"] = Field(
        default="openai_responses", description="the OpenAI Responses API (`POST /responses`)"
    )


class OpenAIResponsesBackend(OpenAIEndpoint):
    """Speaks the Responses API to `base_url`; can continue responses the provider holds."""

    kind = "openai_responses"
    Config = OpenAIResponsesConfig
    config: OpenAIResponsesConfig
    path = "/responses"
    decode_error = staticmethod(upstream.decode_error)
    continues_responses = True

    def encode(
        self, request: ChatRequest, model: str, dropped: Dropped | None = None
    ) -> dict[str, Any]:
        """The Responses body to send."""
        return upstream.encode_request(request, model, dropped=dropped)

    def decode_response(self, body: dict[str, Any]) -> Iterator[Event]:
        """The events of a non-streaming response object."""
        return upstream.decode_response(body)

    def stream_decoder(self) -> upstream.StreamDecoder:
        """A decoder for one event stream."""
        return upstream.StreamDecoder()


__all__ = ["OpenAIResponsesBackend", "OpenAIResponsesConfig"]
