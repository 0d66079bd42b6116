"""`redact_secrets`: credentials never reach a model, in any turn of the conversation."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from engine.logs import secrets_pattern
from engine.model import Message, Part, TextPart, ToolCallPart, ToolResultPart
from engine.secret_shapes import SHAPES, shapes_pattern
from engine.sessions import switch
from engine.stage import Answer, Exchange, Stage, StrictModel, stage

ShapeName = Literal[tuple(SHAPES)]  # type: ignore[valid-type]
_CLEAN_TEXTS = 8192  # texts known to hold no secret, remembered across an agent's turns


@stage("redact_secrets")
class RedactSecrets(Stage):
    """Replaces API keys and tokens in everything the model reads: the system prompt,
    every message, tool results and earlier tool calls' arguments. It finds every
    configured backend's key and the common shapes (OpenAI, Anthropic, Google, GitHub,
    AWS, Slack, Stripe, JWTs, private key blocks, …). Edited parts keep their vendor
    fields, so an Anthropic `cache_control` marker stays on its block; reasoning is left
    as it is (the provider signed it). `!/set(redaction=off)` turns it off for a session."""

    class Config(StrictModel):
        """What to find, and what it becomes."""

        shapes: list[ShapeName] | None = Field(  # type: ignore[valid-type]
            default=None, description="the credential shapes to find (default: all of them)"
        )
        backend_keys: bool = Field(
            default=True, description="also every API key the routing files configure"
        )
        words: list[str] = Field(
            default_factory=list, description="other secrets to hide, matched as written"
        )
        replacement: str = Field(
            default="[REDACTED:{kind}]",
            description="what a secret becomes; `{kind}` is its shape (`backend-key`, `word`)",
        )

    config: Config
    operations = frozenset({"chat", "count_tokens"})  # a count sees what the model would

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._shapes = shapes_pattern(config.shapes)
        self._words = _literal_pattern(config.words)
        self._key_replacement = config.replacement.format(kind="backend-key")
        self._word_replacement = config.replacement.format(kind="word")
        self._keys: re.Pattern[str] | None = None
        self._clean: OrderedDict[tuple[int, int], None] = OrderedDict()
        self.redacted = 0  # secrets replaced since the graph was loaded

    def redact(self, text: str) -> str:
        """`text` with every secret replaced (the same object when it has none)."""
        key = (len(text), hash(text))
        if key in self._clean:
            return text
        out = self._shapes.sub(self._shape_replacement, text)
        if self._keys is not None:
            out = self._keys.sub(self._key_replacement, out)
        if self._words is not None:
            out = self._words.sub(self._word_replacement, out)
        if out == text:
            self._clean[key] = None
            if len(self._clean) > _CLEAN_TEXTS:
                self._clean.popitem(last=False)
            return text
        self.redacted += 1
        return out

    async def on_request(self, ctx: Exchange) -> Answer | None:
        """Redact every part of the request; parts without a secret stay as they are."""
        if switch(ctx.session, "redaction") is False:
            return None
        self._follow_backend_keys()
        request = ctx.request
        system = [self._text(part) for part in request.system]
        messages = [self._message(message) for message in request.messages]
        unchanged = _same(system, request.system) and _same(messages, request.messages)
        if not unchanged:
            ctx.request = request.model_copy(update={"system": system, "messages": messages})
        return None

    def _shape_replacement(self, match: re.Match[str]) -> str:
        return self.config.replacement.format(kind=match.lastgroup or "secret")

    def _follow_backend_keys(self) -> None:
        """Take the backend keys registered so far (each backend registers its own)."""
        keys = secrets_pattern() if self.config.backend_keys else None
        if keys is not self._keys:
            self._keys = keys
            self._clean.clear()  # a text clean before may hold the new key

    def _message(self, message: Message) -> Message:
        content = [self._part(part) for part in message.content]
        if _same(content, message.content):
            return message
        return message.model_copy(update={"content": content})

    def _part(self, part: Part) -> Part:
        if isinstance(part, TextPart):
            return self._text(part)
        if isinstance(part, ToolResultPart):
            content = [self._text(p) if isinstance(p, TextPart) else p for p in part.content]
            if _same(content, part.content):
                return part
            return part.model_copy(update={"content": content})
        if isinstance(part, ToolCallPart):
            arguments = self.redact(part.arguments)  # no shape spans a JSON escape
            return (
                part
                if arguments is part.arguments
                else part.model_copy(update={"arguments": arguments})
            )
        return part

    def _text(self, part: TextPart) -> TextPart:
        text = self.redact(part.text)
        return part if text is part.text else part.model_copy(update={"text": text})


def _literal_pattern(words: list[str]) -> re.Pattern[str] | None:
    """One pattern for `words`, the longest first; None for none."""
    words = sorted({word for word in words if word}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, words))) if words else None


def _same(new: Sequence[object], old: Sequence[object]) -> bool:
    return all(a is b for a, b in zip(new, old, strict=True))
