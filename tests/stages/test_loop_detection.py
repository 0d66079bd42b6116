"""loop_detection: a repeating reply cut cleanly; a repeated tool call steered, then refused."""

from __future__ import annotations

from engine.model import ChatRequest, Finish, Message, TextPart, ToolCallPart, ToolResultPart
from engine.sessions import SWITCHES, Session
from engine.testing import (
    assistant,
    make_context,
    make_stage,
    request,
    run_events,
    run_request,
    text_of,
    text_stream,
    user,
)
from stages.loop_detection import LoopDetection
from tests.support.cline import CLINE_PROMPT

PASSAGE = "I will now check the file again to be sure it is right. "


async def test_a_repeating_reply_is_cut_with_a_notice() -> None:
    stage = make_stage(LoopDetection, min_text=200)
    chunks = [PASSAGE[i : i + 7] for i in range(0, len(PASSAGE), 7)] * 40
    events = await run_events(stage, make_context(request("hi")), text_stream(*chunks))
    text = text_of(events)
    assert "kept repeating the same passage" in text
    assert text.count(PASSAGE) < 12  # the repeated tail was not forwarded
    assert isinstance(events[-1], Finish) and events[-1].reason == "stop"
    assert stage.found["content"] == 1


async def test_repeated_code_in_a_fence_is_not_a_loop() -> None:
    stage = make_stage(LoopDetection, min_text=200)
    code = "```python\n" + "print('row')\n" * 200 + "```\nDone."
    events = await run_events(stage, make_context(request("hi")), text_stream(*code))
    assert text_of(events) == code


def conversation(calls: int, *, argument: str = "a.py") -> list[Message]:
    turns = [user("fix it")]
    for n in range(calls):
        call = ToolCallPart(id=f"c{n}", name="read_file", arguments=f'{{"path": "{argument}"}}')
        turns.append(Message(role="assistant", content=[call]))
        result = ToolResultPart(tool_call_id=f"c{n}", content=[TextPart(text="same")])
        turns.append(Message(role="tool", content=[result]))
    return turns


async def test_a_repeated_call_is_steered_then_refused() -> None:
    stage = make_stage(LoopDetection)

    fine = make_context(request(*conversation(2)))
    assert await run_request(stage, fine) is None and len(fine.request.messages) == 5

    steered = make_context(request(*conversation(3)))
    assert await run_request(stage, steered) is None
    note = steered.request.messages[-1]
    assert note.role == "system" and "same arguments 3 times" in note.text()

    answer = await run_request(stage, make_context(request(*conversation(4))))
    assert answer is not None and answer.response is not None
    assert "stopped a loop" in answer.response.text


async def test_calls_with_different_arguments_are_no_loop() -> None:
    turns = conversation(2) + conversation(3, argument="b.py")[1:3] + conversation(1)[1:]
    assert await run_request(make_stage(LoopDetection), make_context(request(*turns))) is None


async def test_a_session_may_turn_it_off() -> None:
    session = Session("s")
    session.set(SWITCHES, {"loop-detection": False})
    ctx = make_context(request(*conversation(5)), session=session)
    assert await run_request(make_stage(LoopDetection), ctx) is None


def xml_conversation(paths: list[str]) -> list[Message]:
    """A Cline-style conversation: each call written as XML, its result in the next user turn."""
    turns = [user("<task>fix it</task>")]
    for path in paths:
        turns.append(assistant(f"Let me read it.\n<read_file>\n<path>{path}</path>\n</read_file>"))
        turns.append(user(f"[read_file for '{path}'] Result:\nsame"))
    return turns


def xml_request(paths: list[str]) -> ChatRequest:
    return request(*xml_conversation(paths), system=[TextPart(text=CLINE_PROMPT)])


async def test_a_cline_style_client_repeating_an_xml_call_is_steered_then_refused() -> None:
    stage = make_stage(LoopDetection)

    assert await run_request(stage, make_context(xml_request(["a.py", "a.py"]))) is None

    steered = make_context(xml_request(["b.py", "a.py", "a.py", "a.py"]))
    assert await run_request(stage, steered) is None
    assert "`read_file` with the same arguments 3 times" in steered.request.messages[-1].text()

    answer = await run_request(stage, make_context(xml_request(["a.py"] * 4)))
    assert answer is not None and answer.response is not None
    assert "stopped a loop" in answer.response.text


async def test_xml_calls_with_different_arguments_or_without_a_tool_prompt_are_no_loop() -> None:
    stage = make_stage(LoopDetection)
    different = make_context(xml_request(["a.py", "b.py", "a.py", "c.py"]))
    assert await run_request(stage, different) is None
    no_prompt = make_context(request(*xml_conversation(["a.py"] * 5)))
    assert await run_request(stage, no_prompt) is None
