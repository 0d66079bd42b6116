"""think_tags: tagged text moved to reasoning or dropped, however the deltas split it."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from engine.model import Event, ReasoningDelta, TextDelta, ToolCallStart
from engine.testing import make_context, make_stage, request, run_events, text_of, text_stream
from stages.think_tags import ThinkTags

REPLY = "<think>The user wants 2+2.\nIt is 4.</think>The answer is 4."


def reasoning_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, ReasoningDelta))


async def moved(stage: ThinkTags, *chunks: str) -> list[Event]:
    return await run_events(stage, make_context(request("hi")), text_stream(*chunks))


def splits(text: str, seed: int) -> list[str]:
    """`text` cut at random places."""
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(text)), rng.randint(1, len(text) // 2)))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


@pytest.mark.parametrize(
    "chunks",
    [
        [REPLY],
        list(REPLY),
        *(splits(REPLY, seed) for seed in range(8)),
        ["<th", "ink>The user wants 2+2.\nIt is 4.</", "think", ">The answer is 4."],
    ],
    ids=["whole", "by-character", *(f"random-{seed}" for seed in range(8)), "tag-split"],
)
async def test_tagged_text_becomes_reasoning_however_it_is_split(chunks: list[str]) -> None:
    events = await moved(make_stage(ThinkTags), *chunks)
    assert reasoning_of(events) == "The user wants 2+2.\nIt is 4."
    assert text_of(events) == "The answer is 4."
    first = next(e for e in events if isinstance(e, ReasoningDelta | TextDelta))
    assert isinstance(first, ReasoningDelta)  # the order the client sees is kept


async def test_drop_and_other_tag_names() -> None:
    stage = make_stage(ThinkTags, tags=["reasoning"], action="drop")
    events = await moved(stage, "<reasoning>hmm</reas", "oning>ok <think>kept</think>")
    assert reasoning_of(events) == ""
    assert text_of(events) == "ok <think>kept</think>"


@pytest.mark.parametrize(
    "text",
    ["a < b and c > d", "use <thinking-cap> here", "x </think> y", "<thin", "<think"],
    ids=["comparison", "other-tag", "closing-alone", "unfinished-prefix", "unfinished-tag"],
)
async def test_text_without_a_whole_opening_tag_is_left_alone(text: str) -> None:
    events = await moved(make_stage(ThinkTags), *text)
    assert text_of(events) == text and reasoning_of(events) == ""


async def test_an_unclosed_tag_makes_the_rest_reasoning() -> None:
    events = await moved(make_stage(ThinkTags), "<think>still thinking when it was cut")
    assert reasoning_of(events) == "still thinking when it was cut" and text_of(events) == ""


async def test_held_text_goes_out_before_a_tool_call() -> None:
    stage = make_stage(ThinkTags)
    stream = [*text_stream("calling <thi")[:-1], ToolCallStart(index=0, id="c", name="f")]
    events = await run_events(stage, make_context(request("hi")), stream)
    kinds = [type(e).__name__ for e in events[1:]]
    assert text_of(events) == "calling <thi" and kinds[-1] == "ToolCallStart"


def test_tag_names_are_checked() -> None:
    with pytest.raises(ValidationError, match="not a tag name"):
        make_stage(ThinkTags, tags=["<think>"])
