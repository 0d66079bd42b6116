"""`think_tags`: `<think>…</think>` in a model's text becomes reasoning, or is dropped."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Literal

from pydantic import Field, field_validator

from engine.model import ReasoningDelta, TextDelta
from engine.stage import Event, Exchange, HoldBack, Stage, StrictModel, stage

_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_:-]*")


@stage("think_tags")
class ThinkTags(Stage):
    """Moves what a model writes between `<think>` and `</think>` (or the configured tag
    names) out of the answer: into the reasoning channel of the client's protocol, where
    its client shows thinking, or away altogether. Tags split across deltas in any way are
    found; the rest of the text streams as it comes, held back only while its end could
    still be the start of a tag."""

    class Config(StrictModel):
        """Which tags, and where their content goes."""

        tags: list[str] = Field(
            default_factory=lambda: ["think", "thinking"],
            min_length=1,
            description="tag names whose content is reasoning (`think` for `<think>…</think>`)",
        )
        action: Literal["reasoning", "drop"] = Field(
            default="reasoning", description="what the tagged text becomes"
        )

        @field_validator("tags")
        @classmethod
        def _names(cls, tags: list[str]) -> list[str]:
            for name in tags:
                if not _TAG_NAME.fullmatch(name):
                    raise ValueError(f"{name!r} is not a tag name (write `think`, not `<think>`)")
            return tags

    config: Config

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._opening = {f"<{name}>": f"</{name}>" for name in config.tags}
        self._words = [*self._opening, *self._opening.values()]

    async def on_events(self, ctx: Exchange, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        """The events with tagged text moved; any other event first lets held text go."""
        split = _Splitter(self._opening, HoldBack(prefixes=self._words), self.config.action)
        async for event in events:
            if type(event) is TextDelta:
                for out in split.push(event.text, event.phase):
                    yield out
                continue
            for out in split.flush():
                yield out
            yield event
        for out in split.flush():  # a stream that ended without a finish
            yield out


class _Splitter:
    """Text cut at the tags into answer and reasoning, for one response."""

    __slots__ = ("_action", "_closing", "_held", "_opening", "_phase")

    def __init__(self, opening: dict[str, str], held: HoldBack, action: str) -> None:
        self._opening = opening
        self._held = held
        self._action = action
        self._closing: str | None = None  # the tag that ends the reasoning we are in
        self._phase: str | None = None  # of held text whose delta said it starts a message

    def push(self, text: str, phase: str | None) -> Iterator[Event]:
        self._phase = phase or self._phase
        piece = self._held.push(text)
        return self._split(piece) if piece else iter(())

    def flush(self) -> Iterator[Event]:
        rest = self._held.flush()
        return self._split(rest) if rest else iter(())

    def _split(self, piece: str) -> Iterator[Event]:
        assert self._held.pattern is not None
        start = 0
        for match in self._held.pattern.finditer(piece):
            tag = match.group()
            if self._closing is None and tag in self._opening:
                yield from self._out(piece[start : match.start()])
                self._closing = self._opening[tag]
                start = match.end()
            elif tag == self._closing:
                yield from self._out(piece[start : match.start()])
                self._closing = None
                start = match.end()
        yield from self._out(piece[start:])

    def _out(self, text: str) -> Iterator[Event]:
        if not text:
            return
        if self._closing is None:
            yield TextDelta(text=text, phase=self._phase)
            self._phase = None
        elif self._action == "reasoning":
            yield ReasoningDelta(text=text)
