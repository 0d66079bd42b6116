"""In-chat commands such as `!/model(BACKEND:MODEL)` and `!/set(temperature=0.2)`, kept
per session (the commands themselves: `stages.command_set`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import Field

from engine.config import StrictModel
from engine.diagnostics import did_you_mean
from engine.model import Message, Part, TextPart
from engine.parameters import split_selector
from engine.sessions import SWITCHES
from engine.stage import Answer, Exchange, Stage, Target, stage
from engine.strategies import create as create_strategy
from stages.command_arguments import ARGUMENTS_PATTERN, ArgumentError, parse_arguments
from stages.command_set import (
    BACKEND_KEY,
    HANDLERS,
    MODEL_KEY,
    ONEOFF_KEY,
    PARAMS_KEY,
    PREFIX_KEY,
    ROUTES_KEY,
    Command,
)

__all__ = ["MODEL_KEY", "Commands"]


class _Syntax:
    """The patterns commands with one prefix are found with."""

    def __init__(self, prefix: str) -> None:
        # A command starts a word (so `#!/bin/bash` and `…/#!/page` are left alone), and only
        # registered names are acted on: any other text reaches the model as written.
        start = r"(?<!\S)" + re.escape(prefix)
        names = "|".join(sorted(map(re.escape, HANDLERS), key=len, reverse=True))
        self.pattern = re.compile(start + rf"({names})(?![\w-])(?:{ARGUMENTS_PATTERN})?")
        # Removing a command takes the blanks before it, so no double space is left behind.
        self.removal = re.compile(r"[ \t]*" + self.pattern.pattern)
        # A message made only of command-like words, known or not, is answered by the proxy.
        self.word = re.compile(start + rf"([\w-]+)(?:{ARGUMENTS_PATTERN})?")
        self.only_commands = re.compile(rf"\s*(?:{self.word.pattern}\s*)+")


@lru_cache(maxsize=64)
def _syntax(prefix: str) -> _Syntax:
    return _Syntax(prefix)


@stage("commands")
class Commands(Stage):
    """Runs in-chat commands written in the user's last message, per session.

    `!/model(BACKEND:MODEL)` sends the session's later requests to that model, `!/set(…)`
    sets request parameters and switches, `!/status` says where requests go and why;
    `!/help` lists them all. A message made only of commands is answered by the proxy
    itself; otherwise the commands are removed and the rest of the message goes on to the
    model. Earlier turns have their commands removed too, so the model never sees them.
    """

    class Config(StrictModel):
        """Where commands start."""

        prefix: str = Field(default="!/", min_length=1, description="what starts a command")

    config: Config
    operations = frozenset({"chat", "count_tokens"})

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        _syntax(config.prefix)  # a bad prefix fails at load time, not on a request
        # How a session route's targets answer (they come with each request, not from here).
        self._failover = create_strategy("failover", targets=["session route"])

    def _prefix(self, state: Mapping[str, Any]) -> str:
        """What starts a command for a session with this state."""
        return str(state.get(PREFIX_KEY) or self.config.prefix)

    async def on_request(self, ctx: Exchange) -> Answer | None:
        """Run the last message's commands; apply the session's state to the request. A
        count of tokens runs no command (it only reads the session): its commands are left
        out of what is counted."""
        syntax = _syntax(self._prefix(self.session_state(ctx)))
        messages = ctx.request.messages
        replies: list[str] = []
        rest = None
        if ctx.operation != "chat":
            if messages and messages[-1].role == "user":
                rest = self._strip(messages[-1], syntax)
                messages = [*messages[:-1], *([rest] if rest else [])]
            self._continue(ctx, self._clean_history(messages, syntax), consume=False)
            return None
        if messages and messages[-1].role == "user":
            last = messages[-1]
            text = last.text()
            found = list(syntax.pattern.finditer(text))
            if not found and syntax.only_commands.fullmatch(text):  # unknown ones only
                found = list(syntax.word.finditer(text))
            if found:
                replies = await self._run_all(ctx, found)
                rest = self._strip(last, syntax) if syntax.pattern.search(text) else None
        history = self._clean_history(messages[:-1] if replies else messages, syntax)
        if replies and rest is None:
            return Answer.text("\n".join(replies), model=ctx.request.model)
        self._continue(ctx, [*history, rest] if rest else history, consume=True)
        return None

    async def _run_all(self, ctx: Exchange, found: list[re.Match[str]]) -> list[str]:
        """Run the commands in order on one copy of the session's state; keep it if any
        changed it."""
        state = dict(self.session_state(ctx))
        switches = dict(ctx.session.get(SWITCHES))
        before = (dict(state), dict(switches))
        replies = []
        for match in found:
            name, text = match.group(1), match.group(2)
            command = Command(
                name,
                None,
                ctx,
                state,
                self._prefix(state),
                self.config.prefix,
                [usage for _, usage in HANDLERS.values()],
                switches,
            )
            replies.append(await self._run(command, text))
        if state != before[0]:
            self.set_session_state(ctx, state)
        if switches != before[1]:
            ctx.session.set(SWITCHES, switches)
        return replies

    async def _run(self, command: Command, text: str | None) -> str:
        entry = HANDLERS.get(command.name)
        if entry is None:
            hint = did_you_mean(command.name, HANDLERS)
            return f"Unknown command {command.prefix}{command.name}." + (
                f" {hint[:1].upper()}{hint[1:]}" if hint else f" Try {command.prefix}help."
            )
        if text is not None:
            try:
                command.arguments = parse_arguments(text)
            except ArgumentError as exc:
                return f"{command.prefix}{command.name}: {exc}."
        return await entry[0](command)

    def _continue(self, ctx: Exchange, messages: list[Message], *, consume: bool) -> None:
        """Go on with `messages`, routed and parameterised as the session says (the
        request is left as it is when nothing changes it). A one-off model is used up by
        the request it goes with (`consume`)."""
        state = self.session_state(ctx)
        update: dict[str, object] = {}
        if messages is not ctx.request.messages:
            update["messages"] = messages
        model = state.get(ONEOFF_KEY) or state.get(MODEL_KEY)
        if state.get(ONEOFF_KEY) and consume:
            self.set_session_state(ctx, {k: v for k, v in state.items() if k != ONEOFF_KEY})
        if not model and state.get(BACKEND_KEY):
            asked = ctx.request.model
            backend, sep, name = asked.partition(":")
            model = f"{state[BACKEND_KEY]}:{name if sep and backend in ctx.backends else asked}"
        routes = state.get(ROUTES_KEY) or {}
        route_name = model or ctx.request.model
        if routes.get(route_name):
            targets = []
            for text in routes[route_name]:
                name, selected = split_selector(text)
                backend, _, target_model = name.partition(":")
                targets.append(Target(backend, target_model, selected))
            ctx.targets = targets
            ctx.strategy = self._failover
        elif model:
            update["model"] = model
        params = state.get(PARAMS_KEY)
        if params:
            ctx.parameters = tuple(params.items())
        if update:
            ctx.request = ctx.request.model_copy(update=update)

    def _strip(self, message: Message, syntax: _Syntax) -> Message | None:
        """`message` without its commands; None when nothing else is left."""
        parts: list[Part] = []
        for part in message.content:
            if isinstance(part, TextPart):
                text = syntax.removal.sub("", part.text).strip()
                if text:  # a copy keeps the part's vendor fields (Anthropic's cache_control)
                    parts.append(
                        part if text == part.text else part.model_copy(update={"text": text})
                    )
            else:
                parts.append(part)
        return message.model_copy(update={"content": parts}) if parts else None

    def _clean_history(self, messages: list[Message], syntax: _Syntax) -> list[Message]:
        """Earlier turns without commands; a command-only turn goes with the proxy's reply.
        `messages` itself when no turn has a command."""
        search = syntax.pattern.search
        if not any(m.role == "user" and search(m.text()) for m in messages):
            return messages
        cleaned: list[Message] = []
        skip_reply = False
        for message in messages:
            if skip_reply and message.role == "assistant":
                skip_reply = False
                continue
            skip_reply = False
            if message.role == "user" and search(message.text()):
                stripped = self._strip(message, syntax)
                if stripped is None:
                    skip_reply = True
                    continue
                message = stripped
            cleaned.append(message)
        return cleaned
