"""The Responses codec's backend side: ChatRequest → a Responses body, and a Responses body
or event stream → canonical events.

For a Responses client the path is lossless: namespace tools are grouped again, custom
tools and hosted tools go back as they were declared, items the canonical model does not
carry (web search calls, compaction…) go back verbatim and in order, encrypted reasoning
goes back with its item id, and the client's own fields (`store`, `include`,
`prompt_cache_key`, `client_metadata`, reasoning `summary`, text `verbosity`…) are sent as
they came. Other clients get the nearest form, their reasoning kept across turns with
`store: false` and encrypted reasoning (`include: ["reasoning.encrypted_content"]`).

Encrypted reasoning is tagged `openai:` in canonical signatures, so that only a Responses
backend gets it back (Anthropic and Gemini refuse another provider's signatures).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from engine import notes
from engine.codecs import hosted
from engine.codecs.names import flat_name
from engine.codecs.openai_chat.request import PROTOCOL as CHAT_PROTOCOL
from engine.codecs.openai_chat.request import SHARED_WITH_RESPONSES
from engine.codecs.openai_chat.response import decode_error
from engine.codecs.openai_responses.request import (
    CUSTOM_INPUT,
    CUSTOM_TOOLS,
    PROTOCOL,
    custom_input,
    encode_text_format,
)
from engine.codecs.tools import offered
from engine.model import (
    ChatRequest,
    ErrorEvent,
    Event,
    Finish,
    FinishReason,
    ImagePart,
    OpaqueBlock,
    OpaquePart,
    Part,
    ReasoningDelta,
    ReasoningPart,
    ResponseStart,
    TextDelta,
    TextPart,
    Tool,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolResultPart,
    Usage,
)

TAG = "openai:"
ENCRYPTED = "reasoning.encrypted_content"
# What a budget of thinking tokens is as an effort, for clients that say budgets.
_BUDGET_EFFORTS = ((1024, "low"), (8192, "medium"))
_INCOMPLETE: dict[str, FinishReason] = {
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}
# Fields of the client's own request that the proxy serves itself.
_SERVED = {"previous_response_id", "stream_options", "background"}

__all__ = ["StreamDecoder", "decode_error", "decode_response", "encode_request"]


def tag(encrypted: str, item_id: str | None) -> str:
    """Encrypted reasoning as a canonical signature, its item id inside: clients of other
    protocols keep the signature but not the id, which the Responses API wants back."""
    return f"{TAG}{item_id}:{encrypted}" if item_id else TAG + encrypted


def untag(signature: str | None) -> tuple[str | None, str] | None:
    """The item id and encrypted reasoning in a canonical signature; None when it is
    another provider's."""
    if signature is None or not signature.startswith(TAG):
        return None
    rest = signature[len(TAG) :]
    item_id, sep, encrypted = rest.partition(":")
    return (item_id, encrypted) if sep and item_id.startswith("rs_") else (None, rest)


# --- requests ------------------------------------------------------------------------------


def encode_request(
    request: ChatRequest, model: str, *, dropped: notes.Dropped | None = None
) -> dict[str, Any]:
    """The Responses body asking `model` for `request`; what it cannot carry is named in
    `dropped`."""
    own = request.extra.get(PROTOCOL, {}) if request.client_protocol == PROTOCOL else {}
    request = offered(request, dropped, defers=_searches(request))
    body: dict[str, Any] = {k: v for k, v in own.items() if k not in _SERVED}
    body["model"] = model
    if request.client_protocol == CHAT_PROTOCOL:
        chat = request.extra.get(CHAT_PROTOCOL, {})
        body.update({k: chat[k] for k in SHARED_WITH_RESPONSES if k in chat})
    if request.continuation:
        body["previous_response_id"] = request.continuation
    if request.system:
        body["instructions"] = "\n\n".join(p.text for p in request.system)
    custom = request.extra.get(CUSTOM_TOOLS, {}).get("definitions", {})
    body["input"] = _encode_items(request, custom, dropped)
    tools = _encode_tools(request, custom, dropped)
    if tools:
        body["tools"] = tools
    body.pop("tool_choice", None)
    choice = _encode_tool_choice(request, own)
    if choice is not None and tools:
        body["tool_choice"] = choice
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    sampling = request.sampling
    for key, value in (
        ("temperature", sampling.temperature),
        ("top_p", sampling.top_p),
        ("max_output_tokens", sampling.max_tokens),
    ):
        if value is not None:
            body[key] = value
    if sampling.stop and dropped is not None:
        dropped.add("stop")  # the Responses API has no stop sequences
    reasoning = _encode_reasoning(request, own.get("reasoning"))
    if reasoning:
        body["reasoning"] = reasoning
    else:
        body.pop("reasoning", None)
    if request.response_format is not None or "text" in own:
        text = dict(own.get("text") or {})
        if request.response_format is not None:
            text.update(encode_text_format(request.response_format))
        body["text"] = text
    if request.metadata:
        body["metadata"] = request.metadata
    body.setdefault("store", False)  # the proxy keeps the conversation itself
    if body["store"] is False:  # so reasoning must travel with it, encrypted
        body["include"] = list(dict.fromkeys([*(body.get("include") or []), ENCRYPTED]))
    body["stream"] = request.stream
    notes.client_fields(request, PROTOCOL, dropped, carried=SHARED_WITH_RESPONSES)
    return body


def _encode_reasoning(request: ChatRequest, own: Any) -> dict[str, Any]:
    out = dict(own) if isinstance(own, dict) else {}
    reasoning = request.reasoning
    if reasoning is not None:
        effort: str | None = reasoning.effort
        if effort is None and reasoning.budget_tokens is not None:
            budget = reasoning.budget_tokens
            effort = "none" if budget == 0 else "high"
            effort = next((e for limit, e in _BUDGET_EFFORTS if 0 < budget <= limit), effort)
        if effort is not None:
            out["effort"] = effort
        if out.get("effort") != "none":
            out.setdefault("summary", "auto")  # reasoning text the client can show
    return out


def _encode_items(
    request: ChatRequest, custom: dict[str, Any], dropped: notes.Dropped | None
) -> list[dict[str, Any]]:
    own = request.client_protocol == PROTOCOL
    groups = {t.name: t.namespace for t in request.tools if t.namespace is not None}
    custom_calls = {
        p.id
        for m in request.messages
        for p in m.content
        if isinstance(p, ToolCallPart) and p.name in custom
    }
    items: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "assistant":
            items.extend(_assistant_items(message.content, custom, groups, own, dropped))
        elif message.role == "tool":
            for part in message.content:
                if isinstance(part, ToolResultPart):
                    items.append(_result_item(part, part.tool_call_id in custom_calls, dropped))
        else:
            role = "developer" if message.role == "system" else "user"
            items.extend(_input_items(message.content, role, dropped))
    return items


def _input_items(
    content: list[Part], role: str, dropped: notes.Dropped | None
) -> list[dict[str, Any]]:
    """A user or developer turn: one message item, with the own-protocol items it holds
    (hosted-tool outputs, references…) in their place."""
    items: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, OpaquePart) and part.protocol == PROTOCOL and _is_item(part.data):
            if parts:
                items.append({"type": "message", "role": role, "content": parts})
                parts = []
            items.append(part.data)
        elif (encoded := _input_part(part, dropped)) is not None:
            parts.append(encoded)
    if parts:
        items.append({"type": "message", "role": role, "content": parts})
    return items


# Part types (inside a message's content) as opposed to whole items.
_PART_TYPES = {"input_text", "input_image", "input_file", "input_audio", "output_text", "refusal"}


def _is_item(data: dict[str, Any]) -> bool:
    return data.get("type") not in _PART_TYPES


def _input_part(part: Part, dropped: notes.Dropped | None) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        return {"type": "input_text", "text": part.text}
    if isinstance(part, ImagePart):
        url = part.url or f"data:{part.media_type or 'image/png'};base64,{part.data}"
        return {"type": "input_image", "image_url": url, "detail": part.detail or "auto"}
    if isinstance(part, OpaquePart):
        if part.protocol == PROTOCOL:
            return part.data
        text = notes.opaque(part, dropped)
        return {"type": "input_text", "text": text} if text else None
    return None


def _assistant_items(
    content: list[Part],
    custom: dict[str, Any],
    groups: dict[str, Any],
    own: bool,
    dropped: notes.Dropped | None,
) -> Iterator[dict[str, Any]]:
    texts: list[str] = []
    phase: list[str | None] = [None]  # of the message being gathered

    def message() -> Iterator[dict[str, Any]]:
        if texts:
            item: dict[str, Any] = {"type": "message", "role": "assistant"}
            if phase[0] is not None:
                item["phase"] = phase[0]
            text = "".join(texts)
            yield {**item, "content": [{"type": "output_text", "text": text, "annotations": []}]}
            texts.clear()

    for part in content:
        if isinstance(part, TextPart):
            if part.phase is not None and part.phase != phase[0]:  # another message
                yield from message()
                phase[0] = part.phase
            texts.append(part.text)
            continue
        if isinstance(part, OpaquePart) and part.protocol != PROTOCOL:
            text = notes.opaque(part, dropped)
            if text:
                texts.append(text)
            continue
        yield from message()
        if isinstance(part, ReasoningPart):
            item = _reasoning_item(part, own)
            if item is not None:
                yield item
        elif isinstance(part, ToolCallPart):
            yield _call_item(part, custom, groups)
        elif isinstance(part, OpaquePart) and _is_item(part.data):
            yield part.data
    yield from message()


def _reasoning_item(part: ReasoningPart, own: bool) -> dict[str, Any] | None:
    """A reasoning item for OpenAI: its encrypted form, or, from a Responses client, an
    item OpenAI holds (by its `rs_` id) or encrypted content OpenAI gave it directly;
    reasoning signed by another provider means nothing to OpenAI."""
    found = untag(part.signature)
    item_id = part.id
    if found is not None:
        item_id, encrypted = found[0] or item_id, found[1]
    elif own and item_id and item_id.startswith("rs_"):
        encrypted = part.signature or ""
    else:
        return None
    summary = [{"type": "summary_text", "text": part.text}] if part.text else []
    item: dict[str, Any] = {"type": "reasoning", "summary": summary}
    if item_id:
        item = {"id": item_id, **item}
    if encrypted:
        item["encrypted_content"] = encrypted
    return item


def _call_item(
    part: ToolCallPart, custom: dict[str, Any], groups: dict[str, Any]
) -> dict[str, Any]:
    kind = "custom_tool_call" if part.name in custom else "function_call"
    item: dict[str, Any] = {"type": kind, "call_id": part.id, "name": part.name}
    group = groups.get(part.name)
    if group is not None:
        item.update(name=group.member, namespace=group.name)
    if kind == "custom_tool_call":
        return {**item, "input": custom_input(part.arguments)}
    return {**item, "arguments": part.arguments or "{}"}


def _result_item(
    part: ToolResultPart, custom: bool, dropped: notes.Dropped | None
) -> dict[str, Any]:
    kind = "custom_tool_call_output" if custom else "function_call_output"
    parts = [p for c in part.content if (p := _input_part(c, dropped)) is not None]
    if all(p.get("type") == "input_text" for p in parts):
        output: Any = "".join(p["text"] for p in parts)
    else:
        output = parts
    return {"type": kind, "call_id": part.tool_call_id, "output": output}


def _encode_tools(
    request: ChatRequest, custom: dict[str, Any], dropped: notes.Dropped | None
) -> list[dict[str, Any]]:
    own, searches, others = hosted.split(request.hosted_tools, PROTOCOL)
    tools: list[dict[str, Any]] = []
    namespaces: dict[str, dict[str, Any]] = {}
    for tool in request.tools:
        group = tool.namespace
        if group is None:
            tools.append(custom.get(tool.name) or _function(tool, tool.name))
            continue
        if group.name not in namespaces:
            namespaces[group.name] = {"type": "namespace", "name": group.name}
            if group.description is not None:
                namespaces[group.name]["description"] = group.description
            namespaces[group.name]["tools"] = []
            tools.append(namespaces[group.name])
        member = custom.get(tool.name) or _function(tool, group.member)
        namespaces[group.name]["tools"].append(member)
    tools.extend(own)
    if searches and not any(str(t.get("type", "")).startswith("web_search") for t in own):
        options = hosted.web_search_options(searches[0])
        search: dict[str, Any] = {"type": "web_search"}
        if "allowed_domains" in options:
            search["filters"] = {"allowed_domains": options["allowed_domains"]}
        if "user_location" in options:
            search["user_location"] = {"type": "approximate", **options["user_location"]}
        hosted.unwritten(options, {"allowed_domains", "user_location"}, dropped)
        tools.append(search)
    if dropped is not None:
        dropped.add(*(f"{tool.kind} tool" for tool in others))
    return tools


def _searches(request: ChatRequest) -> bool:
    """Whether the request brings the Responses API's tool search, which loads deferred
    tools (only a Responses client's own can)."""
    return any(t.protocol == PROTOCOL and t.kind == "tool_search" for t in request.hosted_tools)


def _function(tool: Tool, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "function", "name": name}
    if tool.description is not None:
        out["description"] = tool.description
    out["parameters"] = tool.parameters
    if tool.strict is not None:  # unsaid, the API's own default (strict) holds
        out["strict"] = tool.strict
    if tool.deferred:
        out["defer_loading"] = True
    return {**out, **tool.vendor.get(PROTOCOL, {})}


def _encode_tool_choice(request: ChatRequest, own: dict[str, Any]) -> Any:
    choice = request.tool_choice
    mine = own.get("tool_choice")
    if choice is None or (isinstance(mine, dict) and mine.get("type") == "allowed_tools"):
        return mine  # a Responses client's hosted tool choice or allowed_tools, as it was
    if choice.mode != "tool":
        return choice.mode
    group = next((t.namespace for t in request.tools if t.name == choice.name), None)
    name = group.member if group is not None else choice.name
    custom = request.extra.get(CUSTOM_TOOLS, {}).get("definitions", {})
    return {"type": "custom" if choice.name in custom else "function", "name": name}


# --- responses -----------------------------------------------------------------------------


def decode_usage(raw: Any) -> Usage:
    """Canonical usage from a Responses `usage` object (input tokens count cached ones)."""
    raw = raw if isinstance(raw, dict) else {}
    details = raw.get("input_tokens_details") or {}
    output = raw.get("output_tokens_details") or {}
    return Usage(
        input_tokens=raw.get("input_tokens") or 0,
        output_tokens=raw.get("output_tokens") or 0,
        cached_tokens=details.get("cached_tokens") or 0,
        cache_creation_tokens=details.get("cache_write_tokens") or 0,
        reasoning_tokens=output.get("reasoning_tokens") or 0,
    )


def _flat(item: dict[str, Any]) -> str:
    name = str(item.get("name") or "")
    namespace = item.get("namespace")
    return flat_name(namespace, name) if isinstance(namespace, str) and namespace else name


def _arguments(item: dict[str, Any]) -> str:
    if item.get("type") == "custom_tool_call":
        return json.dumps({CUSTOM_INPUT: str(item.get("input") or "")})
    arguments = item.get("arguments")
    return arguments if isinstance(arguments, str) and arguments else "{}"


def _summary(item: dict[str, Any]) -> str:
    parts = item.get("summary") or item.get("content") or []
    return "\n\n".join(
        p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
    )


def _reasoning(item: dict[str, Any], text: str) -> ReasoningDelta:
    encrypted = item.get("encrypted_content")
    item_id = item.get("id") if isinstance(item.get("id"), str) else None
    signature = tag(encrypted, item_id) if isinstance(encrypted, str) and encrypted else None
    return ReasoningDelta(text=text, signature=signature, id=item_id)


def _phase(item: dict[str, Any]) -> str | None:
    phase = item.get("phase")
    return phase if isinstance(phase, str) else None


def _message_text(item: dict[str, Any]) -> str:
    return "".join(
        str(part.get("text") if part.get("type") == "output_text" else part.get("refusal", ""))
        for part in item.get("content") or []
        if isinstance(part, dict)
    )


def _finish(response: dict[str, Any], called: bool) -> Iterator[Event]:
    status = response.get("status")
    if status == "failed":
        error = response.get("error") or {}
        yield ErrorEvent(
            status=429 if error.get("code") == "rate_limit_exceeded" else 502,
            code=str(error.get("code") or "upstream_failed"),
            message=str(error.get("message") or "the upstream response failed"),
        )
        return
    if response.get("usage"):
        yield decode_usage(response["usage"])
    if status == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason")
        yield Finish(reason=_INCOMPLETE.get(str(reason), "length"))
    else:
        yield Finish(reason="tool_calls" if called else "stop")


def decode_response(body: dict[str, Any]) -> Iterator[Event]:
    """The events of a whole Responses body."""
    yield ResponseStart(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        created=int(body.get("created_at") or 0),
    )
    index = 0
    for item in body.get("output") or []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message":
            if text := _message_text(item):
                yield TextDelta(text=text, phase=_phase(item))
        elif kind == "reasoning":
            yield _reasoning(item, _summary(item))
        elif kind in ("function_call", "custom_tool_call"):
            yield ToolCallStart(index=index, id=str(item.get("call_id") or ""), name=_flat(item))
            yield ToolCallDelta(index=index, arguments=_arguments(item))
            yield ToolCallEnd(index=index)
            index += 1
        else:
            yield OpaqueBlock(protocol=PROTOCOL, data=item)
    yield from _finish(body, called=index > 0)


class StreamDecoder:
    """Turns the events of one Responses stream into canonical events.

    Items count when they are done (`response.output_item.done` carries the final item);
    text, reasoning and arguments stream as their deltas come, and an item that arrived
    without deltas is given whole when it is done.
    """

    def __init__(self) -> None:
        self.done = False
        self._started = False
        self._calls: dict[str, int] = {}  # item id (or call id) → tool call index
        self._streamed: set[str] = set()  # items whose content came as deltas
        self._phases: dict[str, str] = {}  # message item id → its phase, until its text
        self._called = False

    def chunk(self, data: dict[str, Any]) -> Iterator[Event]:
        """The events carried by one streamed event."""
        kind = data.get("type")
        if kind in ("response.created", "response.in_progress", "response.queued"):
            yield from self._start(data.get("response") or {})
        elif kind == "response.output_item.added":
            yield from self._start({})
            yield from self._added(data.get("item") or {})
        elif kind in ("response.output_text.delta", "response.refusal.delta"):
            item_id = str(data.get("item_id"))
            first = item_id not in self._streamed
            self._streamed.add(item_id)
            phase = self._phases.pop(item_id, None) if first else None
            yield TextDelta(text=str(data.get("delta") or ""), phase=phase)
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            self._streamed.add(str(data.get("item_id")))
            yield ReasoningDelta(text=str(data.get("delta") or ""), id=data.get("item_id"))
        elif kind == "response.reasoning_summary_part.added" and data.get("summary_index"):
            yield ReasoningDelta(text="\n\n", id=data.get("item_id"))  # parts apart, as whole
        elif kind == "response.function_call_arguments.delta":
            index = self._calls.get(str(data.get("item_id")))
            if index is not None:
                self._streamed.add(str(data.get("item_id")))
                yield ToolCallDelta(index=index, arguments=str(data.get("delta") or ""))
        elif kind == "response.output_item.done":
            yield from self._start({})
            yield from self._item_done(data.get("item") or {})
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            yield from self._start(data.get("response") or {})
            self.done = True
            yield from _finish(data.get("response") or {}, self._called)
        elif kind == "error":
            nested = data.get("error")  # the documented shape is flat; some send it nested
            error: dict[str, Any] = nested if isinstance(nested, dict) else data
            self.done = True
            yield ErrorEvent(
                status=429 if "rate_limit" in str(error.get("code")) else 502,
                code=str(error.get("code") or "upstream_error"),
                message=str(error.get("message") or "the upstream stream failed"),
            )

    def _start(self, response: dict[str, Any]) -> Iterator[Event]:
        if not self._started:
            self._started = True
            yield ResponseStart(
                id=str(response.get("id") or ""),
                model=str(response.get("model") or ""),
                created=int(response.get("created_at") or 0),
            )

    def _key(self, item: dict[str, Any]) -> str:
        return str(item.get("id") or item.get("call_id"))

    def _added(self, item: dict[str, Any]) -> Iterator[Event]:
        if item.get("type") == "message" and (phase := _phase(item)) is not None:
            self._phases[self._key(item)] = phase
        if item.get("type") == "function_call":
            index = self._calls[self._key(item)] = len(self._calls)
            self._called = True
            yield ToolCallStart(index=index, id=str(item.get("call_id") or ""), name=_flat(item))

    def _item_done(self, item: dict[str, Any]) -> Iterator[Event]:
        kind = item.get("type")
        key = self._key(item)
        streamed = key in self._streamed
        if kind == "message":
            if not streamed and (text := _message_text(item)):
                yield TextDelta(text=text, phase=_phase(item))
        elif kind == "reasoning":
            event = _reasoning(item, "" if streamed else _summary(item))
            if event.text or event.signature:
                yield event
        elif kind in ("function_call", "custom_tool_call"):
            index = self._calls.get(key)
            if index is None:  # a call announced only when done (custom tools: always)
                index = self._calls[key] = len(self._calls)
                self._called = True
                yield ToolCallStart(
                    index=index, id=str(item.get("call_id") or ""), name=_flat(item)
                )
            if not streamed:
                yield ToolCallDelta(index=index, arguments=_arguments(item))
            yield ToolCallEnd(index=index)
        elif isinstance(kind, str):
            yield OpaqueBlock(protocol=PROTOCOL, data=item)

    def end(self) -> Iterator[Event]:
        """An error when the stream ended before its terminal event."""
        if not self.done:
            yield ErrorEvent(
                status=502,
                code="upstream_truncated",
                message="the upstream's stream ended before the response was complete",
            )
