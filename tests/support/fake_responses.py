"""An in-process fake OpenAI Responses API provider, streaming included.

A test scripts the replies it wants, one per `POST /v1/responses`, in order; with nothing
scripted the fake echoes the model and the last user text. Every request is recorded
(path, headers, JSON body). The wire format follows OpenAI's: `event: TYPE` and
`data: {json}` with a strictly increasing `sequence_number`; `response.created`,
`response.in_progress`, then per output item `response.output_item.added`, its deltas
(`output_text`, `reasoning_summary_text`, `function_call_arguments`), its `.done` events and
`response.output_item.done`, and one terminal `response.completed`, `response.incomplete`
or `response.failed`. Errors use OpenAI's body `{"error": {message, type, param, code}}`.

    with FakeResponses() as fake:
        fake.script(Reply(Reasoning("hmm"), Text("Hi")))
        ...  # a client asks through the proxy, whose backend has base_url fake.url + "/v1"
"""

from __future__ import annotations

import json
import time
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


def _event(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {_dumps(data)}\n\n".encode()


@dataclass(frozen=True)
class Usage:
    """Token counts a reply reports (input counts cached tokens too)."""

    input_tokens: int = 11
    output_tokens: int = 7
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    def wire(self) -> dict[str, Any]:
        """The Responses `usage` object."""
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_tokens, "cache_write_tokens": 0},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": self.input_tokens + self.output_tokens,
        }


@dataclass
class Recorded:
    """One request the fake received."""

    path: str
    headers: dict[str, str]
    json: dict[str, Any]

    @property
    def input(self) -> list[dict[str, Any]]:
        """The input items sent (a string input as one user message)."""
        raw = self.json.get("input")
        if isinstance(raw, str):
            return [{"type": "message", "role": "user", "content": raw}]
        return list(raw or [])


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


# --- output items --------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """An assistant message, its text streamed in `chunks` pieces."""

    text: str
    chunks: int = 3
    id: str = field(default_factory=lambda: _new_id("msg"))

    def whole(self) -> dict[str, Any]:
        """The item as the final response has it."""
        part = {"type": "output_text", "text": self.text, "annotations": [], "logprobs": []}
        return {
            "id": self.id,
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [part],
        }

    def stream(self, index: int) -> list[dict[str, Any]]:
        """Its events, between the item's added and done."""
        common = {"item_id": self.id, "output_index": index, "content_index": 0}
        empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        return [
            {"type": "response.content_part.added", **common, "part": empty},
            *(
                {"type": "response.output_text.delta", **common, "delta": p, "logprobs": []}
                for p in split_evenly(self.text, self.chunks)
            ),
            {"type": "response.output_text.done", **common, "text": self.text, "logprobs": []},
            {"type": "response.content_part.done", **common, "part": self.whole()["content"][0]},
        ]

    def added(self) -> dict[str, Any]:
        """The item as `response.output_item.added` announces it."""
        return {**self.whole(), "status": "in_progress", "content": []}


@dataclass(frozen=True)
class Reasoning:
    """A reasoning item: a summary (streamed in `chunks`) and its encrypted content."""

    summary: str
    encrypted: str = field(default_factory=lambda: f"gAAAA{uuid.uuid4().hex}")
    chunks: int = 2
    id: str = field(default_factory=lambda: _new_id("rs"))

    def whole(self) -> dict[str, Any]:
        """The item as the final response has it."""
        summary = [{"type": "summary_text", "text": self.summary}] if self.summary else []
        return {
            "id": self.id,
            "type": "reasoning",
            "summary": summary,
            "encrypted_content": self.encrypted,
        }

    def stream(self, index: int) -> list[dict[str, Any]]:
        """Its summary events."""
        if not self.summary:
            return []
        common = {"item_id": self.id, "output_index": index, "summary_index": 0}
        part = {"type": "summary_text", "text": ""}
        return [
            {"type": "response.reasoning_summary_part.added", **common, "part": part},
            *(
                {"type": "response.reasoning_summary_text.delta", **common, "delta": p}
                for p in split_evenly(self.summary, self.chunks)
            ),
            {"type": "response.reasoning_summary_text.done", **common, "text": self.summary},
            {
                "type": "response.reasoning_summary_part.done",
                **common,
                "part": {"type": "summary_text", "text": self.summary},
            },
        ]

    def added(self) -> dict[str, Any]:
        """The item as announced: no summary yet, and no encrypted content."""
        return {"id": self.id, "type": "reasoning", "summary": []}


@dataclass(frozen=True)
class FunctionCall:
    """A function call; `cuts` split its streamed arguments; `namespace` for grouped tools."""

    name: str
    arguments: str = "{}"
    namespace: str | None = None
    call_id: str = field(default_factory=lambda: _new_id("call"))
    cuts: tuple[int, ...] = ()
    id: str = field(default_factory=lambda: _new_id("fc"))

    def whole(self) -> dict[str, Any]:
        """The item as the final response has it."""
        item = {
            "id": self.id,
            "type": "function_call",
            "status": "completed",
            "call_id": self.call_id,
            "name": self.name,
            "arguments": self.arguments,
        }
        if self.namespace is not None:
            item["namespace"] = self.namespace
        return item

    def stream(self, index: int) -> list[dict[str, Any]]:
        """Its argument events."""
        common = {"item_id": self.id, "output_index": index}
        pieces = split_at(self.arguments, self.cuts) if self.cuts else [self.arguments]
        return [
            *(
                {"type": "response.function_call_arguments.delta", **common, "delta": p}
                for p in pieces
            ),
            {
                "type": "response.function_call_arguments.done",
                **common,
                "name": self.name,
                "arguments": self.arguments,
            },
        ]

    def added(self) -> dict[str, Any]:
        """The item as announced, without its arguments."""
        return {**self.whole(), "status": "in_progress", "arguments": ""}


@dataclass(frozen=True)
class Hosted:
    """An item of a tool the provider runs (a `web_search_call`), sent whole."""

    item: dict[str, Any]

    def whole(self) -> dict[str, Any]:
        """The item itself."""
        return self.item

    def stream(self, index: int) -> list[dict[str, Any]]:
        """No events of its own here."""
        return []

    def added(self) -> dict[str, Any]:
        """The item as announced."""
        return {**self.item, "status": "in_progress"}


Item = Text | Reasoning | FunctionCall | Hosted


# --- replies -------------------------------------------------------------------------------


class Reply:
    """A scripted reply: output items, a status and usage. `finished` is set once it has
    been written completely, `closed_early` when the client went away before that."""

    def __init__(
        self,
        *items: Item,
        status: str = "completed",
        incomplete_reason: str | None = None,
        usage: Usage | None = Usage(),
        model: str | None = None,
    ) -> None:
        self.items = items
        self.status = status
        self.incomplete_reason = incomplete_reason
        self.usage = usage
        self.model = model
        self.id = _new_id("resp")
        self.created = int(time.time())
        self.finished = Signal(f"{type(self).__name__}.finished")
        self.closed_early = Signal(f"{type(self).__name__}.closed_early")

    def response(self, body: dict[str, Any], *, final: bool = True) -> dict[str, Any]:
        """The response object: final, or as the stream's first events show it."""
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": self.status if final else "in_progress",
            "error": None,
            "incomplete_details": (
                {"reason": self.incomplete_reason} if final and self.incomplete_reason else None
            ),
            "model": self.model or body.get("model"),
            "output": [i.whole() for i in self.items] if final else [],
            "parallel_tool_calls": True,
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools", []),
            "store": body.get("store", True),
            "usage": self.usage.wire() if final and self.usage else None,
        }

    def events(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The stream's events, without sequence numbers."""
        start = self.response(body, final=False)
        out: list[dict[str, Any]] = [
            {"type": "response.created", "response": start},
            {"type": "response.in_progress", "response": start},
        ]
        for index, item in enumerate(self.items):
            out.append(
                {"type": "response.output_item.added", "output_index": index, "item": item.added()}
            )
            out.extend(item.stream(index))
            out.append(
                {"type": "response.output_item.done", "output_index": index, "item": item.whole()}
            )
        terminal = "response.incomplete" if self.status == "incomplete" else "response.completed"
        out.append({"type": terminal, "response": self.response(body)})
        return out

    async def serve(self, body: dict[str, Any]) -> Response:
        """The response to a request with `body`."""
        if not body.get("stream"):
            self.finished.set()
            return _json_response(self.response(body))
        return self._sse(self.events(body))

    def _sse(self, events: list[dict[str, Any] | Callable[[], Awaitable[None]]]) -> Response:
        async def stream() -> AsyncIterator[bytes]:
            complete = False
            sequence = 0
            try:
                for item in events:
                    if isinstance(item, dict):
                        yield _event({**item, "sequence_number": sequence})
                        sequence += 1
                    else:
                        await item()
                complete = True
            finally:
                (self.finished if complete else self.closed_early).set()

        response = Response(
            stream(),
            content_type="text/event-stream; charset=utf-8",
            headers={"cache-control": "no-cache", "x-request-id": _new_id("req")},
        )
        response.timeout = None
        return response


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the last user message in a Responses body."""
    raw = body.get("input")
    if isinstance(raw, str):
        return raw
    for item in reversed(raw or []):
        if item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, list):
                content = "".join(c.get("text", "") for c in content if isinstance(c, dict))
            return str(content or "")
    return ""


class Echo(Reply):
    """The default reply: names the model asked for and repeats the last user text."""

    async def serve(self, body: dict[str, Any]) -> Response:
        """Answer `MODEL heard: TEXT` as one message."""
        self.items = (Text(f"{body.get('model')} heard: {last_user_text(body)}"),)
        return await super().serve(body)


class HttpError(Reply):
    """An HTTP error status with OpenAI's error body, for streaming requests too."""

    def __init__(self, status: int, message: str, *, code: str | None = None) -> None:
        super().__init__()
        self.status_code = status
        self.message = message
        self.code = code

    async def serve(self, body: dict[str, Any]) -> Response:
        """The error status."""
        self.finished.set()
        kind = "server_error" if self.status_code >= 500 else "invalid_request_error"
        error = {"message": self.message, "type": kind, "param": None, "code": self.code}
        return _json_response({"error": error}, self.status_code)


class Failed(Reply):
    """A stream that starts, sends `before` as text, then `response.failed` with an error
    (with no `before`, the failure comes first)."""

    def __init__(self, before: str, message: str, *, code: str = "server_error") -> None:
        super().__init__(Text(before, chunks=2) if before else Text("", chunks=1))
        self.before = before
        self.message = message
        self.code = code

    async def serve(self, body: dict[str, Any]) -> Response:
        """The start, the text deltas, then the failure."""
        events = self.events({**body, "stream": True})
        cut = next(i for i, e in enumerate(events) if e["type"] == "response.output_text.done")
        head = events[:cut] if self.before else events[:2]
        failed = {
            **self.response(body, final=False),
            "status": "failed",
            "error": {"code": self.code, "message": self.message},
        }
        return self._sse([*head, {"type": "response.failed", "response": failed}])


class Hang(Reply):
    """A stream that sends `prefix` as text, then stops until `release()`."""

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
        cut = next(i for i, e in enumerate(events) if e["type"] == "response.output_text.done")
        return self._sse([*events[:cut], self._hang, *events[cut:]])


# The top-level request parameters OpenAI accepts; any other is a 400, as there.
KNOWN_PARAMETERS = frozenset(
    {
        "background",
        "client_metadata",
        "context_management",
        "conversation",
        "include",
        "input",
        "instructions",
        "max_output_tokens",
        "max_tool_calls",
        "metadata",
        "model",
        "parallel_tool_calls",
        "previous_response_id",
        "prompt",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    }
)


def _unknown_parameter(body: dict[str, Any]) -> Response | None:
    unknown = next((key for key in body if key not in KNOWN_PARAMETERS), None)
    if unknown is None:
        return None
    error = {
        "message": f"Unknown parameter: '{unknown}'.",
        "type": "invalid_request_error",
        "param": unknown,
        "code": "unknown_parameter",
    }
    return _json_response({"error": error}, 400)


def _json_response(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        content_type="application/json",
        headers={"x-request-id": _new_id("req")},
    )


class FakeResponses(ScriptedFake[Reply, Recorded]):
    """The fake OpenAI Responses API; a context manager that serves it."""

    name = "fake-responses"

    def default_reply(self) -> Reply:
        """With nothing scripted, echo the last user message."""
        return Echo()

    def _build_app(self) -> Quart:
        app = Quart("fake_responses")
        app.config.update(RESPONSE_TIMEOUT=None)

        @app.post("/v1/responses")
        async def responses() -> Response:
            try:
                body = json.loads(await request.get_data())
            except ValueError:
                error = {"message": "bad JSON", "type": "invalid_request_error"}
                return _json_response({"error": {**error, "param": None, "code": None}}, 400)
            headers = {name.lower(): value for name, value in request.headers.items()}
            reply = self._next(Recorded("/v1/responses", headers, body))
            return _unknown_parameter(body) or await reply.serve(body)

        @app.get("/v1/models")
        async def models() -> Response:
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                for m in self.listed_models
            ]
            return _json_response({"object": "list", "data": data})

        return app
