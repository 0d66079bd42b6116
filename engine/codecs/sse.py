"""Server-sent events: parsing a provider's stream and framing our own."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(slots=True)
class SSEMessage:
    """One server-sent event."""

    event: str
    data: str


class SSEParser:
    """An incremental parser of a server-sent event stream, per the WHATWG rules: feed it
    the body's bytes as they come, in pieces cut anywhere, and it returns the events
    each piece completed. Lines end with CRLF, LF or CR; only `data` and `event` matter.
    Most pieces are whole events ending in a blank line, parsed without a line loop."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = b""  # the start of an event whose end has not come yet

    def blocks(self, chunk: bytes) -> list[bytes]:
        """The events completed by `chunk`, each its lines (LF-ended, no blank line): see
        `message_of`."""
        text = self._pending + chunk if self._pending else chunk
        if b"\r" in text:
            if text.endswith(b"\r"):  # perhaps half of a CRLF: wait for what follows
                self._pending = text
                return []
            text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = text.rfind(b"\n\n")
        if end < 0:
            self._pending = text
            return []
        self._pending = text[end + 2 :]
        return text[:end].split(b"\n\n")

    def close_blocks(self) -> list[bytes]:
        """The events left when the stream ended: the last without its blank line."""
        rest, self._pending = self._pending, b""
        return rest.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n\n")

    def feed(self, chunk: bytes) -> list[SSEMessage]:
        """The messages completed by `chunk`."""
        return [message for block in self.blocks(chunk) if (message := message_of(block))]

    def close(self) -> list[SSEMessage]:
        """The messages left when the stream ended."""
        return [message for block in self.close_blocks() if (message := message_of(block))]


def message_of(block: bytes) -> SSEMessage | None:
    """The message of one event's lines (no blank line among them), if it has data."""
    if block.startswith(b"data: ") and b"\n" not in block:  # the usual one-line event
        return SSEMessage("message", block[6:].decode()) if len(block) > 6 else None
    event, data = "", list[str]()
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        name, _, value = line.decode().partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    payload = "\n".join(data)
    return SSEMessage(event or "message", payload) if data and payload else None


async def parse_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEMessage]:
    """The messages of an SSE body arriving in `chunks` (see `SSEParser`)."""
    parser = SSEParser()
    async for chunk in chunks:
        for message in parser.feed(chunk):
            yield message
    for message in parser.close():
        yield message


def dumps(obj: Any) -> str:
    """Compact JSON, as providers send it."""
    return dumps_bytes(obj).decode()


def dumps_bytes(obj: Any) -> bytes:
    """Compact JSON as UTF-8 bytes (orjson; the standard library for what orjson refuses:
    integers beyond 64 bits, keys that are not strings)."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


# What a stream sends while it has nothing to say yet: a comment, which SSE readers skip.
KEEP_ALIVE = b": keep-alive\n\n"


def frame(data: Any, event: str | None = None) -> bytes:
    """One SSE message carrying `data` as JSON (or a raw string) and an optional event name."""
    payload = data.encode() if isinstance(data, str) else dumps_bytes(data)
    head = b"event: " + event.encode() + b"\n" if event else b""
    return head + b"data: " + payload + b"\n\n"
