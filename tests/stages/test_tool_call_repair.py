"""tool_call_repair: unambiguous mends pass on as valid calls; guesses become a note."""

from __future__ import annotations

import json

import pytest

from engine.model import Finish, Tool, ToolCallDelta, ToolCallStart
from engine.testing import make_context, make_stage, request, run_events, text_of, tool_call_stream
from stages.tool_call_repair import ToolCallRepair

SHELL = Tool(
    name="shell",
    parameters={
        "type": "object",
        "properties": {"command": {"type": "string"}, "timeout": {"type": "integer"}},
        "required": ["command"],
    },
)


async def repaired(*chunks: str, check_schema: bool = True) -> tuple[list[str], str, str]:
    """The arguments of the calls the client gets, its text, and the finish reason."""
    stage = make_stage(ToolCallRepair, check_schema=check_schema)
    events = await run_events(
        stage, make_context(request("hi", tools=[SHELL])), tool_call_stream("shell", *chunks)
    )
    arguments = [e.arguments for e in events if isinstance(e, ToolCallDelta)]
    finish = next(e for e in events if isinstance(e, Finish))
    return arguments, text_of(events), finish.reason


@pytest.mark.parametrize(
    ("chunks", "mended"),
    [
        (['{"command": "ls -la"'], {"command": "ls -la"}),
        (['{"command": "ls",', ' "timeout": 5,}'], {"command": "ls", "timeout": 5}),
        (["{'command': 'ls'}"], {"command": "ls"}),
        (['{command: "ls"}'], {"command": "ls"}),
        (['{"command": "ls"}}'], {"command": "ls"}),
    ],
    ids=["missing-brace", "trailing-comma", "single-quotes", "bare-key", "extra-brace"],
)
async def test_unambiguous_mends_pass_on_as_valid_json(chunks: list[str], mended: dict) -> None:
    arguments, text, finish = await repaired(*chunks)
    assert [json.loads(a) for a in arguments] == [mended]
    assert text == "" and finish == "tool_calls"


@pytest.mark.parametrize(
    ("chunks", "said"),
    [
        (['{"command": "rm -rf ./bu'], "cut off inside a string"),
        (['{"timeout": 5'], "incomplete ('command' is a required property)"),
        (["[1, 2"], "not a JSON object"),
        (["just some words"], "not a JSON object"),
    ],
    ids=["cut-in-a-string", "schema-refuses", "not-an-object", "words"],
)
async def test_what_would_be_a_guess_becomes_a_note(chunks: list[str], said: str) -> None:
    arguments, text, finish = await repaired(*chunks)
    assert arguments == []
    assert "call to tool `shell` was not passed on" in text and said in text
    assert finish == "stop"  # no call left for the client to run


async def test_valid_calls_pass_untouched() -> None:
    arguments, text, _ = await repaired('{"command":', ' "ls"}')
    assert arguments == ['{"command":', ' "ls"}'] and text == ""  # as they came


async def test_without_the_schema_check_an_object_is_enough() -> None:
    arguments, _, _ = await repaired('{"timeout": 5', check_schema=False)
    assert [json.loads(a) for a in arguments] == [{"timeout": 5}]


async def test_an_undeclared_tool_is_mended_by_syntax_alone() -> None:
    stage = make_stage(ToolCallRepair)
    stream = tool_call_stream("other", '{"a": 1,')
    events = await run_events(stage, make_context(request("hi")), stream)
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [s.name for s in starts] == ["other"]
    assert [e.arguments for e in events if isinstance(e, ToolCallDelta)] == ['{"a":1}']
