"""OpenAI Responses responses: canonical events → a `response` object and its event stream.

One :class:`ResponseBuilder` folds events into output items (reasoning, message,
function_call) and, as it goes, emits the official streaming events, each with a strictly
increasing `sequence_number`, ending with exactly one of `response.completed`,
`response.incomplete` or `response.failed`. The non-streaming body is the same builder's
final `response` object, so both paths agree by construction.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from engine.codecs.openai_responses.request import (
    CUSTOM_TOOLS,
    PROTOCOL,
    custom_input,
    encode_encrypted,
    encode_text_format,
)
from engine.codecs.sse import KEEP_ALIVE, frame
from engine.errors import ProxyError
from engine.model import (
    ChatRequest,
    ErrorEvent,
    Event,
    Finish,
    KeepAlive,
    OpaqueBlock,
    ReasoningDelta,
    ResponseStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from engine.response import ChatResponse, replay

# Why a response stopped early, as `incomplete_details.reason`.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_response_id() -> str:
    """A fresh `resp_…` id."""
    return f"resp_{uuid.uuid4().hex}"


def encode_usage(usage: Usage) -> dict[str, Any]:
    """A Responses `usage` object."""
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_creation_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def _error_code(status: int) -> str:
    return "rate_limit_exceeded" if status == 429 else "server_error"


class ResponseBuilder:
    """Builds one response from events; `event()` returns the SSE bytes for each."""

    def __init__(self, request: ChatRequest, response_id: str | None = None) -> None:
        self.request = request
        self.id = response_id or new_response_id()
        self._suffix = self.id.removeprefix("resp_")
        self._seq = 0
        self._started = False
        self.output: list[dict[str, Any]] = []
        self._positions: dict[str, int] = {}  # item id → its output_index
        self._open: dict[str, Any] | None = None  # the open message or reasoning item
        self._calls: dict[int, dict[str, Any]] = {}  # tool call index → its open item
        # Freeform (custom) tool calls: their arguments gather here until the call ends,
        # when the `input` string is taken out of them.
        self._custom_names = set(request.extra.get(CUSTOM_TOOLS, {}).get("names", ()))
        self._custom_arguments: dict[int, list[str]] = {}
        # Namespaced tools are offered by flat names; calls go back to the client split.
        self._namespaces = {t.name: t.namespace for t in request.tools if t.namespace}
        self.usage: Usage | None = None
        self.final: dict[str, Any] | None = None  # the terminal response object
        extra = request.extra.get(PROTOCOL, {})
        self.response: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": int(time.time()),
            "status": "in_progress",
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": "".join(p.text for p in request.system) or None,
            "max_output_tokens": request.sampling.max_tokens,
            "metadata": dict(request.metadata),
            "model": request.model,
            "output": [],
            "parallel_tool_calls": request.parallel_tool_calls
            if request.parallel_tool_calls is not None
            else True,
            "previous_response_id": extra.get("previous_response_id"),
            "reasoning": {
                "effort": request.reasoning.effort if request.reasoning else None,
                "summary": None,
            },
            "store": extra.get("store", True) is not False,
            "temperature": request.sampling.temperature,
            "text": encode_text_format(request.response_format),
            "tool_choice": _tool_choice(request),
            "tools": [
                {
                    "type": "function",
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                    "strict": t.strict if t.strict is not None else True,
                }
                for t in request.tools
            ],
            "top_p": request.sampling.top_p,
            "truncation": extra.get("truncation", "disabled"),
            "usage": None,
            "user": extra.get("user"),
        }

    # --- framing ----------------------------------------------------------------------------

    def _emit(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return frame(data, kind)

    def _snapshot(self) -> dict[str, Any]:
        return {**self.response, "output": [dict(item) for item in self.output]}

    def _item_id(self, prefix: str) -> str:
        return f"{prefix}_{self._suffix}{len(self.output):03d}"

    # --- events -----------------------------------------------------------------------------

    def event(self, event: Event) -> bytes:
        """The bytes for one event (possibly none)."""
        if self.final is not None:
            return b""
        if not self._started and isinstance(event, KeepAlive):
            return KEEP_ALIVE  # before the response is created: it may still fail as a status
        if isinstance(event, ResponseStart):
            if event.model:
                self.response["model"] = event.model
            if event.created:
                self.response["created_at"] = event.created
            return self._start()
        return self._start() + self._event(event)

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        created = self._emit("response.created", response=self._snapshot())
        return created + self._emit("response.in_progress", response=self._snapshot())

    def _event(self, event: Event) -> bytes:
        match event:
            case TextDelta():
                return self._text(event)
            case ReasoningDelta():
                return self._reasoning(event)
            case ToolCallStart():
                return self._call_start(event)
            case ToolCallDelta() if event.index in self._custom_arguments:
                self._custom_arguments[event.index].append(event.arguments)
            case ToolCallDelta() if event.index in self._calls:
                item = self._calls[event.index]
                item["arguments"] += event.arguments
                return self._emit(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=self._positions[item["id"]],
                    delta=event.arguments,
                )
            case ToolCallEnd():
                return self._call_end(event.index)
            case OpaqueBlock() if event.protocol == PROTOCOL:
                return self._opaque(event.data)
            case Usage():
                self.usage = event
            case Finish():
                return self._finish(event.reason)
            case ErrorEvent():
                return self.error(ProxyError(event.status, event.message, code=event.code))
            case KeepAlive():
                return KEEP_ALIVE
        return b""

    def error(self, error: ProxyError) -> bytes:
        """`response.failed`, carrying the error and whatever output was built so far."""
        if self.final is not None:
            return b""
        out = self._start()
        for item in [self._open, *self._calls.values()]:
            if item is not None:
                item["status"] = "incomplete"
        self._open, self._calls = None, {}
        self.response["status"] = "failed"
        self.response["error"] = {
            "code": _error_code(error.status),
            "message": f"{error.message} ({error.code})" if error.code else error.message,
        }
        return out + self._terminal("response.failed")

    # --- items ------------------------------------------------------------------------------

    def _add(self, item: dict[str, Any]) -> bytes:
        self._positions[item["id"]] = len(self.output)
        self.output.append(item)
        return self._emit(
            "response.output_item.added", output_index=len(self.output) - 1, item=dict(item)
        )

    def _done(self, item: dict[str, Any], status: str = "completed") -> bytes:
        item["status"] = status
        return self._emit(
            "response.output_item.done", output_index=self._positions[item["id"]], item=dict(item)
        )

    def _close_open(self, status: str = "completed") -> bytes:
        item, self._open = self._open, None
        if item is None:
            return b""
        index = self._positions[item["id"]]
        if item["type"] == "message":
            part = item["content"][0]
            out = self._emit(
                "response.output_text.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                text=part["text"],
                logprobs=[],
            )
            out += self._emit(
                "response.content_part.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=dict(part),
            )
            return out + self._done(item, status)
        out = b""
        if item["summary"]:
            summary = item["summary"][0]
            common = {"item_id": item["id"], "output_index": index, "summary_index": 0}
            out += self._emit(
                "response.reasoning_summary_text.done", **common, text=summary["text"]
            )
            out += self._emit("response.reasoning_summary_part.done", **common, part=summary)
        return out + self._done(item, status)

    def _text(self, event: TextDelta) -> bytes:
        out = b""
        item = self._open
        starts = event.phase is not None and (item is None or item.get("phase") != event.phase)
        if item is None or item["type"] != "message" or starts:
            out += self._close_open()
            part: dict[str, Any] = {"type": "output_text", "text": "", "annotations": []}
            item = {
                "id": self._item_id("msg"),
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            if event.phase is not None:
                item["phase"] = event.phase
            self._open = item
            out += self._add(item)
            item["content"].append(part)
            out += self._emit(
                "response.content_part.added",
                item_id=item["id"],
                output_index=len(self.output) - 1,
                content_index=0,
                part=dict(part),
            )
        item["content"][0]["text"] += event.text
        return out + self._emit(
            "response.output_text.delta",
            item_id=item["id"],
            output_index=self._positions[item["id"]],
            content_index=0,
            delta=event.text,
            logprobs=[],
        )

    def _reasoning(self, event: ReasoningDelta) -> bytes:
        out = b""
        item: dict[str, Any] | None = self._open
        # What follows a signature is another reasoning block, as in the Collector; a
        # redacted block is always one of its own.
        if (
            item is None
            or item["type"] != "reasoning"
            or "encrypted_content" in item
            or event.redacted
            or (event.id is not None and item["id"] != event.id)
        ):
            out += self._close_open()
            item = {
                "id": event.id or self._item_id("rs"),
                "type": "reasoning",
                "summary": [],
                "status": "in_progress",
            }
            self._open = item
            out += self._add(item)
        index = self._positions[item["id"]]
        if event.signature:
            item["encrypted_content"] = encode_encrypted(event.signature, redacted=event.redacted)
        if not event.text:
            return out
        common = {"item_id": item["id"], "output_index": index, "summary_index": 0}
        if not item["summary"]:
            item["summary"].append({"type": "summary_text", "text": ""})
            out += self._emit(
                "response.reasoning_summary_part.added",
                **common,
                part={"type": "summary_text", "text": ""},
            )
        item["summary"][0]["text"] += event.text
        return out + self._emit("response.reasoning_summary_text.delta", **common, delta=event.text)

    def _call_start(self, event: ToolCallStart) -> bytes:
        out = self._close_open()
        namespace = self._namespaces.get(event.name)
        if event.name in self._custom_names:
            self._custom_arguments[event.index] = []
            custom = {
                "id": self._item_id("ctc"),
                "type": "custom_tool_call",
                "status": "in_progress",
                "call_id": event.id,
                "name": event.name,
                "input": "",
            }
            if namespace is not None:
                custom["name"], custom["namespace"] = namespace.member, namespace.name
            self._calls[event.index] = custom
            return out + self._add(custom)
        item = {
            "id": self._item_id("fc"),
            "type": "function_call",
            "status": "in_progress",
            "call_id": event.id,
            "name": event.name,
            "arguments": "",
        }
        if namespace is not None:
            item["name"], item["namespace"] = namespace.member, namespace.name
        self._calls[event.index] = item
        return out + self._add(item)

    def _opaque(self, data: dict[str, Any]) -> bytes:
        """An output item only the Responses API has (a web search call…), as it came."""
        out = self._close_open()
        item = dict(data)
        item.setdefault("id", self._item_id("it"))
        added = {**item, "status": "in_progress"} if "status" in item else item
        self._positions[item["id"]] = len(self.output)
        self.output.append(item)
        index = len(self.output) - 1
        out += self._emit("response.output_item.added", output_index=index, item=added)
        return out + self._emit("response.output_item.done", output_index=index, item=dict(item))

    def _call_end(self, index: int) -> bytes:
        item = self._calls.pop(index, None)
        if item is None:
            return b""
        if index in self._custom_arguments:
            item["input"] = custom_input("".join(self._custom_arguments.pop(index)))
            common = {"item_id": item["id"], "output_index": self._positions[item["id"]]}
            out = self._emit("response.custom_tool_call_input.delta", **common, delta=item["input"])
            out += self._emit("response.custom_tool_call_input.done", **common, input=item["input"])
            return out + self._done(item)
        item["arguments"] = item["arguments"] or "{}"
        out = self._emit(
            "response.function_call_arguments.done",
            item_id=item["id"],
            output_index=self._positions[item["id"]],
            name=item["name"],
            arguments=item["arguments"],
        )
        return out + self._done(item)

    def _finish(self, reason: str) -> bytes:
        incomplete = _INCOMPLETE.get(reason)
        # What was cut short is incomplete; tool calls the upstream ended are whole.
        out = self._close_open("incomplete" if incomplete else "completed")
        for index in sorted(self._calls):
            out += self._call_end(index)
        if incomplete:
            self.response["status"] = "incomplete"
            self.response["incomplete_details"] = {"reason": incomplete}
            return out + self._terminal("response.incomplete")
        self.response["status"] = "completed"
        return out + self._terminal("response.completed")

    def _terminal(self, kind: str) -> bytes:
        if self.usage is not None:
            self.response["usage"] = encode_usage(self.usage)
        self.final = self._snapshot()
        return self._emit(kind, response=self.final)


def _tool_choice(request: ChatRequest) -> Any:
    choice = request.tool_choice
    if choice is None:
        return "auto"
    if choice.mode == "tool":
        return {"type": "function", "name": choice.name}
    return choice.mode


def encode_response(
    response: ChatResponse, request: ChatRequest, response_id: str | None = None
) -> dict[str, Any]:
    """A non-streaming `response` object: the stream's terminal response."""
    builder = ResponseBuilder(request, response_id)
    for event in replay(response):
        builder.event(event)
    assert builder.final is not None
    return builder.final


class StreamEncoder(ResponseBuilder):
    """Turns events into Responses SSE bytes; `final` is the terminal response object."""
