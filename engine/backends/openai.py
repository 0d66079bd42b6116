"""Connector for OpenAI and every OpenAI-compatible server (vLLM, llama.cpp, Ollama, OpenRouter)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncGenerator, Iterable, Iterator
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field

from engine.backends.base import Backend, BackendConfig
from engine.backends.upstream import (
    DISCOVERY_TIMEOUT,
    ErrorDecoder,
    StreamDecoder,
    exchange,
    get_json,
    model_ids,
)
from engine.codecs import openai_chat
from engine.codecs.sse import dumps_bytes
from engine.model import ChatRequest, Event
from engine.notes import Dropped


class OpenAIEndpointConfig(BackendConfig):
    """Where an OpenAI API (or a server that speaks one) is, and its key."""

    base_url: str = Field(
        default="https://api.openai.com/v1",
        description="as the OpenAI SDK takes it, with the `/v1` suffix",
    )
    api_key: str | None = Field(default=None, description="sent as `Authorization: Bearer`")


class OpenAIEndpoint(Backend):
    """What the connectors to OpenAI's APIs share: the URL of `path` under `base_url`, the
    bearer key, and model discovery by `GET /models`."""

    config: OpenAIEndpointConfig
    path: ClassVar[str]
    decode_error: ErrorDecoder  # the codec's, as a staticmethod
    done_marker: ClassVar[str | None] = None  # the stream's last message, if it has one

    def __init__(self, name: str, config: BackendConfig) -> None:
        super().__init__(name, config)
        self.url = self.config.base_url.rstrip("/") + self.path
        self.headers = {"content-type": "application/json", **self.config.headers}
        if self.config.api_key:
            self.headers["authorization"] = f"Bearer {self.config.api_key}"

    async def list_models(self, http: httpx.AsyncClient) -> list[str]:
        """`GET /models`: the ids of its `data`."""
        url = self.config.base_url.rstrip("/") + "/models"
        body = await get_json(http, url, self.headers, DISCOVERY_TIMEOUT, self.decode_error)
        return model_ids(body.get("data") if isinstance(body, dict) else None, "id")

    @abstractmethod
    def encode(
        self, request: ChatRequest, model: str, dropped: Dropped | None = None
    ) -> dict[str, Any]:
        """The body to send, naming in `dropped` what it cannot carry."""

    @abstractmethod
    def decode_response(self, body: dict[str, Any]) -> Iterable[Event]:
        """The events of a non-streaming response body."""

    @abstractmethod
    def stream_decoder(self) -> StreamDecoder:
        """A decoder for one streamed response."""

    def send(
        self,
        request: ChatRequest,
        model: str,
        http: httpx.AsyncClient,
        dropped: Dropped | None = None,
    ) -> AsyncGenerator[Event, None]:
        """Post the request; decode the JSON body or the SSE stream into events (relayed
        too, where the stream goes straight to a client of `relays`)."""
        return exchange(
            http,
            self.url,
            lambda: dumps_bytes(self.encode(request, model, dropped)),
            self.headers,
            self.timeout,
            self.decode_error,
            stream=request.stream,
            decode_response=self.decode_response,
            stream_decoder=self.stream_decoder,
            done_marker=self.done_marker,
            relay=self.relaying(),
        )


class OpenAIConfig(OpenAIEndpointConfig):
    """An OpenAI-compatible Chat Completions endpoint."""

    kind: Literal["openai"] = Field(
        default="openai", description="OpenAI Chat Completions or any compatible server"
    )
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] | None = Field(
        default=None,
        description="the body field for the output limit; by default `max_completion_tokens` "
        "for api.openai.com and `max_tokens` for other servers",
    )


class OpenAIBackend(OpenAIEndpoint):
    """Speaks Chat Completions to `base_url`."""

    kind = "openai"
    Config = OpenAIConfig
    config: OpenAIConfig
    path = "/chat/completions"
    relays: ClassVar[str | None] = "openai_chat"
    decode_error = staticmethod(openai_chat.decode_error)
    done_marker = "[DONE]"

    def __init__(self, name: str, config: BackendConfig) -> None:
        super().__init__(name, config)
        official = httpx.URL(self.config.base_url).host == "api.openai.com"
        self.max_tokens_field = self.config.max_tokens_field or (
            "max_completion_tokens" if official else "max_tokens"
        )
        # OpenAI's own API refuses arguments it does not know; compatible servers take top_k.
        self.drop_fields: tuple[str, ...] = ("top_k",) if official else ()

    # Hooks for OpenAI-compatible services whose dialect differs (see openrouter.py).

    def encode(
        self, request: ChatRequest, model: str, dropped: Dropped | None = None
    ) -> dict[str, Any]:
        """The Chat Completions body to send."""
        return openai_chat.encode_request(
            request,
            model,
            max_tokens_field=self.max_tokens_field,
            drop_fields=self.drop_fields,
            dropped=dropped,
        )

    def decode_response(self, body: dict[str, Any]) -> Iterator[Event]:
        """The events of a non-streaming response body."""
        return openai_chat.decode_response(body)

    def stream_decoder(self) -> openai_chat.StreamDecoder:
        """A decoder for one streamed response."""
        return openai_chat.StreamDecoder()


__all__ = ["OpenAIBackend", "OpenAIConfig"]
