"""The client-facing protocols the server exposes, in the order their endpoints are mounted."""

from __future__ import annotations

from engine.exchange import Call
from engine.frontends import anthropic, gemini, openai_chat, openai_responses
from engine.frontends.base import Endpoint, Frontend, Host, Reply, StreamEncoder

FRONTENDS: tuple[Frontend, ...] = (
    openai_chat.FRONTEND,
    openai_responses.FRONTEND,
    gemini.FRONTEND,
    anthropic.FRONTEND,
)
DEFAULT = openai_chat.FRONTEND

__all__ = [
    "DEFAULT",
    "FRONTENDS",
    "Call",
    "Endpoint",
    "Frontend",
    "Host",
    "Reply",
    "StreamEncoder",
]
