"""One way to ask through the OpenAI SDK, sync or async, streaming or not, for table tests.

The sync client runs in a worker thread so that one async test body covers both clients;
either way the official SDK does the HTTP, the SSE parsing and the error mapping.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from tests.support.streams import Assembled, AssembledCall, aassemble, assemble

Flavour = Literal["sync", "async"]

CLIENT_KEY = "sk-client-test"
SDK_TIMEOUT_SECS = 15.0


def ask(text: str) -> list[ChatCompletionMessageParam]:
    """A conversation of one user message."""
    return [{"role": "user", "content": text}]


@dataclass
class Answer:
    """What a client got, in the same shape whether it streamed or not."""

    text: str
    calls: list[AssembledCall]
    finish_reason: str | None
    usage: Any
    model: str
    id: str

    @classmethod
    def from_completion(cls, completion: ChatCompletion) -> Answer:
        """From a non-streaming completion."""
        choice = completion.choices[0]
        calls = [
            AssembledCall(c.id, c.function.name, c.function.arguments, c.type)
            for c in choice.message.tool_calls or ()
            if c.type == "function"
        ]
        return cls(
            text=choice.message.content or "",
            calls=calls,
            finish_reason=choice.finish_reason,
            usage=completion.usage,
            model=completion.model,
            id=completion.id,
        )

    @classmethod
    def from_stream(cls, assembled: Assembled) -> Answer:
        """From a stream read to its end."""
        first = assembled.chunks[0]
        return cls(
            text=assembled.text,
            calls=[assembled.calls[i] for i in sorted(assembled.calls)],
            finish_reason=assembled.finish_reason,
            usage=assembled.usage,
            model=first.model,
            id=first.id,
        )


class Chat:
    """Ask for a chat completion with one flavour of client."""

    def __init__(
        self, *, client: openai.OpenAI | None = None, aclient: openai.AsyncOpenAI | None = None
    ) -> None:
        assert (client is None) != (aclient is None), "one client, sync or async"
        self.client = client
        self.aclient = aclient

    @property
    def flavour(self) -> Flavour:
        """Which client asks."""
        return "sync" if self.client is not None else "async"

    def __repr__(self) -> str:
        return f"Chat({self.flavour})"

    async def __call__(self, *, stream: bool = False, **params: Any) -> Answer:
        """`chat.completions.create(**params)`, read to its end."""
        if self.aclient is not None:
            if stream:
                chunks = await self.aclient.chat.completions.create(stream=True, **params)
                return Answer.from_stream(await aassemble(chunks))
            return Answer.from_completion(await self.aclient.chat.completions.create(**params))

        client = self.client
        assert client is not None

        def call() -> Answer:
            if stream:
                chunks = client.chat.completions.create(stream=True, **params)
                return Answer.from_stream(assemble(chunks))
            return Answer.from_completion(client.chat.completions.create(**params))

        return await asyncio.to_thread(call)
