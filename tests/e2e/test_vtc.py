"""Virtual tool calling end to end, through the official SDKs against fake providers: a
Cline-style client's XML calls judged by `tool_safety` and given back as XML, and native
tools offered as XML to a backend without tool calling."""

from __future__ import annotations

import json
from collections.abc import Callable

import anthropic
import openai
import pytest

from tests.support import fake_anthropic as fa
from tests.support.cline import CLINE_HEADERS, CLINE_PROMPT, execute_command
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_openai import FakeProvider, Text
from tests.support.proxy import Proxy
from tests.support.sdk import CLIENT_KEY, SDK_TIMEOUT_SECS

ROUTES = """\
version: 1
backends:
  fake: {kind: openai, base_url: "${FAKE_URL}/v1", api_key: upstream-key-0123456789}
  claude: {kind: anthropic, base_url: "${FAKE_ANTHROPIC_URL}", api_key: claude-key-0123456789}
stages:
  tools-as-xml: {use: vtc, with: {backend_tools: xml}}
pipeline:
  response: [tool_safety]
routes:
  - name: cline
    match: {model: "cline-*"}
    request: [loop_detection]
    response: [vtc]
    backend: {targets: [fake]}
  - name: cline-on-claude
    match: {model: "claude-*"}
    response: [{vtc: {clients: all}}]
    backend: {targets: [claude]}
  - name: no-native-tools
    match: {model: "plain-*"}
    request: [tools-as-xml]
    response: [tools-as-xml]
    backend: {targets: [fake]}
  - name: default
    backend: {targets: [fake]}
"""


@pytest.fixture
def served(proxy: Callable[..., Proxy], fake_anthropic: FakeAnthropic) -> Proxy:
    return proxy(ROUTES)


def cline(served: Proxy) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{served.base_url}/v1",
        api_key=CLIENT_KEY,
        max_retries=0,
        timeout=SDK_TIMEOUT_SECS,
        default_headers=CLINE_HEADERS,
    )


async def ask_cline(served: Proxy, *, stream: bool) -> tuple[str, str | None]:
    """What a Cline-style client reads: the text, and the finish reason."""
    messages = [
        {"role": "system", "content": CLINE_PROMPT},
        {"role": "user", "content": "<task>discard my changes</task>"},
    ]
    async with cline(served) as client:
        if not stream:
            reply = await client.chat.completions.create(model="cline-x", messages=messages)  # type: ignore[arg-type]
            return reply.choices[0].message.content or "", reply.choices[0].finish_reason
        chunks = await client.chat.completions.create(
            model="cline-x",
            messages=messages,  # type: ignore[arg-type]
            stream=True,
        )
        text, finish = "", None
        async for chunk in chunks:
            for choice in chunk.choices:
                assert not choice.delta.tool_calls  # a Cline-style client reads text only
                text += choice.delta.content or ""
                finish = choice.finish_reason or finish
        return text, finish


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
async def test_a_dangerous_xml_call_is_stopped_before_the_client_can_run_it(
    served: Proxy, fake: FakeProvider, stream: bool
) -> None:
    fake.script(Text(f"I will reset.\n{execute_command('git reset --hard HEAD~3')}", chunks=7))

    text, finish = await ask_cline(served, stream=stream)

    assert text.startswith("I will reset.\n")
    assert "`git reset --hard HEAD~3`" in text and "was stopped" in text
    assert "<execute_command>" not in text
    assert finish == "stop"


async def test_usage_on_every_chunk_does_not_let_a_dangerous_xml_call_through(
    served: Proxy, fake: FakeProvider
) -> None:
    reply = f"I will reset.\n{execute_command('git reset --hard HEAD~3')}"
    fake.script(Text(reply, chunks=9, usage_every_chunk=True))

    text, _ = await ask_cline(served, stream=True)

    assert "was stopped" in text and "<execute_command>" not in text


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
async def test_a_safe_xml_call_reaches_the_client_as_the_model_wrote_it(
    served: Proxy, fake: FakeProvider, stream: bool
) -> None:
    reply = f"Listing first.\n\n{execute_command('ls -la &amp;&amp; git status')}"
    fake.script(Text(reply, chunks=9))

    text, finish = await ask_cline(served, stream=stream)

    assert text == reply
    assert finish == "stop"


async def test_a_cline_style_client_repeating_one_xml_call_is_answered_by_the_proxy(
    served: Proxy, fake: FakeProvider
) -> None:
    messages: list[dict[str, str]] = [
        {"role": "system", "content": CLINE_PROMPT},
        {"role": "user", "content": "<task>build it</task>"},
    ]
    for _ in range(4):
        messages.append({"role": "assistant", "content": f"Again.\n{execute_command('make')}"})
        messages.append(
            {"role": "user", "content": "[execute_command for 'make'] Result:\nError 2"}
        )
    async with cline(served) as client:
        reply = await client.chat.completions.create(model="cline-x", messages=messages)  # type: ignore[arg-type]

    assert "stopped a loop" in (reply.choices[0].message.content or "")
    assert not fake.requests  # the model was not asked again


async def test_a_forced_route_reads_xml_from_an_anthropic_client(
    served: Proxy, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(fa.Reply(fa.Text(f"Cleaning.\n{execute_command('rm -rf ~')}", chunks=5)))
    async with (
        anthropic.AsyncAnthropic(
            base_url=f"{served.base_url}/anthropic",
            api_key=CLIENT_KEY,
            max_retries=0,
            timeout=SDK_TIMEOUT_SECS,
        ) as client,
        client.messages.stream(
            model="claude-x",
            max_tokens=200,
            system=CLINE_PROMPT,
            messages=[{"role": "user", "content": "tidy up"}],
        ) as stream,
    ):
        message = await stream.get_final_message()

    assert [block.type for block in message.content] == ["text"]
    text = message.content[0].text  # type: ignore[union-attr]
    assert text.startswith("Cleaning.\n") and "`rm -rf ~`" in text and "was stopped" in text
    assert message.stop_reason == "end_turn"


BASH = {
    "type": "function",
    "function": {
        "name": "Bash",
        "description": "Run a shell command.",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string"}, "timeout": {"type": "integer"}},
            "required": ["command"],
        },
    },
}


def xml_invoke(command: str) -> str:
    return (
        'Running it.\n<function_calls>\n<invoke name="Bash">\n'
        f'<parameter name="command">{command}</parameter>\n'
        '<parameter name="timeout">60</parameter>\n</invoke>\n'
    )


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
async def test_native_tools_through_a_backend_without_tool_calling(
    served: Proxy, fake: FakeProvider, stream: bool
) -> None:
    fake.script(Text(xml_invoke("ls -la"), chunks=6))
    messages = [
        {"role": "user", "content": "what is here?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "Bash", "arguments": '{"command": "pwd"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "/work"},
    ]
    async with openai.AsyncOpenAI(
        base_url=f"{served.base_url}/v1", api_key=CLIENT_KEY, max_retries=0
    ) as client:
        if stream:
            chunks = await client.chat.completions.create(
                model="plain-x",
                messages=messages,  # type: ignore[arg-type]
                tools=[BASH],  # type: ignore[list-item]
                stream=True,
            )
            text, calls, finish = "", {}, None
            async for chunk in chunks:
                for choice in chunk.choices:
                    text += choice.delta.content or ""
                    for call in choice.delta.tool_calls or []:
                        name, args = calls.get(call.index, ("", ""))
                        calls[call.index] = (
                            name + (call.function.name or ""),  # type: ignore[union-attr]
                            args + (call.function.arguments or ""),  # type: ignore[union-attr]
                        )
                    finish = choice.finish_reason or finish
            found = [(name, json.loads(args)) for name, args in calls.values()]
        else:
            reply = await client.chat.completions.create(
                model="plain-x",
                messages=messages,  # type: ignore[arg-type]
                tools=[BASH],  # type: ignore[list-item]
            )
            choice = reply.choices[0]
            text, finish = choice.message.content or "", choice.finish_reason
            found = [
                (call.function.name, json.loads(call.function.arguments))  # type: ignore[union-attr]
                for call in choice.message.tool_calls or []
            ]

    assert text == "Running it.\n"
    assert found == [("Bash", {"command": "ls -la", "timeout": 60})]
    assert finish == "tool_calls"
    sent = fake.last.json
    assert "tools" not in sent and "</function_calls>" in sent["stop"]
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert "## Bash" in sent["messages"][0]["content"]  # the instructions
    assert '<invoke name="Bash">' in str(sent["messages"][2]["content"])  # the earlier call
    assert "/work" in str(sent["messages"][3]["content"])


async def test_a_backends_dangerous_xml_call_never_reaches_a_native_client(
    served: Proxy, fake: FakeProvider
) -> None:
    fake.script(Text(xml_invoke("git push --force origin main"), chunks=4))
    async with openai.AsyncOpenAI(
        base_url=f"{served.base_url}/v1", api_key=CLIENT_KEY, max_retries=0
    ) as client:
        reply = await client.chat.completions.create(
            model="plain-x",
            messages=[{"role": "user", "content": "publish"}],
            tools=[BASH],  # type: ignore[list-item]
        )
    choice = reply.choices[0]
    assert not choice.message.tool_calls
    assert "git push --force origin main" in (choice.message.content or "")
    assert "was stopped" in (choice.message.content or "")
    assert choice.finish_reason == "stop"
