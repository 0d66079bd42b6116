"""The routing file's JSON Schema: generated from the config models, and validated against.

The checked-in ``schemas/routing.schema.json`` is this schema with the built-in stages; a
test fails when it drifts. Validation uses the schema built at run time, so that stages
from plug-ins are validated too.

The validator is JSON Schema 2020-12 with friendlier errors: a union picks its branch by
the value's JSON type or by its discriminator instead of reporting every branch, unknown
keys are reported one by one at the key (with a did-you-mean), and so are unknown enum
values.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators

from engine.backends import kinds
from engine.config import routing_schema
from engine.diagnostics import did_you_mean
from engine.stage import registry
from engine.strategies import registry as strategies

SCHEMA_FILE = "routing.schema.json"
_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "null": type(None),
    "boolean": bool,
}


_SHIPPED = ("engine", "stages")  # the packages whose components the engine ships


def _wanted(cls: type, plugins: bool) -> bool:
    return plugins or cls.__module__.partition(".")[0] in _SHIPPED


def build_schema(*, plugins: bool = True) -> dict[str, Any]:
    """The routing schema for the backend kinds, strategies and stages registered now;
    without `plugins`, only for those the engine ships (the checked-in schema)."""
    stage_configs = {n: c.Config for n, c in registry().items() if _wanted(c, plugins)}
    strategy_configs = {n: c.Config for n, c in strategies().items() if _wanted(c, plugins)}
    backend_configs = {n: c.Config for n, c in kinds().items() if _wanted(c, plugins)}
    return routing_schema(backend_configs, stage_configs, strategy_configs)


def write_schema(folder: Path, *, plugins: bool = True) -> Path:
    """Write the schema to `folder`, returning the file written."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / SCHEMA_FILE
    schema = build_schema(plugins=plugins)
    target.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    return target


@dataclass(frozen=True)
class SchemaProblem:
    """A validation failure at a path inside one document."""

    path: tuple[str | int, ...]
    message: str
    code: str = "invalid-value"
    at_key: bool = False
    hint: str | None = None


def _problem(
    message: str,
    *,
    path: tuple[str | int, ...] = (),
    code: str,
    at_key: bool = False,
    hint: str | None = None,
) -> ValidationError:
    error = ValidationError(message, path=path)
    error.problem = SchemaProblem((), message, code, at_key, hint)
    return error


def _json_type(instance: Any) -> str:
    """The JSON name of a YAML value's type (`object`, not `CommentedMap`)."""
    if isinstance(instance, bool):
        return "boolean"
    if isinstance(instance, int):
        return "integer"
    if isinstance(instance, float):
        return "number"
    return next((name for name, t in _JSON_TYPES.items() if isinstance(instance, t)), "value")


def _json_type_matches(schema: dict[str, Any], instance: Any) -> bool:
    kind = schema.get("type")
    if kind is None:
        return True
    if kind in ("integer", "number"):
        return isinstance(instance, int | float) and not isinstance(instance, bool)
    return isinstance(instance, _JSON_TYPES.get(kind, object))


def _resolve(validator: Any, schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = validator._resolver.lookup(schema["$ref"]).contents
    return schema


def _union(
    validator: Any, branches: list[Any], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    discriminator = schema.get("discriminator")
    if discriminator and isinstance(instance, dict):
        name, mapping = discriminator["propertyName"], discriminator["mapping"]
        value = instance.get(name, schema.get("x-default"))
        if value is None:
            misspelt = next((k for k in instance if did_you_mean(str(k), [name])), None)
            if misspelt is not None:
                yield _problem(
                    f"unknown key {misspelt!r}",
                    path=(misspelt,),
                    code="unknown-field",
                    at_key=True,
                    hint=did_you_mean(str(misspelt), [name]),
                )
            else:
                yield _problem(
                    f"{name!r} is required",
                    code="missing-field",
                    hint=f"one of: {', '.join(mapping)}",
                )
            return
        if value not in mapping:
            hint = did_you_mean(str(value), mapping) if isinstance(value, str) else None
            yield _problem(
                f"{name} {value!r} is not one of: {', '.join(mapping)}",
                path=(name,) if name in instance else (),
                code=f"unknown-{name}",
                hint=hint,
            )
            return
        yield from validator.descend(instance, {"$ref": mapping[value]})
        return
    if any(validator.evolve(schema=b).is_valid(instance) for b in branches):
        return
    fitting = [b for b in branches if _json_type_matches(_resolve(validator, b), instance)]
    if len(fitting) == 1:
        yield from validator.descend(instance, fitting[0])
        return
    kinds = sorted({str(_resolve(validator, b).get("type", "value")) for b in branches})
    yield _problem(
        f"expected {' or '.join(kinds)}, got {_json_type(instance)}", code="invalid-type"
    )


def _additional_properties(
    validator: Any, allowed: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not isinstance(instance, dict):
        return
    known = set(schema.get("properties", {}))
    if allowed is False:
        code = schema.get("x-unknown-code", "unknown-field")
        noun = "stage" if code == "unknown-stage" else "key"
        for key in instance:
            if key not in known:
                yield _problem(
                    f"unknown {noun} {key!r}",
                    path=(key,),
                    code=code,
                    at_key=True,
                    hint=did_you_mean(str(key), known),
                )
    elif isinstance(allowed, dict):
        for key, value in instance.items():
            if key not in known:
                yield from validator.descend(value, allowed, path=key)


def _enum(
    validator: Any, choices: list[Any], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if instance not in choices:
        code = schema.get("x-unknown-code", "invalid-value")
        hint = did_you_mean(instance, map(str, choices)) if isinstance(instance, str) else None
        message = (
            f"unknown stage {instance!r}"
            if code == "unknown-stage"
            else f"{instance!r} is not one of: {', '.join(map(str, choices))}"
        )
        yield _problem(message, code=code, hint=hint)


def _required(
    validator: Any, required: list[str], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not isinstance(instance, dict):
        return
    unknown = []
    if schema.get("additionalProperties") is False:
        unknown = [str(k) for k in instance if k not in schema.get("properties", {})]
    for name in required:
        # A misspelt key is reported once, as unknown with a did-you-mean, not also as missing.
        if name not in instance and not did_you_mean(name, unknown):
            yield _problem(f"{name!r} is required", code="missing-field")


def _type(
    validator: Any, types: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if "enum" in schema or "const" in schema:
        return  # the enum's or const's message, naming the values wanted, says more
    yield from Draft202012Validator.VALIDATORS["type"](validator, types, instance, schema)


_Validator = validators.extend(
    Draft202012Validator,
    {
        "anyOf": _union,
        "oneOf": _union,
        "additionalProperties": _additional_properties,
        "enum": _enum,
        "type": _type,
        "required": _required,
    },
)


def _registered() -> tuple[tuple[str, ...], ...]:
    """The names the schema is built from: a plug-in registered later makes a new one."""
    return tuple(registry()), tuple(strategies()), tuple(kinds())


@lru_cache(maxsize=4)
def _validator(registered: tuple[tuple[str, ...], ...]) -> Any:
    return _Validator(build_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def validate(document: Any) -> list[SchemaProblem]:
    """Every schema problem of one routing document, in document order."""
    problems = []
    for error in _validator(_registered()).iter_errors(document):
        found: SchemaProblem | None = getattr(error, "problem", None)
        path = tuple(error.absolute_path)
        if found is None:
            found = SchemaProblem((), _message(error), _code(error))
        problems.append(SchemaProblem(path, found.message, found.code, found.at_key, found.hint))
    return problems


_BOUNDS = {
    "minimum": "at least",
    "exclusiveMinimum": "more than",
    "maximum": "at most",
    "exclusiveMaximum": "less than",
}


def _code(error: ValidationError) -> str:
    if error.validator == "format" and error.validator_value == "regex":
        return "bad-regex"
    return {"type": "invalid-type"}.get(str(error.validator), "invalid-value")


def _message(error: ValidationError) -> str:
    if error.validator == "type":
        return f"expected {error.validator_value}, got {_json_type(error.instance)}"
    if error.validator == "format" and error.validator_value == "regex":
        return f"invalid regular expression: {error.cause or error.instance}"
    bound = _BOUNDS.get(str(error.validator))
    if bound is not None:
        return f"expected {bound} {error.validator_value}, got {error.instance!r}"
    if error.validator == "const":
        return f"expected {error.validator_value!r}, got {error.instance!r}"
    if error.validator in ("minProperties", "maxProperties") and (
        error.schema.get("x-unknown-code") == "unknown-stage"  # a `{stage: config}` step
    ):
        names = ", ".join(map(str, error.instance)) or "none"
        return f"a step names one stage as {{stage: config}}; this one names {names}"
    return error.message
