"""An in-process fake OpenAI-compatible provider: Chat Completions, streaming included.

A test scripts the replies it wants, one per upstream request, in order; with nothing
scripted the fake echoes the model and the last user message. Every request is recorded
(path, headers, JSON body) for assertions. The wire format follows OpenAI's: streamed
`chat.completion.chunk` objects as `data: {json}\\n\\n`, a usage chunk with `choices: []`
when `stream_options.include_usage` asks for it, then `data: [DONE]`.

    with FakeProvider() as fake:
        reply = fake.script(Text("Hello there", chunks=3))
        ...  # a client asks through the proxy, whose backend has base_url f"{fake.url}/v1"
        assert fake.last.json["model"] == "gpt-x"
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from quart import Quart, Response, request

from tests.support.scripted import ScriptedFake
from tests.support.signals import Signal

# What a streamed reply is made of: bytes to write, or a coroutine function to await
# between writes (a hang).
Segment = bytes | Callable[[], Awaitable[None]]

HANG_LIMIT_SECS = 30.0

R = TypeVar("R", bound="Reply")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _frame(obj: Any) -> bytes:
    return f"data: {obj if isinstance(obj, str) else _dumps(obj)}\n\n".encode()


def split_evenly(text: str, pieces: int) -> list[str]:
    """`text` cut into `pieces` runs of nearly equal length (fewer when it is short)."""
    pieces = max(1, min(pieces, len(text)))
    size, extra = divmod(len(text), pieces)
    out, start = [], 0
    for i in range(pieces):
        end = start + size + (1 if i < extra else 0)
        out.append(text[start:end])
        start = end
    return [p for p in out if p] or [""]


def split_at(text: str, cuts: Sequence[int]) -> list[str]:
    """`text` cut at the given character offsets."""
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(text)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@dataclass(frozen=True)
class Usage:
    """Token counts a reply reports."""

    prompt_tokens: int = 11
    completion_tokens: int = 7
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    def wire(self) -> dict[str, Any]:
        """OpenAI's `usage` object."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


@dataclass
class Recorded:
    """One request the fake received."""

    path: str
    headers: dict[str, str]
    json: dict[str, Any]

    @property
    def model(self) -> str:
        """The model asked for."""
        return str(self.json.get("model"))

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The messages sent."""
        return list(self.json.get("messages") or [])


@dataclass
class Call:
    """One request being answered: builds its chunks and bodies in OpenAI's format."""

    body: dict[str, Any]
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex[:24]}")
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def stream(self) -> bool:
        """Whether the client asked for a stream."""
        return bool(self.body.get("stream"))

    @property
    def include_usage(self) -> bool:
        """Whether the client asked for a usage chunk at the end of the stream."""
        options = self.body.get("stream_options") or {}
        return bool(options.get("include_usage"))

    @property
    def model(self) -> str:
        """The model the reply says answered."""
        return str(self.body.get("model") or "")

    def _head(self, kind: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
        }

    def chunk(
        self, delta: dict[str, Any], finish_reason: str | None = None, usage: Usage | None = None
    ) -> bytes:
        """One `chat.completion.chunk` SSE message (with running `usage`, as vLLM's
        `continuous_usage_stats` sends it on every chunk)."""
        obj = {
            **self._head("chat.completion.chunk"),
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if self.include_usage or usage is not None:
            obj["usage"] = usage.wire() if usage is not None else None
        return _frame(obj)

    def ending(self, finish_reason: str, usage: Usage | None) -> list[bytes]:
        """The finish chunk, the usage chunk when asked for, and `[DONE]`."""
        out = [self.chunk({}, finish_reason)]
        if self.include_usage and usage is not None:
            head = self._head("chat.completion.chunk")
            out.append(_frame({**head, "choices": [], "usage": usage.wire()}))
        out.append(_frame("[DONE]"))
        return out

    def completion(
        self, message: dict[str, Any], finish_reason: str, usage: Usage | None
    ) -> Response:
        """A non-streaming `chat.completion` response."""
        body = {
            **self._head("chat.completion"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "refusal": None, "annotations": [], **message},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "service_tier": "default",
        }
        if usage is not None:
            body["usage"] = usage.wire()
        return _json_response(body)


def _json_response(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        content_type="application/json",
        headers={"x-request-id": f"req_{uuid.uuid4().hex[:16]}"},
    )


class Reply:
    """A scripted reply. Its signals tell a test how the exchange went.

    `closed_early` is set when the client went away (closed the connection, or the
    request was cancelled) before the reply was completely written; `finished` when it
    was written to the end.
    """

    write_size: int | None = None

    def __init__(self) -> None:
        label = type(self).__name__
        self.closed_early = Signal(f"{label}.closed_early")
        self.finished = Signal(f"{label}.finished")

    async def serve(self, call: Call) -> Response:
        """The response to `call`."""
        if call.stream:
            return self._sse(self.segments(call))
        try:
            response = await self.respond(call)
        except BaseException:
            self.closed_early.set()
            raise
        self.finished.set()
        return response

    def segments(self, call: Call) -> list[Segment]:
        """The streamed reply, as bytes to write and hangs to await."""
        raise NotImplementedError(f"{type(self).__name__} does not stream")

    async def respond(self, call: Call) -> Response:
        """The non-streaming reply."""
        raise NotImplementedError(f"{type(self).__name__} has no non-streaming form")

    def _sse(self, segments: list[Segment]) -> Response:
        async def body() -> AsyncIterator[bytes]:
            complete = False
            try:
                for segment in segments:
                    if isinstance(segment, bytes):
                        for piece in self._pieces(segment):
                            yield piece
                    else:
                        await segment()
                complete = True
            finally:
                (self.finished if complete else self.closed_early).set()

        response = Response(
            body(),
            content_type="text/event-stream; charset=utf-8",
            headers={"cache-control": "no-cache", "x-request-id": f"req_{uuid.uuid4().hex[:16]}"},
        )
        response.timeout = None
        return response

    def _pieces(self, data: bytes) -> list[bytes]:
        if not self.write_size:
            return [data]
        return [data[i : i + self.write_size] for i in range(0, len(data), self.write_size)]


class Text(Reply):
    """A text answer, streamed in `chunks` pieces; `write_size` cuts the wire bytes too."""

    def __init__(
        self,
        text: str,
        *,
        chunks: int = 3,
        finish_reason: str = "stop",
        usage: Usage | None = Usage(),
        write_size: int | None = None,
        usage_every_chunk: bool = False,
    ) -> None:
        super().__init__()
        self.text = text
        self.chunks = chunks
        self.finish_reason = finish_reason
        self.usage = usage
        self.write_size = write_size
        self.usage_every_chunk = usage_every_chunk

    @property
    def pieces(self) -> list[str]:
        """The content deltas, in order."""
        return split_evenly(self.text, self.chunks)

    def segments(self, call: Call) -> list[Segment]:
        """Role chunk, content chunks, then the ending."""
        return [
            call.chunk({"role": "assistant", "content": "", "refusal": None}),
            *(
                call.chunk({"content": piece}, usage=self._running(n))
                for n, piece in enumerate(self.pieces, 1)
            ),
            *call.ending(self.finish_reason, self.usage),
        ]

    async def respond(self, call: Call) -> Response:
        """The whole text in one message."""
        return call.completion({"content": self.text}, self.finish_reason, self.usage)

    def _running(self, pieces: int) -> Usage | None:
        """The usage after `pieces` content chunks, when every chunk carries it."""
        if not self.usage_every_chunk or self.usage is None:
            return None
        return replace(self.usage, completion_tokens=pieces)


class Echo(Text):
    """The default reply: names the model asked for and repeats the last user message."""

    def __init__(self) -> None:
        super().__init__("")

    async def serve(self, call: Call) -> Response:
        """Set the text from the request, then answer like Text."""
        messages: list[dict[str, Any]] = call.body.get("messages") or []
        last: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") == "user"), {})
        content = last.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        self.text = f"{call.model} heard: {content or ''}"
        return await super().serve(call)


@dataclass(frozen=True)
class ToolCall:
    """One tool call of a reply; `cuts` are offsets where its streamed arguments split."""

    name: str
    arguments: str
    id: str = field(default_factory=lambda: f"call_{uuid.uuid4().hex[:24]}")
    cuts: tuple[int, ...] = ()

    @property
    def pieces(self) -> list[str]:
        """The argument deltas, in order."""
        return split_at(self.arguments, self.cuts) if self.cuts else [self.arguments]


class ToolCalls(Reply):
    """One or more (parallel) tool calls, optionally after some text.

    Streamed, each call starts with a chunk naming it (empty arguments) followed by its
    argument pieces; `interleave` alternates the calls' pieces instead of sending one call
    after the other.
    """

    def __init__(
        self,
        *calls: ToolCall,
        content: str | None = None,
        interleave: bool = False,
        usage: Usage | None = Usage(),
        write_size: int | None = None,
    ) -> None:
        super().__init__()
        self.calls = calls
        self.content = content
        self.interleave = interleave
        self.usage = usage
        self.write_size = write_size

    def segments(self, call: Call) -> list[Segment]:
        """Role chunk, optional text, call heads and argument pieces, then the ending."""
        out: list[Segment] = [call.chunk({"role": "assistant", "content": None, "refusal": None})]
        if self.content:
            out.append(call.chunk({"content": self.content}))
        streams = []
        for index, tool in enumerate(self.calls):
            head = {
                "index": index,
                "id": tool.id,
                "type": "function",
                "function": {"name": tool.name, "arguments": ""},
            }
            parts = [head] + [
                {"index": index, "function": {"arguments": piece}} for piece in tool.pieces
            ]
            streams.append(parts)
        if self.interleave:
            order = [
                s[i] for i in range(max(len(s) for s in streams)) for s in streams if i < len(s)
            ]
        else:
            order = [part for s in streams for part in s]
        out.extend(call.chunk({"tool_calls": [part]}) for part in order)
        out.extend(call.ending("tool_calls", self.usage))
        return out

    async def respond(self, call: Call) -> Response:
        """One message carrying every call."""
        message = {
            "content": self.content,
            "tool_calls": [
                {
                    "id": tool.id,
                    "type": "function",
                    "function": {"name": tool.name, "arguments": tool.arguments},
                }
                for tool in self.calls
            ],
        }
        return call.completion(message, "tool_calls", self.usage)


class HttpError(Reply):
    """An HTTP error status with OpenAI's error body (or a `raw` HTML one, as a gateway in
    front of a provider sends), for streaming requests too."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,  # OpenAI's field name
        code: str | None = None,
        param: str | None = None,
        raw: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.raw = raw
        self.headers = headers or {}
        self.status = status
        self.message = message
        self.type = type or ("server_error" if status >= 500 else "invalid_request_error")
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        """OpenAI's error body."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    async def serve(self, call: Call) -> Response:
        """The error status, whether or not the client asked for a stream."""
        self.finished.set()
        if self.raw is not None:
            response = Response(self.raw, status=self.status, content_type="text/html")
        else:
            response = _json_response(self.body(), self.status)
        response.headers.update(self.headers)
        return response


class StreamError(Reply):
    """A stream that starts well, sends `before` as text, then an error object and stops."""

    def __init__(
        self,
        before: str,
        message: str,
        *,
        type: str = "server_error",  # OpenAI's field name
        code: str | None = None,
        chunks: int = 2,
    ) -> None:
        super().__init__()
        self.before = before
        self.message = message
        self.type = type
        self.code = code
        self.chunks = chunks

    def segments(self, call: Call) -> list[Segment]:
        """Role chunk, text chunks, then `data: {"error": …}` with no `[DONE]`; with no
        `before`, the error is the first thing sent."""
        error = {"message": self.message, "type": self.type, "param": None, "code": self.code}
        if not self.before:
            return [_frame({"error": error})]
        return [
            call.chunk({"role": "assistant", "content": "", "refusal": None}),
            *(call.chunk({"content": piece}) for piece in split_evenly(self.before, self.chunks)),
            _frame({"error": error}),
        ]


class Truncated(Reply):
    """A reply cut off: streamed, chunks without a finish_reason or `[DONE]`; otherwise
    half a JSON body."""

    def __init__(self, text: str, *, chunks: int = 2) -> None:
        super().__init__()
        self.text = text
        self.chunks = chunks

    def segments(self, call: Call) -> list[Segment]:
        """Role chunk and text chunks, then the end of the body."""
        if not self.text:
            return []
        return [
            call.chunk({"role": "assistant", "content": "", "refusal": None}),
            *(call.chunk({"content": piece}) for piece in split_evenly(self.text, self.chunks)),
        ]

    async def respond(self, call: Call) -> Response:
        """The first half of a well-formed body."""
        whole = json.dumps(
            {**call._head("chat.completion"), "choices": [{"message": {"content": self.text}}]}
        )
        return Response(whole[: len(whole) // 2], content_type="application/json")


class Hang(Reply):
    """A reply that stops until the test calls `release()`.

    With `prefix`, a streamed reply first sends `prefix` as text chunks (so the client has
    its response headers and first chunks), then hangs, then finishes the text. Without
    it, no response at all is sent while hanging; once released, `then` answers (by
    default a short text). `reached` is set when the hang begins.
    """

    def __init__(self, prefix: str = "", *, then: Reply | None = None, rest: str = " done") -> None:
        super().__init__()
        self.prefix = prefix
        self.rest = rest
        self.then = then or Text(f"{prefix}{rest}")
        self.reached = Signal("Hang.reached")
        self.released = Signal("Hang.released")

    def release(self) -> None:
        """Let the reply go on."""
        self.released.set()

    async def _hang(self) -> None:
        self.reached.set()
        await self.released.wait_async(HANG_LIMIT_SECS)

    async def serve(self, call: Call) -> Response:
        """Hang before answering, or in the middle of the stream when there is a prefix."""
        if call.stream and self.prefix:
            return self._sse(self.segments(call))
        try:
            await self._hang()
        except BaseException:
            self.closed_early.set()
            raise
        self.finished.set()
        return await self.then.serve(call)

    def segments(self, call: Call) -> list[Segment]:
        """Prefix chunks, the hang, the rest of the text and the ending."""
        return [
            call.chunk({"role": "assistant", "content": "", "refusal": None}),
            *(call.chunk({"content": piece}) for piece in split_evenly(self.prefix, 2)),
            self._hang,
            call.chunk({"content": self.rest}),
            *call.ending("stop", Usage()),
        ]


class FakeProvider(ScriptedFake[Reply, Recorded]):
    """The fake OpenAI provider; a context manager that serves it."""

    name = "fake-openai"

    def default_reply(self) -> Reply:
        """With nothing scripted, echo the model and the last user message."""
        return Echo()

    def _build_app(self) -> Quart:
        app = Quart("fake_openai")
        app.config.update(RESPONSE_TIMEOUT=None)

        @app.post("/<path:prefix>/chat/completions")
        async def chat_completions(prefix: str) -> Response:
            raw = await request.get_data()
            try:
                body = json.loads(raw)
            except ValueError:
                return _json_response(
                    HttpError(400, "We could not parse the JSON body of your request.").body(),
                    400,
                )
            headers = {name.lower(): value for name, value in request.headers.items()}
            reply = self._next(Recorded(f"/{prefix}/chat/completions", headers, body))
            return await reply.serve(Call(body))

        @app.get("/<path:prefix>/models")
        async def models(prefix: str) -> Response:
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                for m in self.listed_models
            ]
            return _json_response({"object": "list", "data": data})

        return app
