"""A client that goes away cancels the upstream request; the proxy keeps serving."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

from tests.support.fake_openai import FakeProvider, Hang
from tests.support.proxy import Proxy
from tests.support.sdk import Chat, ask


def test_closing_a_sync_stream_cancels_upstream(client: openai.OpenAI, fake: FakeProvider) -> None:
    hang = fake.script(Hang(prefix="Once upon a time"))

    stream = client.chat.completions.create(model="gpt-fake", messages=ask("story"), stream=True)
    seen = ""
    for chunk in stream:
        seen += "".join(c.delta.content or "" for c in chunk.choices)
        if seen == hang.prefix:
            break
    hang.reached.wait()
    stream.close()

    hang.closed_early.wait()
    assert not hang.finished.is_set()
    assert not hang.released.is_set()


async def test_closing_an_async_stream_cancels_upstream(
    aclient: openai.AsyncOpenAI, fake: FakeProvider
) -> None:
    hang = fake.script(Hang(prefix="It was a dark and stormy night"))

    stream = await aclient.chat.completions.create(
        model="gpt-fake", messages=ask("story"), stream=True
    )
    seen = ""
    async for chunk in stream:
        seen += "".join(c.delta.content or "" for c in chunk.choices)
        if seen == hang.prefix:
            break
    await hang.reached.wait_async()
    await stream.close()

    await hang.closed_early.wait_async()
    assert not hang.finished.is_set()


def test_dropping_the_connection_mid_stream_cancels_upstream(
    served: Proxy, fake: FakeProvider
) -> None:
    hang = fake.script(Hang(prefix="partial"))
    body = {"model": "gpt-fake", "messages": ask("story"), "stream": True}

    with (
        httpx.Client() as http,
        http.stream("POST", f"{served.url}/chat/completions", json=body) as response,
    ):
        assert response.status_code == 200
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
        hang.reached.wait()

    hang.closed_early.wait()
    assert not hang.finished.is_set()


async def test_giving_up_on_a_whole_response_cancels_upstream(
    aclient: openai.AsyncOpenAI, fake: FakeProvider
) -> None:
    hang = fake.script(Hang())
    waiting = asyncio.create_task(
        aclient.chat.completions.create(model="gpt-fake", messages=ask("slow"))
    )
    await hang.reached.wait_async()

    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting

    await hang.closed_early.wait_async()
    assert not hang.finished.is_set()


async def test_the_proxy_serves_on_after_a_cancelled_stream(
    chat: Chat, served: Proxy, fake: FakeProvider
) -> None:
    hang = fake.script(Hang(prefix="first"))
    body = {"model": "gpt-fake", "messages": ask("one"), "stream": True}
    async with (
        httpx.AsyncClient() as http,
        http.stream("POST", f"{served.url}/chat/completions", json=body) as response,
    ):
        await anext(response.aiter_lines())
    await hang.closed_early.wait_async()

    answer = await chat(model="gpt-fake", messages=ask("two"), stream=True)

    assert answer.text == "gpt-fake heard: two"


async def test_a_released_hang_finishes_normally(chat: Chat, fake: FakeProvider) -> None:
    # The control case: the same reply, not abandoned, is written to its end.
    hang = fake.script(Hang(prefix="Hello", rest=" world"))
    hang.release()

    answer = await chat(model="gpt-fake", messages=ask("hi"), stream=True)

    assert answer.text == "Hello world"
    await hang.finished.wait_async()
    assert not hang.closed_early.is_set()
