"""Backend connectors, by kind. The routing file's `backends:` entries name a kind."""

from __future__ import annotations

from engine.backends.anthropic import AnthropicBackend
from engine.backends.base import Backend, BackendConfig
from engine.backends.gemini import GeminiBackend
from engine.backends.mock import MockBackend
from engine.backends.openai import OpenAIBackend
from engine.backends.openai_responses import OpenAIResponsesBackend
from engine.backends.openrouter import OpenRouterBackend

KINDS: dict[str, type[Backend]] = {
    cls.kind: cls
    for cls in (
        OpenAIBackend,
        OpenAIResponsesBackend,
        MockBackend,
        GeminiBackend,
        AnthropicBackend,
        OpenRouterBackend,
    )
}

__all__ = ["KINDS", "Backend", "BackendConfig"]
