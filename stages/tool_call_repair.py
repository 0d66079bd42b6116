"""`tool_call_repair`: broken JSON arguments of a tool call mended, or turned into a note."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import orjson
from json_repair import repair_json
from pydantic import Field

from engine.model import TextDelta
from engine.stage import Event, Exchange, Stage, StreamCutter, StrictModel, ToolCall, stage

log = logging.getLogger("engine.stages.tool_call_repair")


@stage("tool_call_repair")
class ToolCallRepair(Stage):
    """Mends a tool call whose arguments are not valid JSON when the mending is
    unambiguous: a missing closing brace, a trailing comma, single quotes or bare keys
    (with `json-repair`), and the result is an object the tool's declared schema accepts.
    A call cut off inside a string (the reply ran out of tokens, or the model stopped
    mid-value) is not guessed at: the client gets a short note instead of the call, which
    says what went wrong, so that the agent asks again rather than runs a broken call."""

    class Config(StrictModel):
        """How strict the mending is."""

        check_schema: bool = Field(
            default=True,
            description="a mended call must also satisfy its tool's declared parameters",
        )

    config: Config

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.repaired = 0  # calls mended since the graph was loaded
        self.refused = 0  # calls replaced by a note

    async def on_events(self, ctx: Exchange, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        """The events, each whole tool call passed on, mended, or replaced by a note."""
        stream = StreamCutter(events)
        async for item in stream:
            if not isinstance(item, ToolCall):
                yield item
                continue
            if item.parsed is not None:
                out = stream.release(item)
            else:
                out = self._mended(ctx, stream, item)
            for event in out:
                yield event

    def _mended(self, ctx: Exchange, stream: StreamCutter, call: ToolCall) -> list[Event]:
        value, problem = self._repaired(ctx, call)
        if problem is None:
            self.repaired += 1
            log.info("route %s: mended the arguments of a call to %s", ctx.route, call.name)
            return stream.release(call.with_arguments(orjson.dumps(value).decode()))
        self.refused += 1
        log.warning("route %s: a call to %s was not passed on: %s", ctx.route, call.name, problem)
        return [
            TextDelta(
                text=f"\n[proxy: the call to tool `{call.name}` was not passed on: its arguments "
                f"{problem}. Call it again with complete, valid JSON arguments.]\n"
            )
        ]

    def _repaired(self, ctx: Exchange, call: ToolCall) -> tuple[Any, str | None]:
        """`call`'s arguments mended, and why they cannot be without guessing (None when
        they can)."""
        if _ends_inside_a_string(call.arguments):
            return None, "were cut off inside a string value"
        value = repair_json(call.arguments, return_objects=True)
        if not isinstance(value, dict):
            return value, "are not a JSON object"
        if not self.config.check_schema:
            return value, None
        schema = next((t.parameters for t in ctx.request.tools if t.name == call.name), None)
        if schema is None:
            return value, None
        error = _schema_error(schema, value)
        return value, None if error is None else f"are incomplete ({error})"


def _ends_inside_a_string(text: str) -> bool:
    """Whether JSON text `text` ends inside a string (it was cut off there)."""
    inside = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = inside
        elif char == '"':
            inside = not inside
    return inside


def _schema_error(schema: dict[str, Any], value: dict[str, Any]) -> str | None:
    """What `schema` finds wrong with `value` (the first error's message), or None."""
    try:
        validator = jsonschema.validators.validator_for(schema)(schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    except jsonschema.exceptions.SchemaError:
        return None  # a schema no validator reads: the client's tool, not ours to judge
    return None if error is None else error.message
