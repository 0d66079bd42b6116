"""A request with native tools, rewritten for a backend that has none: the tools offered as
instructions to write calls as XML, and the conversation's calls and results as text."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from engine.model import (
    ChatRequest,
    ImagePart,
    Message,
    Part,
    TextPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)
from stages.xml_tools import invokes_xml

# The end of a block of calls: the backend stops there, and the result comes next turn.
CALLS_END = "</function_calls>"
_MAX_STOPS = 4  # OpenAI's limit on stop sequences, the strictest of the providers

_HOW = """\
In this environment you can call tools. To call one, write a block like this, on lines of \
its own, and end your reply there: the result comes in the next message.

<function_calls>
<invoke name="TOOL_NAME">
<parameter name="PARAMETER_NAME">value</parameter>
</invoke>
</function_calls>

Several calls may go in one block, one <invoke> each. Write string values as they are, \
other values as JSON. Never write a result yourself. These are the tools, with their \
parameters as JSON Schema:"""


def offered_as_xml(request: ChatRequest) -> ChatRequest:
    """`request` for a backend without native tools: its tools described in the system
    prompt (none when the client said `tool_choice: none`), its earlier calls and results
    written out as text, and a stop at the end of a block of calls."""
    choice = request.tool_choice
    system = list(request.system)
    if choice is None or choice.mode != "none":
        system.append(TextPart(text=_instructions(request.tools, choice)))
    stop = list(request.sampling.stop or [])
    if CALLS_END not in stop and len(stop) < _MAX_STOPS:
        stop.append(CALLS_END)
    return request.model_copy(
        update={
            "system": system,
            "messages": _as_text(request.messages),
            "tools": [],
            "tool_choice": None,
            "parallel_tool_calls": None,
            "sampling": request.sampling.model_copy(update={"stop": stop}),
        }
    )


def _instructions(tools: Iterable[Tool], choice: ToolChoice | None) -> str:
    sections = [_HOW]
    for tool in tools:
        lines = [f"## {tool.name}"]
        if tool.description:
            lines.append(tool.description.strip())
        lines.append("Parameters: " + json.dumps(tool.parameters, ensure_ascii=False))
        sections.append("\n".join(lines))
    if choice is not None and choice.mode == "required":
        sections.append("Call at least one tool in this reply.")
    elif choice is not None and choice.mode == "tool":
        sections.append(f"Call the tool `{choice.name}` in this reply.")
    return "\n\n".join(sections)


def _as_text(messages: list[Message]) -> list[Message]:
    """The conversation with tool calls and results as text; turns of one role in a row
    merged, since a result's `tool` turn becomes a user's."""
    names = {
        part.id: part.name
        for message in messages
        for part in message.content
        if isinstance(part, ToolCallPart)
    }
    out: list[Message] = []
    for message in messages:
        parts = _parts_as_text(message.content, names)
        role = "user" if message.role == "tool" else message.role
        if out and out[-1].role == role and role != "system":
            out[-1] = out[-1].model_copy(update={"content": [*out[-1].content, *parts]})
        else:
            out.append(message.model_copy(update={"role": role, "content": parts}))
    return out


def _parts_as_text(content: list[Part], names: Mapping[str, str]) -> list[Part]:
    """A turn's parts with each run of tool calls as one block of invokes (on lines of its
    own after text) and each result as a `<function_results>` block."""
    out: list[Part] = []
    calls: list[ToolCallPart] = []
    for part in [*content, None]:
        if isinstance(part, ToolCallPart):
            calls.append(part)
            continue
        if calls:
            block = invokes_xml((call.name, _arguments(call.arguments)) for call in calls)
            out.append(TextPart(text=f"\n\n{block}" if out else block))
            calls = []
        if isinstance(part, ToolResultPart):
            out.extend(_result_as_text(part, names))
        elif part is not None:
            out.append(part)
    return out


def _result_as_text(part: ToolResultPart, names: Mapping[str, str]) -> list[Part]:
    tag = "error" if part.is_error else "result"
    tool = part.name or names.get(part.tool_call_id)
    name = f' tool="{tool}"' if tool else ""
    images: list[Part] = [p for p in part.content if isinstance(p, ImagePart)]
    text = f"<function_results>\n<{tag}{name}>\n{part.text()}\n</{tag}>\n</function_results>"
    return [TextPart(text=text), *images]


def _arguments(arguments: str) -> Mapping[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"arguments": value}


def arguments_for(tool: Tool | None, values: Mapping[str, str]) -> dict[str, Any]:
    """A call's XML parameter texts as the tool's JSON arguments: a text stays a string
    where the schema allows one (or says nothing), and is read as JSON otherwise (when it
    is valid JSON)."""
    properties = (tool.parameters.get("properties") or {}) if tool is not None else {}
    out: dict[str, Any] = {}
    for name, text in values.items():
        schema = properties.get(name) if isinstance(properties, dict) else None
        types = _types(schema) if isinstance(schema, dict) else set()
        out[name] = text if not types or "string" in types else _json_or_text(text)
    return out


def _types(schema: dict[str, Any]) -> set[str]:
    """The JSON types a schema allows, from `type` (a name or a list) and its `anyOf` /
    `oneOf` branches (`Optional[int]`); empty when it does not say."""
    given = schema.get("type")
    types = {given} if isinstance(given, str) else set(given) if isinstance(given, list) else set()
    for key in ("anyOf", "oneOf"):
        for branch in schema.get(key) or ():
            if isinstance(branch, dict):
                types |= _types(branch) or {"string"}  # a branch that does not say: anything
    if "enum" in schema and not types:  # what matters is whether a string is allowed
        types = {"string" if isinstance(value, str) else "constant" for value in schema["enum"]}
    return types


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


__all__ = ["CALLS_END", "arguments_for", "offered_as_xml"]
