"""Backend connectors, by kind. The routing file's `backends:` entries name a kind.

Third-party kinds register through the ``engine.backends`` entry-point group: each entry
point names a :class:`Backend` subclass with its `kind` and `Config`.
"""

from __future__ import annotations

from importlib.metadata import entry_points

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

ENTRY_POINT_GROUP = "engine.backends"
_entry_points_loaded = False


def kinds() -> dict[str, type[Backend]]:
    """Every backend kind by name, the plug-ins' loaded on first use."""
    global _entry_points_loaded
    if not _entry_points_loaded:
        _entry_points_loaded = True
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            register(entry.load())
    return KINDS


def register(cls: type[Backend]) -> type[Backend]:
    """Add a backend kind (usable as a class decorator), refusing one that breaks the rules."""
    where = f"backend kind {getattr(cls, 'kind', '?')!r} ({cls.__module__}.{cls.__qualname__})"
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise TypeError(f"{where}: a backend kind must subclass engine.backends.Backend")
    config = getattr(cls, "Config", None)
    if not (isinstance(config, type) and issubclass(config, BackendConfig)):
        raise TypeError(f"{where}: it needs a `Config` subclassing BackendConfig")
    if KINDS.get(cls.kind, cls) is not cls:
        raise TypeError(f"{where}: the kind is taken by {KINDS[cls.kind].__qualname__}")
    KINDS[cls.kind] = cls
    return cls


__all__ = ["KINDS", "Backend", "BackendConfig", "kinds", "register"]
