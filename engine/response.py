"""A whole response, collected from the event stream, and the stream replayed from it."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable

from pydantic import BaseModel, Field

from engine.errors import ProxyError
from engine.model import (
    ErrorEvent,
    Event,
    Finish,
    FinishReason,
    OpaqueBlock,
    OpaquePart,
    ReasoningDelta,
    ReasoningPart,
    ResponseStart,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    Usage,
)


class ChatResponse(BaseModel):
    """A complete assistant turn: what a non-streaming client receives."""

    id: str = ""
    model: str = ""
    created: int = 0
    content: list[TextPart | ReasoningPart | ToolCallPart | OpaquePart] = Field(
        default_factory=list
    )
    finish_reason: FinishReason = "stop"
    usage: Usage | None = None

    @property
    def text(self) -> str:
        """All text parts joined."""
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def tool_calls(self) -> list[ToolCallPart]:
        """The tool calls, in order."""
        return [p for p in self.content if isinstance(p, ToolCallPart)]


class Collector:
    """Folds events into a ChatResponse; an ErrorEvent raises ProxyError."""

    def __init__(self) -> None:
        self.response = ChatResponse()
        self._calls: dict[int, ToolCallPart] = {}

    def add(self, event: Event) -> None:
        """Fold one event in."""
        content = self.response.content
        match event:
            case ResponseStart():
                self.response.id, self.response.model = event.id, event.model
                self.response.created = event.created
            case TextDelta():
                last = content[-1] if content else None
                if isinstance(last, TextPart) and event.phase in (None, last.phase):
                    last.text += event.text
                else:
                    content.append(TextPart(text=event.text, phase=event.phase))
            case ReasoningDelta():
                last = content[-1] if content else None
                # A signed or redacted part is complete: what follows is another block;
                # so is a delta of another reasoning item.
                if (
                    not isinstance(last, ReasoningPart)
                    or last.signature
                    or last.redacted
                    or (event.id is not None and last.id not in (None, event.id))
                ):
                    content.append(ReasoningPart(redacted=event.redacted))
                part = content[-1]
                assert isinstance(part, ReasoningPart)
                part.text += event.text
                if event.signature:
                    part.signature = event.signature
                if event.id:
                    part.id = event.id
            case ToolCallStart():
                call = ToolCallPart(id=event.id, name=event.name, arguments="")
                self._calls[event.index] = call
                content.append(call)
            case ToolCallDelta():
                self._calls[event.index].arguments += event.arguments
            case ToolCallEnd():
                call = self._calls[event.index]
                call.arguments = call.arguments or "{}"
            case Usage():
                self.response.usage = event
            case Finish():
                self.response.finish_reason = event.reason
            case OpaqueBlock():
                content.append(OpaquePart(protocol=event.protocol, data=event.data))
            case ErrorEvent():
                raise ProxyError(event.status, event.message, code=event.code)


async def collect(events: AsyncIterable[Event]) -> ChatResponse:
    """Drain an event stream into one ChatResponse."""
    collector = Collector()
    async for event in events:
        collector.add(event)
    return collector.response


def replay(response: ChatResponse) -> Iterable[Event]:
    """The event stream that a ChatResponse was collected from."""
    yield ResponseStart(id=response.id, model=response.model, created=response.created)
    index = 0
    for part in response.content:
        if isinstance(part, TextPart):
            yield TextDelta(text=part.text, phase=part.phase)
        elif isinstance(part, OpaquePart):
            yield OpaqueBlock(protocol=part.protocol, data=part.data)
        elif isinstance(part, ReasoningPart):
            yield ReasoningDelta(
                text=part.text, signature=part.signature, redacted=part.redacted, id=part.id
            )
        else:
            yield ToolCallStart(index=index, id=part.id, name=part.name)
            yield ToolCallDelta(index=index, arguments=part.arguments)
            yield ToolCallEnd(index=index)
            index += 1
    if response.usage is not None:
        yield response.usage
    yield Finish(reason=response.finish_reason)


async def aiter_events(events: Iterable[Event]) -> AsyncIterator[Event]:
    """An async iterator over a ready list of events."""
    for event in events:
        yield event
