"""OpenAI Chat Completions responses, both ways: upstream JSON/chunks → events → client JSON/SSE."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import orjson

from engine.codecs.sse import KEEP_ALIVE, dumps_bytes, frame
from engine.errors import ProxyError, UpstreamError
from engine.model import (
    ErrorEvent,
    Event,
    Finish,
    FinishReason,
    KeepAlive,
    ReasoningDelta,
    ReasoningPart,
    Relayed,
    ResponseStart,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from engine.response import ChatResponse

_FINISH_IN: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
_FINISH_OUT: dict[str, str] = {"error": "stop", "pause": "stop"}
DONE = b"data: [DONE]\n\n"
# What an upstream chunk may carry to go out as it came (see `StreamEncoder._relay`): the
# decoder renumbers tool calls, renames reasoning and corrects finish reasons.
_RELAYABLE = frozenset({ResponseStart, TextDelta, Usage, Finish})
# Keys of a chunk that carries more than text (usage that is not null included), and the
# empty text of one that carries none (see `StreamDecoder.plain`).
_NOT_PLAIN = re.compile(
    rb'"(?:tool_calls|function_call|reasoning|error|refusal|audio|usage":(?!null)|content":"")'
)


# --- usage ---------------------------------------------------------------------------------


def decode_usage(raw: dict[str, Any]) -> Usage:
    """Canonical usage from an OpenAI `usage` object."""
    prompt = raw.get("prompt_tokens_details") or {}
    completion = raw.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=raw.get("prompt_tokens") or 0,
        output_tokens=raw.get("completion_tokens") or 0,
        cached_tokens=prompt.get("cached_tokens") or 0,
        reasoning_tokens=completion.get("reasoning_tokens") or 0,
    )


def encode_usage(usage: Usage) -> dict[str, Any]:
    """An OpenAI `usage` object."""
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


# --- upstream → events ---------------------------------------------------------------------


def decode_response(body: dict[str, Any]) -> Iterator[Event]:
    """The events of a non-streaming Chat Completions response."""
    yield ResponseStart(
        id=body.get("id") or "", model=body.get("model") or "", created=body.get("created") or 0
    )
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    if message.get("reasoning_content"):
        yield ReasoningDelta(text=message["reasoning_content"])
    if message.get("content"):
        yield TextDelta(text=message["content"])
    calls = message.get("tool_calls") or []
    for index, call in enumerate(calls):
        function = call.get("function") or {}
        yield ToolCallStart(
            index=index, id=call.get("id") or f"call_{index}", name=function.get("name") or ""
        )
        yield ToolCallDelta(index=index, arguments=function.get("arguments") or "")
        yield ToolCallEnd(index=index)
    if body.get("usage"):
        yield decode_usage(body["usage"])
    reason = _FINISH_IN.get(choice.get("finish_reason") or "stop", "stop")
    yield Finish(reason=_with_calls(reason, bool(calls)))


def _with_calls(reason: FinishReason, called: bool) -> FinishReason:
    """`tool_calls` for a `stop` that came with tool calls: some providers (Gemini's
    OpenAI-compatible API) say `stop`, and Anthropic clients would then see `end_turn`
    after `tool_use` and not run the tools."""
    return "tool_calls" if called and reason == "stop" else reason


class StreamDecoder:
    """Turns streamed `chat.completion.chunk` objects into events; call `end()` at `[DONE]`."""

    def __init__(self) -> None:
        self.done = False  # set by the caller at `[DONE]`
        self._started = False
        self._plain = False  # started, and nothing but text so far (no reasoning, tool call)
        self._open_calls: dict[int, bool] = {}  # canonical index → still open
        self._ids: dict[int, str | None] = {}  # canonical index → the id the upstream gave
        self._wire: dict[int, int] = {}  # the upstream's index → the canonical index
        self._finish: FinishReason | None = None

    def plain(self, event: bytes) -> bool:
        """Whether the SSE event `event` (its one `data:` line) carries nothing but text
        of a stream that has carried nothing else, so that a relay may pass it on
        undecoded: some text, and no start, finish, usage, error, reasoning or tool call.
        (A chunk laid out in any other way than the compact one says no, and is decoded.)"""
        return (
            self._plain
            and b'"finish_reason":null' in event
            and b"\n" not in event
            and _NOT_PLAIN.search(event) is None
        )

    def text_of(self, event: bytes) -> str | None:
        """The text of a plain SSE event (see `plain`) of one choice, read without the
        general decoding: "" for none, None where that decoding must read it."""
        if not self.plain(event):
            return None
        try:
            (choice,) = orjson.loads(event[6:])["choices"]
            text = choice["delta"].get("content")
        except (LookupError, TypeError, ValueError, AttributeError):  # a shape for `chunk`
            return None
        if text is None:
            return ""
        return text if type(text) is str else None

    def chunk(self, chunk: dict[str, Any]) -> Iterator[Event]:
        """The events carried by one chunk."""
        if "error" in chunk:
            yield decode_stream_error(chunk["error"])
            return
        if not self._started:
            self._started = self._plain = True
            yield ResponseStart(
                id=chunk.get("id") or "",
                model=chunk.get("model") or "",
                created=chunk.get("created") or 0,
            )
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
                self._plain = False
                yield ReasoningDelta(text=reasoning)
            if delta.get("content"):
                yield TextDelta(text=delta["content"])
            for call in delta.get("tool_calls") or ():
                self._plain = False
                yield from self._tool_call(call)
            if choice.get("finish_reason"):
                yield from self._close_calls()
                self._finish = _FINISH_IN.get(choice["finish_reason"], "stop")
        if chunk.get("usage"):
            yield decode_usage(chunk["usage"])

    def _tool_call(self, call: dict[str, Any]) -> Iterator[Event]:
        # Calls are numbered in the order they start. A delta whose `id` differs from the
        # call open at its wire index starts a new call: Gemini's OpenAI-compatible API
        # sends parallel calls without an `index`, or all at the same one.
        wire = call.get("index")
        wire = wire if isinstance(wire, int) else 0
        call_id = call.get("id") or None
        function = call.get("function") or {}
        index = self._wire.get(wire)
        if index is None or (call_id and self._ids[index] and call_id != self._ids[index]):
            if index is not None and self._open_calls[index]:
                self._open_calls[index] = False
                yield ToolCallEnd(index=index)
            index = len(self._open_calls)
            self._wire[wire] = index
            self._ids[index] = call_id
            self._open_calls[index] = True
            yield ToolCallStart(
                index=index, id=call_id or f"call_{index}", name=function.get("name") or ""
            )
        if function.get("arguments"):
            yield ToolCallDelta(index=index, arguments=function["arguments"])

    def _close_calls(self) -> Iterator[Event]:
        for index in sorted(self._open_calls):
            if self._open_calls[index]:
                self._open_calls[index] = False
                yield ToolCallEnd(index=index)

    def end(self) -> Iterator[Event]:
        """The closing events; an error when the upstream never said it had finished."""
        if self._finish is None:
            yield ErrorEvent(
                status=502,
                code="upstream_truncated",
                message="the upstream closed the stream before it finished",
            )
            return
        yield from self._close_calls()
        yield Finish(reason=_with_calls(self._finish, bool(self._open_calls)))


def decode_stream_error(raw: Any) -> ErrorEvent:
    """An error object sent inside a stream."""
    error = raw if isinstance(raw, dict) else {"message": str(raw)}
    return ErrorEvent(
        status=int(error.get("status") or 500),
        code=str(error.get("code") or error.get("type") or "upstream_error"),
        message=str(error.get("message") or "upstream error"),
    )


def decode_error(status: int, body: Any) -> ProxyError:
    """An upstream error response, its status passed through."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return UpstreamError(
            status,
            str(error.get("message") or f"upstream error {status}"),
            code=str(error.get("code") or error.get("type") or "upstream_error"),
            param=error.get("param"),
        )
    text = body if isinstance(body, str) and body else f"upstream error {status}"
    return UpstreamError(status, text, code="upstream_error")


# --- events → client -----------------------------------------------------------------------


def error_type(status: int) -> str:
    """OpenAI's error `type` for an HTTP status."""
    if status >= 500:
        return "server_error"
    return {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}.get(
        status, "invalid_request_error"
    )


def encode_error(error: ProxyError) -> dict[str, Any]:
    """An error body in OpenAI's shape."""
    return {
        "error": {
            "message": error.message,
            "type": error_type(error.status),
            "param": error.param,
            "code": error.code,
        }
    }


def encode_response(response: ChatResponse) -> dict[str, Any]:
    """A non-streaming `chat.completion` body."""
    message: dict[str, Any] = {"role": "assistant", "content": response.text or None}
    reasoning = "".join(p.text for p in response.content if isinstance(p, ReasoningPart))
    if reasoning:
        message["reasoning_content"] = reasoning
    if response.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in response.tool_calls
        ]
    if not any(isinstance(p, TextPart) for p in response.content) and not response.tool_calls:
        message["content"] = ""
    body: dict[str, Any] = {
        "id": response.id or "chatcmpl-engine",
        "object": "chat.completion",
        "created": response.created or int(time.time()),
        "model": response.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _FINISH_OUT.get(response.finish_reason, response.finish_reason),
            }
        ],
    }
    if response.usage is not None:
        body["usage"] = encode_usage(response.usage)
    return body


class StreamEncoder:
    """Turns events into Chat Completions SSE bytes, ending with `[DONE]`."""

    def __init__(self, *, include_usage: bool) -> None:
        self.include_usage = include_usage
        self._base: dict[str, Any] = {
            "id": "chatcmpl-engine",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "",
        }
        self._usage: Usage | None = None
        self._text_frame = self._delta_frame()
        self._relaying = True  # every upstream chunk so far went out as it came
        self._relayed = False  # … and there was one

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return frame(
            {
                **self._base,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
        )

    def _delta_frame(self) -> tuple[bytes, bytes]:
        """The bytes of a chunk before and after its delta (the same for every text
        chunk: each costs the encoding of its delta alone)."""
        head, _, tail = self._chunk({"content": ""}).partition(b'{"content":""}')
        return head, tail

    def event(self, event: Event) -> bytes:
        """The bytes for one event (possibly none)."""
        match event:
            case Relayed():
                return self._relay(event)
            case TextDelta():
                head, tail = self._text_frame
                return head + dumps_bytes({"content": event.text}) + tail
            case ToolCallDelta():
                return self._chunk(
                    {
                        "tool_calls": [
                            {"index": event.index, "function": {"arguments": event.arguments}}
                        ]
                    }
                )
            case ResponseStart():
                self._base.update(
                    id=event.id or "chatcmpl-engine",
                    model=event.model,
                    created=event.created or int(time.time()),
                )
                self._text_frame = self._delta_frame()
                return self._chunk({"role": "assistant", "content": ""})
            case ToolCallStart():
                return self._chunk(
                    {
                        "tool_calls": [
                            {
                                "index": event.index,
                                "id": event.id,
                                "type": "function",
                                "function": {"name": event.name, "arguments": ""},
                            }
                        ]
                    }
                )
            case ReasoningDelta() if event.text:
                return self._chunk({"reasoning_content": event.text})
            case Usage():
                self._usage = event
            case Finish():
                if self._relaying and self._relayed:  # its finish chunk (and usage) went out
                    return DONE  # as they came, and the upstream did not say [DONE] itself
                out = self._chunk({}, _FINISH_OUT.get(event.reason, event.reason))
                if self.include_usage and self._usage is not None:
                    out += frame({**self._base, "choices": [], "usage": encode_usage(self._usage)})
                return out + DONE
            case ErrorEvent():
                return frame(encode_error(ProxyError(event.status, event.message, code=event.code)))
            case KeepAlive():
                return KEEP_ALIVE
        return b""

    def _relay(self, relayed: Relayed) -> bytes:
        """An upstream chunk as it came, where it says what this encoder would; else its
        events encoded here, and every event after them."""
        events = relayed.events
        self._relayed = True
        if not events:  # plain text, passed on undecoded while the encoder relays
            return relayed.data
        if not self._relaying or not all(type(event) in _RELAYABLE for event in events):
            self._relaying = False  # the upstream's next chunks may assume what it said
            return b"".join(self.event(event) for event in events)
        for event in events:
            if isinstance(event, ResponseStart):
                self.event(event)  # its id and model, for chunks encoded here later
            elif isinstance(event, Usage):
                self._usage = event
                if not self.include_usage:  # the engine asked for it, the client did not
                    return b"".join(self.event(e) for e in events if e is not event)
        return relayed.data

    def error(self, error: ProxyError) -> bytes:
        """The bytes reporting an error after the stream started."""
        return frame(encode_error(error))
