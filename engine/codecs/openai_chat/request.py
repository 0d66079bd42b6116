"""OpenAI Chat Completions requests: client body → ChatRequest, and ChatRequest → upstream body."""

from __future__ import annotations

from collections.abc import Collection
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

PROTOCOL = "openai_chat"

# Body keys this codec models; everything else is kept in `extra` for OpenAI-family backends.
_MODELED = {
    "model",
    "messages",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "reasoning_effort",
    "response_format",
    "stream",
    "stream_options",
    "metadata",
}
# User content parts the canonical model does not carry, kept as OpaquePart for OpenAI Chat.
_OPAQUE_KINDS = ("file", "input_audio")


def decode_request(body: Any) -> ChatRequest:
    """Translate a client's Chat Completions body, raising BadRequest naming the bad field."""
    with refusals_are_bad_requests():
        return _decode_request(body)


def _decode_request(body: Any) -> ChatRequest:
    expect(body, dict, "body", "a JSON object")
    model = expect(body.get("model"), str, "model", "a string naming the model")
    messages = expect(body.get("messages"), list, "messages", "an array of messages")
    system: list[TextPart] = []
    decoded: list[Message] = []
    for i, raw in enumerate(messages):
        message = _decode_message(expect(raw, dict, f"messages[{i}]", "an object"), i)
        if message.role == "system" and not decoded:
            system.extend(p for p in message.content if isinstance(p, TextPart))
        else:
            decoded.append(message)
    if body.get("n") not in (None, 1):
        raise BadRequest("only n=1 is supported: ask for several completions separately", param="n")
    stream_options = optional(body, "stream_options", dict, "an object") or {}
    reasoning_effort = optional(body, "reasoning_effort", str, "a string")
    response_format = optional(body, "response_format", dict, "an object")
    return ChatRequest(
        model=model,
        system=system,
        messages=decoded,
        tools=[
            _decode_tool(t, i)
            for i, t in enumerate(expect(body.get("tools") or [], list, "tools", "an array"))
        ],
        tool_choice=_decode_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=optional(body, "parallel_tool_calls", bool, "a boolean"),
        sampling=_decode_sampling(body),
        reasoning=Reasoning(effort=reasoning_effort) if reasoning_effort else None,
        response_format=response_format,
        stream=bool(optional(body, "stream", bool, "a boolean")),
        include_usage=bool(
            optional(
                stream_options,
                "include_usage",
                bool,
                "a boolean",
                param="stream_options.include_usage",
            )
        ),
        metadata=optional(body, "metadata", dict, "an object") or {},
        extra={PROTOCOL: {k: v for k, v in body.items() if k not in _MODELED}},
    )


# OpenAI's own bounds for the sampling parameters.
_SAMPLING_RANGES = {
    "temperature": (0, 2),
    "top_p": (0, 1),
    "presence_penalty": (-2, 2),
    "frequency_penalty": (-2, 2),
}


def _decode_sampling(body: dict[str, Any]) -> Sampling:
    values: dict[str, Any] = {}
    for key, (low, high) in _SAMPLING_RANGES.items():
        if body.get(key) is not None:
            values[key] = expect_number(body[key], key, minimum=low, maximum=high)
    for key in ("max_completion_tokens", "max_tokens"):
        if body.get(key) is not None and "max_tokens" not in values:
            values["max_tokens"] = expect_number(body[key], key, minimum=1, integer=True)
    if body.get("seed") is not None:
        values["seed"] = expect_number(body["seed"], "seed", integer=True)
    stop = body.get("stop")
    if stop is not None:
        stop = [stop] if isinstance(stop, str) else expect(stop, list, "stop", "a list")
        for i, item in enumerate(stop):
            expect(item, str, f"stop[{i}]", "a string")
        values["stop"] = stop
    return Sampling(**values)


def _decode_message(raw: dict[str, Any], i: int) -> Message:
    role = raw.get("role")
    where = f"messages[{i}]"
    content = raw.get("content")
    if role in ("system", "developer"):
        return Message(role="system", content=_decode_content(content, where, images=False))
    if role == "user":
        return Message(role="user", content=_decode_content(content, where), name=raw.get("name"))
    if role == "assistant":
        parts: list[Part] = []
        reasoning = raw.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            parts.append(ReasoningPart(text=reasoning))
        if content is not None:
            parts.extend(_decode_content(content, where, images=False))
        calls = expect(raw.get("tool_calls") or [], list, f"{where}.tool_calls", "an array")
        for j, call in enumerate(calls):
            param = f"{where}.tool_calls[{j}]"
            function = expect(call, dict, param, "an object").get("function")
            expect(function, dict, f"{param}.function", "an object")
            parts.append(
                ToolCallPart(
                    id=expect(call.get("id"), str, f"{param}.id", "a string"),
                    name=expect(function.get("name"), str, f"{param}.function.name", "a string"),
                    arguments=function.get("arguments") or "{}",
                )
            )
        return Message(role="assistant", content=parts, name=raw.get("name"))
    if role == "tool":
        call_id = expect(raw.get("tool_call_id"), str, f"{where}.tool_call_id", "a string")
        result = _decode_content(content, where, images=False)
        texts: list[TextPart | ImagePart] = [p for p in result if isinstance(p, TextPart)]
        return Message(role="tool", content=[ToolResultPart(tool_call_id=call_id, content=texts)])
    raise BadRequest(
        f"'{where}.role' must be one of system, developer, user, assistant, tool (got {role!r})",
        param=f"{where}.role",
    )


def _decode_content(content: Any, where: str, *, images: bool = True) -> list[Part]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [TextPart(text=content)]
    expect(content, list, f"{where}.content", "a string or an array of content parts")
    parts: list[Part] = []
    for j, raw in enumerate(content):
        param = f"{where}.content[{j}]"
        kind = expect(raw, dict, param, "an object").get("type")
        if kind == "text":
            parts.append(TextPart(text=expect(raw.get("text"), str, f"{param}.text", "a string")))
        elif kind == "image_url" and images:
            image = raw.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append(
                ImagePart.from_url(
                    expect(url, str, f"{param}.image_url.url", "a string"),
                    image.get("detail") if isinstance(image, dict) else None,
                )
            )
        elif kind == "refusal":
            parts.append(TextPart(text=str(raw.get("refusal", ""))))
        elif kind in _OPAQUE_KINDS and images:
            # Files (PDFs) and audio: only an OpenAI Chat upstream reads them, verbatim.
            parts.append(OpaquePart(protocol=PROTOCOL, data=dict(raw)))
        else:
            raise BadRequest(f"content part type {kind!r} is not supported here", param=param)
    return parts


def _decode_tool(raw: Any, i: int) -> Tool:
    param = f"tools[{i}]"
    function = expect(raw, dict, param, "an object").get("function")
    if raw.get("type", "function") != "function" or not isinstance(function, dict):
        raise BadRequest(f"'{param}' must be a function tool", param=param)
    return Tool(
        name=expect(function.get("name"), str, f"{param}.function.name", "a string"),
        description=function.get("description"),
        parameters=function.get("parameters") or {"type": "object", "properties": {}},
        strict=function.get("strict"),
    )


def _decode_tool_choice(raw: Any) -> ToolChoice | None:
    if raw is None:
        return None
    if raw in ("auto", "none", "required"):
        return ToolChoice(mode=raw)
    if isinstance(raw, dict) and isinstance(raw.get("function"), dict):
        return ToolChoice(mode="tool", name=raw["function"].get("name"))
    raise BadRequest(
        "'tool_choice' must be auto, none, required or {type: function, function: {name}}",
        param="tool_choice",
    )


# --- encoding for an OpenAI-compatible upstream --------------------------------------------


def encode_request(
    request: ChatRequest,
    model: str,
    *,
    max_tokens_field: str = "max_tokens",
    drop_fields: Collection[str] = (),
) -> dict[str, Any]:
    """The Chat Completions body asking `model` for `request`.

    `max_tokens_field` names the output limit: OpenAI's own API wants
    `max_completion_tokens` (reasoning models refuse `max_tokens`); most compatible
    servers know only `max_tokens`. `drop_fields` are body fields left out, for servers
    that refuse them (OpenAI's own API refuses `top_k`, which vLLM and OpenRouter take).
    """
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": _encode_text(request.system)})
    images: list[dict[str, Any]] = []  # images from the current run of tool results
    for message in request.messages:
        if message.role != "tool" and images:
            messages.append({"role": "user", "content": images})
            images = []
        messages.extend(_encode_message(message))
        if message.role == "tool":
            images.extend(_result_images(message))
    if images:
        messages.append({"role": "user", "content": images})
    body: dict[str, Any] = {**request.extra.get(PROTOCOL, {}), "model": model, "messages": messages}
    sampling = request.sampling.model_dump(exclude_none=True)
    body.update({max_tokens_field if k == "max_tokens" else k: v for k, v in sampling.items()})
    if request.tools:
        body["tools"] = [_encode_tool(tool) for tool in request.tools]
    if request.tool_choice is not None:
        choice = request.tool_choice
        body["tool_choice"] = (
            {"type": "function", "function": {"name": choice.name}}
            if choice.mode == "tool"
            else choice.mode
        )
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.reasoning is not None and request.reasoning.effort:
        body["reasoning_effort"] = request.reasoning.effort
    if request.response_format is not None:
        body["response_format"] = request.response_format
    if request.metadata:
        body["metadata"] = request.metadata
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    for name in drop_fields:
        body.pop(name, None)
    return body


def _encode_text(parts: list[TextPart]) -> str | list[dict[str, Any]]:
    if len(parts) == 1:
        return parts[0].text
    return [{"type": "text", "text": p.text} for p in parts]


def _encode_message(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [
            {
                "role": "tool",
                "tool_call_id": p.tool_call_id,
                "content": "".join(c.text for c in p.content if isinstance(c, TextPart)),
            }
            for p in message.content
            if isinstance(p, ToolResultPart)
        ]
    out: dict[str, Any] = {"role": message.role}
    if message.name:
        out["name"] = message.name
    content: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    reasoning: list[str] = []
    for part in message.content:
        if isinstance(part, TextPart):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            content.append(_encode_image(part))
        elif isinstance(part, OpaquePart):
            if part.protocol == PROTOCOL:
                content.append(part.data)
        elif isinstance(part, ReasoningPart):
            # Unsigned reasoning is DeepSeek/Kimi style `reasoning_content`, which their
            # thinking modes want back during tool loops; signed reasoning belongs to
            # Anthropic or Gemini and means nothing here.
            if message.role == "assistant" and not part.signature and not part.redacted:
                reasoning.append(part.text)
        elif isinstance(part, ToolCallPart):
            calls.append(
                {
                    "id": part.id,
                    "type": "function",
                    "function": {"name": part.name, "arguments": part.arguments},
                }
            )
    if len(content) == 1 and content[0]["type"] == "text":
        out["content"] = content[0]["text"]
    else:
        out["content"] = content or (None if calls else "")
    if calls:
        out["tool_calls"] = calls
    if "".join(reasoning):
        out["reasoning_content"] = "".join(reasoning)
    return [out]


def _encode_image(part: ImagePart) -> dict[str, Any]:
    url = part.url or f"data:{part.media_type or 'image/png'};base64,{part.data}"
    image: dict[str, Any] = {"url": url}
    if part.detail:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def _result_images(message: Message) -> list[dict[str, Any]]:
    """User content parts showing the images of a tool message's results.

    A `tool` message carries only text, so the images follow the run of tool messages
    in one user message, each result's introduced by a line naming its call.
    """
    out: list[dict[str, Any]] = []
    for part in message.content:
        if not isinstance(part, ToolResultPart):
            continue
        images = [_encode_image(c) for c in part.content if isinstance(c, ImagePart)]
        if images:
            intro = f"Images returned by tool call {part.tool_call_id}:"
            out += [{"type": "text", "text": intro}, *images]
    return out


def _encode_tool(tool: Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}
