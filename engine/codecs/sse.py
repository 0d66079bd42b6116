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


async def parse_sse(lines: AsyncIterable[str]) -> AsyncIterator[SSEMessage]:
    """Parse SSE lines (without line terminators) into messages, per the WHATWG rules."""
    event, data = "", list[str]()
    async for line in lines:
        if not line:
            if data and (payload := "\n".join(data)):
                yield SSEMessage(event or "message", payload)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if data and (payload := "\n".join(data)):
        yield SSEMessage(event or "message", payload)


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


def frame(data: Any, event: str | None = None) -> bytes:
    """One SSE message carrying `data` as JSON (or a raw string) and an optional event name."""
    payload = data.encode() if isinstance(data, str) else dumps_bytes(data)
    head = b"event: " + event.encode() + b"\n" if event else b""
    return head + b"data: " + payload + b"\n\n"
