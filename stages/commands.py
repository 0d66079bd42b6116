"""In-chat commands such as `!/model(BACKEND:MODEL)`, kept per session."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from pydantic import Field

from engine.config import StrictModel
from engine.diagnostics import did_you_mean
from engine.model import Message, Part, TextPart
from engine.stage import Answer, Exchange, Stage, stage

MODEL_KEY = "model"

Handler = Callable[["Commands", Exchange, str | None], Awaitable[str]]


@stage("commands")
class Commands(Stage):
    """Runs in-chat commands written in the user's last message, per session.

    `!/model(BACKEND:MODEL)` sends the session's later requests to that model, `!/model()`
    clears it and `!/model` shows it; `!/help` lists the commands. A message made only of
    commands is answered by the proxy itself; otherwise the commands are removed and the
    rest of the message goes on to the model. Earlier turns have their commands removed too,
    so the model never sees them.
    """

    class Config(StrictModel):
        """Where commands start."""

        prefix: str = Field(default="!/", min_length=1, description="what starts a command")

    config: Config
    handlers: dict[str, tuple[Handler, str]] = {}

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        # A command starts a word (so `#!/bin/bash` and `…/#!/page` are left alone), and only
        # registered names are acted on: any other text reaches the model as written.
        start = r"(?<!\S)" + re.escape(config.prefix)
        names = "|".join(sorted(map(re.escape, self.handlers), key=len, reverse=True))
        self._pattern = re.compile(start + rf"({names})\b(?:\(([^)]*)\))?")
        # Removing a command takes the blanks before it, so no double space is left behind.
        self._removal = re.compile(r"[ \t]*" + self._pattern.pattern)
        # A message made only of command-like words, known or not, is answered by the proxy.
        self._word = re.compile(start + r"(\w+)(?:\(([^)]*)\))?")
        self._only_commands = re.compile(rf"\s*(?:{self._word.pattern}\s*)+")

    @classmethod
    def command(cls, name: str, usage: str) -> Callable[[Handler], Handler]:
        """Register a command handler under `name`, with a usage line for `!/help`."""

        def register(handler: Handler) -> Handler:
            cls.handlers[name] = (handler, usage)
            return handler

        return register

    operations = frozenset({"chat", "count_tokens"})

    async def on_request(self, ctx: Exchange) -> Answer | None:
        """Run the last message's commands; apply the session's model override. A count of
        tokens runs no command (it only reads the session): its commands are left out of
        what is counted."""
        messages = ctx.request.messages
        replies: list[str] = []
        rest = None
        if ctx.operation != "chat":
            if messages and messages[-1].role == "user":
                rest = self._strip(messages[-1])
                messages = [*messages[:-1], *([rest] if rest else [])]
            self._continue(ctx, self._clean_history(messages))
            return None
        if messages and messages[-1].role == "user":
            last = messages[-1]
            text = last.text()
            for match in self._pattern.finditer(text):
                replies.append(await self._run(ctx, match.group(1), match.group(2)))
            if replies:
                rest = self._strip(last)
            elif self._only_commands.fullmatch(text):  # unknown ones only: say so
                for match in self._word.finditer(text):
                    replies.append(await self._run(ctx, match.group(1), match.group(2)))
        history = self._clean_history(messages[:-1] if replies else messages)
        if replies and rest is None:
            return Answer.text("\n".join(replies), model=ctx.request.model)
        self._continue(ctx, [*history, rest] if rest else history)
        return None

    def _continue(self, ctx: Exchange, messages: list[Message]) -> None:
        """Go on with `messages`, to the session's model when it has one (the request is
        left as it is when neither changes it)."""
        update: dict[str, object] = {}
        if messages is not ctx.request.messages:
            update["messages"] = messages
        override = self.session_state(ctx).get(MODEL_KEY)
        if override:
            update["model"] = override
        if update:
            ctx.request = ctx.request.model_copy(update=update)

    async def _run(self, ctx: Exchange, name: str, argument: str | None) -> str:
        entry = self.handlers.get(name)
        if entry is None:
            hint = did_you_mean(name, self.handlers)
            return f"Unknown command {self.config.prefix}{name}." + (
                f" {hint[:1].upper()}{hint[1:]}" if hint else f" Try {self.config.prefix}help."
            )
        return await entry[0](self, ctx, argument)

    def _strip(self, message: Message) -> Message | None:
        """`message` without its commands; None when nothing else is left."""
        parts: list[Part] = []
        for part in message.content:
            if isinstance(part, TextPart):
                text = self._removal.sub("", part.text).strip()
                if text:  # a copy keeps the part's vendor fields (Anthropic's cache_control)
                    parts.append(
                        part if text == part.text else part.model_copy(update={"text": text})
                    )
            else:
                parts.append(part)
        return message.model_copy(update={"content": parts}) if parts else None

    def _clean_history(self, messages: list[Message]) -> list[Message]:
        """Earlier turns without commands; a command-only turn goes with the proxy's reply.
        `messages` itself when no turn has a command."""
        search = self._pattern.search
        if not any(m.role == "user" and search(m.text()) for m in messages):
            return messages
        cleaned: list[Message] = []
        skip_reply = False
        for message in messages:
            if skip_reply and message.role == "assistant":
                skip_reply = False
                continue
            skip_reply = False
            if message.role == "user" and self._pattern.search(message.text()):
                stripped = self._strip(message)
                if stripped is None:
                    skip_reply = True
                    continue
                message = stripped
            cleaned.append(message)
        return cleaned


@Commands.command("help", "!/help: list the commands")
async def _help(self: Commands, ctx: Exchange, argument: str | None) -> str:
    usages = [usage.replace("!/", self.config.prefix) for _, usage in self.handlers.values()]
    return "Commands:\n" + "\n".join(f"- {u}" for u in usages)


@Commands.command(
    "model",
    "!/model(BACKEND:MODEL): use this model for the session; "
    "!/model(): back to the client's model; !/model: show it",
)
async def _model(self: Commands, ctx: Exchange, argument: str | None) -> str:
    state = dict(self.session_state(ctx))
    if argument is None:
        current = state.get(MODEL_KEY)
        return f"Model override: {current}." if current else "No model override is set."
    argument = argument.strip()
    if not argument:
        state.pop(MODEL_KEY, None)
        self.set_session_state(ctx, state)
        return "Model override cleared."
    backend, sep, model = argument.partition(":")
    if not sep or not model:
        return f"Write the model as BACKEND:MODEL (backends: {', '.join(sorted(ctx.backends))})."
    if backend not in ctx.backends:
        hint = did_you_mean(backend, ctx.backends)
        return f"Unknown backend {backend!r}." + (
            f" {hint[:1].upper()}{hint[1:]}"
            if hint
            else f" Backends: {', '.join(sorted(ctx.backends))}."
        )
    state[MODEL_KEY] = argument
    self.set_session_state(ctx, state)
    return f"Model set to {argument} for this session."
