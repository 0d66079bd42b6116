"""OpenAI Responses requests: client body → ChatRequest.

`input` is a string or a list of items. Items the assistant produced (reasoning, assistant
messages, function calls) that follow each other form one assistant turn; function call
outputs that follow each other form one tool turn. Fields the canonical request does not
model (`store`, `previous_response_id`, `include`, `user`, …) are kept in
``extra["openai_responses"]``.
"""

from __future__ import annotations

import json
from typing import Any

from engine.codecs.validation import (
    expect,
    expect_number,
    optional,
    refusals_are_bad_requests,
)
from engine.errors import BadRequest
from engine.model import (
    ChatRequest,
    ImagePart,
    Message,
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
# names of such tools travel in the request's `extra` under CUSTOM_TOOLS.
CUSTOM_INPUT = "input"
CUSTOM_TOOLS = "openai_responses/custom_tools"
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
    if raw_input is None:
        raise BadRequest("'input' is required: a string or an array of items", param="input")
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
    while messages and messages[0].role == "system":  # leading system turns are the system
        system.extend(p for p in messages.pop(0).content if isinstance(p, TextPart))
    reasoning = body.get("reasoning")
    effort = expect(reasoning, dict, "reasoning", "an object").get("effort") if reasoning else None
    raw_tools = expect(body.get("tools") or [], list, "tools", "an array")
    tools = [_decode_tool(t, i) for i, t in enumerate(raw_tools)]
    extra: dict[str, dict[str, Any]] = {
        PROTOCOL: {k: v for k, v in body.items() if k not in _MODELED}
    }
    custom = [t["name"] for t in raw_tools if t.get("type") == "custom"]
    if custom:
        extra[CUSTOM_TOOLS] = {"names": custom}
    return ChatRequest(
        model=model,
        system=system,
        messages=messages,
        tools=tools,
        tool_choice=_decode_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=optional(body, "parallel_tool_calls", bool, "a boolean"),
        sampling=_decode_sampling(body),
        reasoning=Reasoning(effort=effort) if effort else None,
        response_format=_decode_text_format(body.get("text")),
        stream=bool(optional(body, "stream", bool, "a boolean")),
        include_usage=True,
        metadata=optional(body, "metadata", dict, "an object") or {},
        extra=extra,
    )


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
        if kind == "message":
            role = item.get("role")
            content = _decode_content(item.get("content"), param, role)
            if role == "assistant":
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
        elif kind == "function_call":
            call = ToolCallPart(
                id=expect(item.get("call_id"), str, f"{param}.call_id", "a string"),
                name=expect(item.get("name"), str, f"{param}.name", "a string"),
                arguments=item.get("arguments") or "{}",
            )
            turn("assistant").content.append(call)
        elif kind == "custom_tool_call":
            call = ToolCallPart(
                id=expect(item.get("call_id"), str, f"{param}.call_id", "a string"),
                name=expect(item.get("name"), str, f"{param}.name", "a string"),
                arguments=json.dumps({CUSTOM_INPUT: str(item.get("input") or "")}),
            )
            turn("assistant").content.append(call)
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
                    content=[p for p in parts if isinstance(p, TextPart | ImagePart)],
                )
            )
        elif kind == "reasoning":
            turn("assistant").content.append(_decode_reasoning(item, param))
        else:
            raise BadRequest(
                f"input item type {kind!r} is not supported: use message, function_call, "
                "function_call_output, custom_tool_call, custom_tool_call_output or reasoning "
                "items",
                param=f"{param}.type",
            )
    name_tool_results(messages)
    return messages


def name_tool_results(messages: list[Message]) -> None:
    """Give each tool result without a name the name of the call it answers, when known."""
    names: dict[str, str] = {}
    for message in messages:
        for part in message.content:
            if isinstance(part, ToolCallPart):
                names[part.id] = part.name
            elif isinstance(part, ToolResultPart) and part.name is None:
                part.name = names.get(part.tool_call_id)


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
    if not isinstance(encrypted, str) or not encrypted:
        return ReasoningPart(text=text)
    if encrypted.startswith(_REDACTED):
        return ReasoningPart(text=text, signature=encrypted[len(_REDACTED) :], redacted=True)
    return ReasoningPart(text=text, signature=encrypted)


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
            parts.append(TextPart(text=expect(raw.get("text"), str, f"{param}.text", "a string")))
        elif kind == "refusal":
            parts.append(TextPart(text=str(raw.get("refusal", ""))))
        elif kind == "input_image" and role in ("user", "tool"):
            parts.append(_decode_image(raw, param))
        elif kind == "input_file":
            raise BadRequest(
                "input_file content is not supported: send the file's text as input_text",
                param=param,
            )
        else:
            raise BadRequest(f"content part type {kind!r} is not supported here", param=param)
    return parts


def _decode_image(raw: dict[str, Any], param: str) -> ImagePart:
    if raw.get("file_id"):
        raise BadRequest(
            "input_image with a file_id is not supported: the proxy has no Files API; "
            "send the image as image_url (an https URL or a data: URL)",
            param=f"{param}.file_id",
        )
    url = expect(raw.get("image_url"), str, f"{param}.image_url", "a string (a URL)")
    return ImagePart.from_url(url, raw.get("detail"))


def _decode_tool(raw: Any, i: int) -> Tool:
    param = f"tools[{i}]"
    kind = expect(raw, dict, param, "an object").get("type")
    if kind == "custom":
        return _decode_custom_tool(raw, param)
    if kind != "function":
        raise BadRequest(
            f"tool type {kind!r} is not supported: the proxy offers only function tools "
            "(hosted tools such as web_search run inside OpenAI)",
            param=f"{param}.type",
        )
    return Tool(
        name=expect(raw.get("name"), str, f"{param}.name", "a string"),
        description=raw.get("description"),
        parameters=raw.get("parameters") or {"type": "object", "properties": {}},
        strict=raw.get("strict"),
    )


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
    if raw is None:
        return None
    if raw in ("auto", "none", "required"):
        return ToolChoice(mode=raw)
    if isinstance(raw, dict) and raw.get("type") == "function" and isinstance(raw.get("name"), str):
        return ToolChoice(mode="tool", name=raw["name"])
    raise BadRequest(
        "'tool_choice' must be auto, none, required or {type: function, name}",
        param="tool_choice",
    )


def _decode_text_format(text: Any) -> dict[str, Any] | None:
    """`text.format` as the canonical (Chat Completions shaped) `response_format`."""
    if text is None:
        return None
    fmt = expect(text, dict, "text", "an object").get("format")
    if fmt is None:
        return None
    kind = expect(fmt, dict, "text.format", "an object").get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "description", "strict") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    raise BadRequest(
        f"'text.format.type' must be text, json_object or json_schema (got {kind!r})",
        param="text.format.type",
    )


def encode_text_format(response_format: dict[str, Any] | None) -> dict[str, Any]:
    """The Responses `text` object for a canonical `response_format`."""
    if not response_format or response_format.get("type") == "text":
        return {"format": {"type": "text"}}
    if response_format.get("type") == "json_schema":
        return {"format": {"type": "json_schema", **(response_format.get("json_schema") or {})}}
    return {"format": dict(response_format)}
