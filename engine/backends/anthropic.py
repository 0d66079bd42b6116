"""Connector for Anthropic's Messages API (and servers that speak it)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Literal

import httpx
from pydantic import Field

from engine.backends.base import Backend, BackendConfig
from engine.backends.upstream import (
    DISCOVERY_TIMEOUT,
    bad_shape,
    exchange,
    get_json,
    model_ids,
    post_json,
)
from engine.codecs import anthropic
from engine.codecs.sse import dumps_bytes
from engine.model import ChatRequest, Event
from engine.notes import Dropped

VERSION = "2023-06-01"
MAX_PAGES = 10  # of a model listing


class AnthropicConfig(BackendConfig):
    """Anthropic's Messages API."""

    kind: Literal["anthropic"] = Field(default="anthropic", description="Anthropic Messages API")
    base_url: str = Field(
        default="https://api.anthropic.com",
        description="as the Anthropic SDK takes it, without the `/v1` suffix",
    )
    api_key: str | None = Field(default=None, description="sent as `x-api-key`")
    anthropic_version: str = Field(
        default=VERSION,
        description="the `anthropic-version` header, unless an Anthropic client sent its own",
    )
    betas: list[str] = Field(
        default_factory=list,
        description="`anthropic-beta` features to ask for, besides those an Anthropic client asks",
    )
    default_max_tokens: int = Field(
        default=anthropic.DEFAULT_MAX_TOKENS,
        gt=0,
        description="`max_tokens` when the client sets none (Anthropic requires one)",
    )


class AnthropicBackend(Backend):
    """Speaks Messages to `base_url`; forwards an Anthropic client's version and betas."""

    kind = "anthropic"
    Config = AnthropicConfig
    config: AnthropicConfig

    def __init__(self, name: str, config: BackendConfig) -> None:
        super().__init__(name, config)
        base = self.config.base_url.rstrip("/")
        self.url = f"{base}/v1/messages"
        self.count_url = f"{base}/v1/messages/count_tokens"
        self.models_url = f"{base}/v1/models"
        self.headers = {
            "content-type": "application/json",
            "anthropic-version": self.config.anthropic_version,
            **{k.lower(): v for k, v in self.config.headers.items()},
        }
        if self.config.api_key:
            self.headers["x-api-key"] = self.config.api_key

    def request_headers(self, request: ChatRequest) -> dict[str, str]:
        """Our headers, with the client's `anthropic-version` and betas when it sent them."""
        headers = dict(self.headers)
        forwarded = request.forward_headers
        if forwarded.get("anthropic-version"):
            headers["anthropic-version"] = forwarded["anthropic-version"]
        betas = [*self.config.betas, *forwarded.get("anthropic-beta", "").split(",")]
        if headers.get("anthropic-beta"):
            betas.insert(0, headers["anthropic-beta"])
        unique = list(dict.fromkeys(b.strip() for b in betas if b.strip()))
        if unique:
            headers["anthropic-beta"] = ",".join(unique)
        return headers

    def encode(self, request: ChatRequest, model: str, dropped: Dropped | None = None) -> bytes:
        """The upstream body for `request`."""
        body = anthropic.encode_request(
            request, model, default_max_tokens=self.config.default_max_tokens, dropped=dropped
        )
        return dumps_bytes(body)

    async def list_models(self, http: httpx.AsyncClient) -> list[str]:
        """`GET /v1/models`, page after page (Anthropic's `after_id`)."""
        found: list[str] = []
        params = {"limit": "1000"}
        for _ in range(MAX_PAGES):
            body = await get_json(
                http,
                self.models_url,
                self.headers,
                DISCOVERY_TIMEOUT,
                anthropic.decode_error,
                params,
            )
            page = model_ids(body.get("data") if isinstance(body, dict) else None, "id")
            found.extend(page)
            last = body.get("last_id") if isinstance(body, dict) else None
            if not page or not body.get("has_more") or not isinstance(last, str):
                break
            params = {"limit": "1000", "after_id": last}
        return found

    async def count_tokens(
        self, request: ChatRequest, model: str, http: httpx.AsyncClient
    ) -> int | None:
        """Ask the upstream how many input tokens `request` has (None for a request with
        no message, which Anthropic refuses to count: a Gemini count of a system
        instruction alone, a turn made only of commands)."""
        if not request.messages:
            return None
        body = anthropic.encode_request(request, model)
        for key in ("max_tokens", "stream", "metadata", "temperature", "top_p", "top_k"):
            body.pop(key, None)
        body.pop("stop_sequences", None)
        headers = self.request_headers(request)
        answer = await post_json(
            http,
            self.count_url,
            dumps_bytes(body),
            headers,
            self.timeout,
            anthropic.decode_error,
        )
        tokens = answer.get("input_tokens") if isinstance(answer, dict) else None
        if not isinstance(tokens, int):
            raise bad_shape(TypeError(f"input_tokens is {tokens!r}, not a number"))
        return tokens

    def send(
        self,
        request: ChatRequest,
        model: str,
        http: httpx.AsyncClient,
        dropped: Dropped | None = None,
    ) -> AsyncGenerator[Event, None]:
        """Post the request; decode the JSON body or the SSE stream into events."""
        return exchange(
            http,
            self.url,
            lambda: self.encode(request, model, dropped),
            self.request_headers(request),
            self.timeout,
            anthropic.decode_error,
            stream=request.stream,
            decode_response=anthropic.decode_response,
            stream_decoder=anthropic.StreamDecoder,
        )


__all__ = ["AnthropicBackend", "AnthropicConfig"]
