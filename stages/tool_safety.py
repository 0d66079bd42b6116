"""`tool_safety`: dangerous tool calls never reach the agent that would run them."""

from __future__ import annotations

import fnmatch
import logging
import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

from pydantic import Field, field_validator

from engine.model import TextDelta
from engine.sessions import switch
from engine.stage import Answer, Event, Exchange, Stage, StreamCutter, StrictModel, ToolCall, stage
from stages.shell_commands import DEFAULT_ALLOWED, RULES, command_text, find_danger

log = logging.getLogger("engine.stages.tool_safety")

# Argument names that hold a file or directory path, in the tools agents use.
PATH_KEYS = frozenset(
    {
        "path",
        "paths",
        "file",
        "file_path",
        "filepath",
        "filename",
        "target_file",
        "notebook_path",
        "directory",
        "dir",
        "dir_path",
        "cwd",
        "workdir",
        "working_directory",
        "source",
        "destination",
    }
)


@stage("tool_safety")
class ToolSafety(Stage):
    """Stops the tool calls an unattended agent should not run: shell commands that
    destroy work or systems (`git reset --hard`, `git push --force`, `rm -rf ~`, `mkfs`,
    `chmod -R 777 /`, …, after undoing the disguises: ANSI codes, look-alike Unicode,
    quoting, `sh -c`, chains), tools outside the allow list or on the deny list, and paths
    outside the project root. A stopped call is replaced by a note saying what was
    stopped and why, which the agent can act on; the tool definitions the model gets
    leave the disallowed tools out. `!/set(tool-safety=off)` turns it off for a session."""

    class Config(StrictModel):
        """What is stopped."""

        commands: bool = Field(default=True, description="stop dangerous shell commands")
        allowed_rules: list[str] = Field(
            default_factory=lambda: sorted(DEFAULT_ALLOWED),
            description="command rules let through (e.g. `git-push-force` on a fork of "
            "your own); the rules are listed in the README",
        )
        allow_tools: list[str] | None = Field(
            default=None, description="globs of the only tool names the model may call"
        )
        deny_tools: list[str] = Field(
            default_factory=list, description="globs of tool names the model may not call"
        )
        project_root: str | None = Field(
            default=None,
            description="paths in tool arguments must lie under this directory (symlinks "
            "resolved; relative paths are taken from it)",
        )

        @field_validator("allowed_rules")
        @classmethod
        def _known_rules(cls, rules: list[str]) -> list[str]:
            unknown = sorted(set(rules) - set(RULES))
            if unknown:
                raise ValueError(f"unknown rules {unknown}; the rules are {sorted(RULES)}")
            return rules

    config: Config
    operations = frozenset({"chat", "count_tokens"})  # a count sees the tools the model would

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._allowed = frozenset(config.allowed_rules)
        self._root = os.path.realpath(os.path.expanduser(config.project_root or "")) or None
        self.blocked: Counter[str] = Counter()  # calls stopped since the graph was loaded, by why

    def counters(self) -> dict[str, Counter[str]]:
        """Calls stopped, by rule."""
        return {"blocked": self.blocked}

    def tool_allowed(self, name: str) -> bool:
        """Whether the tool lists let the model call `name`."""
        allow = self.config.allow_tools
        if allow is not None and not any(fnmatch.fnmatchcase(name, g) for g in allow):
            return False
        return not any(fnmatch.fnmatchcase(name, glob) for glob in self.config.deny_tools)

    def why_stopped(self, name: str, arguments: Any) -> tuple[str, str] | None:
        """The rule that stops a call to `name` with these (parsed) arguments, and a
        sentence for the agent; None when it may run."""
        if not self.tool_allowed(name):
            return "tool-denied", f"the tool `{name}` is not allowed on this route"
        if self.config.commands and (command := command_text(arguments)) is not None:
            danger = find_danger(command, allowed=self._allowed)
            if danger is not None:
                return danger.rule, f"`{danger.command}` {danger.reason}"
        if self._root is not None:
            for path in _paths(arguments):
                if not self._inside_root(path):
                    return "path-outside-root", (
                        f"the path `{path}` is outside the project root `{self._root}`"
                    )
        return None

    async def on_request(self, ctx: Exchange) -> Answer | None:
        """Leave the disallowed tools out of what the model is offered."""
        if switch(ctx.session, "tool-safety") is False or not ctx.request.tools:
            return None
        if self.config.allow_tools is None and not self.config.deny_tools:
            return None
        tools = [tool for tool in ctx.request.tools if self.tool_allowed(tool.name)]
        if len(tools) != len(ctx.request.tools):
            ctx.request = ctx.request.model_copy(update={"tools": tools})
        return None

    async def on_events(self, ctx: Exchange, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        """The events, each whole tool call passed on or replaced by a note."""
        if switch(ctx.session, "tool-safety") is False:
            async for event in events:
                yield event
            return
        stream = StreamCutter(events)
        async for item in stream:
            if not isinstance(item, ToolCall):
                yield item
                continue
            stopped = self.why_stopped(item.name, item.parsed)
            if stopped is None:
                for event in stream.release(item):
                    yield event
                continue
            rule, why = stopped
            self.blocked[rule] += 1
            log.warning("route %s: stopped a call to %s (%s): %s", ctx.route, item.name, rule, why)
            yield TextDelta(
                text=f"\n[proxy: the call to `{item.name}` was stopped: {why} (rule {rule}). "
                "It was not run. Do something safer, or ask the user to run it.]\n"
            )

    def _inside_root(self, path: str) -> bool:
        assert self._root is not None
        full = os.path.join(self._root, os.path.expanduser(path))
        resolved = os.path.realpath(full)
        return resolved == self._root or resolved.startswith(self._root.rstrip(os.sep) + os.sep)


def _paths(arguments: Any) -> Iterator[str]:
    """The path-like values of a call's arguments (strings, and lists of them)."""
    if not isinstance(arguments, dict):
        return
    for key, value in arguments.items():
        if key.lower() not in PATH_KEYS:
            continue
        values = value if isinstance(value, list) else [value]
        yield from (v for v in values if isinstance(v, str) and v)
