"""Folding OpenAI SDK stream chunks into what a client application would assemble."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field
from typing import Any

from openai.types.chat import ChatCompletionChunk


@dataclass
class AssembledCall:
    """One tool call put together from its deltas."""

    id: str | None = None
    name: str = ""
    arguments: str = ""
    type: str | None = None


@dataclass
class Assembled:
    """A streamed completion put together: text, tool calls by index, finish and usage."""

    chunks: list[ChatCompletionChunk] = field(default_factory=list)
    text: str = ""
    roles: list[str] = field(default_factory=list)
    calls: dict[int, AssembledCall] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Any = None

    def add(self, chunk: ChatCompletionChunk) -> None:
        """Fold one chunk in."""
        self.chunks.append(chunk)
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            if delta.role:
                self.roles.append(delta.role)
            self.text += delta.content or ""
            for call in delta.tool_calls or ():
                slot = self.calls.setdefault(call.index, AssembledCall())
                slot.id = call.id or slot.id
                slot.type = call.type or slot.type
                if call.function is not None:
                    slot.name += call.function.name or ""
                    slot.arguments += call.function.arguments or ""
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason


def assemble(chunks: Iterable[ChatCompletionChunk]) -> Assembled:
    """Read a synchronous SDK stream to its end."""
    out = Assembled()
    for chunk in chunks:
        out.add(chunk)
    return out


async def aassemble(chunks: AsyncIterable[ChatCompletionChunk]) -> Assembled:
    """Read an asynchronous SDK stream to its end."""
    out = Assembled()
    async for chunk in chunks:
        out.add(chunk)
    return out
