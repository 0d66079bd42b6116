"""Connector for the Gemini API (`generateContent`, streaming with `alt=sse`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Literal
from urllib.parse import quote

import httpx
from pydantic import Field

from engine.backends.base import Backend, BackendConfig
from engine.backends.upstream import (
    DISCOVERY_TIMEOUT,
    exchange,
    get_json,
    model_ids,
)
from engine.codecs import gemini
from engine.codecs.sse import dumps_bytes
from engine.model import ChatRequest, Event
from engine.notes import Dropped

MAX_PAGES = 10  # of a model listing


class GeminiConfig(BackendConfig):
    """The Gemini API (Google AI Studio keys)."""

    kind: Literal["gemini"] = Field(default="gemini", description="the Gemini API")
    base_url: str = Field(
        default="https://generativelanguage.googleapis.com",
        description="as the google-genai SDK takes it, without the API version",
    )
    api_version: str = Field(default="v1beta", description="the path segment after base_url")
    api_key: str | None = Field(default=None, description="sent as `x-goog-api-key`")


class GeminiBackend(Backend):
    """Speaks `generateContent` to `base_url`."""

    kind = "gemini"
    Config = GeminiConfig
    config: GeminiConfig

    def __init__(self, name: str, config: BackendConfig) -> None:
        super().__init__(name, config)
        self.root = f"{self.config.base_url.rstrip('/')}/{self.config.api_version.strip('/')}"
        self.headers = {"content-type": "application/json", **self.config.headers}
        if self.config.api_key:
            self.headers["x-goog-api-key"] = self.config.api_key

    def url(self, model: str, *, stream: bool) -> str:
        """The endpoint for `model`: `…/models/MODEL:generateContent` or the streaming one."""
        model = model.removeprefix("models/")
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{self.root}/models/{quote(model, safe='-._~@')}:{action}"

    async def list_models(self, http: httpx.AsyncClient) -> list[str]:
        """`GET …/models`, page after page; only the models that generate content."""
        found: list[str] = []
        params = {"pageSize": "1000"}
        for _ in range(MAX_PAGES):
            body = await get_json(
                http,
                f"{self.root}/models",
                self.headers,
                DISCOVERY_TIMEOUT,
                gemini.decode_error,
                params,
            )
            body = body if isinstance(body, dict) else {}
            entries = [
                m
                for m in body.get("models") or ()
                if isinstance(m, dict)
                and "generateContent"
                in (m.get("supportedGenerationMethods") or ["generateContent"])
            ]
            found.extend(model_ids(entries, "name", "models/"))
            if not body.get("nextPageToken"):
                break
            params = {"pageSize": "1000", "pageToken": str(body["nextPageToken"])}
        return found

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
            self.url(model, stream=request.stream),
            lambda: dumps_bytes(gemini.encode_request(request, dropped=dropped)),
            self.headers,
            self.timeout,
            gemini.decode_error,
            stream=request.stream,
            decode_response=gemini.decode_response,
            stream_decoder=gemini.StreamDecoder,
        )


__all__ = ["GeminiBackend", "GeminiConfig"]
