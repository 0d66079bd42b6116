"""vtc: XML tool calls in a model's text as native calls for the stages, and back."""

from __future__ import annotations

import json
import random

import pytest
from pydantic import ValidationError

from engine.model import (
    Event,
    Finish,
    Message,
    ReasoningDelta,
    ResponseStart,
    TextDelta,
    TextPart,
    Tool,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    ToolChoice,
    ToolResultPart,
    Usage,
)
from engine.stage import Stage
from engine.testing import (
    assistant,
    make_context,
    make_stage,
    request,
    run_events,
    run_request,
    run_response,
    text_of,
    text_stream,
    user,
)
from stages.tool_safety import ToolSafety
from stages.vtc import VirtualToolCalls
from stages.xml_prompt import CALLS_END, arguments_for
from tests.support.cline import CLINE_PROMPT, execute_command

CLINE = {"user-agent": "OpenAI/JS 4.83.0", "x-title": "Cline", "http-referer": "https://cline.bot"}
ROO = {"user-agent": "RooCode/3.53.0", "x-title": "Roo Code"}
SYSTEM = (
    CLINE_PROMPT
    + """
## deploy_site
Description: a tool of this user's own.
Usage:
<deploy_site>
<target>prod</target>
</deploy_site>
"""
)
CALL = execute_command("git reset --hard")
REPLY = f"I will discard the changes.\n{CALL}"


def splits(text: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(text)), rng.randint(1, len(text) // 3)))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def cline_context(headers: dict[str, str] = CLINE, **fields: object):
    return make_context(
        request("clean up", system=[TextPart(text=SYSTEM)], **fields), headers=headers
    )


def calls_in(events: list[Event]) -> list[tuple[str, dict[str, object]]]:
    starts = {e.index: e.name for e in events if isinstance(e, ToolCallStart)}
    args: dict[int, str] = {}
    for e in events:
        if isinstance(e, ToolCallDelta):
            args[e.index] = args.get(e.index, "") + e.arguments
    return [(starts[i], json.loads(args.get(i, "{}"))) for i in sorted(starts)]


def finish_of(events: list[Event]) -> str:
    return next(e.reason for e in events if isinstance(e, Finish))


@pytest.mark.parametrize(
    "chunks",
    [[REPLY], list(REPLY), *(splits(REPLY, seed) for seed in range(6))],
    ids=["whole", "by-character", *(f"random-{seed}" for seed in range(6))],
)
async def test_a_cline_call_becomes_native_however_it_is_split(chunks: list[str]) -> None:
    events = await run_events(make_stage(VirtualToolCalls), cline_context(), text_stream(*chunks))
    assert text_of(events) == "I will discard the changes.\n"
    assert calls_in(events) == [
        ("execute_command", {"command": "git reset --hard", "requires_approval": "false"})
    ]
    assert finish_of(events) == "tool_calls"


async def test_unchanged_calls_go_back_as_the_models_own_text() -> None:
    text = f"Let me look.\n<read_file>\n<path>a &amp; b.py</path>\n</read_file>\n\nthen {CALL}"
    stage = make_stage(VirtualToolCalls)
    events = await run_response([stage], cline_context(), text_stream(*splits(text, 1)))
    assert text_of(events) == text  # entities and spacing as the model wrote them
    assert not calls_in(events)
    assert finish_of(events) == "stop"


@pytest.mark.parametrize(
    ("call", "found"),
    [
        (
            "<deploy_site>\n<target>prod</target>\n</deploy_site>",
            ("deploy_site", {"target": "prod"}),
        ),
        (
            '<function_calls>\n<invoke name="execute_command">\n'
            '<parameter name="command">ls</parameter>\n</invoke>\n</function_calls>',
            ("execute_command", {"command": "ls"}),
        ),
        ("Sure: <list_files><path>.</path></list_files>", ("list_files", {"path": "."})),
        ("```\n<read_file><path>x</path></read_file>\n```", ("read_file", {"path": "x"})),
    ],
    ids=["declared-by-the-prompt", "invoke-form", "mid-line", "in-a-fence"],
)
async def test_calls_are_read_as_the_client_reads_them(
    call: str, found: tuple[str, dict[str, object]]
) -> None:
    events = await run_events(make_stage(VirtualToolCalls), cline_context(), text_stream(call))
    assert calls_in(events) == [found]


async def test_a_reply_ending_inside_a_call_is_judged_as_the_client_would_run_it() -> None:
    chain = [make_stage(VirtualToolCalls), make_stage(ToolSafety)]
    cut = "<execute_command>\n<command>rm -rf ~"
    events = await run_response(chain, cline_context(), text_stream(cut))
    assert "rm -rf ~" in text_of(events) and "was stopped" in text_of(events)
    assert "<execute_command>" not in text_of(events)


@pytest.mark.parametrize("chunks", [[REPLY], list(REPLY)], ids=["whole", "by-character"])
async def test_tool_safety_stops_an_xml_call_and_the_client_gets_the_note(
    chunks: list[str],
) -> None:
    chain: list[Stage] = [make_stage(VirtualToolCalls), make_stage(ToolSafety)]
    events = await run_response(chain, cline_context(), text_stream(*chunks))
    text = text_of(events)
    assert text.startswith("I will discard the changes.\n")
    assert "git reset --hard" in text and "was stopped" in text and "rule git-reset-hard" in text
    assert "<execute_command>" not in text and not calls_in(events)
    assert finish_of(events) == "stop"


async def test_a_safe_xml_call_passes_tool_safety_untouched() -> None:
    chain: list[Stage] = [make_stage(VirtualToolCalls), make_stage(ToolSafety)]
    safe = "Listing.\n<execute_command>\n<command>git status</command>\n</execute_command>"
    events = await run_response(chain, cline_context(), text_stream(*splits(safe, 3)))
    assert text_of(events) == safe and finish_of(events) == "stop"


async def test_a_native_call_a_stage_changed_goes_back_as_xml() -> None:
    ctx = cline_context()
    stage = make_stage(VirtualToolCalls)
    native = [
        text_stream("")[0],
        ToolCallStart(index=0, id="other", name="read_file"),
        ToolCallDelta(index=0, arguments='{"path": "a<b.py"}'),
        Finish(reason="tool_calls"),
    ]
    await run_request(stage, ctx)
    events = await run_response([stage], ctx, native)
    assert text_of(events) == "\n<read_file>\n<path>a<b.py</path>\n</read_file>\n"
    assert finish_of(events) == "stop"


PLAIN = "You are a helpful assistant."


@pytest.mark.parametrize(
    ("headers", "system", "config", "reads"),
    [
        (CLINE, PLAIN, {}, True),
        (ROO, PLAIN, {}, True),
        ({"user-agent": "Kilo-Code/4.2"}, PLAIN, {}, True),
        ({"user-agent": "OpenAI/Python 1.99"}, SYSTEM, {}, True),
        ({"user-agent": "OpenAI/Python 1.99"}, PLAIN, {}, False),
        ({"user-agent": "OpenAI/Python 1.99"}, PLAIN, {"clients": "all"}, True),
        (CLINE, SYSTEM, {"clients": "none"}, False),
        ({"user-agent": "my-agent/1"}, PLAIN, {"client_pattern": "my-agent"}, True),
    ],
    ids=["cline", "roo", "kilo", "prompt-declares", "other", "all", "none", "own-pattern"],
)
async def test_which_clients_write_xml(
    headers: dict[str, str], system: str, config: dict[str, str], reads: bool
) -> None:
    stage = make_stage(VirtualToolCalls, **config)
    ctx = make_context(request("go", system=[TextPart(text=system)]), headers=headers)
    events = await run_events(stage, ctx, text_stream(REPLY))
    assert bool(calls_in(events)) is reads
    assert text_of(events) == ("I will discard the changes.\n" if reads else REPLY)


async def test_a_client_that_sent_native_tools_is_not_read_as_xml() -> None:
    ctx = cline_context(tools=[Tool(name="execute_command")])
    events = await run_events(make_stage(VirtualToolCalls), ctx, text_stream(REPLY))
    assert text_of(events) == REPLY and not calls_in(events)


async def test_prose_about_tags_stays_text() -> None:
    prose = "Use a <div> here; 1 < 2 and <b>bold</b>."
    events = await run_events(make_stage(VirtualToolCalls), cline_context(), text_stream(prose))
    assert text_of(events) == prose


def test_a_bad_client_pattern_is_refused() -> None:
    with pytest.raises((ValidationError, ValueError)):
        make_stage(VirtualToolCalls, client_pattern="(")


# --- a backend without native tools ----------------------------------------------------------

SHELL = Tool(
    name="Bash",
    description="Run a shell command.",
    parameters={
        "type": "object",
        "properties": {"command": {"type": "string"}, "timeout": {"type": "integer"}},
        "required": ["command"],
    },
)


def native_request(**fields: object):
    history = [
        user("what is here?"),
        Message(
            role="assistant",
            content=[ToolCallPart(id="c1", name="Bash", arguments='{"command": "ls"}')],
        ),
        Message(
            role="tool",
            content=[ToolResultPart(tool_call_id="c1", content=[TextPart(text="a.py")])],
        ),
        user("and now?"),
    ]
    return request(*history, tools=[SHELL], **fields)


async def test_native_tools_are_offered_to_a_backend_as_xml_instructions() -> None:
    ctx = make_context(native_request())
    await run_request(make_stage(VirtualToolCalls, backend_tools="xml"), ctx)
    sent = ctx.request
    assert sent.tools == [] and sent.tool_choice is None
    system = "\n".join(part.text for part in sent.system)
    assert "## Bash" in system and '"timeout": {"type": "integer"}' in system
    assert "<function_calls>" in system
    assert CALLS_END in (sent.sampling.stop or [])
    roles = [m.role for m in sent.messages]
    assert roles == ["user", "assistant", "user"]  # the result's turn joined the next user's
    assert '<invoke name="Bash">' in sent.messages[1].text()
    assert '<result tool="Bash">\na.py\n</result>' in sent.messages[2].text()
    assert "and now?" in sent.messages[2].text("\n")


async def test_tool_choice_none_offers_no_tools_and_required_says_so() -> None:
    none = make_context(native_request(tool_choice=ToolChoice(mode="none")))
    required = make_context(native_request(tool_choice=ToolChoice(mode="required")))
    stage = make_stage(VirtualToolCalls, backend_tools="xml")
    await run_request(stage, none)
    await run_request(stage, required)
    assert not any("<function_calls>" in part.text for part in none.request.system)
    assert "Call at least one tool" in required.request.system[-1].text


BACKEND_REPLY = (
    'Checking.\n<function_calls>\n<invoke name="Bash">\n'
    '<parameter name="command">ls -la</parameter>\n<parameter name="timeout">30</parameter>\n'
    "</invoke>\n"  # the backend stopped at </function_calls>
)


@pytest.mark.parametrize("chunks", [[BACKEND_REPLY], list(BACKEND_REPLY)], ids=["whole", "chars"])
async def test_a_backends_xml_call_reaches_the_client_as_a_native_call(chunks: list[str]) -> None:
    ctx = make_context(native_request())
    stage = make_stage(VirtualToolCalls, backend_tools="xml")
    await run_request(stage, ctx)
    events = await run_response([stage], ctx, text_stream(*chunks, "</function_calls>\nimagined"))
    assert text_of(events) == "Checking.\n"
    assert calls_in(events) == [("Bash", {"command": "ls -la", "timeout": 30})]
    assert finish_of(events) == "tool_calls"


async def test_a_backend_naming_a_tool_it_was_not_offered_stays_text() -> None:
    ctx = make_context(native_request())
    stage = make_stage(VirtualToolCalls, backend_tools="xml")
    await run_request(stage, ctx)
    other = '<function_calls>\n<invoke name="Other">\n</invoke>\n</function_calls>'
    events = await run_response([stage], ctx, text_stream(other))
    assert not calls_in(events) and "Other" in text_of(events)


async def test_a_request_without_tools_is_left_alone() -> None:
    ctx = make_context(request("hi"))
    stage = make_stage(VirtualToolCalls, backend_tools="xml")
    await run_request(stage, ctx)
    assert ctx.request == request("hi")
    events = await run_response([stage], ctx, text_stream(BACKEND_REPLY))
    assert text_of(events) == BACKEND_REPLY


async def test_history_calls_keep_their_assistant_text() -> None:
    req = request(user("hi"), assistant("Sure."), tools=[SHELL])
    ctx = make_context(req)
    await run_request(make_stage(VirtualToolCalls, backend_tools="xml"), ctx)
    assert [m.text() for m in ctx.request.messages] == ["hi", "Sure."]


# --- awkward streams and schemas ------------------------------------------------------------


@pytest.mark.parametrize(
    "between",
    [Usage(input_tokens=10, output_tokens=3), ReasoningDelta(signature="sig")],
    ids=["usage-chunk", "reasoning-signature"],
)
async def test_a_usage_or_signature_event_inside_a_call_does_not_cut_it(between: Event) -> None:
    # A provider reporting usage on every chunk, or a Gemini signature on a text part: the
    # whole call is still judged (a fragment `git rese` would pass, and the client run it).
    events = [
        ResponseStart(id="r", model="m"),
        TextDelta(text="Ok.\n<execute_command>\n<command>git rese"),
        between,
        TextDelta(text="t --hard</command>\n</execute_command>"),
        Finish(reason="stop"),
    ]
    chain: list[Stage] = [make_stage(VirtualToolCalls), make_stage(ToolSafety)]
    out = await run_response(chain, cline_context(), events)
    assert "was stopped" in text_of(out) and "<execute_command>" not in text_of(out)
    assert between in out and out.index(between) > 1  # it waited behind the held text


async def test_a_usage_event_inside_a_backends_call_keeps_it_a_call() -> None:
    ctx = make_context(request("list", tools=[SHELL]))
    stage = make_stage(VirtualToolCalls, backend_tools="xml")
    await run_request(stage, ctx)
    events = [
        ResponseStart(id="r", model="m"),
        TextDelta(text='Ok.\n<function_calls>\n<invoke name="Bash">\n<parameter name="command">l'),
        Usage(output_tokens=1),
        TextDelta(text="s</parameter>\n</invoke>\n"),
        Finish(reason="stop"),
    ]
    out = await run_response([stage], ctx, events)
    assert calls_in(out) == [("Bash", {"command": "ls"})]
    assert text_of(out) == "Ok.\n"


async def test_a_client_tool_whose_name_cannot_be_a_tag_is_read_in_the_invoke_form() -> None:
    tool = Tool(name="1password_lookup", parameters={"type": "object", "properties": {}})
    ctx = make_context(request("find it", tools=[tool]))
    stage = make_stage(VirtualToolCalls, backend_tools="xml")
    await run_request(stage, ctx)
    reply = (
        '<function_calls>\n<invoke name="1password_lookup">\n'
        '<parameter name="q">github</parameter>\n</invoke>\n'
    )
    out = await run_response([stage], ctx, text_stream(reply))
    assert calls_in(out) == [("1password_lookup", {"q": "github"})]


def test_a_configured_tool_name_that_cannot_be_a_tag_is_refused_at_load() -> None:
    with pytest.raises(ValidationError, match="cannot be tags"):
        make_stage(VirtualToolCalls, tools=["deploy site"])


async def test_a_reply_cut_by_max_tokens_inside_a_call_keeps_its_finish_reason() -> None:
    events = [
        ResponseStart(id="r", model="m"),
        TextDelta(text="Writing.\n<write_to_file>\n<path>a.py</path>\n<content>print("),
        Finish(reason="length"),
    ]
    out = await run_response([make_stage(VirtualToolCalls)], cline_context(), events)
    assert [e.reason for e in out if isinstance(e, Finish)] == ["length"]


@pytest.mark.parametrize(
    ("schema", "text", "value"),
    [
        ({"type": ["string", "null"]}, "123", "123"),
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, "30", 30),
        ({"type": "boolean"}, "true", True),
        ({"type": "array", "items": {"type": "string"}}, '["a"]', ["a"]),
        ({"type": "integer"}, "thirty", "thirty"),
        ({"enum": [1, 2]}, "2", 2),
        ({}, "{}", "{}"),
    ],
    ids=["nullable-string", "optional-int", "boolean", "array", "not-json", "enum", "untyped"],
)
def test_parameter_texts_are_typed_by_the_schema(
    schema: dict[str, object], text: str, value: object
) -> None:
    tool = Tool(name="t", parameters={"type": "object", "properties": {"p": schema}})
    assert arguments_for(tool, {"p": text}) == {"p": value}


async def test_parallel_calls_in_history_are_one_block_on_lines_of_their_own() -> None:
    calls = [
        TextPart(text="Both."),
        ToolCallPart(id="c1", name="Bash", arguments='{"command": "ls"}'),
        ToolCallPart(id="c2", name="Bash", arguments='{"command": "pwd"}'),
    ]
    ctx = make_context(request(user("go"), Message(role="assistant", content=calls), tools=[SHELL]))
    await run_request(make_stage(VirtualToolCalls, backend_tools="xml"), ctx)
    text = ctx.request.messages[1].text()
    assert text.startswith("Both.\n\n<function_calls>\n")
    assert text.count("<function_calls>") == 1 and text.count("<invoke ") == 2


async def test_with_tool_choice_none_the_tools_go_away_and_no_call_is_read() -> None:
    ctx = make_context(native_request(tool_choice=ToolChoice(mode="none")))
    stage = make_stage(VirtualToolCalls, backend_tools="xml")
    await run_request(stage, ctx)
    assert ctx.request.tools == []
    out = await run_response([stage], ctx, text_stream(BACKEND_REPLY))
    assert text_of(out) == BACKEND_REPLY and not calls_in(out)
