"""A small harness for stage authors: run one stage's hooks without a server.

ctx = make_context(ChatRequest(model="gpt-4o", messages=[user("hi")]))
answer = await run_request(MyStage(MyStage.Config()), ctx)
events = await run_events(MyStage(MyStage.Config()), ctx, [TextDelta(text="hi")])
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.model import ChatRequest, Event, Message, TextPart
from engine.response import aiter_events
from engine.sessions import Session
from engine.stage import Answer, Exchange, Stage


def user(text: str) -> Message:
    """A user message with one text part."""
    return Message(role="user", content=[TextPart(text=text)])


def assistant(text: str) -> Message:
    """An assistant message with one text part."""
    return Message(role="assistant", content=[TextPart(text=text)])


def make_context(
    request: ChatRequest,
    *,
    frontend: str = "openai_chat",
    session: Session | None = None,
    backends: Iterable[str] = ("mock",),
) -> Exchange:
    """A request context as the executor would build it."""
    return Exchange(
        request=request,
        frontend=frontend,
        session=session or Session("test-session"),
        backends=frozenset(backends),
    )


async def run_request(stage: Stage, ctx: Exchange) -> Answer | None:
    """Run a stage's request hook."""
    return await stage.on_request(ctx)  # type: ignore[attr-defined]


async def run_events(stage: Stage, ctx: Exchange, events: Iterable[Event]) -> list[Event]:
    """Run a stage's event hook over `events` and collect what it yields."""
    return [event async for event in stage.on_events(ctx, aiter_events(events))]  # type: ignore[attr-defined]
