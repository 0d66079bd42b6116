"""The built-in stages. Importing this package registers them (entry point `engine.stages`)."""

from stages import (
    commands,
    model_rewrite,
    redact_secrets,
    retry_empty,
    think_tags,
    tool_call_repair,
)

__all__ = [
    "commands",
    "model_rewrite",
    "redact_secrets",
    "retry_empty",
    "think_tags",
    "tool_call_repair",
]
