"""Backend connectors, by kind. The routing file's `backends:` entries name a kind."""

from __future__ import annotations

from engine.backends.base import Backend, BackendConfig
from engine.backends.mock import MockBackend
from engine.backends.openai import OpenAIBackend

KINDS: dict[str, type[Backend]] = {cls.kind: cls for cls in (OpenAIBackend, MockBackend)}

__all__ = ["KINDS", "Backend", "BackendConfig"]
