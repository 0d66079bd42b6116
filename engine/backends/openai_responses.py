"""Connector for the OpenAI Responses API: Responses-only models (the Codex and pro models)
and a lossless path for Responses clients (see `engine.codecs.openai_responses.upstream`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Literal

import httpx
from pydantic import Field

from engine.backends.openai import OpenAIEndpoint, OpenAIEndpointConfig
from engine.backends.upstream import exchange
from engine.codecs.openai_responses import upstream
from engine.codecs.sse import dumps_bytes
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

    def send(
        self,
        request: ChatRequest,
        model: str,
        http: httpx.AsyncClient,
        dropped: Dropped | None = None,
    ) -> AsyncGenerator[Event, None]:
        """Post the request; decode the JSON body or the event stream into events."""
        return exchange(
            http,
            self.url,
            lambda: dumps_bytes(upstream.encode_request(request, model, dropped=dropped)),
            self.headers,
            self.timeout,
            self.decode_error,
            stream=request.stream,
            decode_response=upstream.decode_response,
            stream_decoder=upstream.StreamDecoder,
        )


__all__ = ["OpenAIResponsesBackend", "OpenAIResponsesConfig"]
