"""`vtc`: virtual tool calling. Tool calls a model writes as XML in its text become native
calls for the stages after this one, and go back to the client in the form it reads."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, field_validator

from engine.model import (
    Finish,
    KeepAlive,
    OpaqueBlock,
    ReasoningDelta,
    ResponseStart,
    TextDelta,
    Tool,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from engine.stage import Answer, Event, Exchange, Stage, StrictModel, ToolCallAssembler, stage
from stages.xml_prompt import arguments_for, offered_as_xml
from stages.xml_tools import (
    CLINE_TOOLS,
    Piece,
    Style,
    XmlCall,
    XmlCallParser,
    declared_tool_names,
    is_tag_name,
    to_xml,
)

log = logging.getLogger("engine.stages.vtc")

# Events that may come in the middle of a call's text (a usage chunk on every chunk, a
# text part's signature): they wait behind held text instead of ending the call.
_ALONGSIDE = (Usage, ReasoningDelta, OpaqueBlock, KeepAlive, ResponseStart)

# What Cline, Roo Code and Kilo Code put in User-Agent, X-Title or HTTP-Referer.
CLIENTS = r"(?i)\b(?:cline|roo[ -]?code|roo-cline|kilo[ -]?code)\b"
_CLIENT_HEADERS = ("user-agent", "x-title", "http-referer")


@dataclass
class _Turn:
    """What the stage knows about one exchange: whose XML it reads, and the calls it made."""

    mode: Literal["client", "backend"] | None = None
    decided: bool = False
    names: tuple[str, ...] = ()
    tools: dict[str, Tool] = field(default_factory=dict)  # the client's, for a backend's XML
    made: dict[str, tuple[str, XmlCall]] = field(default_factory=dict)  # id: arguments, call


@stage("vtc")
class VirtualToolCalls(Stage):
    """Virtual tool calling. Cline, Roo Code and Kilo Code (known by their User-Agent,
    X-Title or HTTP-Referer, or by a system prompt that declares tools as tags, with no
    native tools; or every client of a route with `clients: all`) have the model
    write tool calls as XML in its text. This stage reads those calls, in the tool-tag form
    (`<execute_command><command>…</command></execute_command>`, for the known tool names and
    those the client's system prompt declares) and the `<function_calls>` form, as the
    client itself would, anywhere in the text, and turns each into a native tool call, so
    that the stages after it (`tool_safety`, `loop_detection`) judge it; on the way back to
    the client each call becomes its XML again (the model's own text when no stage changed
    it). Text is held back only from a possible call's opening tag until the call is whole.
    With `backend_tools: xml`, for a backend without native tool calling, a client's native
    tools are offered to the model as XML instructions instead, and the calls it writes come
    back to the client as native calls."""

    class Config(StrictModel):
        """Which clients write XML, and what the backend can do."""

        clients: Literal["detect", "all", "none"] = Field(
            default="detect",
            description="which clients write tool calls as XML: those whose headers match "
            "`client_pattern`, every client of the route, or none",
        )
        client_pattern: str = Field(
            default=CLIENTS,
            description="a regular expression found in User-Agent, X-Title or HTTP-Referer "
            "of a client that writes tool calls as XML",
        )
        tools: list[str] = Field(
            default_factory=list,
            description="more tool names written as tags, besides Cline's and Roo Code's "
            "and those the client's system prompt declares",
        )
        backend_tools: Literal["native", "xml"] = Field(
            default="native",
            description="`xml` for a backend without native tool calling: a client's native "
            "tools are offered to it as XML instructions, and its XML calls parsed back",
        )
        max_held_chars: int = Field(
            default=262144,
            ge=1024,
            description="the longest call held back whole; a longer one goes on as text",
        )

        @field_validator("tools")
        @classmethod
        def _tags(cls, names: list[str]) -> list[str]:
            if bad := [name for name in names if not is_tag_name(name)]:
                raise ValueError(f"tool names that cannot be tags: {bad}")
            return names

        @field_validator("client_pattern")
        @classmethod
        def _compiles(cls, pattern: str) -> str:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
            return pattern

    config: Config
    operations = frozenset({"chat", "count_tokens"})  # a count sees the request as sent

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._clients = re.compile(config.client_pattern)
        self._known = (*CLINE_TOOLS, *config.tools)

    async def on_request(self, ctx: Exchange) -> Answer | None:
        """For a backend without native tools: the client's tools as XML instructions."""
        turn = self._turn(ctx)
        if turn.mode == "backend" and ctx.request.tools:
            choice = ctx.request.tool_choice
            if choice is None or choice.mode != "none":  # else no call is read back
                turn.tools = {tool.name: tool for tool in ctx.request.tools}
                turn.names = tuple(name for name in turn.tools if is_tag_name(name))
            ctx.request = offered_as_xml(ctx.request)
        return None

    async def on_events(self, ctx: Exchange, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        """The events with each XML call in the text as a native tool call."""
        turn = self._turn(ctx)
        if turn.mode is None or (turn.mode == "backend" and not turn.tools):
            async for event in events:
                yield event
            return
        parser = XmlCallParser(
            turn.names, max_held_chars=self.config.max_held_chars, lenient=turn.mode == "client"
        )
        made = _Calls(turn)
        waiting: list[Event] = []  # events that came while text was held, in order after it
        async for event in events:
            if type(event) is TextDelta:
                for out in made.events(parser.push(event.text), event.phase):
                    yield out
                if waiting and not parser.holding:
                    for out in waiting:
                        yield out
                    waiting.clear()
                continue
            if isinstance(event, _ALONGSIDE):  # a usage chunk or a signature ends no call
                if parser.holding:
                    waiting.append(event)
                else:
                    yield event
                continue
            for out in (*made.events(parser.flush(), None), *waiting):
                yield out
            waiting.clear()
            if isinstance(event, ToolCallStart):
                made.next_index = max(made.next_index, event.index + 1)
            elif type(event) is Finish and made.count and event.reason == "stop":
                event = Finish(reason="tool_calls")
            yield event
        for out in (*made.events(parser.flush(), None), *waiting):
            yield out

    async def on_client_events(
        self, ctx: Exchange, events: AsyncIterator[Event]
    ) -> AsyncIterator[Event]:
        """For a client that reads XML: every tool call as its XML in the text."""
        turn = self._turn(ctx)  # this generator starts before the one it reads
        if turn.mode != "client":
            async for event in events:
                yield event
            return
        calls = ToolCallAssembler()
        async for event in events:
            if isinstance(event, ToolCallStart | ToolCallDelta | ToolCallEnd):
                call = calls.feed(event)
                if call is not None:
                    yield TextDelta(text=_as_xml(turn, call.id, call.name, call.arguments))
                continue
            if type(event) is Finish:
                for call in calls.end_all():
                    yield TextDelta(text=_as_xml(turn, call.id, call.name, call.arguments))
                if event.reason == "tool_calls":  # the client reads its calls from the text
                    event = Finish(reason="stop")
            yield event

    def _turn(self, ctx: Exchange) -> _Turn:
        """This exchange's mode, decided once (by whichever hook runs first)."""
        turn = ctx.local(_Turn)
        if turn.decided:
            return turn
        turn.decided = True
        if ctx.request.tools:  # a client with native tools writes no XML
            if self.config.backend_tools == "xml":
                turn.mode = "backend"
        elif self._writes_xml(ctx):
            turn.mode = "client"
            turn.names = self._names(ctx)
        return turn

    def _writes_xml(self, ctx: Exchange) -> bool:
        """Whether the client writes tool calls as XML: by its headers, or a system prompt
        that declares tools as tags."""
        if self.config.clients != "detect":
            return self.config.clients == "all"
        headers = ctx.headers
        if any(self._clients.search(headers.get(name, "")) for name in _CLIENT_HEADERS):
            return True
        return bool(self._declared(ctx))

    def _names(self, ctx: Exchange) -> tuple[str, ...]:
        """The tool names read as tags: the known ones and those the system prompt declares."""
        return tuple(dict.fromkeys((*self._known, *self._declared(ctx))))

    def _declared(self, ctx: Exchange) -> tuple[str, ...]:
        """The tool names the system prompt declares as tags."""
        return declared_tool_names("\n".join(part.text for part in ctx.request.system))


class _Calls:
    """The XML calls of one response, as native tool-call events."""

    def __init__(self, turn: _Turn) -> None:
        self.turn = turn
        self.count = 0
        self.next_index = 0

    def events(self, pieces: list[Piece], phase: str | None) -> Iterator[Event]:
        for piece in pieces:
            if not isinstance(piece, str):
                yield from self._native(piece)
            elif self.count and self.turn.mode == "backend":
                continue  # after its calls a model without tools writes imagined results
            else:
                yield TextDelta(text=piece, phase=phase)
                phase = None

    def _native(self, call: XmlCall) -> Iterator[Event]:
        turn = self.turn
        if turn.mode == "backend":
            if call.name not in turn.tools:  # not a tool it was offered: leave it text
                yield TextDelta(text=call.raw)
                return
            values = arguments_for(turn.tools[call.name], call.arguments)
        else:
            values = dict(call.arguments)
        arguments = json.dumps(values, ensure_ascii=False)
        call_id = f"call_{uuid.uuid4().hex[:24]}"
        turn.made[call_id] = (arguments, call)
        index, self.next_index = self.next_index, self.next_index + 1
        self.count += 1
        if not call.complete:
            log.info("vtc: the reply ended inside a call to %s; judged as it was", call.name)
        yield ToolCallStart(index=index, id=call_id, name=call.name)
        yield ToolCallDelta(index=index, arguments=arguments)
        yield ToolCallEnd(index=index)


def _as_xml(turn: _Turn, call_id: str, name: str, arguments: str) -> str:
    """A call as its client's XML: the model's own text when no stage changed it."""
    made = turn.made.get(call_id)
    if made is not None and made[0] == arguments and made[1].name == name:
        return made[1].raw
    style: Style = made[1].style if made is not None else "tool_tag"
    try:
        values = json.loads(arguments or "{}")
    except ValueError:
        values = {"arguments": arguments}
    if not isinstance(values, dict):
        values = {"arguments": values}
    try:
        return "\n" + to_xml(name, values, style) + "\n"
    except ValueError:  # names that cannot be tags
        return "\n" + to_xml(name, values, "invoke") + "\n"


__all__ = ["CLIENTS", "VirtualToolCalls"]
