"""The routing file's JSON Schema: the checked-in file, the models behind it, the validator."""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, TypeAdapter
from ruamel.yaml import YAML

from engine import config
from engine.backends import KINDS
from engine.loader import NOT_ROUTING
from engine.schema import SCHEMA_FILE, SchemaProblem, build_schema, validate, write_schema
from engine.stage import registry
from engine.strategies import registry as strategies

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "schemas" / SCHEMA_FILE
# The example of a plug-in stage: its graph needs the plug-in's schema too.
PLUGIN_GRAPH = ROOT / "examples" / "plugin-stage" / "routes.yaml"
# Graphs that must be valid for an editor using the checked-in schema, not only for the engine.
VALID_GRAPHS = sorted(
    {
        ROOT / "routes" / "default.yaml",
        *(p for p in (ROOT / "examples").glob("*/*.yaml") if p.name not in NOT_ROUTING),
        *(ROOT / "tests" / "check" / "good").glob("*.yaml"),
    }
    - {PLUGIN_GRAPH}
)


def _plain_validator() -> Draft202012Validator:
    schema = json.loads(CHECKED_IN.read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


# --- the checked-in schema ---------------------------------------------------------------


def test_checked_in_schema_is_current() -> None:
    checked_in = json.loads(CHECKED_IN.read_text(encoding="utf-8"))
    assert checked_in == build_schema(plugins=False), (
        f"{CHECKED_IN.relative_to(ROOT)} is stale: run `make schemas` and commit the result"
    )


def test_checked_in_schema_is_formatted_as_written(tmp_path: Path) -> None:
    written = write_schema(tmp_path / "out", plugins=False)
    assert written == tmp_path / "out" / SCHEMA_FILE
    assert written.read_text(encoding="utf-8") == CHECKED_IN.read_text(encoding="utf-8"), (
        "run `make schemas` to rewrite the checked-in schema"
    )


def test_schema_is_a_valid_2020_12_schema() -> None:
    schema = build_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_names_every_backend_kind_and_stage() -> None:
    defs = build_schema()["$defs"]
    assert {f"backend.{kind}" for kind in KINDS} <= set(defs)
    assert {f"stage.{name}" for name in registry()} <= set(defs)
    assert defs["StageEntry"]["properties"]["use"]["enum"] == sorted(registry())


def _properties(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, definition in schema["$defs"].items():
        for key, prop in definition.get("properties", {}).items():
            yield name, key, prop


def test_every_stage_config_field_has_a_description() -> None:
    undescribed = [
        f"{name}.{key}"
        for name, key, prop in _properties(build_schema())
        if name.startswith("stage.") and not prop.get("description")
    ]
    assert undescribed == []


# --- examples and valid graphs -------------------------------------------------------------


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _config_models() -> list[type[BaseModel]]:
    """Every model a routing file is made of: the file's, the backend kinds', the stages',
    the strategies'."""
    roots = [config.RoutingFile, *(c.Config for c in KINDS.values())]
    roots += [cls.Config for cls in registry().values()]
    roots += [cls.Config for cls in strategies().values()]
    seen: dict[type[BaseModel], None] = {}
    todo = list(roots)
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen[model] = None
        for field in model.model_fields.values():
            todo.extend(_models_in(field.annotation))
    return list(seen)


def _examples(model: type[BaseModel]) -> Iterator[tuple[str, Any, Any]]:
    """(where, validator input type, example) for the model's and its fields' examples."""
    extra = model.model_config.get("json_schema_extra")
    for example in extra.get("examples", []) if isinstance(extra, dict) else []:
        yield model.__name__, model, example
    for name, field in model.model_fields.items():
        found = list(field.examples or [])
        if isinstance(field.json_schema_extra, dict):
            found += list(field.json_schema_extra.get("examples", []))  # type: ignore[arg-type]
        for example in found:
            yield f"{model.__name__}.{name}", field.annotation, example


def test_config_model_examples_and_the_default_graph_validate() -> None:
    models = _config_models()
    strategy_configs = {cls.Config for cls in strategies().values()}
    assert {config.Route, config.Match, config.StageEntry, *strategy_configs} <= set(models)
    for where, target, example in (e for m in models for e in _examples(m)):
        adapter = TypeAdapter(target)
        assert adapter.validate_python(example) is not None, where
    # Whether or not any model carries examples, the shipped graph is the example that counts.
    errors = list(_plain_validator().iter_errors(_load(ROOT / "routes" / "default.yaml")))
    assert errors == []


@pytest.mark.parametrize("path", VALID_GRAPHS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_graphs_validate_with_plain_jsonschema(path: Path) -> None:
    errors = [e.message for e in _plain_validator().iter_errors(_load(path))]
    assert errors == []


def test_a_plugin_graph_needs_the_schema_with_its_plugin() -> None:
    graph = _load(PLUGIN_GRAPH)
    assert list(_plain_validator().iter_errors(graph))  # the shipped schema has no redact_words
    with_plugins = Draft202012Validator(
        build_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    assert [e.message for e in with_plugins.iter_errors(graph)] == []


@pytest.mark.parametrize(
    ("document", "valid"),
    [
        ({"version": 1, "routes": []}, True),
        ({"version": 2}, False),
        ({"backend": {}}, False),
        ({"backends": {"m": {"kind": "mock", "reply": "hi"}}}, True),
        ({"backends": {"m": {"kind": "mock", "base_url": "http://x/v1"}}}, False),
        ({"backends": {"m": {"kind": "openai", "base_url": "http://x/v1"}}}, True),
        ({"backends": {"m": {"kind": "nope"}}}, False),
        ({"stages": {"s": {"use": "commands", "with": {"prefix": "#"}}}}, True),
        ({"stages": {"s": {"use": "commands", "with": {"rules": []}}}}, False),
        ({"stages": {"s": {"with": {"prefix": "#"}}}}, False),
        ({"stages": {"s": {"use": "nope"}}}, False),
        ({"routes": [{"name": "r", "backend": {"targets": ["m"]}}]}, True),
        ({"routes": [{"name": "r", "backend": {"targets": []}}]}, False),
        ({"routes": [{"name": "r", "backend": {"targets": ["m"]}, "request": [{}]}]}, False),
        (
            {"routes": [{"name": "r", "backend": {"targets": ["m"]}, "match": {"frontend": []}}]},
            False,
        ),
        (
            {
                "routes": [
                    {"name": "r", "backend": {"targets": ["m"]}, "match": {"model": {"regex": "("}}}
                ]
            },
            False,
        ),
    ],
)
def test_checked_in_schema_is_strict_for_editors(document: dict[str, Any], valid: bool) -> None:
    assert _plain_validator().is_valid(document) is valid


# --- the engine's validator and its messages ------------------------------------------------


def _route(**fields: Any) -> dict[str, Any]:
    return {"routes": [{"name": "r", "backend": {"targets": ["m"]}, **fields}]}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(
            {"backends": {"m": {"kind": "mock", "modles": []}}},
            [
                SchemaProblem(
                    ("backends", "m", "modles"),
                    "unknown key 'modles'",
                    "unknown-field",
                    True,
                    "did you mean 'models'?",
                )
            ],
            id="unknown-key-did-you-mean",
        ),
        pytest.param(
            {"zzz": 1},
            [SchemaProblem(("zzz",), "unknown key 'zzz'", "unknown-field", True, None)],
            id="unknown-key-no-hint",
        ),
        pytest.param(
            {"backends": {"m": {"kind": "opnai"}}},
            [
                SchemaProblem(
                    ("backends", "m", "kind"),
                    "kind 'opnai' is not one of: anthropic, gemini, mock, openai, "
                    "openai_responses, openrouter",
                    "unknown-kind",
                    False,
                    "did you mean 'openai'?",
                )
            ],
            id="unknown-kind",
        ),
        pytest.param(
            {"backends": {"m": {"models": []}}},
            [
                SchemaProblem(
                    ("backends", "m"),
                    "'kind' is required",
                    "missing-field",
                    False,
                    "one of: anthropic, gemini, mock, openai, openai_responses, openrouter",
                )
            ],
            id="missing-kind",
        ),
        pytest.param(
            {"backends": {"m": {"knd": "mock"}}},
            [
                SchemaProblem(
                    ("backends", "m", "knd"),
                    "unknown key 'knd'",
                    "unknown-field",
                    True,
                    "did you mean 'kind'?",
                )
            ],
            id="misspelt-kind-is-not-also-missing",
        ),
        pytest.param(
            {"routes": [{"nmae": "r", "backend": {"targets": ["m"]}}]},
            [
                SchemaProblem(
                    ("routes", 0, "nmae"),
                    "unknown key 'nmae'",
                    "unknown-field",
                    True,
                    "did you mean 'name'?",
                )
            ],
            id="misspelt-required-key-is-not-also-missing",
        ),
        pytest.param(
            {"routes": [{"backend": {"targets": ["m"]}}]},
            [SchemaProblem(("routes", 0), "'name' is required", "missing-field")],
            id="missing-name",
        ),
        pytest.param(
            {"stages": {"s": {"use": "comands"}}},
            [
                SchemaProblem(
                    ("stages", "s", "use"),
                    "unknown stage 'comands'",
                    "unknown-stage",
                    False,
                    "did you mean 'commands'?",
                )
            ],
            id="unknown-stage-in-use",
        ),
        pytest.param(
            _route(request=[{"comands": {}}]),
            [
                SchemaProblem(
                    ("routes", 0, "request", 0, "comands"),
                    "unknown stage 'comands'",
                    "unknown-stage",
                    True,
                    "did you mean 'commands'?",
                )
            ],
            id="unknown-stage-in-step",
        ),
        pytest.param(
            {"stages": {"s": {"with": {"prefix": "#"}}}},
            [SchemaProblem(("stages", "s"), "'use' is required", "missing-field")],
            id="entry-without-use-is-not-checked-against-every-stage",
        ),
        pytest.param(
            _route(request=[{"commands": {}, "model_rewrite": {"rules": [{"from": "a"}]}}]),
            [
                SchemaProblem(
                    ("routes", 0, "request", 0),
                    "a step names one stage as {stage: config}; this one names "
                    "commands, model_rewrite",
                )
            ],
            id="two-stages-in-one-step",
        ),
        pytest.param(
            _route(request=[7]),
            [
                SchemaProblem(
                    ("routes", 0, "request", 0),
                    "expected object or string, got integer",
                    "invalid-type",
                )
            ],
            id="union-type-names",
        ),
        pytest.param(
            _route(match={"model": {"regex": "(a"}}),
            [
                SchemaProblem(
                    ("routes", 0, "match", "model", "regex"),
                    "invalid regular expression: missing ), unterminated subpattern at position 0",
                    "bad-regex",
                )
            ],
            id="bad-regex",
        ),
        pytest.param(
            _route(match={"frontend": "antropic"}),
            [
                SchemaProblem(
                    ("routes", 0, "match", "frontend"),
                    "'antropic' is not one of: openai_chat, openai_responses, anthropic, gemini",
                    "invalid-value",
                    False,
                    "did you mean 'anthropic'?",
                )
            ],
            id="enum-picks-the-string-branch",
        ),
        pytest.param(
            {"version": 2},
            [SchemaProblem(("version",), "expected 1, got 2")],
            id="const",
        ),
        pytest.param(
            {"version": "1"},
            [SchemaProblem(("version",), "expected 1, got '1'")],
            id="const-not-also-a-type-error",
        ),
        pytest.param(
            {"backends": {"m": {"kind": "mock", "timeout_secs": 0, "chunk_delay_secs": -1}}},
            [
                SchemaProblem(("backends", "m", "chunk_delay_secs"), "expected at least 0, got -1"),
                SchemaProblem(("backends", "m", "timeout_secs"), "expected more than 0, got 0"),
            ],
            id="bounds",
        ),
        pytest.param(
            {"routes": {"r": {}}},
            [SchemaProblem(("routes",), "expected array, got object", "invalid-type")],
            id="json-type-names",
        ),
        pytest.param({"version": 1}, [], id="valid"),
    ],
)
def test_validate_reports_one_clear_problem_per_mistake(
    document: dict[str, Any], expected: list[SchemaProblem]
) -> None:
    assert sorted(validate(document), key=repr) == sorted(expected, key=repr)


def test_json_type_names_cover_yaml_values() -> None:
    # What ruamel's round-trip loader gives is named by its JSON type, never its class.
    data = YAML(typ="rt").load("routes: {a: 1}\nversion: 1.5\nbackends: [x]\n")
    messages = {p.path: p.message for p in validate(data)}
    assert messages[("routes",)] == "expected array, got object"
    assert messages[("version",)] == "expected 1, got 1.5"
    assert messages[("backends",)] == "expected object, got array"
    assert all("Commented" not in m and "Scalar" not in m for m in messages.values())


def test_union_none_type_is_named_null() -> None:
    (problem,) = validate({"routes": [None]})
    assert problem.message == "expected object, got null"
