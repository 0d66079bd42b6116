"""An example third-party stage: `redact_words` hides chosen words from the model and the client.

It is written against the stage API alone (`engine.stage`, and the canonical model in
`engine.model`) and registered through the `engine.stages` entry point in its
`pyproject.toml`: nothing in `engine/` knows of it. Its request hook replaces the words in
every text the model would read (system prompt, messages, tool results) with
`part.model_copy(...)`, which keeps each part's vendor fields, so an Anthropic
`cache_control` marker stays on the block it was on. Its event hook does the same to the
reply as it streams, holding back the end of the text while it could still be the start
of a word (`HoldBack`), so a word split over two deltas is caught too. It leaves tool-call
arguments and reasoning alone: the one is JSON the client parses, the other is signed by
the provider, which refuses it edited.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from pydantic import Field

from engine.model import Message, Part, TextDelta, TextPart, ToolResultPart
from engine.stage import Answer, Event, Exchange, HoldBack, Stage, StrictModel, stage


@stage("redact_words")
class RedactWords(Stage):
    """Replaces chosen words in what the model reads (system prompt, messages, tool
    results) and in the text the client gets back, streamed or not."""

    class Config(StrictModel):
        """The words to hide and what to show instead."""

        words: list[str] = Field(min_length=1, description="words to hide, matched as written")
        replacement: str = Field(default="[redacted]", description="what a word becomes")

    config: Config
    operations = frozenset({"chat", "count_tokens"})  # a count sees what the model would

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        words = sorted(set(config.words), key=len, reverse=True)  # the longest match first
        self._pattern = re.compile("|".join(map(re.escape, words)))

    def redact(self, text: str) -> str:
        """`text` with every word replaced."""
        return self._pattern.sub(self.config.replacement, text)

    async def on_request(self, ctx: Exchange) -> Answer | None:
        """Redact every text of the request; parts without the words stay as they are."""
        request = ctx.request
        system = [self._text(part) for part in request.system]
        messages = [self._message(message) for message in request.messages]
        ctx.request = request.model_copy(update={"system": system, "messages": messages})
        return None

    async def on_events(self, ctx: Exchange, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        """Redact the reply's text as it streams; any other event first lets the held
        text go, so that the order of what the client sees is kept."""
        held = HoldBack(prefixes=self.config.words)
        phase: str | None = None  # of held text whose delta said it starts a message
        async for event in events:
            if isinstance(event, TextDelta):
                phase = event.phase or phase
                if piece := held.push(event.text):
                    yield TextDelta(text=self.redact(piece), phase=phase)
                    phase = None
                continue
            if rest := held.flush():
                yield TextDelta(text=self.redact(rest), phase=phase)
            phase = None
            yield event
        if rest := held.flush():  # a stream that ended without a finish
            yield TextDelta(text=self.redact(rest), phase=phase)

    def _message(self, message: Message) -> Message:
        content = [self._part(part) for part in message.content]
        if all(new is old for new, old in zip(content, message.content, strict=True)):
            return message
        return message.model_copy(update={"content": content})

    def _part(self, part: Part) -> Part:
        if isinstance(part, TextPart):
            return self._text(part)
        if isinstance(part, ToolResultPart):
            content = [self._text(c) if isinstance(c, TextPart) else c for c in part.content]
            if any(new is not old for new, old in zip(content, part.content, strict=True)):
                return part.model_copy(update={"content": content})
        return part

    def _text(self, part: TextPart) -> TextPart:
        if not self._pattern.search(part.text):
            return part
        return part.model_copy(update={"text": self.redact(part.text)})  # vendor fields kept
