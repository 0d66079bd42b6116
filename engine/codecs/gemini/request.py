"""Gemini `generateContent` requests: client body → ChatRequest, and ChatRequest → upstream body.

Gemini has no tool-call ids: a `functionCall` part names a function and a later
`functionResponse` part answers it by the same name. Decoding gives each call a stable id
(its position in the conversation) and pairs each response with the earliest unanswered
call of that name; encoding looks the name up from the call id. Thought signatures ride on
the part they sign; canonically they are a `ReasoningPart` (empty text when the signed part
is not a thought) placed just before that part.
"""

from __future__ import annotations

import json
import mimetypes
from collections import defaultdict, deque
from typing import Any

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
    Sampling,
    TextPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)

PROTOCOL = "gemini"

# Body keys this codec models (`model` is the URL's, whatever the body says); everything else
# is kept in `extra` for Gemini backends.
_MODELED = {"model", "contents", "systemInstruction", "tools", "toolConfig", "generationConfig"}
# generationConfig keys as canonical sampling fields: (name, integer, minimum, maximum).
_SAMPLING: dict[str, tuple[str, bool, float | None, float | None]] = {
    "temperature": ("temperature", False, 0, 2),
    "topP": ("top_p", False, 0, 1),
    "topK": ("top_k", True, 0, None),
    "maxOutputTokens": ("max_tokens", True, 1, None),
    "seed": ("seed", True, None, None),
    "presencePenalty": ("presence_penalty", False, None, None),
    "frequencyPenalty": ("frequency_penalty", False, None, None),
}
_GENERATION_MODELED = {
    *_SAMPLING,
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "thinkingConfig",
}
# Effort levels as thinking budgets, which Gemini 2.5 and 3 both take (only 3 knows levels).
# xhigh and max are Gemini's dynamic budget (-1): the most each model allows differs.
_EFFORT_BUDGET = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
_LEVELS = {"minimal", "low", "medium", "high"}
# The dummy signature Gemini documents for calls it did not make itself (history from
# another model): without one, Gemini 3 refuses a function call turn.
SKIP_SIGNATURE = "skip_thought_signature_validator"
# Canonical signatures from Gemini carry this tag, so that only Gemini gets them back:
# another provider's signature (Anthropic's, say) means nothing to Gemini and fails there.
_TAG = "gemini:"


def tag(signature: str) -> str:
    """A Gemini thought signature as the canonical model carries it."""
    return _TAG + signature


def untag(signature: str | None) -> str | None:
    """The Gemini signature in a canonical one; None when it came from another provider."""
    if signature is not None and signature.startswith(_TAG):
        return signature[len(_TAG) :]
    return None


def field(raw: dict[str, Any], name: str) -> Any:
    """`raw[name]`, also under its snake_case spelling (Gemini's JSON accepts both)."""
    if name in raw:
        return raw[name]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    return raw.get(snake)


def _camel(raw: dict[str, Any]) -> dict[str, Any]:
    """Keys in camelCase, so that both spellings compare alike."""
    out = {}
    for key, value in raw.items():
        head, *rest = key.split("_")
        out[head + "".join(w[:1].upper() + w[1:] for w in rest)] = value
    return out


def decode_request(body: Any, model: str, *, stream: bool = False) -> ChatRequest:
    """Translate a client's GenerateContentRequest for `model` (from the URL path)."""
    with refusals_are_bad_requests():
        return _decode_request(body, model, stream)


def _decode_request(body: Any, model: str, stream: bool) -> ChatRequest:
    expect(body, dict, "body", "a JSON object")
    body = _camel(body)
    if model.startswith("models/"):
        model = model[len("models/") :]
    if not model:
        raise BadRequest("the URL names no model", param="model")
    contents = expect(body.get("contents"), list, "contents", "an array of contents")
    extra: dict[str, Any] = {k: v for k, v in body.items() if k not in _MODELED}
    system: list[TextPart] = []
    if body.get("systemInstruction") is not None:
        system = _decode_system(body["systemInstruction"])
    tools, hosted_tools = _decode_tools(body.get("tools"))
    tool_choice, config_extra = _decode_tool_config(body.get("toolConfig"))
    if config_extra:
        extra["toolConfig"] = config_extra
    generation = expect(body.get("generationConfig") or {}, dict, "generationConfig", "an object")
    generation = _camel(generation)
    sampling = _decode_sampling(generation)
    response_format = _decode_response_format(generation)
    reasoning, thinking_extra = _decode_thinking(generation.get("thinkingConfig"))
    generation_extra = {k: v for k, v in generation.items() if k not in _GENERATION_MODELED}
    if thinking_extra:
        generation_extra["thinkingConfig"] = thinking_extra
    if generation.get("responseMimeType") and response_format is None:
        generation_extra["responseMimeType"] = generation["responseMimeType"]
    if generation_extra:
        extra["generationConfig"] = generation_extra
    return ChatRequest(
        model=model,
        system=system,
        messages=decode_contents(contents),
        tools=tools,
        tool_choice=tool_choice,
        sampling=sampling,
        reasoning=reasoning,
        response_format=response_format,
        hosted_tools=hosted_tools,
        stream=stream,
        include_usage=True,
        extra={PROTOCOL: extra} if extra else {},
        client_protocol=PROTOCOL,
        client_only=_client_only(extra),
    )


# Kept settings that other backends get in another form (a known thinkingLevel too).
_TRANSLATED = {"thinkingConfig.includeThoughts"}


def _client_only(extra: dict[str, Any]) -> list[str]:
    """What the client sent that only a Gemini backend carries, by the names it used."""
    names: list[str] = []
    for key, value in extra.items():
        if key in ("generationConfig", "toolConfig") and isinstance(value, dict):
            for sub, inner in value.items():
                if sub == "thinkingConfig" and isinstance(inner, dict):
                    names += [
                        f"thinkingConfig.{k}"
                        for k, v in inner.items()
                        if not (k == "thinkingLevel" and str(v).lower() in _LEVELS)
                    ]
                else:
                    names.append(f"{key}.{sub}")
        else:
            names.append(key)
    return [name for name in names if name not in _TRANSLATED]


def _decode_system(raw: Any) -> list[TextPart]:
    if isinstance(raw, str):
        return [TextPart(text=raw)]
    parts = expect(raw, dict, "systemInstruction", "a content object").get("parts") or []
    out = []
    for i, part in enumerate(expect(parts, list, "systemInstruction.parts", "an array")):
        param = f"systemInstruction.parts[{i}]"
        text = expect(part, dict, param, "an object").get("text")
        out.append(TextPart(text=expect(text, str, f"{param}.text", "a string")))
    return out


# --- contents ------------------------------------------------------------------------------


class _Calls:
    """Ids for Gemini's id-less calls, and the pairing of responses with calls by name."""

    def __init__(self) -> None:
        self.pending: dict[str, deque[str]] = defaultdict(deque)
        self.answered: dict[str, int] = defaultdict(int)

    def call(self, name: str, given: Any, where: tuple[int, int]) -> str:
        call_id = given if isinstance(given, str) and given else f"call_{where[0]}_{where[1]}"
        self.pending[name].append(call_id)
        return call_id

    def response(self, name: str, given: Any) -> str:
        if isinstance(given, str) and given:
            if given in self.pending[name]:
                self.pending[name].remove(given)
            return given
        if self.pending[name]:
            return self.pending[name].popleft()
        # A response to no call we saw: still a stable id, unique per name.
        self.answered[name] += 1
        return f"call_{name}_{self.answered[name]}"


def decode_contents(contents: list[Any]) -> list[Message]:
    """Gemini `contents` as canonical messages, function responses as `tool` messages."""
    calls = _Calls()
    messages: list[Message] = []
    for i, raw in enumerate(contents):
        where = f"contents[{i}]"
        expect(raw, dict, where, "an object")
        role = raw.get("role") or "user"
        if role not in ("user", "model", "function"):
            raise BadRequest(
                f"'{where}.role' must be user or model (got {role!r})", param=f"{where}.role"
            )
        parts = expect(raw.get("parts") or [], list, f"{where}.parts", "an array of parts")
        if role == "model":
            messages.append(Message(role="assistant", content=_model_parts(parts, i, calls)))
        else:
            messages.extend(_user_parts(parts, i, calls))
    return messages


def _model_parts(parts: list[Any], i: int, calls: _Calls) -> list[Part]:
    out: list[Part] = []
    for j, raw in enumerate(parts):
        param = f"contents[{i}].parts[{j}]"
        part = _camel(expect(raw, dict, param, "an object"))
        signature = part.get("thoughtSignature")
        if signature == SKIP_SIGNATURE:
            signature = None  # our own stand-in: there is nothing to give back
        if part.get("thought") and isinstance(part.get("text"), str):
            sig = expect(signature, str, param, "a string") if signature is not None else None
            out.append(ReasoningPart(text=part["text"], signature=tag(sig) if sig else None))
            continue
        if signature:
            out.append(ReasoningPart(signature=tag(expect(signature, str, param, "a string"))))
        if "functionCall" in part:
            call = _camel(expect(part["functionCall"], dict, f"{param}.functionCall", "an object"))
            name = expect(call.get("name"), str, f"{param}.functionCall.name", "a string")
            args = expect(call.get("args") or {}, dict, f"{param}.functionCall.args", "an object")
            call_id = calls.call(name, call.get("id"), (i, j))
            out.append(ToolCallPart(id=call_id, name=name, arguments=dumps(args)))
        elif "text" in part:
            out.append(TextPart(text=expect(part["text"], str, f"{param}.text", "a string")))
        else:
            out.extend(_media(part, param))
    return out


def _user_parts(parts: list[Any], i: int, calls: _Calls) -> list[Message]:
    results: list[Message] = []
    content: list[Part] = []
    for j, raw in enumerate(parts):
        param = f"contents[{i}].parts[{j}]"
        part = _camel(expect(raw, dict, param, "an object"))
        if "functionResponse" in part:
            response = expect(
                part["functionResponse"], dict, f"{param}.functionResponse", "an object"
            )
            response = _camel(response)
            name = expect(response.get("name"), str, f"{param}.functionResponse.name", "a string")
            payload = response.get("response") or {}
            expect(payload, dict, f"{param}.functionResponse.response", "an object")
            call_id = calls.response(name, response.get("id"))
            results.append(Message(role="tool", content=[_tool_result(call_id, name, payload)]))
        elif "text" in part:
            content.append(TextPart(text=expect(part["text"], str, f"{param}.text", "a string")))
        else:
            content.extend(_media(part, param))
    if content:
        results.append(Message(role="user", content=content))
    return results


def _tool_result(call_id: str, name: str, payload: dict[str, Any]) -> ToolResultPart:
    keys = set(payload)
    if keys == {"output"} and isinstance(payload["output"], str):
        text, is_error = payload["output"], False
    elif keys == {"error"} and isinstance(payload["error"], str):
        text, is_error = payload["error"], True
    else:
        text, is_error = dumps(payload), False
    return ToolResultPart(
        tool_call_id=call_id, name=name, content=[TextPart(text=text)], is_error=is_error
    )


def _media(part: dict[str, Any], param: str) -> list[Part]:
    if "inlineData" in part:
        blob = _camel(expect(part["inlineData"], dict, f"{param}.inlineData", "an object"))
        data = expect(blob.get("data"), str, f"{param}.inlineData.data", "base64 text")
        mime = expect(blob.get("mimeType"), str, f"{param}.inlineData.mimeType", "a string")
        if not mime.startswith("image/"):  # a PDF, audio, video: Gemini reads it
            return [OpaquePart(protocol=PROTOCOL, data=part)]
        return [ImagePart(data=data, media_type=mime)]
    if "fileData" in part:
        file = _camel(expect(part["fileData"], dict, f"{param}.fileData", "an object"))
        uri = expect(file.get("fileUri"), str, f"{param}.fileData.fileUri", "a string")
        mime = file.get("mimeType")
        if isinstance(mime, str) and not mime.startswith("image/"):
            return [OpaquePart(protocol=PROTOCOL, data=part)]
        return [ImagePart(url=uri, media_type=mime)]
    if "functionCall" in part or "functionResponse" in part:
        raise BadRequest(
            "functionCall parts belong to model turns, functionResponse parts to user turns",
            param=param,
        )
    known = {"thought", "thoughtSignature", "videoMetadata", "mediaResolution"}
    if set(part) <= known:
        return []  # e.g. an empty part that only carried a signature on a user turn
    # executableCode, codeExecutionResult, parts newer than this codec: Gemini only.
    return [OpaquePart(protocol=PROTOCOL, data=part)]


# --- tools and settings --------------------------------------------------------------------


def _lower_types(schema: Any) -> Any:
    """Gemini's OpenAPI-style schema (types like `OBJECT`) as JSON Schema."""
    if isinstance(schema, list):
        return [_lower_types(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _lower_types(sub) for name, sub in value.items()}
        else:
            out[key] = _lower_types(value)
    return out


# Gemini's own web search tools, which other providers' web search can stand for.
_SEARCH_TOOLS = ("googleSearch", "googleSearchRetrieval")


def _decode_tools(raw: Any) -> tuple[list[Tool], list[HostedTool]]:
    tools: list[Tool] = []
    others: list[HostedTool] = []
    for i, entry in enumerate(expect(raw or [], list, "tools", "an array")):
        entry = _camel(expect(entry, dict, f"tools[{i}]", "an object"))
        declarations = entry.pop("functionDeclarations", None)
        for key, value in entry.items():  # googleSearch, codeExecution, urlContext…
            kind = "web_search" if key in _SEARCH_TOOLS else key
            others.append(HostedTool(kind=kind, protocol=PROTOCOL, data={key: value}))
        param = f"tools[{i}].functionDeclarations"
        for j, decl in enumerate(expect(declarations or [], list, param, "an array")):
            where = f"{param}[{j}]"
            decl = _camel(expect(decl, dict, where, "an object"))
            name = expect(decl.get("name"), str, f"{where}.name", "a string")
            if decl.get("parametersJsonSchema") is not None:
                parameters = decl["parametersJsonSchema"]
            elif decl.get("parameters") is not None:
                parameters = _lower_types(decl["parameters"])
            else:
                parameters = {"type": "object", "properties": {}}
            expect(parameters, dict, f"{where}.parameters", "a schema object")
            tools.append(
                Tool(name=name, description=decl.get("description"), parameters=parameters)
            )
    return tools, others


def _decode_tool_config(raw: Any) -> tuple[ToolChoice | None, dict[str, Any]]:
    if raw is None:
        return None, {}
    config = _camel(expect(raw, dict, "toolConfig", "an object"))
    calling = config.pop("functionCallingConfig", None)
    if calling is None:
        return None, config
    calling = _camel(expect(calling, dict, "toolConfig.functionCallingConfig", "an object"))
    mode = str(calling.get("mode") or "AUTO").upper()
    allowed = calling.get("allowedFunctionNames") or []
    expect(allowed, list, "toolConfig.functionCallingConfig.allowedFunctionNames", "an array")
    if mode in ("AUTO", "VALIDATED", "MODE_UNSPECIFIED"):
        return ToolChoice(mode="auto"), config
    if mode == "NONE":
        return ToolChoice(mode="none"), config
    if mode == "ANY":
        if len(allowed) == 1:
            return ToolChoice(mode="tool", name=allowed[0]), config
        if allowed:  # a restriction the canonical choice cannot say; Gemini upstreams keep it
            config["functionCallingConfig"] = {"mode": "ANY", "allowedFunctionNames": allowed}
        return ToolChoice(mode="required"), config
    raise BadRequest(
        f"'toolConfig.functionCallingConfig.mode' must be AUTO, ANY, NONE or VALIDATED "
        f"(got {calling.get('mode')!r})",
        param="toolConfig.functionCallingConfig.mode",
    )


def _decode_sampling(generation: dict[str, Any]) -> Sampling:
    values: dict[str, Any] = {}
    for key, (name, integer, low, high) in _SAMPLING.items():
        if generation.get(key) is not None:
            values[name] = expect_number(
                generation[key],
                f"generationConfig.{key}",
                minimum=low,
                maximum=high,
                integer=integer,
            )
    stop = generation.get("stopSequences")
    if stop is not None:
        expect(stop, list, "generationConfig.stopSequences", "an array of strings")
        values["stop"] = stop
    return Sampling(**values)


def _decode_response_format(generation: dict[str, Any]) -> dict[str, Any] | None:
    mime = generation.get("responseMimeType")
    # Gemini takes OBJECT and STRING for JSON Schema's types too; other providers do not.
    schema = _lower_types(generation.get("responseJsonSchema"))
    if schema is None and generation.get("responseSchema") is not None:
        schema = _lower_types(generation["responseSchema"])
    if schema is not None:
        expect(schema, dict, "generationConfig.responseSchema", "a schema object")
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
    if mime == "application/json":
        return {"type": "json_object"}
    return None


def _decode_thinking(raw: Any) -> tuple[Reasoning | None, dict[str, Any]]:
    if raw is None:
        return None, {}
    config = _camel(expect(raw, dict, "generationConfig.thinkingConfig", "an object"))
    budget = config.pop("thinkingBudget", None)
    level = config.get("thinkingLevel")  # kept: a Gemini upstream gets it back as is
    if budget is not None:
        expect(budget, int, "generationConfig.thinkingConfig.thinkingBudget", "an integer")
    effort = str(level).lower() if level is not None else None
    if effort is not None and effort not in _LEVELS:
        effort = None  # a level newer than this codec: it goes to Gemini upstreams only
    if budget is not None and budget < 0:
        # -1 is Gemini's "dynamic" budget: no limit the other protocols could say, so only
        # a Gemini upstream gets it, as is.
        config["thinkingBudget"] = budget
        budget = None
    if budget is None and effort is None:
        return None, config
    if budget == 0 and effort is None:
        effort = "none"
    return Reasoning(effort=effort, budget_tokens=budget), config  # type: ignore[arg-type]


# --- encoding for a Gemini upstream --------------------------------------------------------


def encode_request(request: ChatRequest, *, dropped: notes.Dropped | None = None) -> dict[str, Any]:
    """The GenerateContentRequest body for `request` (the model goes in the URL); what it
    cannot carry is named in `dropped`. System turns in the conversation join the system
    instruction: Gemini has no other place for instructions."""
    request = offered(request, dropped)
    extra = request.extra.get(PROTOCOL, {})
    body: dict[str, Any] = {"contents": encode_contents(request.messages, dropped)}
    system = [p.text for p in request.system] + [
        text
        for m in request.messages
        if m.role == "system"
        for p in m.content
        if (text := p.text if isinstance(p, TextPart) else _system_text(p, dropped))
    ]
    if system:
        body["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    tools: list[dict[str, Any]] = []
    if request.tools:
        tools.append({"functionDeclarations": [_encode_tool(tool) for tool in request.tools]})
    tools.extend(_encode_hosted(request, dropped))
    if tools:
        body["tools"] = tools
    tool_config = dict(extra.get("toolConfig") or {})
    if request.tool_choice is not None and "functionCallingConfig" not in tool_config:
        tool_config["functionCallingConfig"] = _encode_tool_choice(request.tool_choice)
    if tool_config:
        body["toolConfig"] = tool_config
    generation = _encode_generation(request, extra.get("generationConfig") or {})
    if generation:
        body["generationConfig"] = generation
    body.update({k: v for k, v in extra.items() if k not in _MODELED})
    if request.metadata and dropped is not None:
        dropped.add("metadata")  # generateContent has no place for it
    notes.client_fields(request, PROTOCOL, dropped)
    return body


def _system_text(part: Part, dropped: notes.Dropped | None) -> str | None:
    """What a system turn's non-text part says in the system instruction, which is text."""
    if isinstance(part, OpaquePart):
        return notes.opaque(part, dropped)
    if dropped is not None:
        dropped.add(f"{part.type} in a system turn")
    return None


def _encode_hosted(request: ChatRequest, dropped: notes.Dropped | None) -> list[dict[str, Any]]:
    """A Gemini client's tools verbatim, another's web search as Google Search, unless
    function tools are offered too: generateContent refuses the two together."""
    own, searches, others = hosted.split(request.hosted_tools, PROTOCOL)
    if searches and not request.tools and not any(_SEARCH_TOOLS[0] in tool for tool in own):
        own.append({_SEARCH_TOOLS[0]: {}})
        hosted.unwritten(hosted.web_search_options(searches[0]), set(), dropped)
    elif searches:
        others += searches
    if dropped is not None:
        dropped.add(*(f"{tool.kind} tool" for tool in others))
    return own


def _encode_opaque(part: OpaquePart, dropped: notes.Dropped | None) -> dict[str, Any] | None:
    """A Gemini part back as it came; another protocol's as its text, if it has one."""
    if part.protocol == PROTOCOL:
        return part.data
    text = notes.opaque(part, dropped)
    return {"text": text} if text else None


def encode_contents(
    messages: list[Message], dropped: notes.Dropped | None = None
) -> list[dict[str, Any]]:
    """Canonical messages as Gemini `contents`; consecutive tool results share one user turn."""
    names = {
        part.id: part.name
        for message in messages
        for part in message.content
        if isinstance(part, ToolCallPart)
    }
    contents: list[dict[str, Any]] = []
    previous: str | None = None
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            results = [p for p in message.content if isinstance(p, ToolResultPart)]
            parts = [_encode_result(part, names, dropped) for part in results]
            # A functionResponse carries no images: they follow the responses in the turn.
            images = [
                _encode_media(c) for r in results for c in r.content if isinstance(c, ImagePart)
            ]
            if previous == "tool":
                turn = contents[-1]["parts"]
                answered = sum(1 for p in turn if "functionResponse" in p)
                turn[answered:answered] = parts
                turn.extend(images)
            else:
                contents.append({"role": "user", "parts": parts + images})
        elif message.role == "assistant":
            parts = _encode_model_parts(message.content, dropped)
            contents.append({"role": "model", "parts": parts})
        else:
            parts = [e for p in message.content if (e := _encode_user_part(p, dropped))]
            contents.append({"role": "user", "parts": parts})
        if not contents[-1]["parts"]:
            contents.pop()  # Gemini refuses a turn without parts; it says nothing anyway
            continue
        previous = message.role
    return contents


def _encode_user_part(part: Part, dropped: notes.Dropped | None) -> dict[str, Any] | None:
    if isinstance(part, OpaquePart):
        return _encode_opaque(part, dropped)
    return _encode_media(part)


def _encode_model_parts(content: list[Part], dropped: notes.Dropped | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    pending: str | None = None  # a signature waiting for the part it signs
    called = False
    for i, part in enumerate(content):
        if isinstance(part, OpaquePart):
            if (encoded := _encode_opaque(part, dropped)) is not None:
                out.append(encoded)
            continue
        if isinstance(part, ReasoningPart):
            signature = untag(part.signature)
            following = content[i + 1] if i + 1 < len(content) else None
            # A signature just before a call or text signs that part, as Gemini sent it.
            binds = signature is not None and isinstance(following, TextPart | ToolCallPart)
            if part.text or (signature and not binds):
                thought: dict[str, Any] = {"text": part.text}
                if part.text:
                    thought["thought"] = True
                if signature and not binds:
                    thought["thoughtSignature"] = signature
                out.append(thought)
            if binds:
                pending = signature
            continue
        encoded = _encode_call(part) if isinstance(part, ToolCallPart) else _encode_media(part)
        if isinstance(part, ToolCallPart):
            if pending is None and not called:
                pending = SKIP_SIGNATURE  # a call Gemini did not make: Gemini 3 wants one
            called = True
        if pending is not None:
            encoded["thoughtSignature"] = pending
            pending = None
        out.append(encoded)
    return out


def _encode_call(part: ToolCallPart) -> dict[str, Any]:
    try:
        args = json.loads(part.arguments or "{}")
    except ValueError:
        args = None
    if not isinstance(args, dict):
        # Gemini's args are an object; keep what the client sent rather than drop it.
        args = {"arguments": part.arguments}
    return {"functionCall": {"name": part.name, "args": args}}


def _encode_result(
    part: ToolResultPart, names: dict[str, str], dropped: notes.Dropped | None
) -> dict[str, Any]:
    text = "".join(
        c.text if isinstance(c, TextPart) else (notes.opaque(c, dropped) or "")
        for c in part.content
        if not isinstance(c, ImagePart)
    )
    payload: Any = None
    if not part.is_error:
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
    if not isinstance(payload, dict):
        payload = {"error" if part.is_error else "output": text}
    name = names.get(part.tool_call_id) or part.name or part.tool_call_id
    return {"functionResponse": {"name": name, "response": payload}}


def _encode_media(part: Part) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    if isinstance(part, ImagePart):
        inline = part.inline()
        if inline is not None:
            return {"inlineData": {"mimeType": inline[0] or "image/png", "data": inline[1]}}
        url = part.url or ""
        mime = part.media_type or mimetypes.guess_type(url)[0] or "image/jpeg"
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    if isinstance(part, ToolCallPart):
        return _encode_call(part)
    if isinstance(part, ReasoningPart):
        return {"text": part.text}
    assert isinstance(part, ToolResultPart), "callers leave other protocols' parts out"
    return {"text": "".join(c.text for c in part.content if isinstance(c, TextPart))}


def _encode_tool(tool: Tool) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        declaration["description"] = tool.description
    declaration["parametersJsonSchema"] = tool.parameters
    return declaration


def _encode_tool_choice(choice: ToolChoice) -> dict[str, Any]:
    if choice.mode == "tool":
        return {"mode": "ANY", "allowedFunctionNames": [choice.name]}
    return {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice.mode]}


def _encode_generation(request: ChatRequest, extra: dict[str, Any]) -> dict[str, Any]:
    sampling = request.sampling
    generation: dict[str, Any] = {}
    for key, (name, *_) in _SAMPLING.items():
        value = getattr(sampling, name)
        if value is not None:
            generation[key] = value
    if sampling.stop is not None:
        generation["stopSequences"] = sampling.stop
    fmt = request.response_format or {}
    if fmt.get("type") == "json_object":
        generation["responseMimeType"] = "application/json"
    elif fmt.get("type") == "json_schema":
        generation["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema is not None:
            generation["responseJsonSchema"] = schema
    thinking = dict(extra.get("thinkingConfig") or {})
    reasoning = request.reasoning
    if reasoning is not None:
        if "thinkingLevel" in thinking or "thinkingBudget" in thinking:
            pass  # the client's own setting, for a Gemini upstream
        elif reasoning.budget_tokens is not None:
            thinking["thinkingBudget"] = reasoning.budget_tokens
        elif reasoning.effort is not None:
            # A budget, not a level: Gemini 2.5 knows only budgets, Gemini 3 takes both.
            thinking["thinkingBudget"] = _EFFORT_BUDGET.get(reasoning.effort, -1)
        if thinking.get("thinkingBudget") != 0:
            thinking.setdefault("includeThoughts", True)
    if thinking:
        generation["thinkingConfig"] = thinking
    generation.update({k: v for k, v in extra.items() if k != "thinkingConfig"})
    return generation
