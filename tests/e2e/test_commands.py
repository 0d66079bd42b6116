"""In-chat commands through the SDK: a session's `!/model(...)` override and `!/help`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.fake_openai import FakeProvider
from tests.support.proxy import Proxy
from tests.support.sdk import Chat, ask

STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
SESSION_A = {"x-session-id": "session-a"}
SESSION_B = {"x-session-id": "session-b"}


@STREAM
async def test_model_command_switches_only_that_session(
    chat: Chat, fake: FakeProvider, stream: bool
) -> None:
    answer = await chat(
        model="gpt-fake",
        messages=ask("!/model(other:switched-model)"),
        extra_headers=SESSION_A,
        stream=stream,
    )
    assert "other:switched-model" in answer.text
    assert fake.requests == [], "the proxy answers a command itself"

    await chat(model="gpt-fake", messages=ask("hello"), extra_headers=SESSION_A, stream=stream)
    assert (fake.last.path, fake.last.model) == ("/other/v1/chat/completions", "switched-model")
    assert fake.last.messages == ask("hello")

    await chat(model="gpt-fake", messages=ask("hello"), extra_headers=SESSION_B, stream=stream)
    assert (fake.last.path, fake.last.model) == ("/v1/chat/completions", "gpt-fake")

    shown = await chat(model="gpt-fake", messages=ask("!/model"), extra_headers=SESSION_A)
    assert "other:switched-model" in shown.text

    cleared = await chat(model="gpt-fake", messages=ask("!/model()"), extra_headers=SESSION_A)
    assert "cleared" in cleared.text.lower()
    await chat(model="gpt-fake", messages=ask("hello again"), extra_headers=SESSION_A)
    assert (fake.last.path, fake.last.model) == ("/v1/chat/completions", "gpt-fake")
    assert len(fake.requests) == 3


async def test_command_with_a_question_runs_it_and_asks_the_rest(
    chat: Chat, fake: FakeProvider
) -> None:
    answer = await chat(
        model="gpt-fake",
        messages=ask("!/model(other:mixed-model) What is 2+2?"),
        extra_headers=SESSION_A,
    )

    assert (fake.last.path, fake.last.model) == ("/other/v1/chat/completions", "mixed-model")
    assert fake.last.messages == ask("What is 2+2?")
    assert answer.text == "mixed-model heard: What is 2+2?"


async def test_earlier_command_turns_never_reach_the_model(chat: Chat, fake: FakeProvider) -> None:
    first = await chat(
        model="gpt-fake", messages=ask("!/model(fake:other-model)"), extra_headers=SESSION_A
    )
    history = [
        *ask("!/model(fake:other-model)"),
        {"role": "assistant", "content": first.text},
        *ask("hi there"),
    ]

    await chat(model="gpt-fake", messages=history, extra_headers=SESSION_A)

    assert fake.last.model == "other-model"
    assert fake.last.messages == ask("hi there")


async def test_model_command_refuses_an_unknown_backend(chat: Chat, fake: FakeProvider) -> None:
    answer = await chat(
        model="gpt-fake", messages=ask("!/model(othr:some-model)"), extra_headers=SESSION_A
    )

    assert "othr" in answer.text
    assert "other" in answer.text  # the did-you-mean
    await chat(model="gpt-fake", messages=ask("hello"), extra_headers=SESSION_A)
    assert (fake.last.path, fake.last.model) == ("/v1/chat/completions", "gpt-fake")


@STREAM
async def test_help_is_answered_without_upstream(
    chat: Chat, fake: FakeProvider, stream: bool
) -> None:
    answer = await chat(model="gpt-fake", messages=ask("!/help"), stream=stream)

    assert "!/help" in answer.text
    assert "!/model(BACKEND:MODEL)" in answer.text
    assert answer.finish_reason == "stop"
    assert fake.requests == []


async def test_sessions_without_a_header_are_told_apart_by_client_key(
    chat_for: Callable[..., Chat], served: Proxy, fake: FakeProvider
) -> None:
    alice = chat_for(served, api_key="sk-alice")
    bob = chat_for(served, api_key="sk-bob")

    await alice(model="gpt-fake", messages=ask("!/model(other:alice-model)"))
    await alice(model="gpt-fake", messages=ask("hi"))
    assert fake.last.model == "alice-model"
    await bob(model="gpt-fake", messages=ask("hi"))
    assert fake.last.model == "gpt-fake"
