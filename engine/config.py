"""The routing file's models: the single source of its JSON Schema and of its validation.

Backend configs come from the backend kinds (``engine.backends``) and stage configs from the
stage registry; :func:`routing_schema` assembles them into one JSON Schema.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FRONTENDS = ("openai_chat", "openai_responses", "anthropic", "gemini")
Frontend = Literal["openai_chat", "openai_responses", "anthropic", "gemini"]


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RegexPattern(StrictModel):
    """A regular expression matched against the whole model name."""

    regex: str = Field(
        description="Python regular expression, matched in full",
        json_schema_extra={"format": "regex"},
    )


ModelPattern = Annotated[
    str | RegexPattern,
    Field(description="a glob such as `claude-*`, or `{regex: ...}`"),
]


def compile_pattern(pattern: str | RegexPattern) -> re.Pattern[str]:
    """A compiled full-match pattern for a glob or a `{regex: …}` (raises `re.error`)."""
    if isinstance(pattern, RegexPattern):
        return re.compile(rf"(?:{pattern.regex})\Z")
    return re.compile(fnmatch.translate(pattern))


class Match(StrictModel):
    """Which requests a route takes."""

    frontend: Frontend | Annotated[list[Frontend], Field(min_length=1)] | None = Field(
        default=None, description="front-end(s) the route serves; all when omitted"
    )
    model: ModelPattern = Field(default="*", description="the client's model: glob or regex")


Step = Annotated[
    str | dict[str, Any],
    Field(description="a stage name, `{stage: config}`, or the name of an entry of `stages:`"),
]


class Route(StrictModel):
    """One route: a match, request stages, the backend step and response stages."""

    name: str = Field(description="shown in logs, `engine graph` and diagnostics")
    match: Match = Field(default_factory=Match, description="which requests this route takes")
    request: list[Step] = Field(default_factory=list, description="stages run before the backend")
    backend: dict[str, Any] = Field(
        description="the backends that answer: a `strategy` (default `single`), its `targets` "
        "and the strategy's own keys"
    )
    response: list[Step] = Field(
        default_factory=list, description="stages run over the response's event stream"
    )


class StageEntry(StrictModel):
    """A named, configured stage instance to reuse across routes."""

    use: str = Field(description="the registered stage kind")
    with_: dict[str, Any] | None = Field(
        default=None, alias="with", description="the stage's configuration"
    )


class Pipeline(StrictModel):
    """Stages around every route: the request ones run before a route is matched (so that
    they may change the model it is matched on), the response ones outermost."""

    request: list[Step] = Field(default_factory=list, description="stages before any route's")
    response: list[Step] = Field(default_factory=list, description="stages after any route's")


class RoutingFile(StrictModel):
    """One routing file. All files of a routes folder form one graph."""

    version: Literal[1] = Field(default=1, description="routing file format version")
    backends: dict[str, Any] = Field(default_factory=dict, description="named upstreams")
    stages: dict[str, StageEntry] = Field(default_factory=dict, description="named stages")
    pipeline: Pipeline | None = Field(
        default=None, description="stages around every route (one file of the folder says it)"
    )
    routes: list[Route] = Field(default_factory=list, description="first match wins")


def routing_schema(
    backend_configs: Mapping[str, type[BaseModel]],
    stage_configs: Mapping[str, type[BaseModel]],
    strategy_configs: Mapping[str, type[BaseModel]],
) -> dict[str, Any]:
    """The JSON Schema of a routing file, with every backend kind, stage and strategy
    config inlined."""
    schema = RoutingFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "routing.schema.json"
    defs: dict[str, Any] = schema.setdefault("$defs", {})

    def add_def(name: str, model: type[BaseModel]) -> str:
        sub = model.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
        defs.update(sub.pop("$defs", {}))
        defs[name] = sub
        return f"#/$defs/{name}"

    mapping = {
        kind: add_def(f"backend.{kind}", cfg) for kind, cfg in sorted(backend_configs.items())
    }
    schema["properties"]["backends"]["additionalProperties"] = {
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "kind", "mapping": mapping},
    }

    strategies = {}
    for name, cfg in sorted(strategy_configs.items()):
        strategies[name] = add_def(f"strategy.{name}", cfg)
        # Each branch takes its own name only, so that plain JSON Schema tells them apart;
        # only `single` may leave it out.
        branch = defs[f"strategy.{name}"]
        branch["properties"]["strategy"] = {"const": name, "description": "how the targets answer"}
        if name != "single":
            branch["required"] = sorted({*branch.get("required", []), "strategy"})
    defs["Route"]["properties"]["backend"] = {
        "description": defs["Route"]["properties"]["backend"]["description"],
        "oneOf": [{"$ref": ref} for ref in strategies.values()],
        # No `strategy` is `single`: the validator takes `x-default` for a missing key.
        "discriminator": {"propertyName": "strategy", "mapping": strategies},
        "x-default": "single",
    }

    stage_refs = {
        name: add_def(f"stage.{name}", cfg) for name, cfg in sorted(stage_configs.items())
    }
    defs["Step"] = {
        "description": "a stage name, `{stage: config}`, or the name of an entry of `stages:`",
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "properties": {
                    name: {"anyOf": [{"$ref": ref}, {"type": "null"}]}
                    for name, ref in stage_refs.items()
                },
                "additionalProperties": False,
                "minProperties": 1,
                "maxProperties": 1,
                "x-unknown-code": "unknown-stage",
            },
        ],
    }
    for chains in (defs["Route"]["properties"], defs["Pipeline"]["properties"]):
        for key in ("request", "response"):
            chains[key]["items"] = {"$ref": "#/$defs/Step"}
    entry = defs["StageEntry"]
    entry["properties"]["use"]["enum"] = sorted(stage_refs)
    entry["properties"]["use"]["x-unknown-code"] = "unknown-stage"
    entry["allOf"] = [
        {
            # `required`: without it, an entry with no `use` would get every stage's `then`.
            "if": {"properties": {"use": {"const": name}}, "required": ["use"]},
            "then": {"properties": {"with": {"anyOf": [{"$ref": ref}, {"type": "null"}]}}},
        }
        for name, ref in stage_refs.items()
    ]
    return schema
