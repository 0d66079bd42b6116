"""Anthropic Messages responses, both ways: upstream JSON/SSE → events → client JSON/SSE.

Usage: the canonical `input_tokens` counts every prompt token, cached ones included (as
OpenAI's `prompt_tokens` does); Anthropic's `input_tokens` leaves out the tokens read from
or written to its cache, which it reports beside it. The codec converts both ways.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.codecs.anthropic.request import PROTOCOL
from engine.codecs.sse import KEEP_ALIVE, dumps_bytes, frame
from engine.errors import ProxyError, UpstreamError
from engine.model import (
    ErrorEvent,
    Event,
    Finish,
    FinishReason,
    KeepAlive,
    OpaqueBlock,
    OpaquePart,
    ReasoningDelta,
    ReasoningPart,
    ResponseStart,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from engine.response import ChatResponse

_STOP_IN: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "pause",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_STOP_OUT: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "error": "end_turn",
    "pause": "pause_turn",
}
_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_STATUS_TYPE = {status: kind for kind, status in _TYPE_STATUS.items()}


# --- usage and errors ----------------------------------------------------------------------


def decode_usage(raw: dict[str, Any]) -> Usage:
    """Canonical usage from an Anthropic `usage` object."""
    read = raw.get("cache_read_input_tokens") or 0
    created = raw.get("cache_creation_input_tokens") or 0
    return Usage(
        input_tokens=(raw.get("input_tokens") or 0) + read + created,
        output_tokens=raw.get("output_tokens") or 0,
        cached_tokens=read,
        cache_creation_tokens=created,
    )


def encode_usage(usage: Usage) -> dict[str, Any]:
    """An Anthropic `usage` object."""
    uncached = usage.input_tokens - usage.cached_tokens - usage.cache_creation_tokens
    return {
        "input_tokens": max(0, uncached),
        "cache_creation_input_tokens": usage.cache_creation_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
        "output_tokens": usage.output_tokens,
    }


def error_type(status: int) -> str:
    """Anthropic's error `type` for an HTTP status."""
    if status in _STATUS_TYPE:
        return _STATUS_TYPE[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_status(kind: str) -> int:
    """The HTTP status Anthropic gives an error `type` (500 for one it does not document)."""
    return _TYPE_STATUS.get(kind, 500)


def encode_error(error: ProxyError) -> dict[str, Any]:
    """An error body in Anthropic's shape."""
    kind = error.code if error.code in _TYPE_STATUS else error_type(error.status)
    return {"type": "error", "error": {"type": kind, "message": error.message}}


def decode_error(status: int, body: Any) -> ProxyError:
    """An upstream error response, its status passed through."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return UpstreamError(
            status,
            str(error.get("message") or f"upstream error {status}"),
            code=str(error.get("type") or "upstream_error"),
        )
    text = body if isinstance(body, str) and body else f"upstream error {status}"
    return UpstreamError(status, text, code="upstream_error")


def decode_stream_error(raw: Any) -> ErrorEvent:
    """The `error` event of a stream."""
    error = raw.get("error") if isinstance(raw, dict) else None
    if not isinstance(error, dict):
        error = {"type": "api_error", "message": str(raw)}
    kind = str(error.get("type") or "api_error")
    return ErrorEvent(
        status=error_status(kind), code=kind, message=str(error.get("message") or kind)
    )


# --- upstream → events ---------------------------------------------------------------------

_CARRIED = {"text", "thinking", "redacted_thinking", "tool_use"}


def _whole(block: dict[str, Any], pieces: list[str]) -> OpaqueBlock:
    """An opaque block with the input that streamed into it."""
    if pieces:
        try:
            block["input"] = json.loads("".join(pieces))
        except ValueError:
            block["input"] = {}
    return OpaqueBlock(protocol=PROTOCOL, data=block)


def _arguments(value: Any) -> str:
    return json.dumps(value if value is not None else {}, separators=(",", ":"), ensure_ascii=False)


def decode_response(body: dict[str, Any]) -> Iterator[Event]:
    """The events of a non-streaming Messages response."""
    yield ResponseStart(id=body.get("id") or "", model=body.get("model") or "")
    index = 0
    for block in body.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            yield TextDelta(text=block.get("text") or "")
        elif kind == "thinking":
            yield ReasoningDelta(text=block.get("thinking") or "", signature=block.get("signature"))
        elif kind == "redacted_thinking":
            yield ReasoningDelta(signature=block.get("data"), redacted=True)
        elif kind == "tool_use":
            yield ToolCallStart(index=index, id=block.get("id") or "", name=block.get("name") or "")
            yield ToolCallDelta(index=index, arguments=_arguments(block.get("input")))
            yield ToolCallEnd(index=index)
            index += 1
        elif isinstance(kind, str):
            yield OpaqueBlock(protocol=PROTOCOL, data=dict(block))
    if body.get("usage"):
        yield decode_usage(body["usage"])
    yield Finish(reason=_STOP_IN.get(body.get("stop_reason") or "end_turn", "stop"))


class StreamDecoder:
    """Turns Anthropic's stream events into canonical events; call `end()` when it closes."""

    def __init__(self) -> None:
        self._usage: dict[str, Any] = {}
        self._tools: dict[int, int] = {}  # block index → tool call index, while open
        # Blocks the model does not carry (server tool use and results), by block index,
        # with the input that streams into them: passed on whole when they end.
        self._opaque: dict[int, tuple[dict[str, Any], list[str]]] = {}
        self._calls = 0
        self._stop: FinishReason = "stop"
        self.done = False

    def chunk(self, data: dict[str, Any]) -> Iterator[Event]:
        """The events carried by one stream event (its JSON `data`)."""
        kind = data.get("type")
        if kind == "content_block_delta":
            yield from self._delta(data.get("index", 0), data.get("delta") or {})
        elif kind == "content_block_start":
            yield from self._start(data.get("index", 0), data.get("content_block") or {})
        elif kind == "content_block_stop":
            index = data.get("index", 0)
            call = self._tools.pop(index, None)
            if call is not None:
                yield ToolCallEnd(index=call)
            if index in self._opaque:
                yield _whole(*self._opaque.pop(index))
        elif kind == "message_start":
            message = data.get("message") or {}
            self._merge_usage(message.get("usage"))
            yield ResponseStart(id=message.get("id") or "", model=message.get("model") or "")
        elif kind == "message_delta":
            stop = (data.get("delta") or {}).get("stop_reason")
            if stop:
                self._stop = _STOP_IN.get(stop, "stop")
            self._merge_usage(data.get("usage"))
        elif kind == "message_stop":
            self.done = True
            for index in sorted(self._tools):
                yield ToolCallEnd(index=self._tools.pop(index))
            if self._usage:
                yield decode_usage(self._usage)
            yield Finish(reason=self._stop)
        elif kind == "error":
            yield decode_stream_error(data)
        # `ping` and event types added later carry nothing for us.

    def _merge_usage(self, usage: Any) -> None:
        # message_delta's counts are cumulative: they replace what message_start said.
        if isinstance(usage, dict):
            self._usage.update({k: v for k, v in usage.items() if v is not None})

    def _start(self, index: int, block: dict[str, Any]) -> Iterator[Event]:
        kind = block.get("type")
        if kind == "tool_use":
            call = self._tools[index] = self._calls
            self._calls += 1
            yield ToolCallStart(index=call, id=block.get("id") or "", name=block.get("name") or "")
            if block.get("input"):  # usually {} with the arguments in deltas
                yield ToolCallDelta(index=call, arguments=_arguments(block["input"]))
        elif kind == "text" and block.get("text"):
            yield TextDelta(text=block["text"])
        elif kind == "thinking" and (block.get("thinking") or block.get("signature")):
            yield ReasoningDelta(
                text=block.get("thinking") or "", signature=block.get("signature") or None
            )
        elif kind == "redacted_thinking":
            yield ReasoningDelta(signature=block.get("data"), redacted=True)
        elif isinstance(kind, str) and kind not in _CARRIED:
            self._opaque[index] = (dict(block), [])

    def _delta(self, index: int, delta: dict[str, Any]) -> Iterator[Event]:
        kind = delta.get("type")
        if kind == "text_delta":
            if delta.get("text"):
                yield TextDelta(text=delta["text"])
        elif kind == "input_json_delta":
            if delta.get("partial_json") and index in self._tools:
                yield ToolCallDelta(index=self._tools[index], arguments=delta["partial_json"])
            elif delta.get("partial_json") and index in self._opaque:
                self._opaque[index][1].append(delta["partial_json"])
        elif kind == "thinking_delta":
            if delta.get("thinking"):
                yield ReasoningDelta(text=delta["thinking"])
        elif kind == "signature_delta" and delta.get("signature"):
            yield ReasoningDelta(signature=delta["signature"])

    def end(self) -> Iterator[Event]:
        """An error when the stream closed before `message_stop`."""
        if not self.done:
            yield ErrorEvent(
                status=502,
                code="upstream_truncated",
                message="the upstream closed the stream before it finished",
            )


# --- events → client -----------------------------------------------------------------------


def _message_id(raw: str) -> str:
    return raw or f"msg_{uuid.uuid4().hex[:24]}"


def _thinking_block(part: ReasoningPart) -> dict[str, Any]:
    if part.redacted:
        return {"type": "redacted_thinking", "data": part.signature or ""}
    return {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}


def encode_response(response: ChatResponse) -> dict[str, Any]:
    """A non-streaming Messages body."""
    content: list[dict[str, Any]] = []
    for part in response.content:
        if isinstance(part, TextPart):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, ReasoningPart):
            content.append(_thinking_block(part))
        elif isinstance(part, OpaquePart):
            if part.protocol == PROTOCOL:
                content.append(part.data)
        else:
            try:
                arguments = json.loads(part.arguments or "{}")
            except ValueError:
                arguments = {}
            content.append(
                {"type": "tool_use", "id": part.id, "name": part.name, "input": arguments}
            )
    return {
        "id": _message_id(response.id),
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": _STOP_OUT.get(response.finish_reason, "end_turn"),
        "stop_sequence": None,
        "usage": encode_usage(response.usage or Usage()),
    }


@dataclass
class _Call:
    """A tool call the client stream has not finished writing."""

    id: str
    name: str
    pending: list[str] = field(default_factory=list)  # arguments not written yet
    ended: bool = False
    written: bool = False  # its block has been closed


class StreamEncoder:
    """Turns events into Anthropic's SSE sequence, one content block at a time.

    Blocks never interleave on Anthropic's wire, so a tool call that starts while another
    is still open (OpenAI upstreams send several at once) waits, its arguments buffered,
    until the open one ends.
    """

    def __init__(self) -> None:
        self._started = False
        self._index = -1
        self._open: str | None = None  # "text", "thinking" or "tool"
        self._signed = False  # the open thinking block has its signature
        self._live: int | None = None  # the tool call whose block is open
        self._calls: dict[int, _Call] = {}
        self._queue: list[int] = []
        self._usage: Usage | None = None
        self._text_frame = (b"", b"")  # the open text block's delta, before and after its text

    def _event(self, data: dict[str, Any]) -> bytes:
        return frame(data, event=data["type"])

    def _start(self, event: ResponseStart | None = None) -> bytes:
        if self._started:
            return b""
        self._started = True
        message: dict[str, Any] = {
            "id": _message_id(event.id if event else ""),
            "type": "message",
            "role": "assistant",
            "model": event.model if event else "",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return self._event({"type": "message_start", "message": message}) + self._event(
            {"type": "ping"}
        )

    def _open_block(self, kind: str, block: dict[str, Any]) -> bytes:
        out = self._close()
        self._index += 1
        self._open = kind
        return out + self._event(
            {"type": "content_block_start", "index": self._index, "content_block": block}
        )

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        if self._live is not None:
            self._calls[self._live].written = True
            self._live = None
        self._open = None
        return self._event({"type": "content_block_stop", "index": self._index})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return self._event({"type": "content_block_delta", "index": self._index, "delta": delta})

    def _open_call(self, index: int) -> bytes:
        call = self._calls[index]
        block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        out = self._open_block("tool", block)
        self._live = index
        if call.pending:
            out += self._delta({"type": "input_json_delta", "partial_json": "".join(call.pending)})
            call.pending.clear()
        return out

    def _promote(self, *, force: bool) -> bytes:
        """Write the waiting tool calls: the ended ones whole, then one live (or all)."""
        out = b""
        while self._queue and self._open is None:
            index = self._queue.pop(0)
            out += self._open_call(index)
            if self._calls[index].ended or force:
                out += self._close()
        return out

    def _settle(self) -> bytes:
        """Close the open block and write every waiting tool call, before other content."""
        return self._close() + self._promote(force=True)

    def event(self, event: Event) -> bytes:
        """The bytes for one event (possibly none)."""
        match event:
            case TextDelta():  # the commonest first
                if self._open == "text":
                    head, tail = self._text_frame
                    return head + dumps_bytes(event.text) + tail
                out = self._start() + self._settle()
                out += self._open_block("text", {"type": "text", "text": ""})
                head, _, tail = self._delta({"type": "text_delta", "text": ""}).rpartition(b'""')
                self._text_frame = head, tail
                return out + head + dumps_bytes(event.text) + tail
            case ResponseStart():
                return self._start(event)
            case ToolCallDelta():
                out = self._start()
                if self._live == event.index:
                    return out + self._delta(
                        {"type": "input_json_delta", "partial_json": event.arguments}
                    )
                call = self._calls.get(event.index)
                if call is not None and not call.written:
                    call.pending.append(event.arguments)
                return out
            case ToolCallStart():
                out = self._start()
                self._calls[event.index] = _Call(event.id, event.name)
                if self._open == "tool" or self._queue:
                    self._queue.append(event.index)
                    return out
                return out + self._open_call(event.index)
            case ToolCallEnd():
                call = self._calls.get(event.index)
                if call is None:
                    return b""
                call.ended = True
                if self._live != event.index:
                    return b""
                return self._close() + self._promote(force=False)
            case ReasoningDelta():
                return self._start() + self._reasoning(event)
            case OpaqueBlock() if event.protocol == PROTOCOL:
                out = self._start() + self._settle()
                return out + self._open_block("opaque", event.data) + self._close()
            case Usage():
                self._usage = event
            case Finish():
                usage = encode_usage(self._usage or Usage())
                return (
                    self._start()
                    + self._settle()
                    + self._event(
                        {
                            "type": "message_delta",
                            "delta": {
                                "stop_reason": _STOP_OUT.get(event.reason, "end_turn"),
                                "stop_sequence": None,
                            },
                            "usage": usage,
                        }
                    )
                    + self._event({"type": "message_stop"})
                )
            case ErrorEvent():
                return self.error(ProxyError(event.status, event.message, code=event.code))
            case KeepAlive():
                return KEEP_ALIVE
        return b""

    def _reasoning(self, event: ReasoningDelta) -> bytes:
        if event.redacted:
            block = {"type": "redacted_thinking", "data": event.signature or ""}
            out = self._settle() + self._open_block("redacted_thinking", block)
            return out + self._close()
        out = b""
        if self._open != "thinking" or self._signed:
            block = {"type": "thinking", "thinking": "", "signature": ""}
            out += self._settle() + self._open_block("thinking", block)
            self._signed = False
        if event.text:
            out += self._delta({"type": "thinking_delta", "thinking": event.text})
        if event.signature:
            out += self._delta({"type": "signature_delta", "signature": event.signature})
            self._signed = True
        return out

    def error(self, error: ProxyError) -> bytes:
        """The `error` event reporting a failure after the stream started."""
        return self._event(encode_error(error))
