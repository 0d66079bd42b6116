"""Connector for the OpenAI Responses API: Responses-only models (the Codex and pro models)
and a lossless path for Responses clients (see `engine.codecs.openai_responses.upstream`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Literal

import httpx
from pydantic import Field

from engine.backends.base import Backend, BackendConfig
from engine.backends.upstream import (
    DISCOVERY_TIMEOUT,
    exchange,
    get_json,
    model_ids,
)
from engine.codecs.openai_responses import upstream
from engine.codecs.sse import dumps_bytes
from engine.model import ChatRequest, Event
from engine.notes import Dropped


class OpenAIResponsesConfig(BackendConfig):
    """The OpenAI Responses API, or a server that speaks it."""

    kind: Literal["openai_responses"] = Field(
        default="openai_responses", description="the OpenAI Responses API (`POST /responses`)"
    )
    base_url: str = Field(
        default="https://api.openai.com/v1",
        description="as the OpenAI SDK takes it, with the `/v1` suffix",
    )
    api_key: str | None = Field(default=None, description="sent as `Authorization: Bearer`")


class OpenAIResponsesBackend(Backend):
    """Speaks the Responses API to `base_url`; can continue responses the provider holds."""

    kind = "openai_responses"
    Config = OpenAIResponsesConfig
    config: OpenAIResponsesConfig
    continues_responses = True

    def __init__(self, name: str, config: BackendConfig) -> None:
        super().__init__(name, config)
        self.url = self.config.base_url.rstrip("/") + "/responses"
        self.headers = {"content-type": "application/json", **self.config.headers}
        if self.config.api_key:
            self.headers["authorization"] = f"Bearer {self.config.api_key}"

    async def list_models(self, http: httpx.AsyncClient) -> list[str]:
        """`GET /models`, as the Chat Completions connector asks it."""
        url = self.config.base_url.rstrip("/") + "/models"
        body = await get_json(http, url, self.headers, DISCOVERY_TIMEOUT, upstream.decode_error)
        return model_ids(body.get("data") if isinstance(body, dict) else None, "id")

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
            upstream.decode_error,
            stream=request.stream,
            decode_response=upstream.decode_response,
            stream_decoder=upstream.StreamDecoder,
        )


__all__ = ["OpenAIResponsesBackend", "OpenAIResponsesConfig"]
