"""The built-in stages. Importing this package registers them (entry point `engine.stages`)."""

from stages import (
    auth,
    capture,
    commands,
    loop_detection,
    model_rewrite,
    rate_limit,
    redact_secrets,
    retry_empty,
    think_tags,
    tool_call_repair,
    tool_safety,
    vtc,
)

__all__ = [
    "auth",
    "capture",
    "commands",
    "loop_detection",
    "model_rewrite",
    "rate_limit",
    "redact_secrets",
    "retry_empty",
    "think_tags",
    "tool_call_repair",
    "tool_safety",
    "vtc",
]
