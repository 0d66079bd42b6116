"""The example plug-in stage (`examples/plugin-stage`), installed as a user installs one
and found through its `engine.stages` entry point: driven with tables through
`engine.testing`, and through the real server, where the parts it edits keep their vendor
fields on the way to the provider (an Anthropic `cache_control` marker stays on its block)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from importlib.metadata import entry_points

import anthropic
import pytest

from engine.model import Finish, ResponseStart, TextDelta, TextPart, ToolResultPart
from engine.stage import Stage, registry
from engine.testing import (
    make_context,
    make_stage,
    request,
    run_events,
    run_turns,
    text_of,
    text_stream,
    tool_call_stream,
)
from tests.support import fake_anthropic as fa
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.proxy import Proxy
from tests.support.sdk import CLIENT_KEY, SDK_TIMEOUT_SECS

ROUTES = """\
version: 1
backends:
  claude:
    kind: anthropic
    base_url: "${FAKE_ANTHROPIC_URL}"
    api_key: upstream-ant-key
    models: [claude-fake-1]
routes:
  - name: redacted
    match: {model: "*"}
    request: [{redact_words: {words: [hunter2]}}]
    backend: {targets: [claude]}
    response: [{redact_words: {words: [hunter2]}}]
"""
EPHEMERAL = {"type": "ephemeral"}


def redact_words(**config: object) -> Stage:
    """The plug-in, by the name its entry point registered."""
    return make_stage(registry()["redact_words"], **config)


def test_the_plugin_is_registered_through_its_entry_point() -> None:
    (entry,) = entry_points(group="engine.stages", name="redact_words")
    assert entry.dist is not None and entry.dist.name == "engine-redact-words"
    assert registry()["redact_words"] is entry.load()
    assert entry.load().__module__ == "redact_words"  # its own module, outside engine/


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        ("my password is hunter2", "my password is [redacted]"),
        ("correct horse battery staple", "[redacted] battery staple"),
        ("hunter1 is not the word", "hunter1 is not the word"),
        ("hunter2hunter2", "[redacted][redacted]"),
    ],
)
async def test_what_the_model_reads_is_redacted(text: str, sent: str) -> None:
    (turn,) = await run_turns(redact_words(words=["hunter2", "correct horse"]), [text])
    assert turn.answer is None and turn.refusal is None
    assert turn.request.messages[-1].text() == sent


async def test_tool_results_are_redacted_and_untouched_parts_are_the_same_objects() -> None:
    result = ToolResultPart(tool_call_id="c1", content=[TextPart(text="token: hunter2")])
    untouched = TextPart(text="nothing to hide", vendor={"anthropic": {"cache_control": EPHEMERAL}})
    row = request("first", model="m")
    row = row.model_copy(
        update={
            "messages": [
                row.messages[0].model_copy(update={"content": [untouched]}),
                row.messages[0].model_copy(update={"role": "tool", "content": [result]}),
            ]
        }
    )
    (turn,) = await run_turns(redact_words(words=["hunter2"]), [row])
    first, tool = turn.request.messages
    assert first is row.messages[0] and first.content[0] is untouched
    assert isinstance(tool.content[0], ToolResultPart)
    assert tool.content[0].text() == "token: [redacted]"


@pytest.mark.parametrize(
    ("chunks", "shown"),
    [
        (("my pw is hun", "ter2!"), "my pw is [redacted]!"),
        (("h", "u", "n", "t", "e", "r", "2"), "[redacted]"),
        (("correct ", "horse battery"), "[redacted] battery"),
        (("hunter", "1 is fine"), "hunter1 is fine"),
        (("no secrets here",), "no secrets here"),
    ],
)
async def test_what_the_client_reads_is_redacted_as_it_streams(
    chunks: tuple[str, ...], shown: str
) -> None:
    stage = redact_words(words=["hunter2", "correct horse"])
    events = await run_events(stage, make_context(request("hi")), text_stream(*chunks))
    assert text_of(events) == shown
    assert isinstance(events[-1], Finish)


async def test_text_held_back_goes_out_before_a_tool_call() -> None:
    stage = redact_words(words=["hunter2"])
    stream = [
        *text_stream("let me check hun")[:-1],
        *tool_call_stream("shell", '{"cmd":', '"ls"}')[1:],
    ]
    events = await run_events(stage, make_context(request("hi")), stream)
    kinds = [event.type for event in events]
    assert kinds.index("text_delta") < kinds.index("tool_call_start")
    assert text_of(events) == "let me check hun"


@pytest.fixture
async def claude(
    proxy: Callable[..., Proxy], fake_anthropic: FakeAnthropic, tls: ssl.SSLContext
) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(
        base_url=f"{proxy(ROUTES).base_url}/anthropic",
        api_key=CLIENT_KEY,
        max_retries=0,
        timeout=SDK_TIMEOUT_SECS,
        http_client=anthropic.DefaultAsyncHttpxClient(verify=tls),
    )
    yield client
    await client.close()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_a_redacted_block_keeps_its_cache_control_on_the_way_to_anthropic(
    claude: anthropic.AsyncAnthropic, fake_anthropic: FakeAnthropic, stream: bool
) -> None:
    fake_anthropic.script(fa.Reply(fa.Text("Stored: hunter2, as asked.", chunks=5)))
    params = {
        "model": "claude-fake-1",
        "max_tokens": 64,
        "system": [
            {"type": "text", "text": "The admin password is hunter2.", "cache_control": EPHEMERAL}
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Is hunter2 strong?", "cache_control": EPHEMERAL},
                    {"type": "text", "text": "Answer briefly."},
                ],
            }
        ],
    }
    if stream:
        async with claude.messages.stream(**params) as events:  # type: ignore[arg-type]
            message = await events.get_final_message()
    else:
        message = await claude.messages.create(**params)  # type: ignore[arg-type]

    sent = fake_anthropic.last.json
    assert sent["system"] == [
        {"type": "text", "text": "The admin password is [redacted].", "cache_control": EPHEMERAL}
    ]
    assert sent["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Is [redacted] strong?", "cache_control": EPHEMERAL},
                {"type": "text", "text": "Answer briefly."},
            ],
        }
    ]
    assert "".join(b.text for b in message.content if b.type == "text") == (
        "Stored: [redacted], as asked."
    )


async def test_a_held_delta_keeps_the_phase_it_started_with() -> None:
    stage = redact_words(words=["hunter2"])
    stream = [
        ResponseStart(id="r", model="m"),
        TextDelta(text="hun", phase="final_answer"),
        TextDelta(text="ter2 done"),
        Finish(reason="stop"),
    ]
    events = await run_events(stage, make_context(request("hi")), stream)
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert text_of(events) == "[redacted] done"
    assert deltas[0].phase == "final_answer"
