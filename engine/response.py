"""A whole response, collected from the event stream, and the stream replayed from it."""

from __future__ import annotations

from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
)
from contextvars import ContextVar
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from engine.errors import ProxyError
from engine.model import (
    Bundle,
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


@dataclass(slots=True)
class _Text:
    """A text part still arriving: its pieces, joined once when it is built."""

    phase: str | None
    pieces: list[str] = field(default_factory=list)

    def build(self) -> TextPart:
        return TextPart(text="".join(self.pieces), phase=self.phase)


@dataclass(slots=True)
class _Reasoning:
    """A reasoning part still arriving."""

    redacted: bool
    signature: str | None = None
    id: str | None = None
    pieces: list[str] = field(default_factory=list)

    def build(self) -> ReasoningPart:
        text, signature = "".join(self.pieces), self.signature
        return ReasoningPart(text=text, signature=signature, redacted=self.redacted, id=self.id)


@dataclass(slots=True)
class _Call:
    """A tool call still arriving: its pieces of arguments."""

    id: str
    name: str
    ended: bool = False
    pieces: list[str] = field(default_factory=list)

    def build(self) -> ToolCallPart:
        arguments = "".join(self.pieces)
        if self.ended and not arguments:
            arguments = "{}"  # a complete call without arguments takes none
        return ToolCallPart(id=self.id, name=self.name, arguments=arguments)


class Collector:
    """Folds events into a ChatResponse; an ErrorEvent raises ProxyError.

    Parts are immutable, so the collector gathers each one's pieces and builds the parts,
    and the response, when `response` is read.
    """

    __slots__ = ("_calls", "_content", "created", "finish_reason", "id", "model", "usage")

    def __init__(self) -> None:
        self.id = self.model = ""
        self.created = 0
        self.usage: Usage | None = None
        self.finish_reason: FinishReason = "stop"
        self._content: list[_Text | _Reasoning | _Call | OpaquePart] = []
        self._calls: dict[int, _Call] = {}

    @property
    def response(self) -> ChatResponse:
        """The response so far."""
        return ChatResponse(
            id=self.id,
            model=self.model,
            created=self.created,
            content=[p if isinstance(p, OpaquePart) else p.build() for p in self._content],
            finish_reason=self.finish_reason,
            usage=self.usage,
        )

    def add(self, event: Event) -> None:
        """Fold one event in."""
        content = self._content
        last = content[-1] if content else None
        match event:
            case ResponseStart():
                self.id, self.model, self.created = event.id, event.model, event.created
            case TextDelta():
                if not isinstance(last, _Text) or event.phase not in (None, last.phase):
                    last = _Text(event.phase)
                    content.append(last)
                last.pieces.append(event.text)
            case ReasoningDelta():
                # A signed or redacted part is complete: what follows is another block;
                # so is a delta of another reasoning item.
                if (
                    not isinstance(last, _Reasoning)
                    or last.signature
                    or last.redacted
                    or (event.id is not None and last.id not in (None, event.id))
                ):
                    last = _Reasoning(event.redacted)
                    content.append(last)
                last.pieces.append(event.text)
                if event.signature:
                    last.signature = event.signature
                if event.id:
                    last.id = event.id
            case ToolCallStart():
                call = self._calls[event.index] = _Call(event.id, event.name)
                content.append(call)
            case ToolCallDelta():
                self._calls[event.index].pieces.append(event.arguments)
            case ToolCallEnd():
                self._calls[event.index].ended = True
            case Usage():
                self.usage = event
            case Finish():
                self.finish_reason = event.reason
            case OpaqueBlock():
                content.append(OpaquePart(protocol=event.protocol, data=event.data))
            case ErrorEvent():
                raise ProxyError(event.status, event.message, code=event.code)


async def collect(events: AsyncIterable[Event]) -> ChatResponse:
    """Drain an event stream into one ChatResponse."""
    collector = Collector()
    async for event in events:
        if isinstance(event, Bundle):
            for carried in event.events:
                collector.add(carried)
        else:
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


async def aclose(events: AsyncIterator[Event]) -> None:
    """Close an event iterator now, so that a backend's call ends when its reader stops.

    `async for` does not close what it iterates when the loop is left early; without this
    the upstream response would stay open until the garbage collector finalizes it.
    """
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()


# Set while the executor starts a stream that no stage reads: the front-end it goes
# straight to. A connector may then hand the events of each piece of the upstream's body
# on together, as one `Bundle`, and one whose upstream speaks that front-end's protocol
# (`Backend.relays`) its messages as they came (`Relayed`).
direct_to: ContextVar[str | None] = ContextVar("direct_to", default=None)


class Prefetched:
    """A stream whose first event was read already: `first`, then `rest`; `close` runs
    when it is closed (its readers close what they read, as `aclose` says).

    Each event after the first is `rest`'s own step, handed over as is: a stream passes
    through the strategy and the executor, each of which read its first event, at no cost
    per event.
    """

    __slots__ = ("_close", "_first", "_rest")

    def __init__(
        self, first: Event, rest: AsyncIterator[Event], close: Callable[[], Awaitable[None]]
    ) -> None:
        self._first: Event | None = first
        self._rest = rest
        self._close: Callable[[], Awaitable[None]] | None = close

    def __aiter__(self) -> Prefetched:
        return self

    def __anext__(self) -> Awaitable[Event]:
        first, self._first = self._first, None
        return _ready(first) if first is not None else self._rest.__anext__()

    async def aclose(self) -> None:
        """Close `rest`, then run `close` (once)."""
        close, self._close = self._close, None
        self._first = None
        await aclose(self._rest)
        if close is not None:
            await close()


async def _ready(event: Event) -> Event:
    return event


def with_first(
    first: Event, rest: AsyncIterator[Event], close: Callable[[], Awaitable[None]]
) -> Prefetched:
    """`first`, then `rest` (see `Prefetched`). A `rest` that is itself one whose first
    event was read is looked through: its steps are handed over, its close runs first."""
    if isinstance(rest, Prefetched) and rest._first is None:
        inner = rest

        async def close_both() -> None:
            try:
                await inner.aclose()
            finally:
                await close()

        return Prefetched(first, inner._rest, close_both)
    return Prefetched(first, rest, close)
