"""Gemini responses, both ways: upstream JSON/chunks → events → client JSON/SSE chunks.

A streamed Gemini response is a sequence of partial `GenerateContentResponse` objects,
each `data: {json}` on its own; a function call always arrives whole in one part, so
the encoder holds a call's argument deltas back until its `ToolCallEnd`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from engine.codecs.gemini.request import field, tag, untag
from engine.codecs.sse import dumps, frame
from engine.errors import ProxyError, UpstreamError
from engine.model import (
    ErrorEvent,
    Event,
    Finish,
    FinishReason,
    KeepAlive,
    OpaquePart,
    ReasoningDelta,
    ReasoningPart,
    ResponseStart,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    Usage,
)
from engine.response import ChatResponse

_FINISH_IN: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
}
_FINISH_OUT: dict[str, str] = {
    "stop": "STOP",
    "tool_calls": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
    "error": "OTHER",
}
# google.rpc.Code names by HTTP status, as Google's APIs send them.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_NAMES = set(STATUS_NAMES.values()) | {"FAILED_PRECONDITION", "OUT_OF_RANGE", "UNKNOWN"}


# --- usage ---------------------------------------------------------------------------------


def decode_usage(raw: dict[str, Any]) -> Usage:
    """Canonical usage from `usageMetadata`; output counts thoughts too, as OpenAI's does."""
    thoughts = field(raw, "thoughtsTokenCount") or 0
    return Usage(
        input_tokens=field(raw, "promptTokenCount") or 0,
        output_tokens=(field(raw, "candidatesTokenCount") or 0) + thoughts,
        cached_tokens=field(raw, "cachedContentTokenCount") or 0,
        reasoning_tokens=thoughts,
    )


def encode_usage(usage: Usage) -> dict[str, Any]:
    """A Gemini `usageMetadata` object."""
    out: dict[str, Any] = {
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": max(0, usage.output_tokens - usage.reasoning_tokens),
        "totalTokenCount": usage.input_tokens + usage.output_tokens,
    }
    if usage.cached_tokens:
        out["cachedContentTokenCount"] = usage.cached_tokens
    if usage.reasoning_tokens:
        out["thoughtsTokenCount"] = usage.reasoning_tokens
    return out


# --- upstream → events ---------------------------------------------------------------------


def call_id(response_id: str, index: int, name: str, args: str) -> str:
    """A stable id for an id-less Gemini function call of a response."""
    digest = hashlib.sha256(f"{response_id}\0{index}\0{name}\0{args}".encode()).hexdigest()
    return f"call_{digest[:24]}"


class StreamDecoder:
    """Turns Gemini response objects (whole or streamed chunks) into events.

    Usage is reported with each chunk, cumulatively; it is sent once, before the finish.
    """

    def __init__(self) -> None:
        self.done = False  # Gemini has no end marker: the stream is complete when the body ends
        self._started = False
        self._calls = 0
        self._usage: Usage | None = None
        self._finish: FinishReason | None = None
        self._id = ""

    def chunk(self, chunk: dict[str, Any]) -> Iterator[Event]:
        """The events carried by one response object."""
        if "error" in chunk:
            yield decode_stream_error(chunk["error"])
            return
        if not self._started:
            self._started = True
            self._id = str(field(chunk, "responseId") or "")
            yield ResponseStart(id=self._id, model=str(field(chunk, "modelVersion") or ""))
        if field(chunk, "usageMetadata"):
            self._usage = decode_usage(field(chunk, "usageMetadata"))
        candidates = chunk.get("candidates") or []
        feedback = field(chunk, "promptFeedback") or {}
        if not candidates and field(feedback, "blockReason"):
            self._finish = "content_filter"
            return
        candidate = candidates[0] if candidates else {}
        for part in (candidate.get("content") or {}).get("parts") or ():
            yield from self._part(part)
        reason = field(candidate, "finishReason")
        if reason:
            finish = _FINISH_IN.get(str(reason), "stop")
            self._finish = "tool_calls" if finish == "stop" and self._calls else finish

    def _part(self, part: dict[str, Any]) -> Iterator[Event]:
        signature = field(part, "thoughtSignature")
        if part.get("thought") and isinstance(part.get("text"), str):
            yield ReasoningDelta(text=part["text"], signature=tag(signature) if signature else None)
            return
        if signature:
            yield ReasoningDelta(signature=tag(signature))
        call = field(part, "functionCall")
        if isinstance(call, dict):
            name = str(call.get("name") or "")
            args = dumps(call.get("args") or {})
            index = self._calls
            self._calls += 1
            given = call.get("id")
            yield ToolCallStart(
                index=index, id=given or call_id(self._id, index, name, args), name=name
            )
            yield ToolCallDelta(index=index, arguments=args)
            yield ToolCallEnd(index=index)
        elif isinstance(part.get("text"), str) and part["text"]:
            yield TextDelta(text=part["text"])

    def end(self) -> Iterator[Event]:
        """The closing events; an error when the upstream never said it had finished."""
        if self._finish is None:
            yield ErrorEvent(
                status=502,
                code="upstream_truncated",
                message="the upstream closed the stream before it finished",
            )
            return
        if self._usage is not None:
            yield self._usage
        yield Finish(reason=self._finish)


def decode_response(body: dict[str, Any]) -> Iterator[Event]:
    """The events of a non-streaming GenerateContentResponse."""
    decoder = StreamDecoder()
    yield from decoder.chunk(body)
    if decoder._finish is None:  # a whole response that names no reason has still ended
        decoder._finish = "tool_calls" if decoder._calls else "stop"
    yield from decoder.end()


def decode_stream_error(raw: Any) -> ErrorEvent:
    """An error object sent inside a stream."""
    error = raw if isinstance(raw, dict) else {"message": str(raw)}
    code = error.get("code")
    return ErrorEvent(
        status=code if isinstance(code, int) and 400 <= code < 600 else 500,
        code=str(error.get("status") or "upstream_error"),
        message=str(error.get("message") or "upstream error"),
    )


def decode_error(status: int, body: Any) -> ProxyError:
    """An upstream error response, its status passed through."""
    if isinstance(body, list) and len(body) == 1:  # a streamed (JSON array) error
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return UpstreamError(
            status,
            str(error.get("message") or f"upstream error {status}"),
            code=str(error.get("status") or "upstream_error"),
        )
    text = body if isinstance(body, str) and body else f"upstream error {status}"
    return UpstreamError(status, text, code="upstream_error")


# --- events → client -----------------------------------------------------------------------


def status_name(error: ProxyError) -> str:
    """The google.rpc status name for an error: its own code when it is one, else by HTTP."""
    if error.code in _NAMES:
        return error.code
    return STATUS_NAMES.get(error.status, "INTERNAL" if error.status >= 500 else "INVALID_ARGUMENT")


def encode_error(error: ProxyError) -> dict[str, Any]:
    """An error body in Gemini's shape."""
    body: dict[str, Any] = {
        "code": error.status,
        "message": error.message,
        "status": status_name(error),
    }
    if error.param:
        body["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": error.param, "description": error.message}],
            }
        ]
    return {"error": body}


def _call_part(call: ToolCallPart | tuple[str, str, str]) -> dict[str, Any]:
    """A `functionCall` part, with the call's id so that the client can answer it by id."""
    call_id, name, arguments = (
        (call.id, call.name, call.arguments) if isinstance(call, ToolCallPart) else call
    )
    try:
        args = json.loads(arguments or "{}")
    except ValueError:
        args = None
    if not isinstance(args, dict):
        args = {"arguments": arguments}
    return {"functionCall": {"id": call_id, "name": name, "args": args}}


def _with_signature(part: dict[str, Any], signature: str | None) -> dict[str, Any]:
    if signature is not None:
        part["thoughtSignature"] = signature
    return part


def encode_response(response: ChatResponse) -> dict[str, Any]:
    """A non-streaming GenerateContentResponse."""
    parts: list[dict[str, Any]] = []
    pending: str | None = None
    for part in response.content:
        if isinstance(part, ReasoningPart):
            signature = untag(part.signature)
            if part.text:
                parts.append(_with_signature({"text": part.text, "thought": True}, None))
            if signature is not None:
                pending = signature
        elif isinstance(part, TextPart):
            parts.append(_with_signature({"text": part.text}, pending))
            pending = None
        elif isinstance(part, OpaquePart):
            continue  # another protocol's block: a Gemini client could not read it
        else:
            parts.append(_with_signature(_call_part(part), pending))
            pending = None
    if pending is not None:
        parts.append({"text": "", "thoughtSignature": pending})
    candidate: dict[str, Any] = {
        "content": {"parts": parts, "role": "model"},
        "finishReason": _FINISH_OUT.get(response.finish_reason, "STOP"),
        "index": 0,
    }
    body: dict[str, Any] = {"candidates": [candidate]}
    if response.usage is not None:
        body["usageMetadata"] = encode_usage(response.usage)
    body["modelVersion"] = response.model
    body["responseId"] = response.id
    return body


class StreamEncoder:
    """Turns events into Gemini stream chunks: SSE `data:` messages, or a JSON array.

    Each chunk is a partial GenerateContentResponse; the last carries the finish reason
    and usage. A signature-only reasoning event signs the next part sent.
    """

    def __init__(self, *, sse: bool = True) -> None:
        self.sse = sse
        self._model = ""
        self._id = ""
        self._calls: dict[int, tuple[str, str, list[str]]] = {}
        self._signature: str | None = None
        self._usage: Usage | None = None
        self._sent = 0

    def _frame(self, obj: dict[str, Any], *, last: bool = False) -> bytes:
        if self.sse:
            return frame(obj)
        head = b"[" if self._sent == 0 else b",\r\n"
        self._sent += 1
        return head + dumps(obj).encode() + (b"]" if last else b"")

    def _chunk(
        self, parts: list[dict[str, Any]], finish: str | None = None, *, last: bool = False
    ) -> bytes:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if finish is not None:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        obj: dict[str, Any] = {"candidates": [candidate]}
        if last and self._usage is not None:
            obj["usageMetadata"] = encode_usage(self._usage)
        obj["modelVersion"] = self._model
        obj["responseId"] = self._id
        return self._frame(obj, last=last)

    def _signed(self, part: dict[str, Any]) -> dict[str, Any]:
        part = _with_signature(part, self._signature)
        self._signature = None
        return part

    def event(self, event: Event) -> bytes:
        """The bytes for one event (possibly none)."""
        match event:
            case TextDelta():
                return self._chunk([self._signed({"text": event.text})])
            case ToolCallDelta():
                self._calls[event.index][2].append(event.arguments)
            case ToolCallEnd():
                call_id, name, pieces = self._calls.pop(event.index)
                return self._chunk([self._signed(_call_part((call_id, name, "".join(pieces))))])
            case ReasoningDelta():
                signature = untag(event.signature)
                if signature is not None:
                    self._signature = signature
                if event.text:
                    return self._chunk([{"text": event.text, "thought": True}])
            case ToolCallStart():
                self._calls[event.index] = (event.id, event.name, [])
            case ResponseStart():
                self._model, self._id = event.model, event.id
            case Usage():
                self._usage = event
            case Finish():
                parts = [
                    _call_part((call_id, name, "".join(pieces)))
                    for _, (call_id, name, pieces) in sorted(self._calls.items())
                ]
                self._calls.clear()
                if self._signature is not None:
                    parts.append(self._signed({"text": ""}))
                if not parts:
                    parts.append({"text": ""})
                return self._chunk(parts, _FINISH_OUT.get(event.reason, "STOP"), last=True)
            case ErrorEvent():
                return self.error(ProxyError(event.status, event.message, code=event.code))
            case KeepAlive():
                return b"\n"  # a blank line: SSE readers and JSON-array parsers skip it
        return b""

    def error(self, error: ProxyError) -> bytes:
        """The bytes reporting an error after the stream started: a last chunk holding it."""
        return self._frame(encode_error(error), last=True)
