"""Anthropic Messages requests: client body → ChatRequest, and ChatRequest → upstream body.

Anthropic puts tool results in the user's turn, possibly mixed with text; the canonical
request carries them in `tool` messages, so a user turn becomes one message per run of
tool results or other content, in order, and encoding merges consecutive turns of the same
Anthropic role back into one. Block and tool fields the canonical model has no place for
(`cache_control`, `citations`, a tool's `input_examples`, a system turn's `output_config`…)
travel on the part, tool or turn they belong to, in its ``vendor["anthropic"]``, and go
back with it to an Anthropic upstream whatever stages did to the conversation; server
tools (those with a `type`) are hosted tools, kept whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from engine import notes
from engine.codecs import hosted
from engine.codecs.sse import dumps
from engine.codecs.tools import offered
from engine.codecs.validation import expect, expect_number, refusals_are_bad_requests
from engine.errors import BadRequest
from engine.model import (
    ChatRequest,
    HostedTool,
    ImagePart,
    Message,
    OpaquePart,
    Part,
    Reasoning,
    ReasoningPart,
    Role,
    Sampling,
    TextPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
    Vendor,
)

PROTOCOL = "anthropic"
DEFAULT_MAX_TOKENS = 4096
MIN_THINKING_BUDGET = 1024
# Thinking budgets for OpenAI-style effort levels; Anthropic's minimum budget is 1024.
EFFORT_BUDGETS = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 32768,
    "max": 63999,
}

_MODELED = {
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "thinking",
    "metadata",
    "stream",
}
# The keys of each block type that the canonical parts carry; the others go to `vendor`.
_BLOCK_KEYS = {
    "text": {"type", "text"},
    "image": {"type", "source"},
    "tool_use": {"type", "id", "name", "input"},
    "tool_result": {"type", "tool_use_id", "content", "is_error"},
    "thinking": {"type", "thinking", "signature"},
    "redacted_thinking": {"type", "data"},
}
_TOOL_KEYS = {"type", "name", "description", "input_schema", "strict"}
_TOOL_CHOICES: dict[str, Literal["auto", "none", "required", "tool"]] = {
    "auto": "auto",
    "any": "required",
    "tool": "tool",
    "none": "none",
}


_TEMPLATE = "{param}: must be {what}"  # Anthropic's wording


def _expect(value: Any, kind: type | tuple[type, ...], param: str, what: str) -> Any:
    return expect(value, kind, param, what, template=_TEMPLATE)


def _number(value: Any, param: str, **bounds: Any) -> Any:
    return expect_number(value, param, template=_TEMPLATE, **bounds)


def decode_request(body: Any, *, require_max_tokens: bool = True) -> ChatRequest:
    """Translate a client's Messages body, raising BadRequest naming the bad field.

    `require_max_tokens` is false for `count_tokens`, whose body has no `max_tokens`.
    """
    with refusals_are_bad_requests():
        return _decode_request(body, require_max_tokens)


def _decode_request(body: Any, require_max_tokens: bool) -> ChatRequest:
    _expect(body, dict, "body", "a JSON object")
    model = _expect(body.get("model"), str, "model", "a string naming the model")
    system = _decode_system(body.get("system"))
    messages = _decode_messages(
        _expect(body.get("messages"), list, "messages", "an array of messages")
    )
    tools, hosted = _decode_tools(body.get("tools"), _loaded_tools(messages))
    unmodeled = {k: v for k, v in body.items() if k not in _MODELED}
    reasoning = _decode_thinking(body.get("thinking"), unmodeled)
    output_config = _expect(body.get("output_config") or {}, dict, "output_config", "an object")
    reasoning = _decode_effort(_turn_output_config(body["messages"])) or reasoning
    reasoning = reasoning or _decode_effort(output_config)
    tool_choice, parallel = _decode_tool_choice(body.get("tool_choice"))
    raw_metadata = body.get("metadata")
    metadata = _expect({} if raw_metadata is None else raw_metadata, dict, "metadata", "an object")
    return ChatRequest(
        model=model,
        system=system,
        messages=messages,
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        sampling=_decode_sampling(body, require_max_tokens),
        reasoning=reasoning,
        response_format=_decode_format(output_config.get("format")),
        hosted_tools=hosted,
        stream=bool(_expect(body.get("stream", False), bool, "stream", "a boolean")),
        metadata={k: v for k, v in metadata.items() if v is not None},
        extra={PROTOCOL: unmodeled},
        client_protocol=PROTOCOL,
        client_only=_client_only(unmodeled, _own_fields(system, messages, tools)),
    )


# Top-level fields other backends get in another form: thinking kinds and effort become
# the canonical reasoning, the output format its response_format.
_TRANSLATED = {"thinking"}
_TRANSLATED_OUTPUT = {"effort", "format"}


def _client_only(unmodeled: dict[str, Any], own_fields: Iterable[Iterable[str]]) -> list[str]:
    """What the client sent that only an Anthropic backend carries, by the names it used."""
    names = [k for k in unmodeled if k not in _TRANSLATED and k != "output_config"]
    names += [f"output_config.{k}" for k in unmodeled.get("output_config", {})]
    names = [n for n in names if n.removeprefix("output_config.") not in _TRANSLATED_OUTPUT]
    fields: dict[str, None] = {}
    for found in own_fields:
        fields.update(dict.fromkeys(k for k in found if k not in _TRANSLATED_FIELDS))
    return names + list(fields)


def _own_fields(
    system: list[TextPart], messages: list[Message], tools: list[Tool]
) -> Iterator[Iterable[str]]:
    """The names of the fields only Anthropic carries: each system block's, message
    block's, system turn's and tool's, in that order."""
    yield from (text.vendor.get(PROTOCOL, {}) for text in system)
    for message in messages:
        for part in message.content:
            if isinstance(part, OpaquePart):  # kept whole: all it says beyond its type
                known = _BLOCK_KEYS.get(str(part.data.get("type")), {"type"})
                yield [k for k in part.data if k not in known]
            else:
                yield part.vendor.get(PROTOCOL, {})
            if isinstance(part, ToolResultPart):  # and the blocks of its content
                content = [c for c in part.content if not isinstance(c, OpaquePart)]
                yield from (c.vendor.get(PROTOCOL, {}) for c in content)
    yield from (message.vendor.get(PROTOCOL, {}) for message in messages)
    yield from (tool.vendor.get(PROTOCOL, {}) for tool in tools)


# Block and message fields other backends get in another form: a deferred tool is left
# out until loaded, a system turn's own effort is the request's.
_TRANSLATED_FIELDS = {"defer_loading", "output_config"}


def _decode_sampling(body: dict[str, Any], require_max_tokens: bool) -> Sampling:
    values: dict[str, Any] = {}
    max_tokens = body.get("max_tokens")
    if max_tokens is None and require_max_tokens:
        raise BadRequest("max_tokens: Field required", param="max_tokens")
    if max_tokens is not None:
        values["max_tokens"] = _number(max_tokens, "max_tokens", minimum=1, integer=True)
    for key in ("temperature", "top_p"):  # Anthropic's bounds: both from 0 to 1
        if body.get(key) is not None:
            values[key] = _number(body[key], key, minimum=0, maximum=1)
    if body.get("top_k") is not None:
        values["top_k"] = _number(body["top_k"], "top_k", minimum=0, integer=True)
    stop = body.get("stop_sequences")
    if stop is not None:
        _expect(stop, list, "stop_sequences", "an array of strings")
        for i, item in enumerate(stop):
            _expect(item, str, f"stop_sequences.{i}", "a string")
        values["stop"] = list(stop)
    return Sampling(**values)


def _decode_thinking(raw: Any, extra: dict[str, Any]) -> Reasoning | None:
    """The canonical reasoning of `thinking`; kinds other than `enabled` and `disabled`
    (`adaptive`, `between_tools`, newer ones) stay in `extra` for Anthropic upstreams and
    mean "think as the model sees fit" (an effort from `output_config`, if any) elsewhere."""
    if raw is None:
        return None
    kind = _expect(raw, dict, "thinking", "an object").get("type")
    if kind == "enabled":
        budget = _number(
            raw.get("budget_tokens"),
            "thinking.budget_tokens",
            minimum=MIN_THINKING_BUDGET,
            integer=True,
        )
        return Reasoning(budget_tokens=budget)
    if kind == "disabled":
        return None
    if not isinstance(kind, str):
        raise BadRequest("thinking.type: must be a string", param="thinking.type")
    extra["thinking"] = raw  # a newer kind we do not model: kept for Anthropic upstreams
    return None


_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "max"}


def _decode_effort(raw: dict[str, Any]) -> Reasoning | None:
    """`output_config.effort` as a reasoning effort, for backends of other protocols; the
    whole `output_config` also stays in `extra` for Anthropic upstreams. An effort newer
    than this codec goes to Anthropic only."""
    effort = raw.get("effort")
    if effort is None:
        return None
    _expect(effort, str, "output_config.effort", "a string")
    level = _EFFORTS.get(effort)
    return Reasoning(effort=level) if level else None  # type: ignore[arg-type]


def _turn_output_config(messages: list[Any]) -> dict[str, Any]:
    """The `output_config` of a system turn since the last answer: this turn's settings."""
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") == "assistant":
            break
        config = message.get("output_config")
        if message.get("role") == "system" and isinstance(config, dict):
            return config
    return {}


def _decode_format(raw: Any) -> dict[str, Any] | None:
    """`output_config.format` (structured output) as the canonical response_format."""
    if raw is None:
        return None
    kind = _expect(raw, dict, "output_config.format", "an object").get("type")
    if kind != "json_schema":
        return None  # a format newer than this codec: Anthropic only, via `extra`
    schema = _expect(raw.get("schema"), dict, "output_config.format.schema", "an object")
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}


def _decode_system(raw: Any) -> list[TextPart]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        return [TextPart(text=raw)]
    _expect(raw, list, "system", "a string or an array of text blocks")
    parts = []
    for i, block in enumerate(raw):
        param = f"system.{i}"
        if _expect(block, dict, param, "an object").get("type") != "text":
            raise BadRequest(f"{param}.type: must be 'text'", param=f"{param}.type")
        parts.append(_decode_text(block, param))
    return parts


def _decode_messages(raw: list[Any]) -> list[Message]:
    names: dict[str, str] = {}  # tool_use id → tool name, for the results that answer them
    out: list[Message] = []
    for i, message in enumerate(raw):
        where = f"messages.{i}"
        role = _expect(message, dict, where, "an object").get("role")
        if role not in ("user", "assistant", "system"):
            raise BadRequest(
                f"{where}.role: Input should be 'user', 'assistant' or 'system' (got {role!r})",
                param=f"{where}.role",
            )
        content = message.get("content")
        if role == "system" and content is None:
            content = []  # a system turn may say only its per-turn settings (output_config)
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        blocks = _expect(
            content, list, f"{where}.content", "a string or an array of content blocks"
        )
        if role == "assistant":
            parts = [
                _decode_assistant_block(b, f"{where}.content.{j}", names)
                for j, b in enumerate(blocks)
            ]
            out.append(Message(role="assistant", content=parts))
        elif role == "system":  # with its own settings (output_config, clear_at…)
            parts = _decode_system_turn(blocks, where)
            out.append(Message(role="system", content=parts, vendor=_vendor(message, _TURN)))
        else:
            out.extend(_decode_user_turn(blocks, where, names))
    return out


_TURN = {"role", "content"}


def _vendor(block: dict[str, Any], known: set[str] | None = None) -> Vendor:
    """A block's fields beyond the `known` ones (by default those its type's part carries),
    as that part's `vendor`."""
    if known is None:
        known = _BLOCK_KEYS.get(str(block.get("type")), {"type"})
    fields = {k: v for k, v in block.items() if k not in known}
    return {PROTOCOL: fields} if fields else {}


def _decode_system_turn(blocks: list[Any], where: str) -> list[Part]:
    """A system message's blocks: text, and blocks newer than this codec (tool_addition…),
    which only Anthropic gets."""
    parts: list[Part] = []
    for j, block in enumerate(blocks):
        param = f"{where}.content.{j}"
        kind = _expect(block, dict, param, "an object").get("type")
        if kind == "text":
            parts.append(_decode_text(block, param))
        else:
            parts.append(_opaque(block, kind, param))
    return parts


def _loaded_tools(messages: list[Message]) -> set[str]:
    """Tools a tool search has loaded: those a `tool_reference` in a tool result names."""
    loaded = set()
    for message in messages:
        for part in message.content:
            if isinstance(part, ToolResultPart):
                for item in part.content:
                    if isinstance(item, OpaquePart) and item.data.get("type") == "tool_reference":
                        loaded.add(str(item.data.get("tool_name")))
    return loaded


def _decode_user_turn(content: list[Any], where: str, names: dict[str, str]) -> list[Message]:
    """One message per run of tool results or of other content, in order."""
    runs: list[Message] = []
    for j, block in enumerate(content):
        param = f"{where}.content.{j}"
        kind = _expect(block, dict, param, "an object").get("type")
        part: Part
        role: Role
        if kind == "tool_result":
            role = "tool"
            part = _decode_tool_result(block, param, names)
        else:
            role = "user"
            part = _decode_user_block(block, kind, param)
        if runs and runs[-1].role == role:
            runs[-1].content.append(part)
        else:
            runs.append(Message(role=role, content=[part]))
    return runs


def _decode_user_block(block: dict[str, Any], kind: Any, param: str) -> Part:
    if kind == "text":
        return _decode_text(block, param)
    if kind == "image":
        return _decode_image(block, param)
    return _opaque(block, kind, param)


def _decode_text(block: dict[str, Any], param: str) -> TextPart:
    """A text block, with its own fields (`cache_control`, `citations`…)."""
    text = _expect(block.get("text"), str, f"{param}.text", "a string")
    return TextPart(text=text, vendor=_vendor(block))


def _decode_image(block: dict[str, Any], param: str) -> ImagePart | OpaquePart:
    """An image block, with its own fields; one of a source newer than this codec whole."""
    vendor = _vendor(block)
    source = _expect(block.get("source"), dict, f"{param}.source", "an object")
    kind = source.get("type")
    if kind == "base64":
        return ImagePart(
            data=_expect(source.get("data"), str, f"{param}.source.data", "a string"),
            media_type=_expect(
                source.get("media_type"), str, f"{param}.source.media_type", "a string"
            ),
            vendor=vendor,
        )
    if kind == "url":
        url = _expect(source.get("url"), str, f"{param}.source.url", "a string")
        return ImagePart(url=url, vendor=vendor)
    return _opaque(block, "image", param)  # a `file` source, or newer: Anthropic only


def _decode_tool_result(block: dict[str, Any], param: str, names: dict[str, str]) -> ToolResultPart:
    call_id = _expect(block.get("tool_use_id"), str, f"{param}.tool_use_id", "a string")
    raw = block.get("content")
    content: list[TextPart | ImagePart | OpaquePart] = []
    if isinstance(raw, str):
        content = [TextPart(text=raw)] if raw else []
    elif raw is not None:
        _expect(raw, list, f"{param}.content", "a string or an array of content blocks")
        # The result's own fields are kept, not those of the blocks inside it: clients
        # mark the result itself (cache_control).
        for k, item in enumerate(raw):
            where = f"{param}.content.{k}"
            kind = _expect(item, dict, where, "an object").get("type")
            if kind == "text":
                content.append(_decode_text(item, where))
            elif kind == "image":
                content.append(_decode_image(item, where))
            else:  # tool_reference, search_result, document…
                content.append(_opaque(item, kind, where))
    is_error = _expect(block.get("is_error", False), bool, f"{param}.is_error", "a boolean")
    return ToolResultPart(
        tool_call_id=call_id,
        name=names.get(call_id),
        content=content,
        is_error=is_error,
        vendor=_vendor(block),
    )


def _decode_assistant_block(block: Any, param: str, names: dict[str, str]) -> Part:
    kind = _expect(block, dict, param, "an object").get("type")
    if kind == "text":
        return _decode_text(block, param)
    if kind == "tool_use":
        call_id = _expect(block.get("id"), str, f"{param}.id", "a string")
        name = _expect(block.get("name"), str, f"{param}.name", "a string")
        arguments = _expect(block.get("input", {}), dict, f"{param}.input", "an object")
        names[call_id] = name
        return ToolCallPart(
            id=call_id, name=name, arguments=dumps(arguments), vendor=_vendor(block)
        )
    if kind == "thinking":
        return ReasoningPart(
            text=_expect(block.get("thinking"), str, f"{param}.thinking", "a string"),
            signature=_expect(block.get("signature"), str, f"{param}.signature", "a string"),
            vendor=_vendor(block),
        )
    if kind == "redacted_thinking":
        data = _expect(block.get("data"), str, f"{param}.data", "a string")
        return ReasoningPart(signature=data, redacted=True, vendor=_vendor(block))
    return _opaque(block, kind, param)


def _opaque(block: dict[str, Any], kind: Any, param: str) -> OpaquePart:
    """A block the canonical model does not carry (document, search_result, server tool
    use and results, blocks newer than this codec): Anthropic gets it back verbatim,
    other backends its text stand-in when it has one."""
    _expect(kind, str, f"{param}.type", "a string")
    return OpaquePart(protocol=PROTOCOL, data=dict(block), text=_stand_in(block))


def _stand_in(block: dict[str, Any]) -> str | None:
    """What a block says, as text, for backends that cannot read the block itself."""
    kind = block.get("type")
    if kind == "tool_reference":
        return f"Tool {block.get('tool_name')} loaded."
    if kind == "search_result":
        texts = [c.get("text", "") for c in block.get("content") or [] if isinstance(c, dict)]
        return "\n".join([f"{block.get('title', '')} ({block.get('source', '')})", *texts])
    source = block.get("source")
    if kind == "document" and isinstance(source, dict) and source.get("type") == "text":
        title = block.get("title")
        data = str(source.get("data", ""))
        return f"{title}\n\n{data}" if title else data
    return None


def _decode_tools(raw: Any, loaded: set[str]) -> tuple[list[Tool], list[HostedTool]]:
    tools: list[Tool] = []
    hosted: list[HostedTool] = []
    for i, tool in enumerate(_expect(raw or [], list, "tools", "an array of tools")):
        param = f"tools.{i}"
        _expect(tool, dict, param, "an object")
        kind = tool.get("type")
        if kind not in (None, "custom"):  # a server tool (web search, bash…)
            _expect(kind, str, f"{param}.type", "a string")
            web = kind.startswith("web_search")
            hosted.append(
                HostedTool(kind="web_search" if web else kind, protocol=PROTOCOL, data=tool)
            )
            continue
        name = _expect(tool.get("name"), str, f"{param}.name", "a string")
        schema = _expect(tool.get("input_schema"), dict, f"{param}.input_schema", "an object")
        description = tool.get("description")
        if description is not None:
            _expect(description, str, f"{param}.description", "a string")
        strict = _expect(tool.get("strict"), (bool, type(None)), f"{param}.strict", "a boolean")
        deferred = tool.get("defer_loading") is True and name not in loaded
        tools.append(
            Tool(
                name=name,
                description=description,
                parameters=schema,
                strict=strict,
                deferred=deferred,
                vendor=_vendor(tool, _TOOL_KEYS),
            )
        )
    return tools, hosted


def _decode_tool_choice(raw: Any) -> tuple[ToolChoice | None, bool | None]:
    if raw is None:
        return None, None
    kind = _expect(raw, dict, "tool_choice", "an object").get("type")
    if kind not in _TOOL_CHOICES:
        raise BadRequest(
            f"tool_choice.type: must be auto, any, tool or none (got {kind!r})",
            param="tool_choice.type",
        )
    name = None
    if kind == "tool":
        name = _expect(raw.get("name"), str, "tool_choice.name", "a string")
    disable = raw.get("disable_parallel_tool_use")
    _expect(disable, (bool, type(None)), "tool_choice.disable_parallel_tool_use", "a boolean")
    return ToolChoice(mode=_TOOL_CHOICES[kind], name=name), (False if disable else None)


# --- encoding for an Anthropic upstream ----------------------------------------------------


def thinking_budget(
    request: ChatRequest, default_max_tokens: int = DEFAULT_MAX_TOKENS
) -> tuple[int | None, int]:
    """The thinking budget to ask for (None: no thinking) and the `max_tokens` to send.

    An effort level maps to a budget (EFFORT_BUDGETS). Anthropic wants the budget at least
    1024 and below `max_tokens`: with no client limit, `max_tokens` grows to fit the budget;
    under a client's limit the budget shrinks, and thinking is dropped when it cannot fit.
    """
    default = default_max_tokens
    reasoning = request.reasoning
    if reasoning is None or not _thinking_allowed(request):
        return None, request.sampling.max_tokens or default
    budget = reasoning.budget_tokens
    if budget is None and "effort" not in request.extra.get(PROTOCOL, {}).get("output_config", {}):
        budget = EFFORT_BUDGETS.get(reasoning.effort or "")  # else the client's own effort goes
    limit = request.sampling.max_tokens
    if budget is None:
        return None, limit or default
    budget = max(budget, MIN_THINKING_BUDGET)
    if limit is None:
        return budget, default if budget < default else budget + default
    if budget >= limit:
        budget = limit - 1
    return (budget if budget >= MIN_THINKING_BUDGET else None), limit


def _thinking_allowed(request: ChatRequest) -> bool:
    """Whether Anthropic would take thinking with this request.

    It refuses thinking that was switched off (effort `none`, Gemini's budget 0), thinking
    with a forced tool choice, and thinking when the last assistant turn called tools
    without the signed thinking block it began with (a client of another protocol cannot
    send one back): then the request goes without thinking rather than fail.
    """
    reasoning = request.reasoning
    if reasoning is None or reasoning.effort == "none" or reasoning.budget_tokens == 0:
        return False
    if request.tool_choice is not None and request.tool_choice.mode in ("required", "tool"):
        return False
    last = next((m for m in reversed(request.messages) if m.role == "assistant"), None)
    if last is None or not any(isinstance(p, ToolCallPart) for p in last.content):
        return True
    return any(
        isinstance(p, ReasoningPart)
        and p.signature is not None
        and not p.signature.startswith(FOREIGN_SIGNATURE_TAGS)
        for p in last.content
    )


def encode_request(
    request: ChatRequest,
    model: str,
    *,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
    dropped: notes.Dropped | None = None,
) -> dict[str, Any]:
    """The Messages body asking `model` for `request`; what it cannot carry is named in
    `dropped`."""
    request = offered(request, dropped, defers=True)  # `defer_loading` stays with its tool
    body: dict[str, Any] = {**request.extra.get(PROTOCOL, {}), "model": model}
    budget, max_tokens = thinking_budget(request, default_max_tokens)
    body["max_tokens"] = max_tokens
    if request.system:
        system = [_with_fields({"type": "text", "text": p.text}, p.vendor) for p in request.system]
        body["system"] = _collapse(system)
    # Another protocol's client cannot know whether the model takes `system` turns in
    # the conversation: those become notes in the user's turn, which every model reads.
    in_place = request.client_protocol == PROTOCOL
    body["messages"] = _encode_messages(request.messages, in_place, dropped)
    tools = [_encode_tool(tool) for tool in request.tools]
    tools.extend(_encode_hosted(request, dropped))
    if tools:
        body["tools"] = tools
        choice = _encode_tool_choice(request)
        if choice is not None:
            body["tool_choice"] = choice
    sampling = request.sampling
    for key in ("temperature", "top_p", "top_k"):
        if getattr(sampling, key) is not None:
            body[key] = getattr(sampling, key)
    if budget is not None:  # thinking takes no temperature or top_k, and top_p of 0.95 at least
        body.pop("temperature", None)
        body.pop("top_k", None)
        if body.get("top_p", 1) < THINKING_MIN_TOP_P:
            body.pop("top_p")
    if sampling.stop:
        body["stop_sequences"] = sampling.stop
    if budget is not None:
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    _encode_format(request, body, dropped)
    if request.metadata.get("user_id"):
        body["metadata"] = {"user_id": request.metadata["user_id"]}  # the only key it takes
    if set(request.metadata) - {"user_id"} and dropped is not None:
        dropped.add("metadata")
    if request.stream:
        body["stream"] = True
    notes.client_fields(request, PROTOCOL, dropped)
    return body


def _encode_format(
    request: ChatRequest, body: dict[str, Any], dropped: notes.Dropped | None
) -> None:
    """A response_format as `output_config.format`, unless an Anthropic client set one."""
    fmt = request.response_format
    if fmt is None or "format" in body.get("output_config", {}):
        return
    schema = (
        (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None
    )
    if isinstance(schema, dict):
        config = body["output_config"] = dict(body.get("output_config") or {})
        config["format"] = {"type": "json_schema", "schema": schema}
    elif fmt.get("type") != "text" and dropped is not None:
        dropped.add(f"response_format {fmt.get('type')}")  # Anthropic has no JSON mode


def _encode_hosted(request: ChatRequest, dropped: notes.Dropped | None) -> list[dict[str, Any]]:
    """Server tools: an Anthropic client's verbatim, another's web search as Anthropic's."""
    own, searches, others = hosted.split(request.hosted_tools, PROTOCOL)
    if searches:
        options = hosted.web_search_options(searches[0])
        if "user_location" in options:
            options["user_location"] = {"type": "approximate", **options["user_location"]}
        own.append({"type": WEB_SEARCH_TOOL, "name": "web_search", **options})  # takes all
    if dropped is not None:
        dropped.add(*(f"{tool.kind} tool" for tool in others))
    return own


WEB_SEARCH_TOOL = "web_search_20250305"


def _collapse(blocks: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """One plain text block as a string, as clients usually write it."""
    if len(blocks) == 1 and blocks[0]["type"] == "text" and len(blocks[0]) == 2:
        return str(blocks[0]["text"])
    return blocks


def _encode_messages(
    messages: list[Message], in_place: bool, dropped: notes.Dropped | None
) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = "user" if message.role == "tool" else message.role
        blocks = [b for part in message.content if (b := _encode_part(part, dropped)) is not None]
        if role == "system" and not in_place:
            role, blocks = "user", [_reminder(b) for b in blocks]
        if role == "system":  # a turn of its own, with its fields (output_config, clear_at)
            settings = message.vendor.get(PROTOCOL, {})
            if blocks or settings:  # content may be left out when settings are all it says
                turns.append(
                    {"role": "system", **({"content": blocks} if blocks else {}), **settings}
                )
            continue
        if not blocks:
            continue
        elif turns and turns[-1]["role"] == role:  # Anthropic wants the roles to alternate
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        if "content" not in turn:
            continue
        if turn["role"] == "user":  # Anthropic wants a turn's tool results before the rest
            turn["content"].sort(key=lambda block: block.get("type") != "tool_result")
        turn["content"] = _collapse(turn["content"])
    return turns


def _reminder(block: dict[str, Any]) -> dict[str, Any]:
    """A system turn's text block as a note in the user's turn (Claude Code's own form)."""
    if block.get("type") != "text":
        return block
    return {"type": "text", "text": f"<system-reminder>\n{block['text']}\n</system-reminder>"}


def _arguments(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}  # a call cut off mid-arguments; Anthropic only takes an object
    return value if isinstance(value, dict) else {}


def _encode_image(part: ImagePart) -> dict[str, Any]:
    inline = part.inline()
    if inline is not None:
        source = {"type": "base64", "media_type": inline[0] or "image/png", "data": inline[1]}
    else:
        source = {"type": "url", "url": part.url or ""}
    return {"type": "image", "source": source}


def _encode_part(part: Part, dropped: notes.Dropped | None) -> dict[str, Any] | None:
    if isinstance(part, OpaquePart):
        return _encode_opaque(part, dropped)
    block = _encode_modelled(part, dropped)
    return None if block is None else _with_fields(block, part.vendor)


def _with_fields(block: dict[str, Any], vendor: Vendor) -> dict[str, Any]:
    """`block` with the Anthropic fields of the part it encodes, after its own."""
    fields = vendor.get(PROTOCOL)
    return {**block, **fields} if fields else block


def _encode_modelled(
    part: TextPart | ImagePart | ToolCallPart | ToolResultPart | ReasoningPart,
    dropped: notes.Dropped | None,
) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, ImagePart):
        return _encode_image(part)
    if isinstance(part, ToolCallPart):
        return {
            "type": "tool_use",
            "id": part.id,
            "name": part.name,
            "input": _arguments(part.arguments),
        }
    if isinstance(part, ToolResultPart):
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": part.tool_call_id}
        content = [b for c in part.content if (b := _encode_part(c, dropped)) is not None]
        if content:
            block["content"] = _collapse(content)
        if part.is_error:
            block["is_error"] = True
        return block
    # Reasoning goes back only with the signature Anthropic gave it; without one, or with
    # another provider's (Gemini's carry a `gemini:` tag), Anthropic would refuse the request.
    if not part.signature or part.signature.startswith(FOREIGN_SIGNATURE_TAGS):
        return None
    if part.redacted:
        return {"type": "redacted_thinking", "data": part.signature}
    if part.signature:
        return {"type": "thinking", "thinking": part.text, "signature": part.signature}
    return None


def _encode_opaque(part: OpaquePart, dropped: notes.Dropped | None) -> dict[str, Any] | None:
    """An Anthropic block back as it came; another protocol's as its text, if it has one."""
    if part.protocol == PROTOCOL:
        return part.data
    text = notes.opaque(part, dropped)
    return {"type": "text", "text": text} if text else None


FOREIGN_SIGNATURE_TAGS = ("gemini:", "openai:")  # Gemini and the Responses API
THINKING_MIN_TOP_P = 0.95


def _encode_tool(tool: Tool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        out["description"] = tool.description
    out["input_schema"] = tool.parameters
    if tool.strict is not None:
        out["strict"] = tool.strict
    return _with_fields(out, tool.vendor)


def _encode_tool_choice(request: ChatRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    if choice is None and request.parallel_tool_calls is not False:
        return None
    mode = choice.mode if choice is not None else "auto"
    out: dict[str, Any] = {
        "type": {"auto": "auto", "required": "any", "tool": "tool", "none": "none"}[mode]
    }
    if mode == "tool":
        out["name"] = choice.name if choice is not None else None
    if request.parallel_tool_calls is False and mode != "none":
        out["disable_parallel_tool_use"] = True
    return out
