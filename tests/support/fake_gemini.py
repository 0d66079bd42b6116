"""An in-process fake Gemini API: `generateContent` and `streamGenerateContent?alt=sse`.

A test scripts the replies it wants, one per upstream request, in order; with nothing
scripted the fake echoes the model and the last user text. Every request is recorded (path,
query, headers, JSON body). The wire format follows Gemini's: a whole
`GenerateContentResponse`, or with `alt=sse` one partial response per `data:` message
(`\\r\\n\\r\\n`-terminated, as Google sends them), each with `usageMetadata` so far, the
`modelVersion` and `responseId`; the last one carries `finishReason`. A function call is
always one whole part; errors use Google's `{"error": {code, message, status}}`.

    with FakeGemini() as fake:
        fake.script(Text("Hello there", chunks=3))
        ...  # a client asks through the proxy, whose backend has base_url fake.url
        assert fake.last.json["contents"][0]["parts"] == [{"text": "hi"}]
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from quart import Quart, Response, request

from tests.support.fake_openai import split_evenly
from tests.support.scripted import ScriptedFake

R = TypeVar("R", bound="Reply")

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _frame(obj: Any) -> bytes:
    return f"data: {_dumps(obj)}\r\n\r\n".encode()


def error_body(status: int, message: str, name: str | None = None) -> dict[str, Any]:
    """Google's error body."""
    return {"error": {"code": status, "message": message, "status": name or STATUS_NAMES[status]}}


@dataclass(frozen=True)
class Usage:
    """Token counts a reply reports."""

    prompt: int = 11
    candidates: int = 7
    thoughts: int = 0
    cached: int = 0

    def wire(self, done: bool = True) -> dict[str, Any]:
        """`usageMetadata`; mid-stream, only the prompt is counted so far."""
        candidates = self.candidates if done else 0
        thoughts = self.thoughts if done else 0
        out: dict[str, Any] = {
            "promptTokenCount": self.prompt,
            "candidatesTokenCount": candidates,
            "totalTokenCount": self.prompt + candidates + thoughts,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": self.prompt}],
        }
        if self.cached:
            out["cachedContentTokenCount"] = self.cached
        if thoughts:
            out["thoughtsTokenCount"] = thoughts
        return out


@dataclass
class Recorded:
    """One request the fake received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: dict[str, Any]

    @property
    def model(self) -> str:
        """The model named in the path."""
        return self.path.rsplit("/models/", 1)[1].rsplit(":", 1)[0]

    @property
    def contents(self) -> list[dict[str, Any]]:
        """The contents sent."""
        return list(self.json.get("contents") or [])


@dataclass
class Call:
    """One request being answered."""

    model: str
    stream: bool
    body: dict[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:20])

    def response(
        self, parts: list[dict[str, Any]], finish: str | None, usage: Usage | None, done: bool
    ) -> dict[str, Any]:
        """One GenerateContentResponse (whole, or a streamed piece)."""
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if finish is not None:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        out: dict[str, Any] = {"candidates": [candidate]}
        if usage is not None:
            out["usageMetadata"] = usage.wire(done)
        out["modelVersion"] = self.model
        out["responseId"] = self.id
        return out


def _json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _merged(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Streamed parts as one whole response has them: runs of text (or of thought) joined."""
    out: list[dict[str, Any]] = []
    for part in parts:
        last = out[-1] if out else None
        if (
            last is not None
            and "text" in last
            and "text" in part
            and "thoughtSignature" not in last
            and last.get("thought") == part.get("thought")
        ):
            out[-1] = {**part, "text": last["text"] + part["text"]}
        else:
            out.append(dict(part))
    return out


class Reply:
    """A scripted reply: a list of streamed steps (lists of parts), folded when not streaming."""

    finish = "STOP"
    usage: Usage | None = Usage()

    def steps(self, call: Call) -> list[list[dict[str, Any]]]:
        """The parts of each streamed chunk, in order."""
        raise NotImplementedError

    def tail(self, call: Call) -> list[bytes]:
        """What a stream sends after its last step (an error, say); nothing by default."""
        return []

    async def serve(self, call: Call) -> Response:
        """The response to `call`."""
        steps = self.steps(call)
        if not call.stream:
            parts = _merged([part for step in steps for part in step])
            return _json_response(call.response(parts, self.finish, self.usage, True))
        frames = [
            _frame(
                call.response(
                    step,
                    self.finish if i == len(steps) - 1 else None,
                    self.usage,
                    i == len(steps) - 1,
                )
            )
            for i, step in enumerate(steps)
        ]
        frames.extend(self.tail(call))

        async def body() -> AsyncIterator[bytes]:
            for data in frames:
                yield data

        response = Response(body(), content_type="text/event-stream")
        response.timeout = None
        return response


class Text(Reply):
    """A text answer, streamed in `chunks` pieces."""

    def __init__(
        self,
        text: str,
        *,
        chunks: int = 3,
        finish: str = "STOP",
        usage: Usage | None = Usage(),
        signature: str | None = None,
    ) -> None:
        self.text = text
        self.chunks = chunks
        self.finish = finish
        self.usage = usage
        self.signature = signature

    @property
    def pieces(self) -> list[str]:
        """The streamed text pieces."""
        return split_evenly(self.text, self.chunks)

    def steps(self, call: Call) -> list[list[dict[str, Any]]]:
        """One text part per chunk; a signature rides on the last one."""
        out: list[list[dict[str, Any]]] = [[{"text": piece}] for piece in self.pieces]
        if self.signature is not None:
            out[-1][0]["thoughtSignature"] = self.signature
        return out


class Echo(Text):
    """The default reply: names the model and repeats the last user text."""

    def __init__(self) -> None:
        super().__init__("")

    async def serve(self, call: Call) -> Response:
        """Set the text from the request, then answer like Text."""
        users = [c for c in call.body.get("contents") or [] if c.get("role", "user") == "user"]
        parts = users[-1].get("parts", []) if users else []
        heard = "".join(p.get("text", "") for p in parts)
        self.text = f"{call.model} heard: {heard}"
        return await super().serve(call)


@dataclass(frozen=True)
class FunctionCall:
    """One function call of a reply."""

    name: str
    args: dict[str, Any]


class FunctionCalls(Reply):
    """One or more (parallel) function calls, each a whole part in its own chunk, optionally
    after thoughts and text; `signature` signs the first call, as Gemini does."""

    def __init__(
        self,
        *calls: FunctionCall,
        text: str | None = None,
        thought: str | None = None,
        signature: str | None = None,
        usage: Usage | None = Usage(),
    ) -> None:
        self.calls = calls
        self.text = text
        self.thought = thought
        self.signature = signature
        self.usage = usage

    def steps(self, call: Call) -> list[list[dict[str, Any]]]:
        """Thought, text, then a chunk per call."""
        out: list[list[dict[str, Any]]] = []
        if self.thought:
            out.append([{"text": self.thought, "thought": True}])
        if self.text:
            out.append([{"text": self.text}])
        for i, fc in enumerate(self.calls):
            part: dict[str, Any] = {"functionCall": {"name": fc.name, "args": fc.args}}
            if i == 0 and self.signature is not None:
                part["thoughtSignature"] = self.signature
            out.append([part])
        return out


class Thoughts(Reply):
    """Thought summaries (`thought: true`) then an answer whose last part is signed."""

    def __init__(
        self, thoughts: list[str], answer: str, *, signature: str, usage: Usage | None = None
    ) -> None:
        self.thoughts = thoughts
        self.answer = answer
        self.signature = signature
        self.usage = usage or Usage(thoughts=40)

    def steps(self, call: Call) -> list[list[dict[str, Any]]]:
        """A chunk per thought, then the signed answer."""
        out: list[list[dict[str, Any]]] = [[{"text": t, "thought": True}] for t in self.thoughts]
        out.append([{"text": self.answer, "thoughtSignature": self.signature}])
        return out


class HttpError(Reply):
    """An HTTP error status with Google's error body, for streaming requests too."""

    def __init__(self, status: int, message: str, *, name: str | None = None) -> None:
        self.status = status
        self.message = message
        self.name = name

    async def serve(self, call: Call) -> Response:
        """The error status."""
        return _json_response(error_body(self.status, self.message, self.name), self.status)


class StreamError(Text):
    """A stream that starts well, sends `before` as text, then an error object and stops."""

    def __init__(self, before: str, message: str, *, status: int = 503) -> None:
        super().__init__(before, chunks=2)
        self.message = message
        self.status = status
        self.finish = None  # type: ignore[assignment]

    def tail(self, call: Call) -> list[bytes]:
        """The error object, with no finish reason before it."""
        return [_frame(error_body(self.status, self.message))]


class Blocked(Reply):
    """The prompt was blocked: no candidates, `promptFeedback.blockReason`."""

    async def serve(self, call: Call) -> Response:
        """One response, streamed or not, with no candidates."""
        body = {
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": Usage().wire(False),
            "modelVersion": call.model,
            "responseId": call.id,
        }
        if call.stream:
            return Response(_frame(body), content_type="text/event-stream")
        return _json_response(body)


class FakeGemini(ScriptedFake[Reply, Recorded]):
    """The fake Gemini API; a context manager that serves it."""

    name = "fake-gemini"

    def default_reply(self) -> Reply:
        """With nothing scripted, echo the last user message."""
        return Echo()

    def _build_app(self) -> Quart:
        app = Quart("fake_gemini")
        app.config.update(RESPONSE_TIMEOUT=None)

        @app.get("/<version>/models")
        async def models(version: str) -> Response:
            entries = [
                {
                    "name": f"models/{m}",
                    "displayName": m,
                    "supportedGenerationMethods": ["generateContent", "countTokens"],
                }
                for m in self.listed_models
            ]
            embedding = {"name": "models/embed-x", "supportedGenerationMethods": ["embedContent"]}
            return _json_response({"models": [*entries, embedding]})

        @app.post("/<version>/models/<path:target>")
        async def generate(version: str, target: str) -> Response:
            model, _, action = target.rpartition(":")
            if action not in ("generateContent", "streamGenerateContent"):
                return _json_response(error_body(404, f"unknown action {action!r}"), 404)
            try:
                body = json.loads(await request.get_data())
            except ValueError:
                return _json_response(error_body(400, "Invalid JSON payload received."), 400)
            if not request.headers.get("x-goog-api-key"):
                return _json_response(
                    error_body(403, "Method doesn't allow unregistered callers."), 403
                )
            headers = {name.lower(): value for name, value in request.headers.items()}
            recorded = Recorded(f"/{version}/models/{target}", dict(request.args), headers, body)
            reply = self._next(recorded)
            stream = action == "streamGenerateContent"
            if stream and request.args.get("alt") != "sse":
                return _json_response(error_body(400, "this fake streams only with alt=sse"), 400)
            return await reply.serve(Call(model, stream, body))

        return app
