"""Collecting an event stream into a ChatResponse, and replaying it."""

from __future__ import annotations

import pytest

from engine.errors import ProxyError
from engine.model import (
    ErrorEvent,
    Event,
    Finish,
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
from engine.response import ChatResponse, Collector, aiter_events, collect, replay

STREAM: list[Event] = [
    ResponseStart(id="r1", model="m", created=7),
    ReasoningDelta(text="let me "),
    ReasoningDelta(text="think", signature="sig-1"),
    TextDelta(text="Hel"),
    TextDelta(text="lo"),
    ToolCallStart(index=0, id="c0", name="read"),
    ToolCallStart(index=1, id="c1", name="grep"),
    ToolCallDelta(index=1, arguments='{"q":'),
    ToolCallDelta(index=0, arguments='{"path": "a"}'),
    ToolCallDelta(index=1, arguments=' "x"}'),
    ToolCallEnd(index=0),
    ToolCallEnd(index=1),
    Usage(input_tokens=10, output_tokens=5, cached_tokens=2, reasoning_tokens=1),
    Finish(reason="tool_calls"),
]

EXPECTED = ChatResponse(
    id="r1",
    model="m",
    created=7,
    content=[
        ReasoningPart(text="let me think", signature="sig-1"),
        TextPart(text="Hello"),
        ToolCallPart(id="c0", name="read", arguments='{"path": "a"}'),
        ToolCallPart(id="c1", name="grep", arguments='{"q": "x"}'),
    ],
    finish_reason="tool_calls",
    usage=Usage(input_tokens=10, output_tokens=5, cached_tokens=2, reasoning_tokens=1),
)


async def test_collect() -> None:
    response = await collect(aiter_events(STREAM))
    assert response == EXPECTED
    assert response.text == "Hello"
    assert [c.id for c in response.tool_calls] == ["c0", "c1"]


async def test_replay_round_trip() -> None:
    replayed = list(replay(EXPECTED))
    assert replayed[0] == ResponseStart(id="r1", model="m", created=7)
    assert replayed[-2:] == [EXPECTED.usage, Finish(reason="tool_calls")]
    assert await collect(aiter_events(replayed)) == EXPECTED


@pytest.mark.parametrize(
    ("events", "content"),
    [
        pytest.param(
            [TextDelta(text="a"), ToolCallStart(index=0, id="c", name="f"), TextDelta(text="b")],
            [TextPart(text="a"), ToolCallPart(id="c", name="f", arguments=""), TextPart(text="b")],
            id="text-after-a-call-is-a-new-part",
        ),
        pytest.param(
            [ToolCallStart(index=0, id="c", name="f"), ToolCallEnd(index=0)],
            [ToolCallPart(id="c", name="f", arguments="{}")],
            id="call-without-arguments-is-empty-object",
        ),
        pytest.param(
            [ReasoningDelta(text="r"), TextDelta(text="t"), ReasoningDelta(text="s")],
            [ReasoningPart(text="r"), TextPart(text="t"), ReasoningPart(text="s")],
            id="reasoning-blocks-split-by-text",
        ),
        pytest.param([], [], id="nothing"),
    ],
)
def test_collector_parts(events: list[Event], content: list[object]) -> None:
    collector = Collector()
    for event in events:
        collector.add(event)
    assert collector.response.content == content


def test_collector_defaults() -> None:
    response = Collector().response
    assert (response.finish_reason, response.usage, response.text) == ("stop", None, "")


async def test_error_event_raises_proxy_error() -> None:
    events = [ResponseStart(id="r", model="m"), TextDelta(text="a")]
    error = ErrorEvent(status=429, code="rate_limited", message="slow down")
    with pytest.raises(ProxyError) as caught:
        await collect(aiter_events([*events, error]))
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        429,
        "rate_limited",
        "slow down",
    )


def test_replay_without_usage() -> None:
    response = ChatResponse(id="r", model="m", content=[TextPart(text="hi")])
    assert list(replay(response)) == [
        ResponseStart(id="r", model="m"),
        TextDelta(text="hi"),
        Finish(reason="stop"),
    ]
