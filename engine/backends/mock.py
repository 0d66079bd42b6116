"""The built-in offline backend: answers from the request itself, streaming and tool calls too.

* The last message is a tool result: it answers ``Tool NAME returned: CONTENT``.
* A line of the user's text is ``call TOOL {json}`` and TOOL is an offered tool: it calls
  that tool with those arguments (``{}`` when none are given); several ``call`` lines make
  parallel calls.
* Otherwise it echoes: ``You said: TEXT`` (or its configured `reply`).

The user's text is what the user typed, not what an agent wraps around it: coding agents
send their context (``<system-reminder>…``, ``<environment_context>…``) as parts or turns
of their own beside the prompt, and those are passed over.

Text is streamed a word at a time; usage counts are rough (four characters a token).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncGenerator, Iterator
from typing import Literal

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
        text = "" if calls else self._reply_text(request)
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
        last = request.messages[-1] if request.messages else None
        if not request.tools or last is None or last.role != "user":
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
        last = request.messages[-1] if request.messages else None
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
    """The text parts the user typed in the last user turns (those after the last answer
    or tool result), without the context an agent wraps around them."""
    turns: list[Message] = []
    for message in reversed(request.messages):
        if message.role in ("assistant", "tool"):
            break
        if message.role == "user":
            turns.insert(0, message)
    texts = [p.text for m in turns for p in m.content if isinstance(p, TextPart) and p.text]
    typed = [text for text in texts if not _WRAPPED.match(text)]
    return typed or texts[-1:]
