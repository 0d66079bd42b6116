"""A harness for stage authors: drive a stage's hooks with tables, without a server.

Each row of a table is a request (or a user's text) and what the stage should make of it,
or a stream of events and what the client should see::

    stage = make_stage(RedactWords, words=["hunter2"])

    @pytest.mark.parametrize(("text", "sent"), [("pw hunter2", "pw [redacted]"), ("hi", "hi")])
    async def test_requests(text, sent):
        (turn,) = await run_turns(stage, [text])
        assert turn.request.messages[-1].text() == sent

    async def test_stream():
        events = await run_events(stage, make_context(request("hi")), text_stream("hun", "ter2"))
        assert text_of(events) == "[redacted]"

`run_turns` runs the rows in one session, as one client's requests in a row, so a stage's
session state carries from one row to the next, saved and loaded through a memory store
as the executor does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from engine.errors import ProxyError
from engine.exchange import Call, Exchange, Operation
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
)
from engine.response import aiter_events
from engine.sessions import MemorySessionStore, Session
from engine.stage import Answer, Stage, has_hook

S = TypeVar("S", bound=Stage)


def user(text: str) -> Message:
    """A user message with one text part."""
    return Message(role="user", content=[TextPart(text=text)])


def assistant(text: str) -> Message:
    """An assistant message with one text part."""
    return Message(role="assistant", content=[TextPart(text=text)])


def request(*messages: Message | str, model: str = "client-model", **fields: Any) -> ChatRequest:
    """A chat request; a string is a user message."""
    turns = [user(m) if isinstance(m, str) else m for m in messages]
    return ChatRequest(model=model, messages=turns, **fields)


def make_stage(kind: type[S], **config: Any) -> S:
    """An instance of `kind` with `config` validated as the routing file's would be."""
    return kind(kind.Config(**config))


def make_context(
    request: ChatRequest,
    *,
    frontend: str = "openai_chat",
    session: Session | None = None,
    backends: Iterable[str] = ("mock",),
    operation: Operation = "chat",
    headers: dict[str, str] | None = None,
) -> Exchange:
    """An exchange as the executor would hand it to the stages."""
    return Exchange(
        request=request,
        frontend=frontend,
        session=session or Session("test-session"),
        backends=frozenset(backends),
        call=Call(headers=headers or {}),
        operation=operation,
    )


async def run_request(stage: Stage, ctx: Exchange) -> Answer | None:
    """Run a stage's request hook."""
    return await stage.on_request(ctx)  # type: ignore[attr-defined]


async def run_events(stage: Stage, ctx: Exchange, events: Iterable[Event]) -> list[Event]:
    """Run a stage's event hook over `events` and collect what it yields."""
    return [event async for event in stage.on_events(ctx, aiter_events(events))]  # type: ignore[attr-defined]


async def run_response(
    stages: Sequence[Stage], ctx: Exchange, events: Iterable[Event]
) -> list[Event]:
    """Run response stages as a route chains them: each one's event hook over what the one
    before it yields, then their `on_client_events` hooks, the last stage's first."""
    stream: AsyncIterator[Event] = aiter_events(events)
    for stage in stages:
        stream = stage.on_events(ctx, stream)  # type: ignore[attr-defined]
    for stage in reversed(stages):
        if has_hook(stage, "on_client_events"):
            stream = stage.on_client_events(ctx, stream)  # type: ignore[attr-defined]
    return [event async for event in stream]


@dataclass(frozen=True)
class Turn:
    """What a request stage made of one row: the request it passes on, or its own answer's
    text, or its refusal."""

    request: ChatRequest
    answer: str | None = None
    refusal: ProxyError | None = None


async def run_turns(
    stage: Stage,
    rows: Sequence[ChatRequest | str],
    *,
    session: Session | None = None,
    operation: Operation = "chat",
    **context: Any,
) -> list[Turn]:
    """Run the request hook over each row in one session (a string is a request with that
    user text); the rows' outcomes, in order. `session`, when given, is where they start."""
    store, session_id = MemorySessionStore(), session.id if session else "test-session"
    if session is not None:
        session.changed.update(session.data)
        await store.save(session)
    turns = []
    for row in rows:
        session = await store.load(session_id)
        ctx = make_context(
            request(row) if isinstance(row, str) else row,
            session=session,
            operation=operation,
            **context,
        )
        answer = await run_request(stage, ctx)
        if answer is None:
            turns.append(Turn(ctx.request))
        elif answer.error is not None:
            turns.append(Turn(ctx.request, refusal=answer.error))
        else:
            assert answer.response is not None
            turns.append(Turn(ctx.request, answer=answer.response.text))
        if session.changed:
            await store.save(session)
    return turns


def text_stream(*chunks: str, model: str = "m") -> list[Event]:
    """A response of text in these chunks: start, the deltas, finish."""
    return [
        ResponseStart(id="resp-test", model=model),
        *(TextDelta(text=chunk) for chunk in chunks),
        Finish(reason="stop"),
    ]


def tool_call_stream(
    name: str, *argument_chunks: str, call_id: str = "call-test", model: str = "m"
) -> list[Event]:
    """A response of one tool call whose JSON arguments come in these chunks."""
    return [
        ResponseStart(id="resp-test", model=model),
        ToolCallStart(index=0, id=call_id, name=name),
        *(ToolCallDelta(index=0, arguments=chunk) for chunk in argument_chunks),
        ToolCallEnd(index=0),
        Finish(reason="tool_calls"),
    ]


def text_of(events: Iterable[Event]) -> str:
    """The text the events carry, joined."""
    return "".join(event.text for event in events if isinstance(event, TextDelta))


__all__ = [
    "Turn",
    "assistant",
    "make_context",
    "make_stage",
    "request",
    "run_events",
    "run_request",
    "run_response",
    "run_turns",
    "text_of",
    "text_stream",
    "tool_call_stream",
    "user",
]
