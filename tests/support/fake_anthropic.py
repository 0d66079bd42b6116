"""An in-process fake Anthropic Messages provider, streaming included.

A test scripts the replies it wants, one per `POST /v1/messages`, in order; with nothing
scripted the fake echoes the model and the last user text. Every request is recorded
(path, headers, JSON body). The wire format follows Anthropic's: `event: NAME` and
`data: {json}` per event, `message_start` (with input usage), a `ping`, then per content
block `content_block_start` / `_delta` (text_delta, thinking_delta, signature_delta,
input_json_delta) / `_stop`, then `message_delta` (stop_reason, output usage) and
`message_stop`. Errors use Anthropic's body `{"type": "error", "error": {type, message}}`.

    with FakeAnthropic() as fake:
        fake.script(Reply(Thinking("hmm", signature="sig"), Text("Hi")))
        ...  # a client asks through the proxy, whose backend has base_url fake.url
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from quart import Quart, Response, request

from tests.support.fake_openai import HANG_LIMIT_SECS, split_at, split_evenly
from tests.support.scripted import ScriptedFake
from tests.support.signals import Signal


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def event(data: dict[str, Any]) -> bytes:
    """One SSE event, named by its `type`."""
    return f"event: {data['type']}\ndata: {_dumps(data)}\n\n".encode()


@dataclass(frozen=True)
class Usage:
    """Token counts a reply reports, as Anthropic splits them."""

    input_tokens: int = 11
    output_tokens: int = 7
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def wire(self) -> dict[str, Any]:
        """Anthropic's `usage` object."""
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "output_tokens": self.output_tokens,
        }


@dataclass
class Recorded:
    """One request the fake received."""

    path: str
    headers: dict[str, str]
    json: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The messages sent."""
        return list(self.json.get("messages") or [])


# --- content blocks --------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A text block, streamed in `chunks` pieces."""

    text: str
    chunks: int = 3

    def whole(self) -> dict[str, Any]:
        """The block in a non-streaming message."""
        return {"type": "text", "text": self.text}

    def stream(self, index: int) -> list[dict[str, Any]]:
        """Its start, deltas and stop events."""
        return [
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            },
            *(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": p},
                }
                for p in split_evenly(self.text, self.chunks)
            ),
            {"type": "content_block_stop", "index": index},
        ]


@dataclass(frozen=True)
class Thinking:
    """A thinking block with its signature (or a redacted one, whose data is `signature`)."""

    thinking: str
    signature: str = field(default_factory=lambda: f"sig-{uuid.uuid4().hex[:16]}")
    chunks: int = 2
    redacted: bool = False

    def whole(self) -> dict[str, Any]:
        """The block in a non-streaming message."""
        if self.redacted:
            return {"type": "redacted_thinking", "data": self.signature}
        return {"type": "thinking", "thinking": self.thinking, "signature": self.signature}

    def stream(self, index: int) -> list[dict[str, Any]]:
        """Its start, thinking and signature deltas, and stop events."""
        if self.redacted:
            return [
                {"type": "content_block_start", "index": index, "content_block": self.whole()},
                {"type": "content_block_stop", "index": index},
            ]
        start = {"type": "thinking", "thinking": "", "signature": ""}
        return [
            {"type": "content_block_start", "index": index, "content_block": start},
            *(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "thinking_delta", "thinking": p},
                }
                for p in split_evenly(self.thinking, self.chunks)
            ),
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "signature_delta", "signature": self.signature},
            },
            {"type": "content_block_stop", "index": index},
        ]


@dataclass(frozen=True)
class ToolUse:
    """A tool_use block; `cuts` are offsets where its streamed JSON input splits."""

    name: str
    arguments: str = "{}"
    id: str = field(default_factory=lambda: f"toolu_{uuid.uuid4().hex[:24]}")
    cuts: tuple[int, ...] = ()

    def whole(self) -> dict[str, Any]:
        """The block in a non-streaming message."""
        return {
            "type": "tool_use",
            "id": self.id,
            "name": self.name,
            "input": json.loads(self.arguments),
        }

    def stream(self, index: int) -> list[dict[str, Any]]:
        """Its start (empty input), an empty first delta as Anthropic sends, the pieces, stop."""
        start = {"type": "tool_use", "id": self.id, "name": self.name, "input": {}}
        pieces = ["", *(split_at(self.arguments, self.cuts) if self.cuts else [self.arguments])]
        return [
            {"type": "content_block_start", "index": index, "content_block": start},
            *(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": p},
                }
                for p in pieces
            ),
            {"type": "content_block_stop", "index": index},
        ]


Block = Text | Thinking | ToolUse


# --- replies -------------------------------------------------------------------------------


class Reply:
    """A scripted reply: content blocks, a stop reason and usage. `finished` is set once it
    has been written completely."""

    def __init__(
        self,
        *blocks: Block,
        stop_reason: str | None = None,
        usage: Usage = Usage(),
        model: str | None = None,
    ) -> None:
        self.blocks = blocks
        self.stop_reason = stop_reason or (
            "tool_use" if any(isinstance(b, ToolUse) for b in blocks) else "end_turn"
        )
        self.usage = usage
        self.model = model
        self.id = f"msg_{uuid.uuid4().hex[:24]}"
        self.finished = Signal(f"{type(self).__name__}.finished")
        self.closed_early = Signal(f"{type(self).__name__}.closed_early")

    def message(self, body: dict[str, Any]) -> dict[str, Any]:
        """The non-streaming message."""
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model or body.get("model"),
            "content": [b.whole() for b in self.blocks],
            "stop_reason": self.stop_reason,
            "stop_sequence": None,
            "usage": self.usage.wire(),
        }

    def events(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The stream's events, pings included."""
        start = {**self.message(body), "content": [], "stop_reason": None}
        start["usage"] = {**self.usage.wire(), "output_tokens": 1}
        out: list[dict[str, Any]] = [{"type": "message_start", "message": start}, {"type": "ping"}]
        for index, block in enumerate(self.blocks):
            out.extend(block.stream(index))
            out.append({"type": "ping"})
        out.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": self.usage.output_tokens},
            }
        )
        out.append({"type": "message_stop"})
        return out

    async def serve(self, body: dict[str, Any]) -> Response:
        """The response to a request with `body`."""
        if not body.get("stream"):
            self.finished.set()
            return _json_response(self.message(body))
        return self._sse([event(e) for e in self.events(body)])

    def _sse(self, frames: list[bytes | Callable[[], Awaitable[None]]]) -> Response:
        async def stream() -> AsyncIterator[bytes]:
            complete = False
            try:
                for frame in frames:
                    if isinstance(frame, bytes):
                        yield frame
                    else:
                        await frame()
                complete = True
            finally:
                (self.finished if complete else self.closed_early).set()

        response = Response(
            stream(),
            content_type="text/event-stream; charset=utf-8",
            headers={"cache-control": "no-cache", "request-id": f"req_{uuid.uuid4().hex[:16]}"},
        )
        response.timeout = None
        return response


class Echo(Reply):
    """The default reply: names the model asked for and repeats the last user text."""

    async def serve(self, body: dict[str, Any]) -> Response:
        """Answer `MODEL heard: TEXT` as one text block."""
        text = ""
        for message in reversed(body.get("messages") or []):
            if message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, list):
                    content = "".join(b.get("text", "") for b in content if b.get("type") == "text")
                text = content or ""
                break
        self.blocks = (Text(f"{body.get('model')} heard: {text}"),)
        return await super().serve(body)


class HttpError(Reply):
    """An HTTP error status with Anthropic's error body, for streaming requests too."""

    def __init__(self, status: int, type: str, message: str) -> None:  # Anthropic's field name
        super().__init__()
        self.status = status
        self.type = type
        self.text = message

    async def serve(self, body: dict[str, Any]) -> Response:
        """The error status."""
        self.finished.set()
        error = {"type": "error", "error": {"type": self.type, "message": self.text}}
        return _json_response(error, self.status)


class StreamError(Reply):
    """A stream that starts, sends `before` as text, then an `error` event and stops; with
    no `before`, the error event is the first thing sent."""

    def __init__(self, before: str, type: str, message: str) -> None:
        super().__init__(Text(before, chunks=2) if before else Text("", chunks=1))
        self.before = before
        self.type = type
        self.text = message

    async def serve(self, body: dict[str, Any]) -> Response:
        """Stream the start and the text deltas, then the error."""
        events = self.events(body)
        cut = next(i for i, e in enumerate(events) if e["type"] == "content_block_stop")
        head = events[:cut] if self.before else []  # no text: the error comes first
        error = {"type": "error", "error": {"type": self.type, "message": self.text}}
        return self._sse([*(event(e) for e in head), event(error)])


class Hang(Reply):
    """A stream that sends `prefix` as text, then stops until `release()`; `reached` is set
    when it stops, `closed_early` when the client went away before the end."""

    def __init__(self, prefix: str) -> None:
        super().__init__(Text(prefix, chunks=2))
        self.reached = Signal("Hang.reached")
        self.released = Signal("Hang.released")

    def release(self) -> None:
        """Let the stream finish."""
        self.released.set()

    async def _hang(self) -> None:
        self.reached.set()
        await self.released.wait_async(HANG_LIMIT_SECS)

    async def serve(self, body: dict[str, Any]) -> Response:
        """The prefix deltas, the hang, then the rest of the stream."""
        events = self.events({**body, "stream": True})
        cut = next(i for i, e in enumerate(events) if e["type"] == "content_block_stop")
        return self._sse(
            [
                *(event(e) for e in events[:cut]),
                self._hang,
                *(event(e) for e in events[cut:]),
            ]
        )


def _json_response(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        content_type="application/json",
        headers={"request-id": f"req_{uuid.uuid4().hex[:16]}"},
    )


class FakeAnthropic(ScriptedFake[Reply, Recorded]):
    """The fake Anthropic API; a context manager that serves it."""

    name = "fake-anthropic"

    def __init__(self) -> None:
        self.counted: list[Recorded] = []
        self.token_count = 1234
        super().__init__()

    def default_reply(self) -> Reply:
        """With nothing scripted, echo the last user message."""
        return Echo()

    def _build_app(self) -> Quart:
        app = Quart("fake_anthropic")
        app.config.update(RESPONSE_TIMEOUT=None)

        async def recorded(path: str) -> Recorded | Response:
            try:
                body = json.loads(await request.get_data())
            except ValueError:
                error = {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": "bad JSON"},
                }
                return _json_response(error, 400)
            headers = {name.lower(): value for name, value in request.headers.items()}
            return Recorded(path, headers, body)

        @app.post("/v1/messages")
        async def messages() -> Response:
            record = await recorded("/v1/messages")
            if isinstance(record, Response):
                return record
            return await self._next(record).serve(record.json)

        @app.get("/v1/models")
        async def models() -> Response:
            # Anthropic's pages: `limit`, `after_id`, `has_more`, `first_id`, `last_id`.
            listed = self.listed_models
            start = listed.index(request.args["after_id"]) + 1 if "after_id" in request.args else 0
            page = listed[start : start + int(request.args.get("limit", 20))]
            data = [
                {"type": "model", "id": m, "display_name": m, "created_at": "2026-01-01T00:00:00Z"}
                for m in page
            ]
            return _json_response(
                {
                    "data": data,
                    "has_more": start + len(page) < len(listed),
                    "first_id": page[0] if page else None,
                    "last_id": page[-1] if page else None,
                }
            )

        @app.post("/v1/messages/count_tokens")
        async def count_tokens() -> Response:
            record = await recorded("/v1/messages/count_tokens")
            if isinstance(record, Response):
                return record
            with self._lock:
                self.counted.append(record)
            return _json_response({"input_tokens": self.token_count})

        return app
