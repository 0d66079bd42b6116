"""`loop_detection`: a model repeating itself, in its text or in its tool calls, is stopped."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import AsyncIterator

from pydantic import Field

from engine.model import ChatRequest, Message, TextDelta, TextPart, ToolCallPart, ToolResultPart
from engine.response import ChatResponse
from engine.sessions import switch
from engine.stage import Answer, Event, Exchange, Stage, StreamCutter, StrictModel, stage
from stages.loops import CallLoop, ContentLoopDetector, repeated_calls
from stages.xml_tools import CLINE_TOOLS, XmlCall, XmlCallParser, declared_tool_names

log = logging.getLogger("engine.stages.loop_detection")


@stage("loop_detection")
class LoopDetection(Stage):
    """Stops loops an unattended agent can spend hours in. In a streamed reply: a passage
    said over and over (outside fenced code) ends the reply cleanly, in the client's
    protocol, with a short notice, and the upstream request is cancelled. Across turns:
    the same tool call (name and arguments, compared as canonical JSON; native, or written
    as XML for a client whose system prompt declares its tools as tags, as Cline's does), or
    two calls in turn, made `call_threshold` times in a row, first gets the model a note that it is
    repeating itself; one more repeat is answered by the proxy, saying so, without asking
    the model. `!/set(loop-detection=off)` turns it off for a session."""

    class Config(StrictModel):
        """The thresholds."""

        content: bool = Field(default=True, description="watch the reply's text")
        chunk_size: int = Field(default=50, ge=8, description="characters compared at a time")
        repeats: int = Field(default=8, ge=2, description="repeats of a passage that are a loop")
        max_spacing: int = Field(
            default=500, ge=1, description="most characters from one repeat to the next"
        )
        min_text: int = Field(default=1000, ge=0, description="characters before any action")
        tool_calls: bool = Field(default=True, description="watch the conversation's tool calls")
        call_threshold: int = Field(
            default=3, ge=2, description="identical calls in a row before the model is told"
        )
        same_result: bool = Field(
            default=False, description="count a repeat only when the tool's result was the same"
        )

    config: Config
    operations = frozenset({"chat"})

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.found: Counter[str] = Counter()  # loops found since the graph was loaded, by kind

    def counters(self) -> dict[str, Counter[str]]:
        """Loops found, by kind."""
        return {"found": self.found}

    async def on_request(self, ctx: Exchange) -> Answer | None:
        """Steer a model that repeats a tool call; answer for it when it goes on."""
        if not self.config.tool_calls or switch(ctx.session, "loop-detection") is False:
            return None
        loop = repeated_calls(
            _calls(ctx.request, recent=2 * self.config.call_threshold + 2),
            threshold=self.config.call_threshold,
            same_result=self.config.same_result,
        )
        if loop is None:
            return None
        if loop.repeats > self.config.call_threshold:  # it was told, and went on
            self.found["tool-call-refused"] += 1
            log.warning(
                "route %s: refused a %s loop (%d calls)", ctx.route, loop.name, loop.repeats
            )
            return Answer(
                ChatResponse(model=ctx.request.model, content=[TextPart(text=_refusal(loop))])
            )
        self.found["tool-call-steered"] += 1
        log.info("route %s: told the model it repeats %s", ctx.route, loop.name)
        note = Message(role="system", content=[TextPart(text=_steer(loop))])
        ctx.request = ctx.request.model_copy(update={"messages": [*ctx.request.messages, note]})
        return None

    async def on_events(self, ctx: Exchange, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        """The events, until the text loops: then a clean end with a notice."""
        if not self.config.content or switch(ctx.session, "loop-detection") is False:
            async for event in events:
                yield event
            return
        detector = ContentLoopDetector(
            chunk_size=self.config.chunk_size,
            repeats=self.config.repeats,
            max_spacing=self.config.max_spacing,
            min_text=self.config.min_text,
        )
        stream = StreamCutter(events)
        async for item in stream.events():
            if type(item) is TextDelta and (loop := detector.feed(item.text)) is not None:
                self.found["content"] += 1
                log.warning(
                    "route %s: the reply repeats a passage %d times; stopped",
                    ctx.route,
                    loop.repeats,
                )
                notice = (
                    "\n\n[proxy: the reply was stopped because it kept repeating the same "
                    f"passage ({loop.repeats} times).]"
                )
                for event in stream.cut("stop", notice=notice):
                    yield event
                return
            yield item


Calls = list[tuple[str, str, str | None]]  # name, arguments, the result's text


def _calls(request: ChatRequest, *, recent: int) -> Calls:
    """The conversation's tool calls in order: native ones, or for a client whose system
    prompt declares tools as tags (Cline, Roo Code) the `recent` last calls its model
    wrote as XML."""
    messages = request.messages
    results = {
        part.tool_call_id: part.text()
        for message in messages
        for part in message.content
        if isinstance(part, ToolResultPart)
    }
    native = [
        (part.name, part.arguments, results.get(part.id))
        for message in messages
        if message.role == "assistant"
        for part in message.content
        if isinstance(part, ToolCallPart)
    ]
    if native or request.tools:
        return native
    declared = declared_tool_names("\n".join(part.text for part in request.system))
    return _xml_calls(messages, (*CLINE_TOOLS, *declared), recent) if declared else []


def _xml_calls(messages: list[Message], names: tuple[str, ...], recent: int) -> Calls:
    """The last `recent` calls written as XML in assistant turns, each with the text of the
    user turn after it (where these clients put the result)."""
    found: Calls = []
    for at in range(len(messages) - 1, -1, -1):
        if messages[at].role != "assistant":
            continue
        parser = XmlCallParser(names, lenient=True)
        pieces = [*parser.push(messages[at].text()), *parser.flush()]
        after = messages[at + 1].text() if at + 1 < len(messages) else None
        calls = [
            (piece.name, json.dumps(piece.arguments, sort_keys=True), after)
            for piece in pieces
            if isinstance(piece, XmlCall)
        ]
        found[:0] = calls
        if len(found) >= recent:
            break
    return found[-recent:]


def _steer(loop: CallLoop) -> str:
    return (
        f"Note from the proxy: you have called `{loop.name}` with the same arguments "
        f"{loop.repeats} times in a row and got the same kind of result. Repeating it will not "
        "help: change your approach, or say what is blocking you."
    )


def _refusal(loop: CallLoop) -> str:
    return (
        f"[proxy: stopped a loop. The model called `{loop.name}` with the same arguments "
        f"{loop.repeats} times in a row, after being told it was repeating itself. The "
        "request was not sent again. Change the instructions or the approach, or turn this "
        "off for the session with `!/set(loop-detection=off)`.]"
    )
