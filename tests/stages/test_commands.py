"""commands: in-chat commands per session, as tables through the stage harness."""

from __future__ import annotations

import pytest

from engine.model import ChatRequest, ImagePart, Message, TextPart, ToolCallPart, ToolResultPart
from engine.sessions import Session
from engine.stage import registry
from engine.testing import assistant, make_context, run_request, user
from stages.command_set import HANDLERS
from stages.commands import MODEL_KEY, Commands

BACKENDS = ("mock", "openai", "OpenRouter")
COMMAND_NAMES = [
    "help", "hello", "model", "backend", "oneoff", "set", "unset", "temperature",
    "max", "medium", "low", "no-think", "status",
    "route-create", "route-append", "route-prepend", "route-list", "route-delete",
]  # fmt: skip
HELP = "Commands:\n" + "\n".join(
    f"- {usage}" for _, usage in HANDLERS.values()
)  # the usage lines are checked in test_help_lists_every_command_on_a_line_each


def commands(prefix: str | None = None) -> Commands:
    return Commands(Commands.Config() if prefix is None else Commands.Config(prefix=prefix))


async def run(
    messages: list[Message],
    *,
    state: dict[str, str] | None = None,
    stage: Commands | None = None,
    model: str = "client-model",
) -> tuple[str | None, ChatRequest, Session]:
    """Run the stage: the answer's text (None when it continues), the request, the session."""
    session = Session("s", {"commands": dict(state)} if state else {})
    ctx = make_context(
        ChatRequest(model=model, messages=messages), session=session, backends=BACKENDS
    )
    answer = await run_request(stage or commands(), ctx)
    if answer is not None:
        assert answer.response.model == model
        assert ctx.request.messages == messages  # an answered request is left alone
    return (answer.response.text if answer else None), ctx.request, session


@pytest.mark.parametrize(
    ("text", "state", "reply", "state_after"),
    [
        pytest.param("!/help", {}, HELP, {}, id="help"),
        pytest.param("  !/help  ", {}, HELP, {}, id="help-with-spaces"),
        pytest.param(
            "!/model(openai:gpt-4o)",
            {},
            "Model set to openai:gpt-4o for this session.",
            {MODEL_KEY: "openai:gpt-4o"},
            id="set-model",
        ),
        pytest.param(
            "!/model( mock:mock-1 )",
            {},
            "Model set to mock:mock-1 for this session.",
            {MODEL_KEY: "mock:mock-1"},
            id="set-model-trims",
        ),
        pytest.param(
            "!/model(openai:org/model:tag)",
            {},
            "Model set to openai:org/model:tag for this session.",
            {MODEL_KEY: "openai:org/model:tag"},
            id="model-with-colons",
        ),
        pytest.param(
            "!/model(mock:a)",
            {MODEL_KEY: "openai:b"},
            "Model set to mock:a for this session.",
            {MODEL_KEY: "mock:a"},
            id="replace-model",
        ),
        pytest.param(
            "!/model()", {MODEL_KEY: "openai:b"}, "Model override cleared.", {}, id="clear"
        ),
        pytest.param("!/model()", {}, "Model override cleared.", {}, id="clear-when-unset"),
        pytest.param(
            "!/model",
            {MODEL_KEY: "openai:b"},
            "Model override: openai:b.",
            {MODEL_KEY: "openai:b"},
            id="show",
        ),
        pytest.param("!/model", {}, "No model override is set.", {}, id="show-when-unset"),
        pytest.param(
            "!/model(opnai:gpt-4o)",
            {},
            "Unknown backend 'opnai'. Did you mean 'openai'?",
            {},
            id="unknown-backend-did-you-mean",
        ),
        pytest.param(
            "!/model(OpenRoutr:x)",
            {},
            "Unknown backend 'OpenRoutr'. Did you mean 'OpenRouter'?",
            {},
            id="did-you-mean-keeps-case",
        ),
        pytest.param(
            "!/model(zzz:gpt-4o)",
            {MODEL_KEY: "mock:a"},
            "Unknown backend 'zzz'. Backends: OpenRouter, mock, openai.",
            {MODEL_KEY: "mock:a"},
            id="unknown-backend-lists-backends",
        ),
        pytest.param(
            "!/model(gpt-4o)",
            {},
            "Write the model as BACKEND:MODEL (backends: OpenRouter, mock, openai).",
            {},
            id="malformed-no-colon",
        ),
        pytest.param(
            "!/model(openai:)",
            {},
            "Write the model as BACKEND:MODEL (backends: OpenRouter, mock, openai).",
            {},
            id="malformed-no-model",
        ),
        pytest.param(
            "!/modle(mock:a)",
            {},
            "Unknown command !/modle. Did you mean 'model'?",
            {},
            id="unknown-command-did-you-mean",
        ),
        pytest.param(
            "!/frobnicate",
            {},
            "Unknown command !/frobnicate. Try !/help.",
            {},
            id="unknown-command",
        ),
        pytest.param(
            "!/model(mock:a) !/model",
            {},
            "Model set to mock:a for this session.\nModel override: mock:a.",
            {MODEL_KEY: "mock:a"},
            id="several-commands-in-order",
        ),
    ],
)
async def test_command_only_messages_are_answered(
    text: str, state: dict[str, str], reply: str, state_after: dict[str, str]
) -> None:
    answer, _, session = await run([user(text)], state=state)
    assert answer == reply
    assert session.get("commands") == state_after


@pytest.mark.parametrize(
    ("text", "rest", "model"),
    [
        pytest.param(
            "!/model(openai:gpt-4o) fix the bug", "fix the bug", "openai:gpt-4o", id="set-and-ask"
        ),
        pytest.param("fix the bug\n!/model(mock:m)", "fix the bug", "mock:m", id="command-last"),
        pytest.param("!/help what now?", "what now?", "client-model", id="help-and-ask"),
        pytest.param(
            "!/model() back to normal", "back to normal", "client-model", id="clear-and-ask"
        ),
        pytest.param(
            "!/nope do it", "!/nope do it", "client-model", id="unknown-command-with-text-kept"
        ),
        pytest.param(
            "fix this:\n#!/bin/bash\necho hi",
            "fix this:\n#!/bin/bash\necho hi",
            "client-model",
            id="hashbang-kept",
        ),
        pytest.param(
            "see https://x.invalid/#!/model(a:b) !/model(mock:m)",
            "see https://x.invalid/#!/model(a:b)",
            "mock:m",
            id="command-like-url-kept",
        ),
        pytest.param("!/modelx(a:b) go", "!/modelx(a:b) go", "client-model", id="longer-name-kept"),
        pytest.param(
            "please !/model(mock:m) fix it", "please fix it", "mock:m", id="command-mid-sentence"
        ),
    ],
)
async def test_commands_mixed_with_text_are_stripped(text: str, rest: str, model: str) -> None:
    answer, request, _ = await run([user("earlier"), assistant("ok"), user(text)])
    assert answer is None
    assert request.messages == [user("earlier"), assistant("ok"), user(rest)]
    assert request.model == model


async def test_override_applies_to_later_plain_requests() -> None:
    answer, request, _ = await run([user("hello")], state={MODEL_KEY: "openai:gpt-4o"})
    assert answer is None
    assert request.model == "openai:gpt-4o"
    assert request.messages == [user("hello")]


async def test_no_override_no_change() -> None:
    messages = [user("hello"), assistant("hi"), user("again")]
    answer, request, _ = await run(messages)
    assert answer is None
    assert (request.model, request.messages) == ("client-model", messages)


@pytest.mark.parametrize(
    ("history", "cleaned"),
    [
        pytest.param(
            [user("!/model(mock:m)"), assistant("Model set to mock:m for this session.")],
            [],
            id="command-turn-and-reply-removed",
        ),
        pytest.param(
            [
                user("!/help"),
                assistant(HELP),
                user("!/model"),
                assistant("No model override is set."),
            ],
            [],
            id="several-command-turns",
        ),
        pytest.param(
            [user("!/model(mock:m) explain this"), assistant("Sure.")],
            [user("explain this"), assistant("Sure.")],
            id="mixed-turn-stripped-reply-kept",
        ),
        pytest.param(
            [
                user("q1"),
                assistant("a1"),
                user("!/help"),
                assistant(HELP),
                user("q2"),
                assistant("a2"),
            ],
            [user("q1"), assistant("a1"), user("q2"), assistant("a2")],
            id="between-normal-turns",
        ),
        pytest.param(
            [user("!/help"), user("q1"), assistant("a1")],
            [user("q1"), assistant("a1")],
            id="command-turn-without-reply",
        ),
    ],
)
async def test_earlier_command_turns_are_removed_from_history(
    history: list[Message], cleaned: list[Message]
) -> None:
    answer, request, _ = await run([*history, user("now")])
    assert answer is None
    assert request.messages == [*cleaned, user("now")]


async def test_custom_prefix() -> None:
    stage = commands("@@")
    answer, _, session = await run([user("@@model(mock:m)")], stage=stage)
    assert answer == "Model set to mock:m for this session."
    assert session.get("commands") == {MODEL_KEY: "mock:m"}
    help_text, _, _ = await run([user("@@help")], stage=stage)
    assert help_text is not None
    assert "- @@help: list the commands" in help_text
    assert "!/" not in help_text
    unknown, _, _ = await run([user("@@nope")], stage=stage)
    assert unknown == "Unknown command @@nope. Try @@help."


async def test_default_prefix_is_plain_text_under_a_custom_prefix() -> None:
    answer, request, session = await run([user("!/model(mock:m)")], stage=commands("@@"))
    assert answer is None
    assert request.messages == [user("!/model(mock:m)")]
    assert session.get("commands") == {}


async def test_commands_only_run_when_the_last_message_is_the_users() -> None:
    history = [
        user("!/model(mock:m) run the tool"),
        Message(role="assistant", content=[ToolCallPart(id="c", name="f")]),
        Message(
            role="tool", content=[ToolResultPart(tool_call_id="c", content=[TextPart(text="1")])]
        ),
    ]
    answer, request, session = await run(history)
    assert answer is None
    assert session.get("commands") == {}  # the old command is not run again
    assert request.messages == [user("run the tool"), *history[1:]]
    assert request.model == "client-model"


async def test_other_parts_survive_stripping() -> None:
    image = ImagePart(url="https://x/cat.png")
    message = Message(role="user", content=[TextPart(text="!/model(mock:m) what is this?"), image])
    answer, request, _ = await run([message])
    assert answer is None
    assert request.messages == [
        Message(role="user", content=[TextPart(text="what is this?"), image])
    ]
    assert request.model == "mock:m"


async def test_session_state_carries_across_requests() -> None:
    stage = commands()
    session = Session("shared")
    for text in ["!/model(openai:gpt-4o)", "hello"]:
        ctx = make_context(
            ChatRequest(model="client-model", messages=[user(text)]),
            session=session,
            backends=BACKENDS,
        )
        await run_request(stage, ctx)
    assert ctx.request.model == "openai:gpt-4o"


@pytest.mark.parametrize("text", ["!/model(openai:gpt-4o) count this", "!/model(openai:gpt-4o)"])
async def test_a_count_of_tokens_runs_no_command_but_follows_the_session(text: str) -> None:
    session = Session("counted", {"commands": {MODEL_KEY: "mock:m"}})
    ctx = make_context(
        ChatRequest(model="client-model", messages=[user("earlier !/help"), user(text)]),
        session=session,
        backends=BACKENDS,
    )
    ctx.operation = "count_tokens"

    assert await run_request(commands(), ctx) is None

    assert session.get("commands") == {MODEL_KEY: "mock:m"}  # unchanged: counting is read-only
    assert not session.changed
    assert ctx.request.model == "mock:m"
    assert [m.text() for m in ctx.request.messages] == ["earlier", "count this"][
        : 2 if "count" in text else 1
    ]


def test_registered() -> None:
    assert registry()["commands"] is Commands


async def test_stripping_a_command_keeps_the_parts_vendor_fields() -> None:
    marked = {"anthropic": {"cache_control": {"type": "ephemeral"}}}
    part = TextPart(text="!/model(mock:m) what now?", vendor=marked)
    answer, request, _ = await run([Message(role="user", content=[part])])
    assert answer is None
    assert request.messages[-1].content == [TextPart(text="what now?", vendor=marked)]


async def test_help_lists_every_command_on_a_line_each() -> None:
    answer, _, _ = await run([user("!/help")])
    assert answer is not None
    title, *lines = answer.splitlines()
    assert title == "Commands:"
    named = [line.removeprefix("- !/").split("(")[0].split(":")[0] for line in lines]
    assert named == COMMAND_NAMES
    assert all(": " in line and len(line) < 200 for line in lines)
