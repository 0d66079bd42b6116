"""Connector for OpenRouter: OpenAI Chat Completions with OpenRouter's own additions.

* Attribution headers: `HTTP-Referer` (`app_url`) and `X-Title` (`app_name`) name the app
  on openrouter.ai's rankings and in the account's activity.
* Reasoning is asked for with one `reasoning` object (`effort`, or `max_tokens` for a
  budget) instead of `reasoning_effort`.
* Reasoning comes back as `reasoning` text and, richer, as `reasoning_details` blocks
  (`reasoning.text` with a signature, `reasoning.summary`, `reasoning.encrypted`); when a
  message has details they are decoded and the plain text copy is ignored. Assistant turns
  send their reasoning back as `reasoning_details`, so that signed reasoning (Anthropic,
  Gemini) survives a tool-call round trip.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from engine.backends.base import BackendConfig
from engine.backends.openai import OpenAIBackend, OpenAIConfig
from engine.codecs import openai_chat
from engine.model import (
    ChatRequest,
    Event,
    ReasoningDelta,
    ReasoningPart,
    ResponseStart,
)
from engine.notes import Dropped


class OpenRouterConfig(OpenAIConfig):
    """OpenRouter's OpenAI-compatible API."""

    kind: Literal["openrouter"] = Field(  # type: ignore[assignment]
        default="openrouter", description="OpenRouter (OpenAI-compatible, with its extensions)"
    )
    base_url: str = Field(
        default="https://openrouter.ai/api/v1",
        description="as the OpenAI SDK takes it, with the `/v1` suffix",
    )
    app_url: str | None = Field(
        default=None, description="your app's URL, sent as `HTTP-Referer` for attribution"
    )
    app_name: str | None = Field(
        default=None, description="your app's name, sent as `X-Title` for attribution"
    )


def encode_reasoning(request: ChatRequest) -> dict[str, Any] | None:
    """OpenRouter's `reasoning` object for the canonical reasoning settings."""
    reasoning = request.reasoning
    if reasoning is None:
        return None
    if reasoning.budget_tokens is not None:
        return {"max_tokens": reasoning.budget_tokens}
    if reasoning.effort is not None:
        return {"effort": reasoning.effort}
    return None


def decode_details(details: Any) -> Iterator[ReasoningDelta]:
    """Reasoning events from a `reasoning_details` array."""
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, dict):
            continue
        kind = detail.get("type")
        signature = detail.get("signature") or None
        if kind == "reasoning.text":
            yield ReasoningDelta(text=detail.get("text") or "", signature=signature)
        elif kind == "reasoning.summary":
            yield ReasoningDelta(text=detail.get("summary") or "", signature=signature)
        elif kind == "reasoning.encrypted" and detail.get("data"):
            yield ReasoningDelta(signature=detail["data"], redacted=True)


def encode_details(part: ReasoningPart) -> dict[str, Any]:
    """A `reasoning_details` entry sending a reasoning part back."""
    if part.redacted:
        return {"type": "reasoning.encrypted", "data": part.signature or ""}
    detail: dict[str, Any] = {"type": "reasoning.text", "text": part.text}
    if part.signature:
        detail["signature"] = part.signature
    return detail


def _without_reasoning_text(message: dict[str, Any]) -> dict[str, Any]:
    """A message or delta whose `reasoning_details` replace its plain reasoning copy."""
    if not message.get("reasoning_details"):
        return message
    return {k: v for k, v in message.items() if k not in ("reasoning", "reasoning_content")}


class OpenRouterStreamDecoder(openai_chat.StreamDecoder):
    """The Chat Completions stream decoder, reading `reasoning_details` too."""

    def chunk(self, chunk: dict[str, Any]) -> Iterator[Event]:
        """The events carried by one chunk."""
        details: list[Event] = []
        choices = []
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            details.extend(decode_details(delta.get("reasoning_details")))
            choices.append({**choice, "delta": _without_reasoning_text(delta)})
        events = list(super().chunk({**chunk, "choices": choices} if choices else chunk))
        # Reasoning comes before this chunk's text and tool calls, after the start.
        head = 1 if events and isinstance(events[0], ResponseStart) else 0
        yield from [*events[:head], *details, *events[head:]]


class OpenRouterBackend(OpenAIBackend):
    """Speaks OpenRouter's dialect of Chat Completions to `base_url`."""

    kind = "openrouter"
    Config = OpenRouterConfig  # type: ignore[assignment]  # a narrower `kind` Literal
    config: OpenRouterConfig
    relays = None  # its streams carry reasoning details the codec turns into events

    def __init__(self, name: str, config: BackendConfig) -> None:
        super().__init__(name, config)
        attribution = {"http-referer": self.config.app_url, "x-title": self.config.app_name}
        # Explicit `headers:` in the routing file win over the attribution fields.
        configured = {k.lower() for k in self.config.headers}
        for header, value in attribution.items():
            if value and header not in configured:
                self.headers[header] = value

    def encode(
        self, request: ChatRequest, model: str, dropped: Dropped | None = None
    ) -> dict[str, Any]:
        """The Chat Completions body with OpenRouter's `reasoning` and `reasoning_details`."""
        body = super().encode(request, model, dropped)
        body.pop("reasoning_effort", None)
        reasoning = encode_reasoning(request)
        if reasoning is not None:
            body["reasoning"] = reasoning
        assistant = iter(m for m in body["messages"] if m.get("role") == "assistant")
        for message in request.messages:
            if message.role != "assistant":
                continue
            encoded = next(assistant)
            parts = [p for p in message.content if isinstance(p, ReasoningPart)]
            if parts:
                encoded["reasoning_details"] = [encode_details(p) for p in parts]
                encoded.pop("reasoning_content", None)  # said once, by the details
        return body

    def decode_response(self, body: dict[str, Any]) -> Iterator[Event]:
        """The events of a non-streaming body, reasoning from `reasoning_details` first."""
        choices = body.get("choices") or [{}]
        message = choices[0].get("message") or {}
        details = list(decode_details(message.get("reasoning_details")))
        text = message.get("reasoning_content") or message.get("reasoning")
        if not details and isinstance(text, str) and text:
            details = [ReasoningDelta(text=text)]
        stripped = {k: v for k, v in message.items() if k not in ("reasoning", "reasoning_content")}
        body = {**body, "choices": [{**choices[0], "message": stripped}, *choices[1:]]}
        events = list(super().decode_response(body))
        yield from [events[0], *details, *events[1:]]

    def stream_decoder(self) -> openai_chat.StreamDecoder:
        """A decoder that reads `reasoning_details`."""
        return OpenRouterStreamDecoder()


__all__ = ["OpenRouterBackend", "OpenRouterConfig"]
