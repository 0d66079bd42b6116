"""The agent safety and quality stages end to end, through the official SDKs against fake
providers: what reaches the provider, and what each client sees."""

from __future__ import annotations

from collections.abc import Callable

import anthropic
import openai
import pytest

from tests.support import fake_anthropic as fa
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_openai import FakeProvider, Text, ToolCall, ToolCalls
from tests.support.proxy import Proxy
from tests.support.sdk import CLIENT_KEY, SDK_TIMEOUT_SECS

ROUTES = """\
version: 1
backends:
  fake: {kind: openai, base_url: "${FAKE_URL}/v1", api_key: upstream-key-0123456789}
  claude: {kind: anthropic, base_url: "${FAKE_ANTHROPIC_URL}", api_key: claude-key-0123456789}
pipeline:
  request: [commands, redact_secrets]
routes:
  - name: thinking
    match: {model: "think-*"}
    response: [think_tags]
    backend: {targets: [fake]}
  - name: mending
    match: {model: "mend-*"}
    response: [tool_call_repair]
    backend: {targets: [fake]}
  - name: retrying
    match: {model: "retry-*"}
    response: [retry_empty]
    backend: {targets: [fake]}
  - name: guarded
    match: {model: "guard-*"}
    response: [tool_safety]
    backend: {targets: [fake]}
  - name: looping
    match: {model: "loop-*"}
    request: [loop_detection]
    response: [{loop_detection: {min_text: 200}}]
    backend: {targets: [fake]}
  - name: claude
    match: {model: "claude-*"}
    backend: {targets: [claude]}
  - name: default
    backend: {targets: [fake]}
"""
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"


@pytest.fixture
def served(proxy: Callable[..., Proxy], fake_anthropic: FakeAnthropic) -> Proxy:
    return proxy(ROUTES)


def claude_client(served: Proxy) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=f"{served.base_url}/anthropic",
        api_key=CLIENT_KEY,
        max_retries=0,
        timeout=SDK_TIMEOUT_SECS,
    )


async def test_secrets_never_reach_the_provider_and_cache_control_stays(
    served: Proxy, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(fa.Reply(fa.Text("noted")))
    async with claude_client(served) as client:
        await client.messages.create(
            model="claude-x",
            max_tokens=50,
            system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
            messages=[
                {"role": "user", "content": "run the deploy"},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": "t1",
                            "name": "Bash",
                            "input": {"command": "cat ~/.aws/credentials"},
                        }
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [
                                {
                                    "type": "text",
                                    "text": f"aws_access_key_id = {AWS_KEY}\nclaude-key-0123456789",
                                    "cache_control": {"type": "ephemeral"},
                                }
                            ],
                        }
                    ],
                },
            ],
        )

    sent = fake_anthropic.last.json
    (block,) = sent["messages"][2]["content"][0]["content"]
    assert block["text"] == "aws_access_key_id = [REDACTED:aws]\n[REDACTED:backend-key]"
    assert block["cache_control"] == {"type": "ephemeral"}
    assert sent["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert AWS_KEY not in str(sent)


async def test_a_session_turns_redaction_off_with_a_command(
    served: Proxy, fake_anthropic: FakeAnthropic, fake: FakeProvider
) -> None:
    fake_anthropic.script(fa.Reply(fa.Text("ok")))
    async with claude_client(served) as client:
        session = {"x-session-id": "redaction-off"}
        answer = await client.messages.create(
            model="claude-x",
            max_tokens=50,
            messages=[{"role": "user", "content": "!/set(redaction=off)"}],
            extra_headers=session,
        )
        assert "redaction" in answer.content[0].text  # type: ignore[union-attr]
        await client.messages.create(
            model="claude-x",
            max_tokens=50,
            messages=[{"role": "user", "content": f"keep {AWS_KEY}"}],
            extra_headers=session,
        )
    assert AWS_KEY in str(fake_anthropic.last.json)


THOUGHT = "<think>The user greets me.\nI greet back.</think>Hello!"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_think_tags_become_an_anthropic_clients_thinking(
    served: Proxy, fake: FakeProvider, stream: bool
) -> None:
    fake.script(Text(THOUGHT, chunks=9))
    async with claude_client(served) as client:
        if stream:
            async with client.messages.stream(
                model="think-x", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            ) as events:
                message = await events.get_final_message()
        else:
            message = await client.messages.create(
                model="think-x", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            )
    thinking, text = message.content
    assert thinking.type == "thinking" and thinking.thinking == "The user greets me.\nI greet back."
    assert text.type == "text" and text.text == "Hello!"


async def test_think_tags_through_the_openai_sdk(served: Proxy, fake: FakeProvider) -> None:
    fake.script(Text(THOUGHT, chunks=9))
    client = openai.AsyncOpenAI(base_url=f"{served.base_url}/v1", api_key=CLIENT_KEY, max_retries=0)
    async with client:
        chunks = await client.chat.completions.create(
            model="think-x", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        deltas = [c.choices[0].delta async for c in chunks if c.choices]
    reasoning = "".join(getattr(d, "reasoning_content", None) or "" for d in deltas)
    assert reasoning == "The user greets me.\nI greet back."
    assert "".join(d.content or "" for d in deltas) == "Hello!"


SHELL_TOOL = {
    "name": "Bash",
    "description": "run a command",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_truncated_arguments_are_mended_or_refused(
    served: Proxy, fake: FakeProvider, stream: bool
) -> None:
    fake.script(
        ToolCalls(ToolCall("Bash", '{"command": "ls -la",', cuts=(5, 12))),
        ToolCalls(ToolCall("Bash", '{"command": "rm -rf ./bu', cuts=(9,))),
    )
    ask = {"model": "mend-x", "max_tokens": 50, "tools": [SHELL_TOOL]}
    messages = [{"role": "user", "content": "list"}]
    async with claude_client(served) as client:
        replies = []
        for _ in range(2):
            if stream:
                async with client.messages.stream(**ask, messages=messages) as events:
                    replies.append(await events.get_final_message())
            else:
                replies.append(await client.messages.create(**ask, messages=messages))
    mended, refused = replies
    (call,) = mended.content
    assert call.type == "tool_use" and call.input == {"command": "ls -la"}
    assert mended.stop_reason == "tool_use"
    (note,) = refused.content
    assert note.type == "text" and "cut off inside a string" in note.text
    assert refused.stop_reason == "end_turn"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_an_empty_reply_is_asked_for_once_more(
    served: Proxy, fake: FakeProvider, stream: bool
) -> None:
    fake.script(Text("", chunks=1), Text("recovered"))
    client = openai.AsyncOpenAI(base_url=f"{served.base_url}/v1", api_key=CLIENT_KEY, max_retries=0)
    ask = {"model": "retry-x", "messages": [{"role": "user", "content": "hi"}]}
    async with client:
        if stream:
            chunks = await client.chat.completions.create(**ask, stream=True)
            text = "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
        else:
            text = (await client.chat.completions.create(**ask)).choices[0].message.content
    assert text == "recovered"
    first, second = fake.requests
    assert len(second.json["messages"]) == len(first.json["messages"]) + 1
    assert "previous reply was empty" in second.json["messages"][-1]["content"]


async def test_an_empty_reply_twice_is_the_clients(served: Proxy, fake: FakeProvider) -> None:
    fake.script(Text("", chunks=1), Text("", chunks=1))
    client = openai.AsyncOpenAI(base_url=f"{served.base_url}/v1", api_key=CLIENT_KEY, max_retries=0)
    async with client:
        answer = await client.chat.completions.create(
            model="retry-x", messages=[{"role": "user", "content": "hi"}]
        )
    assert answer.choices[0].message.content in ("", None) and len(fake.requests) == 2


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_a_dangerous_command_never_reaches_the_agent(
    served: Proxy, fake: FakeProvider, stream: bool
) -> None:
    fake.script(ToolCalls(ToolCall("Bash", '{"command": "git reset --hard"}', cuts=(4, 20))))
    ask = {"model": "guard-x", "max_tokens": 50, "tools": [SHELL_TOOL]}
    messages = [{"role": "user", "content": "clean up"}]
    async with claude_client(served) as client:
        if stream:
            async with client.messages.stream(**ask, messages=messages) as events:
                reply = await events.get_final_message()
        else:
            reply = await client.messages.create(**ask, messages=messages)
    (note,) = reply.content
    assert note.type == "text" and "`git reset --hard`" in note.text
    assert "rule git-reset-hard" in note.text and reply.stop_reason == "end_turn"


PASSAGE = "Let me check the configuration file once more to be sure. "


async def test_a_looping_reply_ends_cleanly_for_each_client(
    served: Proxy, fake: FakeProvider
) -> None:
    fake.script(Text(PASSAGE * 60, chunks=240), Text(PASSAGE * 60, chunks=240))
    client = openai.AsyncOpenAI(base_url=f"{served.base_url}/v1", api_key=CLIENT_KEY, max_retries=0)
    async with client:
        chunks = await client.chat.completions.create(
            model="loop-x", messages=[{"role": "user", "content": "go"}], stream=True
        )
        got = [c async for c in chunks]
    text = "".join(c.choices[0].delta.content or "" for c in got if c.choices)
    assert "kept repeating the same passage" in text and text.count(PASSAGE) < 15
    assert [c.choices[0].finish_reason for c in got if c.choices][-1] == "stop"

    async with (
        claude_client(served) as claude,
        claude.messages.stream(
            model="loop-x", max_tokens=50, messages=[{"role": "user", "content": "go"}]
        ) as events,
    ):
        message = await events.get_final_message()
    assert "kept repeating" in message.content[-1].text and message.stop_reason == "end_turn"


async def test_a_repeated_tool_call_is_refused_without_asking_the_model(
    served: Proxy, fake: FakeProvider
) -> None:
    messages: list[dict[str, object]] = [{"role": "user", "content": "fix the build"}]
    for n in range(4):
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"c{n}",
                        "type": "function",
                        "function": {"name": "run", "arguments": '{"cmd": "make"}'},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": f"c{n}", "content": "error 2"})
    client = openai.AsyncOpenAI(base_url=f"{served.base_url}/v1", api_key=CLIENT_KEY, max_retries=0)
    async with client:
        answer = await client.chat.completions.create(model="loop-x", messages=messages)  # type: ignore[arg-type]
    assert "stopped a loop" in (answer.choices[0].message.content or "")
    assert fake.requests == []
