"""OpenAI Chat Completions requests: client body → ChatRequest, and ChatRequest → upstream body.

Content parts and tools the canonical model does not carry (files, audio, part types newer
than this codec, `custom` tools, `web_search_options`) are kept verbatim for OpenAI Chat
backends; other backends leave them out and say so.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from engine import notes
from engine.codecs.tools import offered
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
    "web_search_options",
}
# Part types some clients send for plain text (the Responses API's names).
_TEXT_KINDS = ("text", "input_text", "output_text")
# Fields of a Responses client that mean the same in Chat Completions.
SHARED_WITH_RESPONSES = ("user", "service_tier", "prompt_cache_key", "safety_identifier")


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
        if (
            message.role == "system"
            and not decoded
            and all(isinstance(p, TextPart) for p in message.content)
        ):  # leading system turns of text are the system prompt
            system.extend(p for p in message.content if isinstance(p, TextPart))
        else:
            decoded.append(message)
    if body.get("n") not in (None, 1):
        raise BadRequest("only n=1 is supported: ask for several completions separately", param="n")
    stream_options = optional(body, "stream_options", dict, "an object") or {}
    reasoning_effort = optional(body, "reasoning_effort", str, "a string")
    response_format = optional(body, "response_format", dict, "an object")
    tools, hosted = _decode_tools(expect(body.get("tools") or [], list, "tools", "an array"))
    search = optional(body, "web_search_options", dict, "an object")
    if search is not None:
        hosted.append(HostedTool(kind="web_search", protocol=PROTOCOL, data=search))
    unmodeled = {k: v for k, v in body.items() if k not in _MODELED}
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        unmodeled["tool_choice"] = choice  # for a Chat backend, as it was
    return ChatRequest(
        model=model,
        system=system,
        messages=decoded,
        tools=tools,
        hosted_tools=hosted,
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
        extra={PROTOCOL: unmodeled},
        client_protocol=PROTOCOL,
        client_only=[k if k != "tool_choice" else "tool_choice allowed_tools" for k in unmodeled],
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
        texts: list[TextPart | ImagePart | OpaquePart] = [
            p for p in result if isinstance(p, TextPart | OpaquePart)
        ]
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
        if kind in _TEXT_KINDS:
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
        else:
            # Files (PDFs), audio, parts newer than this codec: OpenAI Chat reads them.
            expect(kind, str, f"{param}.type", "a string")
            parts.append(OpaquePart(protocol=PROTOCOL, data=dict(raw)))
    return parts


def _decode_tools(raw: list[Any]) -> tuple[list[Tool], list[HostedTool]]:
    tools: list[Tool] = []
    hosted: list[HostedTool] = []
    for i, tool in enumerate(raw):
        param = f"tools[{i}]"
        kind = expect(tool, dict, param, "an object").get("type", "function")
        if kind == "function":
            function = expect(tool.get("function"), dict, f"{param}.function", "an object")
            tools.append(
                Tool(
                    name=expect(function.get("name"), str, f"{param}.function.name", "a string"),
                    description=function.get("description"),
                    parameters=function.get("parameters") or {"type": "object", "properties": {}},
                    strict=function.get("strict"),
                )
            )
        else:  # `custom` and newer tool types: for OpenAI Chat backends, verbatim
            expect(kind, str, f"{param}.type", "a string")
            hosted.append(HostedTool(kind=kind, protocol=PROTOCOL, data=tool))
    return tools, hosted


def _decode_tool_choice(raw: Any) -> ToolChoice | None:
    if raw is None:
        return None
    if raw in ("auto", "none", "required"):
        return ToolChoice(mode=raw)
    if isinstance(raw, dict):
        for key in ("function", "custom"):
            if isinstance(raw.get(key), dict) and isinstance(raw[key].get("name"), str):
                return ToolChoice(mode="tool", name=raw[key]["name"])
        allowed = raw.get("allowed_tools")
        if raw.get("type") == "allowed_tools" and isinstance(allowed, dict):
            return ToolChoice(mode="required" if allowed.get("mode") == "required" else "auto")
    raise BadRequest(
        "'tool_choice' must be auto, none, required, {type: function, function: {name}} "
        "or {type: allowed_tools, allowed_tools: {mode, tools}}",
        param="tool_choice",
    )


# --- encoding for an OpenAI-compatible upstream --------------------------------------------


def encode_request(
    request: ChatRequest,
    model: str,
    *,
    max_tokens_field: str = "max_tokens",
    drop_fields: Collection[str] = (),
    dropped: notes.Dropped | None = None,
) -> dict[str, Any]:
    """The Chat Completions body asking `model` for `request`; what it cannot carry is
    named in `dropped`.

    `max_tokens_field` names the output limit: OpenAI's own API wants
    `max_completion_tokens` (reasoning models refuse `max_tokens`); most compatible
    servers know only `max_tokens`. `drop_fields` are body fields left out, for servers
    that refuse them (OpenAI's own API refuses `top_k`, which vLLM and OpenRouter take).
    """
    request = offered(request, dropped)
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": _encode_text(request.system)})
    images: list[dict[str, Any]] = []  # images from the current run of tool results
    for message in request.messages:
        if message.role != "tool" and images:
            messages.append({"role": "user", "content": images})
            images = []
        messages.extend(_encode_message(message, dropped))
        if message.role == "tool":
            images.extend(_result_images(message))
    if images:
        messages.append({"role": "user", "content": images})
    body: dict[str, Any] = {**request.extra.get(PROTOCOL, {}), "model": model, "messages": messages}
    shared = request.extra.get(RESPONSES_PROTOCOL, {})
    body.update({k: shared[k] for k in SHARED_WITH_RESPONSES if k in shared})
    sampling = request.sampling.model_dump(exclude_none=True)
    body.update({max_tokens_field if k == "max_tokens" else k: v for k, v in sampling.items()})
    tools = [_encode_tool(tool) for tool in request.tools]
    tools += _encode_hosted(request, body, dropped)
    if tools:
        body["tools"] = tools
    if request.tool_choice is not None:
        choice = request.tool_choice
        body["tool_choice"] = (
            {"type": "function", "function": {"name": choice.name}}
            if choice.mode == "tool"
            else choice.mode
        )
        own = request.extra.get(PROTOCOL, {}).get("tool_choice")
        if own is not None and choice.mode in ("auto", "required"):
            body["tool_choice"] = own  # a Chat client's allowed_tools, which the mode stands for
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.reasoning is not None and request.reasoning.effort:
        body["reasoning_effort"] = request.reasoning.effort
    if request.response_format is not None:
        body["response_format"] = request.response_format
    if request.metadata and request.client_protocol in (PROTOCOL, None):
        body["metadata"] = request.metadata
    elif request.metadata and dropped is not None:
        # OpenAI takes metadata only with `store: true`, which is the client's to ask for.
        dropped.add("metadata")
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    for name in drop_fields:
        body.pop(name, None)
    notes.client_fields(request, PROTOCOL, dropped, carried=SHARED_WITH_RESPONSES)
    return body


RESPONSES_PROTOCOL = "openai_responses"


def _encode_hosted(
    request: ChatRequest, body: dict[str, Any], dropped: notes.Dropped | None
) -> list[dict[str, Any]]:
    """A Chat client's own tools verbatim (its web search as `web_search_options`); the
    hosted tools of other protocols' clients, Chat Completions cannot run."""
    tools = []
    for tool in request.hosted_tools:
        if tool.protocol != PROTOCOL:
            if dropped is not None:
                dropped.add(f"{tool.kind} tool")
        elif tool.kind == "web_search":
            body["web_search_options"] = tool.data
        else:
            tools.append(tool.data)
    return tools


def _encode_text(parts: list[TextPart]) -> str | list[dict[str, Any]]:
    if len(parts) == 1:
        return parts[0].text
    return [{"type": "text", "text": p.text} for p in parts]


def _encode_message(message: Message, dropped: notes.Dropped | None) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [
            {"role": "tool", "tool_call_id": p.tool_call_id, "content": _result_text(p, dropped)}
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
            elif (text := notes.opaque(part, dropped)) is not None:
                content.append({"type": "text", "text": text})
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
    if not content and not calls and message.role != "assistant" and message.content:
        return []  # all it held was left out: an empty turn would only confuse the model
    if len(content) == 1 and content[0]["type"] == "text":
        out["content"] = content[0]["text"]
    else:
        out["content"] = content or (None if calls else "")
    if calls:
        out["tool_calls"] = calls
    if "".join(reasoning):
        out["reasoning_content"] = "".join(reasoning)
    return [out]


def _result_text(part: ToolResultPart, dropped: notes.Dropped | None) -> str:
    """A tool result as a `tool` message's text (its images follow in a user message)."""
    texts = []
    for item in part.content:
        if isinstance(item, TextPart):
            texts.append(item.text)
        elif isinstance(item, OpaquePart):
            texts.append(
                item.text or "" if item.protocol == PROTOCOL else notes.opaque(item, dropped) or ""
            )
    return "".join(texts)


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
