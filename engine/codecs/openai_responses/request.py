"""OpenAI Responses requests: client body → ChatRequest.

`input` is a string or a list of items. Items the assistant produced (reasoning, assistant
messages, function calls) that follow each other form one assistant turn; function call
outputs that follow each other form one tool turn. Fields the canonical request does not
model (`store`, `previous_response_id`, `include`, `user`, …) are kept in
``extra["openai_responses"]``.

Whatever else a current client sends is accepted: `namespace` tools become function tools
with flat names (see `engine.codecs.names`) that the response maps back; hosted tools
(`web_search`, `file_search`, `mcp`…) are kept for backends that run them; items, content
parts, tool choices and text formats newer than this codec are kept verbatim for a
Responses backend. Other backends leave them out and say so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from engine.codecs.names import flat_name
from engine.codecs.validation import (
    expect,
    expect_number,
    optional,
    refusals_are_bad_requests,
)
from engine.errors import BadRequest
from engine.model import (
    ChatRequest,
    HostedTool,
    ImagePart,
    Message,
    Namespace,
    OpaquePart,
    Part,
    Reasoning,
    ReasoningPart,
    Sampling,
    TextPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)

PROTOCOL = "openai_responses"

# Body keys this codec models; everything else is kept in `extra`.
_MODELED = {
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "temperature",
    "top_p",
    "max_output_tokens",
    "reasoning",
    "text",
    "stream",
    "metadata",
}
# Freeform (`custom`) tools become functions taking one string argument of this name; the
# names of such tools (and their definitions) travel in the request's `extra` under
# CUSTOM_TOOLS.
CUSTOM_INPUT = "input"
CUSTOM_TOOLS = "openai_responses/custom_tools"
# A function tool's fields the canonical model does not carry (`output_schema`,
# `allowed_callers`, `async`…) travel on its Tool, in `vendor`, for a Responses backend.
_FUNCTION_KEYS = {"type", "name", "description", "parameters", "strict", "defer_loading"}
# `encrypted_content` is opaque to clients, so it carries the canonical signature verbatim
# (whichever provider signed it) and marks redacted reasoning, which has only a signature.
_REDACTED = "redacted:"


def decode_request(body: Any) -> ChatRequest:
    """Translate a client's Responses body, raising BadRequest naming the bad field."""
    with refusals_are_bad_requests():
        return _decode_request(body)


def _decode_request(body: Any) -> ChatRequest:
    expect(body, dict, "body", "a JSON object")
    model = expect(body.get("model"), str, "model", "a string naming the model")
    raw_input = body.get("input")
    if raw_input is None and not any(body.get(k) for k in _INPUT_ELSEWHERE):
        raise BadRequest("'input' is required: a string or an array of items", param="input")
    raw_input = [] if raw_input is None else raw_input
    items = (
        [{"type": "message", "role": "user", "content": raw_input}]
        if isinstance(raw_input, str)
        else expect(raw_input, list, "input", "a string or an array of items")
    )
    system: list[TextPart] = []
    instructions = body.get("instructions")
    if instructions is not None:
        text = expect(instructions, str, "instructions", "a string")
        if text:
            system.append(TextPart(text=text))
    messages = decode_items(items)
    # Leading system turns of text are the system prompt; one with an image stays a turn.
    while messages and messages[0].role == "system" and _all_text(messages[0]):
        system.extend(p for p in messages.pop(0).content if isinstance(p, TextPart))
    reasoning = optional(body, "reasoning", dict, "an object") or {}
    effort = _EFFORTS.get(
        expect(reasoning.get("effort") or "", str, "reasoning.effort", "a string")
    )
    raw_tools = expect(body.get("tools") or [], list, "tools", "an array")
    decoded = [tool for i, raw in enumerate(raw_tools) for tool in _decode_tool(raw, i)]
    tools = [t for t in decoded if isinstance(t, Tool)]
    hosted = [t for t in decoded if isinstance(t, HostedTool)]
    unmodeled = {k: v for k, v in body.items() if k not in _MODELED}
    # Kept whole as well, for a Responses backend: their parts the canonical model does
    # not say (reasoning `summary`, text `verbosity`, a hosted tool choice…).
    unmodeled.update({k: body[k] for k in _ALSO_KEPT if body.get(k) is not None})
    extra: dict[str, dict[str, Any]] = {PROTOCOL: unmodeled}
    custom = _custom_tools(raw_tools)
    if custom:  # their names, and their definitions for a Responses backend
        extra[CUSTOM_TOOLS] = {"names": list(custom), "definitions": custom}
    return ChatRequest(
        model=model,
        system=system,
        messages=messages,
        tools=tools,
        hosted_tools=hosted,
        tool_choice=_decode_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=optional(body, "parallel_tool_calls", bool, "a boolean"),
        sampling=_decode_sampling(body),
        reasoning=Reasoning(effort=effort) if effort else None,  # type: ignore[arg-type]
        response_format=_decode_text_format(body.get("text")),
        stream=bool(optional(body, "stream", bool, "a boolean")),
        include_usage=True,
        metadata=optional(body, "metadata", dict, "an object") or {},
        extra=extra,
        client_protocol=PROTOCOL,
        client_only=_client_only(unmodeled),
    )


_ALSO_KEPT = ("reasoning", "text", "tool_choice")
# What may stand for `input`: a stored prompt, a conversation, an earlier response.
_INPUT_ELSEWHERE = ("prompt", "conversation", "previous_response_id")


def _all_text(message: Message) -> bool:
    return all(isinstance(part, TextPart) for part in message.content)


_EFFORTS = {e: e for e in ("none", "minimal", "low", "medium", "high", "xhigh", "max")}
# Fields the proxy serves itself, or that other backends get in another form.
_SERVED = {
    "previous_response_id",
    "store",
    "include",
    "stream_options",
    "background",
    *_ALSO_KEPT,
}


def _client_only(unmodeled: dict[str, Any]) -> list[str]:
    """What the client sent that only a Responses backend carries, by the names it used."""
    names = [k for k in unmodeled if k not in _SERVED]
    choice = unmodeled.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") not in ("function", "custom"):
        names.append(f"tool_choice {choice.get('type')}")  # a hosted tool, allowed_tools…
    if unmodeled.get("truncation") == "disabled":
        names.remove("truncation")  # what every other backend does anyway
    return names


def _decode_sampling(body: dict[str, Any]) -> Sampling:
    values: dict[str, Any] = {}
    for key, high in (("temperature", 2), ("top_p", 1)):
        if body.get(key) is not None:
            values[key] = expect_number(body[key], key, minimum=0, maximum=high)
    if body.get("max_output_tokens") is not None:
        values["max_tokens"] = expect_number(
            body["max_output_tokens"], "max_output_tokens", minimum=1, integer=True
        )
    return Sampling(**values)


def decode_items(items: list[Any], where: str = "input") -> list[Message]:
    """Canonical messages from Responses input items (output items are valid input too)."""
    messages: list[Message] = []

    def turn(role: str) -> Message:
        if not messages or messages[-1].role != role:
            messages.append(Message(role=role))  # type: ignore[arg-type]
        return messages[-1]

    for i, raw in enumerate(items):
        param = f"{where}[{i}]"
        item = expect(raw, dict, param, "an object")
        kind = item.get("type", "message" if "role" in item else None)
        if kind is None and "id" in item:
            kind = "item_reference"  # its `type` may be left out
        if kind == "message":
            role = item.get("role")
            content = _decode_content(item.get("content"), param, role)
            if role == "assistant":
                phase = item.get("phase")
                if isinstance(phase, str) and content and isinstance(content[0], TextPart):
                    content[0] = content[0].model_copy(update={"phase": phase})
                turn("assistant").content.extend(content)
            elif role in ("system", "developer"):
                messages.append(Message(role="system", content=content))
            elif role == "user":
                messages.append(Message(role="user", content=content))
            else:
                raise BadRequest(
                    f"'{param}.role' must be one of user, assistant, system, developer "
                    f"(got {role!r})",
                    param=f"{param}.role",
                )
        elif kind in ("function_call", "custom_tool_call"):
            turn("assistant").content.append(_decode_call(item, kind, param))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            call_id = expect(item.get("call_id"), str, f"{param}.call_id", "a string")
            output = item.get("output")
            parts = (
                [TextPart(text=output)]
                if isinstance(output, str)
                else _decode_content(output, param, "tool")
            )
            turn("tool").content.append(
                ToolResultPart(
                    tool_call_id=call_id,
                    content=[p for p in parts if isinstance(p, TextPart | ImagePart | OpaquePart)],
                )
            )
        elif kind == "reasoning":
            turn("assistant").content.append(_decode_reasoning(item, param))
        else:
            # Hosted tools' calls, compaction, item references, items newer than this
            # codec: a Responses backend gets them back verbatim, in order.
            expect(kind, str, f"{param}.type", "a string")
            role = "user" if kind.endswith("_output") or kind in _CLIENT_ITEMS else "assistant"
            opaque = OpaquePart(protocol=PROTOCOL, data=dict(item))
            if role == "assistant":
                turn("assistant").content.append(opaque)
            else:
                messages.append(Message(role="user", content=[opaque]))
    name_tool_results(messages)
    return messages


# Items a client adds of its own (not the model's output), kept in user turns.
_CLIENT_ITEMS = {
    "item_reference",
    "mcp_approval_response",
    "additional_tools",
    "configuration_update",
    "compaction_trigger",
}


def _decode_call(item: dict[str, Any], kind: str, param: str) -> ToolCallPart:
    """A function or custom tool call; a namespaced one by its flat name."""
    name = expect(item.get("name"), str, f"{param}.name", "a string")
    namespace = item.get("namespace")
    if isinstance(namespace, str) and namespace:
        name = flat_name(namespace, name)
    call_id = expect(item.get("call_id"), str, f"{param}.call_id", "a string")
    if kind == "custom_tool_call":
        arguments = json.dumps({CUSTOM_INPUT: str(item.get("input") or "")})
    else:
        arguments = item.get("arguments") or "{}"
        expect(arguments, str, f"{param}.arguments", "a string of JSON")
    return ToolCallPart(id=call_id, name=name, arguments=arguments)


def name_tool_results(messages: list[Message]) -> None:
    """Give each tool result without a name the name of the call it answers, when known.

    A message with such results is replaced in `messages` by a new one: the messages
    themselves may be a stored conversation's."""
    names: dict[str, str] = {}
    for i, message in enumerate(messages):
        content = [_named(part, names) for part in message.content]
        if any(new is not old for new, old in zip(content, message.content, strict=True)):
            messages[i] = message.model_copy(update={"content": content})


def _named(part: Part, names: dict[str, str]) -> Part:
    if isinstance(part, ToolCallPart):
        names[part.id] = part.name
    elif isinstance(part, ToolResultPart) and part.name is None and part.tool_call_id in names:
        return part.model_copy(update={"name": names[part.tool_call_id]})
    return part


def _decode_reasoning(item: dict[str, Any], param: str) -> ReasoningPart:
    summary = expect(item.get("summary") or [], list, f"{param}.summary", "an array")
    text = "\n\n".join(
        s["text"] for s in summary if isinstance(s, dict) and isinstance(s.get("text"), str)
    )
    if not text:  # some servers send the raw reasoning as `content`
        content = item.get("content") or []
        text = "".join(
            c["text"] for c in content if isinstance(c, dict) and isinstance(c.get("text"), str)
        )
    encrypted = item.get("encrypted_content")
    item_id = item.get("id") if isinstance(item.get("id"), str) else None
    if not isinstance(encrypted, str) or not encrypted:
        return ReasoningPart(text=text, id=item_id)
    if encrypted.startswith(_REDACTED):
        signature = encrypted[len(_REDACTED) :]
        return ReasoningPart(text=text, signature=signature, redacted=True, id=item_id)
    return ReasoningPart(text=text, signature=encrypted, id=item_id)


def encode_encrypted(signature: str, *, redacted: bool) -> str:
    """A canonical reasoning signature as a reasoning item's opaque `encrypted_content`."""
    return _REDACTED + signature if redacted else signature


def _decode_content(content: Any, where: str, role: Any) -> list[Part]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [TextPart(text=content)]
    expect(content, list, f"{where}.content", "a string or an array of content parts")
    parts: list[Part] = []
    for j, raw in enumerate(content):
        param = f"{where}.content[{j}]"
        kind = expect(raw, dict, param, "an object").get("type")
        if kind in ("input_text", "output_text", "text", "summary_text"):
            text = expect(raw.get("text"), str, f"{param}.text", "a string")
            if kind == "input_text" and len(raw) > 2:  # a prompt_cache_breakpoint, say
                parts.append(OpaquePart(protocol=PROTOCOL, data=dict(raw), text=text))
            else:
                parts.append(TextPart(text=text))
        elif kind == "refusal":
            parts.append(TextPart(text=str(raw.get("refusal", ""))))
        elif kind == "input_image" and role in ("user", "tool") and not raw.get("file_id"):
            url = expect(raw.get("image_url"), str, f"{param}.image_url", "a string (a URL)")
            parts.append(ImagePart.from_url(url, raw.get("detail")))
        else:
            # Files, images by file id, parts newer than this codec: a Responses backend
            # reads them.
            expect(kind, str, f"{param}.type", "a string")
            parts.append(OpaquePart(protocol=PROTOCOL, data=dict(raw)))
    return parts


def _decode_tool(raw: Any, i: int) -> list[Tool | HostedTool]:
    param = f"tools[{i}]"
    kind = expect(raw, dict, param, "an object").get("type")
    if kind == "custom":
        return [_decode_custom_tool(raw, param)]
    if kind == "function":
        return [_decode_function(raw, param)]
    if kind == "namespace":
        return list(_decode_namespace(raw, param))
    # A hosted tool (web_search, file_search, mcp, tool_search…), or one newer than this
    # codec: a Responses backend gets it verbatim; web search is any provider's web search.
    expect(kind, str, f"{param}.type", "a string")
    web = kind.startswith("web_search")
    return [HostedTool(kind="web_search" if web else kind, protocol=PROTOCOL, data=raw)]


def _custom_tools(raw_tools: list[Any]) -> dict[str, dict[str, Any]]:
    """The freeform tools' definitions by flat name, namespaced ones included."""
    found: dict[str, dict[str, Any]] = {}
    for raw in raw_tools:
        if raw.get("type") == "custom":
            found[str(raw.get("name"))] = raw
        elif raw.get("type") == "namespace" and isinstance(raw.get("tools"), list):
            for tool in raw["tools"]:
                if isinstance(tool, dict) and tool.get("type") == "custom":
                    found[flat_name(str(raw.get("name")), str(tool.get("name")))] = tool
    return found


def _decode_function(raw: dict[str, Any], param: str, namespace: Namespace | None = None) -> Tool:
    name = expect(raw.get("name"), str, f"{param}.name", "a string")
    fields = {k: v for k, v in raw.items() if k not in _FUNCTION_KEYS}
    return Tool(
        name=flat_name(namespace.name, name) if namespace else name,
        description=raw.get("description"),
        parameters=raw.get("parameters") or {"type": "object", "properties": {}},
        strict=raw.get("strict"),
        namespace=namespace.model_copy(update={"member": name}) if namespace else None,
        deferred=raw.get("defer_loading") is True,
        vendor={PROTOCOL: fields} if fields else {},
    )


def _decode_namespace(raw: dict[str, Any], param: str) -> Iterator[Tool]:
    """A group of function tools (Codex's `multi_agent_v1`), as flat-named functions."""
    group = Namespace(
        name=expect(raw.get("name"), str, f"{param}.name", "a string"),
        description=raw.get("description"),
        member="",
    )
    for j, tool in enumerate(expect(raw.get("tools") or [], list, f"{param}.tools", "an array")):
        where = f"{param}.tools[{j}]"
        kind = expect(tool, dict, where, "an object").get("type", "function")
        if kind == "custom":
            custom = _decode_custom_tool(tool, where)
            member = custom.name
            yield custom.model_copy(
                update={
                    "name": flat_name(group.name, member),
                    "namespace": group.model_copy(update={"member": member}),
                }
            )
        else:
            yield _decode_function(tool, where, group)


def _decode_custom_tool(raw: dict[str, Any], param: str) -> Tool:
    """A freeform tool (Codex's `apply_patch`) as a function taking one string, `input`;
    its grammar, when it has one, goes into the description for the model to follow."""
    description = raw.get("description") or ""
    grammar = raw.get("format") or {}
    if isinstance(grammar, dict) and grammar.get("type") == "grammar":
        description += (
            f"\n\nThe input must follow this {grammar.get('syntax', '')} grammar:\n"
            f"{grammar.get('definition', '')}"
        )
    return Tool(
        name=expect(raw.get("name"), str, f"{param}.name", "a string"),
        description=description or None,
        parameters={
            "type": "object",
            "properties": {CUSTOM_INPUT: {"type": "string", "description": "the raw input"}},
            "required": [CUSTOM_INPUT],
        },
    )


def custom_input(arguments: str) -> str:
    """The raw input of a freeform tool call, from the arguments a backend produced."""
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return arguments
    return str(value.get(CUSTOM_INPUT, "")) if isinstance(value, dict) else arguments


def _decode_tool_choice(raw: Any) -> ToolChoice | None:
    """The canonical tool choice; one naming a hosted tool (or newer) stays in `extra`
    for a Responses backend and means `auto` elsewhere."""
    if raw is None:
        return None
    if raw in ("auto", "none", "required"):
        return ToolChoice(mode=raw)
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise BadRequest(
            "'tool_choice' must be auto, none, required or an object with a type",
            param="tool_choice",
        )
    if raw["type"] in ("function", "custom") and isinstance(raw.get("name"), str):
        return ToolChoice(mode="tool", name=raw["name"])
    if raw["type"] == "allowed_tools":
        return ToolChoice(mode="required" if raw.get("mode") == "required" else "auto")
    return None


def _decode_text_format(text: Any) -> dict[str, Any] | None:
    """`text.format` as the canonical (Chat Completions shaped) `response_format`; a
    format newer than this codec stays in `extra` for a Responses backend."""
    if text is None:
        return None
    fmt = expect(text, dict, "text", "an object").get("format")
    if fmt is None:
        return None
    kind = expect(fmt, dict, "text.format", "an object").get("type")
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "description", "strict") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    expect(kind, str, "text.format.type", "a string")
    return None


def encode_text_format(response_format: dict[str, Any] | None) -> dict[str, Any]:
    """The Responses `text` object for a canonical `response_format`."""
    if not response_format or response_format.get("type") == "text":
        return {"format": {"type": "text"}}
    if response_format.get("type") == "json_schema":
        return {"format": {"type": "json_schema", **(response_format.get("json_schema") or {})}}
    return {"format": dict(response_format)}
