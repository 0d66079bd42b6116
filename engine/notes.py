"""What a backend's request leaves out of the client's, so that the proxy can say so.

A codec encoding a request for a backend of another protocol drops what that protocol
cannot carry (Anthropic's `context_management` for OpenAI, a hosted tool for a provider
that runs none, a PDF block for Gemini…). It names each such thing in a :class:`Dropped`;
the server sends the names to the client in the `x-engine-dropped` header and logs them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator

from engine.model import ChatRequest, OpaquePart

HEADER = "x-engine-dropped"
MAX_NAME_CHARS = 64
MAX_HEADER_CHARS = 1024
# Names come from the client (its field names, block types): in a header, only printable
# ASCII without commas may stand; anything else is shown as `?`.
_UNSAFE = re.compile(r"[^\x21-\x2b\x2d-\x7e ]")


def _safe(name: str) -> str:
    name = _UNSAFE.sub("?", name)
    return name if len(name) <= MAX_NAME_CHARS else name[: MAX_NAME_CHARS - 3] + "..."


class Dropped:
    """An ordered set of names of what one upstream request left out."""

    def __init__(self) -> None:
        self._names: dict[str, None] = {}

    def add(self, *names: str) -> None:
        """Note these as left out."""
        self._names.update(dict.fromkeys(_safe(name) for name in names))

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __bool__(self) -> bool:
        return bool(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def header(self) -> str:
        """The `x-engine-dropped` header value (at most MAX_HEADER_CHARS, ASCII)."""
        shown: list[str] = []
        size = 0
        for name in self._names:
            if size + len(name) + 2 > MAX_HEADER_CHARS - 16:
                return ", ".join([*shown, f"+{len(self._names) - len(shown)} more"])
            shown.append(name)
            size += len(name) + 2
        return ", ".join(shown)


def client_fields(
    request: ChatRequest, protocol: str, dropped: Dropped | None, *, carried: Collection[str] = ()
) -> None:
    """Note the client's own-protocol fields a backend speaking `protocol` leaves out
    (all of `request.client_only` but what it `carried` in another form)."""
    if dropped is not None and request.client_protocol not in (None, protocol):
        dropped.add(*(name for name in request.client_only if name not in carried))


def opaque(part: OpaquePart, dropped: Dropped | None) -> str | None:
    """What a backend of another protocol makes of `part`: its plain-text rendering, or
    None after noting the part as dropped."""
    if part.text is not None:
        return part.text
    if dropped is not None:
        kind = part.data.get("type") or next(iter(part.data), "content")  # Gemini: the key
        dropped.add(f"{kind} block")
    return None
