"""The built-in offline backend: answers from the request itself, streaming and tool calls too.

* The last message is a tool result: it answers ``Tool NAME returned: CONTENT``.
* A line of the user's text is ``call TOOL {json}`` and TOOL is an offered tool: it calls
  that tool with those arguments (``{}`` when none are given); several ``call`` lines make
  parallel calls.
* Otherwise it echoes: ``You said: TEXT`` (or its configured `reply`).
* Asked for structured output (JSON mode or a JSON schema), it answers JSON: a small value
  that fits the schema, its strings saying the reply, its numbers 1 or their minimum
  (Gemini CLI's model router and Claude Code's session titles ask for it).

The user's text is what the user typed, not what an agent wraps around it: coding agents
send their context (``<system-reminder>…``, ``<environment_context>…``) as parts or turns
of their own beside the prompt, and those are passed over.

Text is streamed a word at a time; usage counts are rough (four characters a token).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncGenerator, Iterator
from typing import Any, Literal

import httpx
from pydantic import Field

from engine.backends.base import Backend, BackendConfig
from engine.model import (
    ChatRequest,
    Event,
    Finish,
    Message,
    ResponseStart,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolResultPart,
    Usage,
)
from engine.notes import Dropped

_CALL = re.compile(r"^\s*call\s+([\w.-]+)\s*(\{.*\})?\s*$", re.MULTILINE)
# A part that is one tagged block, as agents wrap the context they add.
_WRAPPED = re.compile(r"^\s*<([A-Za-z][\w-]*)[^>]*>.*</\1>\s*$", re.DOTALL)


class MockConfig(BackendConfig):
    """The offline mock backend."""

    kind: Literal["mock"] = Field(default="mock", description="the built-in offline backend")
    models: list[str] = Field(
        default_factory=lambda: ["mock-1"], description="model names to list in `GET /v1/models`"
    )
    reply: str | None = Field(default=None, description="a fixed reply instead of the echo")
    chunk_delay_secs: float = Field(default=0.0, ge=0, description="pause between streamed chunks")


class MockBackend(Backend):
    """Answers offline; see the module docstring for what it says."""

    kind = "mock"
    Config = MockConfig
    config: MockConfig

    async def send(
        self,
        request: ChatRequest,
        model: str,
        http: httpx.AsyncClient,
        dropped: Dropped | None = None,
    ) -> AsyncGenerator[Event, None]:
        """The scripted answer as events, a word per text event."""
        for event in self.answer(request, model):
            if self.config.chunk_delay_secs and request.stream:
                await asyncio.sleep(self.config.chunk_delay_secs)
            yield event

    def answer(self, request: ChatRequest, model: str) -> Iterator[Event]:
        """The events of the answer to `request`."""
        yield ResponseStart(id=f"mock-{uuid.uuid4().hex[:12]}", model=model)
        calls = self._tool_calls(request)
        text = "" if calls else _structured(request.response_format, self._reply_text(request))
        for word in re.findall(r"\S+\s*", text):
            yield TextDelta(text=word)
        for index, (name, arguments) in enumerate(calls):
            yield ToolCallStart(index=index, id=f"call_{uuid.uuid4().hex[:12]}", name=name)
            yield ToolCallDelta(index=index, arguments=arguments)
            yield ToolCallEnd(index=index)
        prompt = sum(len(m.text()) for m in request.messages) + sum(
            len(p.text) for p in request.system
        )
        output = len(text) + sum(len(a) for _, a in calls)
        yield Usage(input_tokens=max(1, prompt // 4), output_tokens=max(1, output // 4))
        yield Finish(reason="tool_calls" if calls else "stop")

    def _tool_calls(self, request: ChatRequest) -> list[tuple[str, str]]:
        if not request.tools:
            return []
        offered = {tool.name for tool in request.tools}
        return [
            (name, args or "{}")
            for text in _typed(request)
            for name, args in _CALL.findall(text)
            if name in offered
        ]

    def _reply_text(self, request: ChatRequest) -> str:
        if self.config.reply is not None:
            return self.config.reply
        turns = [m for m in request.messages if m.role != "system"]
        last = turns[-1] if turns else None
        if last is not None and last.role == "tool":
            results = [p for p in last.content if isinstance(p, ToolResultPart)]
            return " ".join(
                f"Tool {r.name or r.tool_call_id} returned: "
                + "".join(c.text for c in r.content if isinstance(c, TextPart))
                for r in results
            )
        typed = _typed(request)
        return f"You said: {typed[-1]}" if typed else "Hello from the mock backend."


def _typed(request: ChatRequest) -> list[str]:
    """The text parts the user typed in the last user turns (none when an answer or a
    tool result came after them), without the context an agent wraps around them."""
    turns: list[Message] = []
    for message in reversed(request.messages):
        if message.role in ("assistant", "tool"):
            break
        if message.role == "user":
            turns.insert(0, message)
    texts = [p.text for m in turns for p in m.content if isinstance(p, TextPart) and p.text]
    typed = [text for text in texts if not _WRAPPED.match(text)]
    return typed or texts[-1:]


def _structured(response_format: dict[str, Any] | None, text: str) -> str:
    """`text`, or a JSON value carrying it when the request asks for JSON output."""
    kind = (response_format or {}).get("type")
    if kind == "json_object":
        return json.dumps({"reply": text})
    if kind == "json_schema":
        spec = (response_format or {}).get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return json.dumps(example(schema if isinstance(schema, dict) else {}, text))
    return text


MAX_ITEMS = 3  # an array's example has at most this many items, whatever minItems says


def example(schema: Any, text: str, depth: int = 0, root: Any = None) -> Any:
    """The smallest value that fits a JSON schema, its strings being `text` (local
    `$ref`s are followed; a boolean or unreadable schema takes the text)."""
    root = schema if root is None else root
    if depth > 20 or not isinstance(schema, dict):
        return None if depth > 20 else text

    def sub(inner: Any) -> Any:
        return example(inner, text, depth + 1, root)

    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        return sub(_resolve(root, ref))
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return sub(schema[key][0])
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    kind = str(kind).lower()  # Gemini's clients write OBJECT, STRING…
    if kind == "object":
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = schema.get("required")
        names = required if isinstance(required, list) else list(properties)
        return {name: sub(properties.get(name, {})) for name in names if isinstance(name, str)}
    if kind == "array":
        least = schema.get("minItems")
        count = min(least, MAX_ITEMS) if isinstance(least, int) and least > 0 else 0
        return [sub(schema.get("items", {})) for _ in range(count)]
    if kind in ("integer", "number"):  # 1 unless the schema says: scores rarely start at 0
        least, most = schema.get("minimum"), schema.get("maximum")
        if isinstance(least, int | float):
            return least
        return min(1, most) if isinstance(most, int | float) else 1
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return text


def _resolve(root: Any, ref: str) -> Any:
    """What a local reference (`#/$defs/Step`) points to in `root`, or None."""
    node = root
    for key in ref[2:].split("/"):
        key = key.replace("~1", "/").replace("~0", "~")
        node = node.get(key) if isinstance(node, dict) else None
    return node
