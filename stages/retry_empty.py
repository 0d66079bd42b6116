"""`retry_empty`: an empty (or reasoning-only) reply is asked for once more."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from pydantic import Field

from engine.model import (
    Finish,
    Message,
    OpaqueBlock,
    ReasoningDelta,
    ResponseStart,
    TextDelta,
    TextPart,
    ToolCallStart,
    Usage,
)
from engine.response import aclose
from engine.stage import Event, Exchange, Stage, StrictModel, stage

log = logging.getLogger("engine.stages.retry_empty")

RECOVERY_PROMPT = (
    "Your previous reply was empty. Continue from where you were: answer the last request, "
    "or call the tool you need."
)


@stage("retry_empty")
class RetryEmpty(Stage):
    """When a reply ends with no text and no tool call (nothing at all, or reasoning
    only), asks the route's targets once more, with a recovery prompt added as a user
    turn; the client gets the second reply in the same response (streamed or not), after
    whatever reasoning the first one showed. Put it first among a route's response stages:
    the retried reply reaches only the stages after it."""

    class Config(StrictModel):
        """What counts as empty, and what the model is told."""

        prompt: str = Field(default=RECOVERY_PROMPT, min_length=1, description="the recovery turn")
        reasoning_only: bool = Field(
            default=True, description="a reply of reasoning alone counts as empty"
        )

    config: Config

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.retried = 0  # replies asked for again since the graph was loaded

    def counters(self) -> dict[str, dict[str, int]]:
        """Empty replies asked for again."""
        return {"retried": {"empty": self.retried}}

    async def on_events(self, ctx: Exchange, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        """The events; an empty reply's finish (and usage) held back and, when it is one,
        the second reply's events in its place."""
        answered = False
        usage: Usage | None = None
        async for event in events:
            if isinstance(event, TextDelta):
                answered = answered or bool(event.text)
            elif isinstance(event, ToolCallStart | OpaqueBlock):
                answered = True
            elif isinstance(event, ReasoningDelta):
                answered = answered or not self.config.reasoning_only
            elif isinstance(event, Usage) and not answered:
                usage = event
                continue
            elif isinstance(event, Finish) and not answered and self._retries(ctx, event):
                async for again in self._again(ctx):
                    yield again
                return
            if usage is not None and isinstance(event, Finish):
                yield usage
            yield event

    def _retries(self, ctx: Exchange, finish: Finish) -> bool:
        """Whether an empty reply that ends with `finish` is asked for again (not one the
        provider withheld, or paused)."""
        return ctx.ask_again is not None and finish.reason in ("stop", "tool_calls", "length")

    async def _again(self, ctx: Exchange) -> AsyncIterator[Event]:
        self.retried += 1
        log.info("route %s: the reply was empty; asking once more", ctx.route)
        assert ctx.ask_again is not None
        recovery = Message(role="user", content=[TextPart(text=self.config.prompt)])
        request = ctx.request.model_copy(update={"messages": [*ctx.request.messages, recovery]})
        events = await ctx.ask_again(request)
        try:
            async for event in events:
                if not isinstance(event, ResponseStart):  # the client has had one
                    yield event
        finally:
            await aclose(events)
