"""Tool names every provider accepts, for tools that come in groups (Responses namespaces).

OpenAI takes `^[a-zA-Z0-9_-]{1,64}$`, Gemini the same with dots and a letter or underscore
first, Anthropic up to 128 of the same characters: a namespaced tool is offered as
`NAMESPACE__MEMBER` (Codex's own flat spelling), made to fit all three. The flat name is a
pure function of the pair, so a call coming back can be told apart by the same rule; where
fitting it rewrote or cut the name, a hash of the pair keeps it apart from its neighbours
(MCP servers `my.server` and `my_server`).
"""

from __future__ import annotations

import hashlib
import re

MAX_CHARS = 64
SEPARATOR = "__"
_OUTSIDE = re.compile(r"[^a-zA-Z0-9_-]")


def flat_name(namespace: str, member: str) -> str:
    """The provider-safe name of tool `member` of group `namespace`."""
    joined = f"{namespace}{SEPARATOR}{member}"
    name = _OUTSIDE.sub("_", joined)
    if not (name[:1].isalpha() or name[:1] == "_"):
        name = f"_{name}"
    if name != joined or len(name) > MAX_CHARS:
        digest = hashlib.sha256(f"{namespace}/{member}".encode()).hexdigest()[:8]
        name = f"{name[: MAX_CHARS - 9]}_{digest}"
    return name
