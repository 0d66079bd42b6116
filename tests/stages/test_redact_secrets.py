"""redact_secrets: every shape found, ordinary text left alone, parts kept as they were."""

from __future__ import annotations

import pytest

from engine.logs import register_secret
from engine.model import Message, ReasoningPart, TextPart, ToolCallPart, ToolResultPart
from engine.sessions import SWITCHES, Session
from engine.testing import make_context, make_stage, request, run_request, user
from stages.redact_secrets import RedactSecrets

# Built from pieces, so that no scanner mistakes this file for a leak.
KEYS = {
    "openai": "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
    "openai-legacy": "sk-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6",
    "anthropic": "sk-ant-api03-" + "x" * 8 + "Y7z6W5v4U3t2S1r0",
    "openrouter": "sk-or-v1-" + "0123456789abcdef" * 4,
    "google": "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "github": "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "github-fine": "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnop",
    "gitlab": "glpat-" + "aB3dE6gH9jK2mN5pQ8sT",
    "huggingface": "hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567",
    "aws": "AKIA" + "IOSFODNN7EXAMPLE",
    "slack": "xoxb-" + "1234567890-0987654321-AbCdEfGhIj",
    "stripe": "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "jwt": "eyJhbGciOiJIUzI1NiJ9."
    + "eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    + "dozjgNryP4J3jVmNHl0w5N_XgL0n",
    "private_key": "-----BEGIN RSA PRIVATE KEY-----\n"
    + "MIIEpAIBAAKCAQEA1b2C3d4E5f6G7h8\nI9j0K1l2M3n4O5p6==\n"
    + "-----END RSA PRIVATE KEY-----",
}
KIND = {"openai-legacy": "openai", "github-fine": "github"}


@pytest.fixture(scope="module")
def stage() -> RedactSecrets:
    return make_stage(RedactSecrets)


async def sent(stage: RedactSecrets, *messages: Message | str, **ctx: object) -> list[Message]:
    exchange = make_context(request(*messages), **ctx)  # type: ignore[arg-type]
    assert await run_request(stage, exchange) is None
    return exchange.request.messages


@pytest.mark.parametrize("name", list(KEYS))
async def test_each_shape_is_replaced_by_its_kind(stage: RedactSecrets, name: str) -> None:
    (message,) = await sent(stage, f"my key is {KEYS[name]} ok?")
    assert message.text() == f"my key is [REDACTED:{KIND.get(name, name)}] ok?"


@pytest.mark.parametrize(
    "text",
    [
        "def risk_score(task): return task.sk_value",
        "a uuid 123e4567-e89b-12d3-a456-426614174000 and a sha 9f86d081884c7d659a2feaa0c55ad015",
        "task-sk-not-a-key and ask-me-anything-please-now",
        "AKIAlowercase is no key, nor is AKIA123",
        "base64 aGVsbG8gd29ybGQgdGhpcyBpcyBqdXN0IHRleHQ= and eyJ alone",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqh\n-----END PUBLIC KEY-----",
        "sk-short",
    ],
    ids=["code", "ids", "words", "aws-like", "base64", "public-key", "short"],
)
async def test_ordinary_text_is_left_as_it_is(stage: RedactSecrets, text: str) -> None:
    message = user(text)
    (out,) = await sent(stage, message)
    assert out is message  # not even copied


async def test_tool_results_and_earlier_calls_are_redacted_keeping_vendor_fields(
    stage: RedactSecrets,
) -> None:
    key = KEYS["anthropic"]
    cached = {"anthropic": {"cache_control": {"type": "ephemeral"}}}
    turns = [
        Message(
            role="assistant",
            content=[
                ToolCallPart(id="c1", name="Bash", arguments=f'{{"command": "echo {key}"}}'),
                ReasoningPart(text=f"the key {key}", signature="signed"),
            ],
        ),
        Message(
            role="tool",
            content=[
                ToolResultPart(
                    tool_call_id="c1", content=[TextPart(text=f"{key}\n", vendor=cached)]
                )
            ],
        ),
    ]
    call_turn, result_turn = await sent(stage, *turns)

    call, reasoning = call_turn.content
    assert isinstance(call, ToolCallPart)
    assert call.arguments == '{"command": "echo [REDACTED:anthropic]"}'
    assert reasoning is turns[0].content[1]  # signed by the provider: never edited
    (result,) = result_turn.content
    assert isinstance(result, ToolResultPart)
    assert result.content[0].text == "[REDACTED:anthropic]\n"  # type: ignore[union-attr]
    assert result.content[0].vendor == cached  # cache_control stays on its block


async def test_system_prompt_backend_keys_and_words() -> None:
    register_secret("local-backend-secret-0042")
    stage = make_stage(RedactSecrets, words=["hunter2"], replacement="<{kind}>")
    exchange = make_context(
        request("pw hunter2, key local-backend-secret-0042", system=[TextPart(text="hunter2")])
    )
    await run_request(stage, exchange)
    assert exchange.request.messages[0].text() == "pw <word>, key <backend-key>"
    assert exchange.request.system[0].text == "<word>"


async def test_chosen_shapes_only() -> None:
    stage = make_stage(RedactSecrets, shapes=["aws"], backend_keys=False)
    (message,) = await sent(stage, f"{KEYS['aws']} {KEYS['github']}")
    assert message.text() == f"[REDACTED:aws] {KEYS['github']}"


async def test_a_session_may_turn_it_off(stage: RedactSecrets) -> None:
    session = Session("s")
    session.set(SWITCHES, {"redaction": False})
    (message,) = await sent(stage, KEYS["openai"], session=session)
    assert message.text() == KEYS["openai"]


async def test_a_text_seen_clean_is_not_scanned_again() -> None:
    stage = make_stage(RedactSecrets)
    text = "an ordinary long turn of an agent " * 100
    await sent(stage, text)
    stage._shapes = None  # type: ignore[assignment]  # a second scan would fail
    (message,) = await sent(stage, text)
    assert message.text() == text
