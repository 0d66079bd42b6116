"""The compiled graph: route matching, target resolution, advertised models, immutability."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from engine.compiler import load_graph
from engine.config import RegexPattern, compile_pattern
from engine.errors import BadRequest, NotFound
from engine.graph import CompiledRoute, Graph, TargetSpec
from engine.stage import Target
from engine.strategies import create

GRAPH = """\
backends:
  mock: {kind: mock, models: [mock-1, mock-2]}
  openai: {kind: openai, models: [gpt-4o]}
  local: {kind: openai}
stages:
  aliases:
    use: model_rewrite
    with: {rules: [{from: fast, to: "mock:mock-1"}, {from: "gpt-*", to: x}, {from: smart}]}
routes:
  - name: claude
    match: {frontend: anthropic, model: "claude-*"}
    request: [aliases, {model_rewrite: {rules: [{from: fast}, {from: cheap}]}}]
    backend: {strategy: failover, targets: [openai, "local:llama3:8b"]}
  - name: chat
    match: {frontend: [openai_chat, openai_responses]}
    request: [commands, aliases]
    backend: {targets: [mock]}
"""


@pytest.fixture
def graph(tmp_path: Path) -> Graph:
    (tmp_path / "routes.yaml").write_text(GRAPH, encoding="utf-8")
    built, diagnostics = load_graph([tmp_path])
    assert built is not None, diagnostics
    return built


@pytest.mark.parametrize(
    ("frontend", "model", "route"),
    [
        ("anthropic", "claude-3", "claude"),
        ("openai_chat", "claude-3", "chat"),
        ("openai_responses", "anything", "chat"),
    ],
)
def test_match(graph: Graph, frontend: str, model: str, route: str) -> None:
    assert graph.match(frontend, model).name == route


@pytest.mark.parametrize(
    ("frontend", "model"),
    [("anthropic", "gpt-4o"), ("gemini", "claude-3"), ("gemini", "")],
)
def test_match_not_found_names_model_and_frontend(graph: Graph, frontend: str, model: str) -> None:
    with pytest.raises(NotFound) as raised:
        graph.match(frontend, model)
    error = raised.value
    assert error.message == f"no route matches model {model!r} on the {frontend} front-end"
    assert (error.status, error.code, error.param) == (404, "no_route", "model")


def test_match_is_cached_hits_and_misses(graph: Graph) -> None:
    first = graph.match("anthropic", "claude-3")
    assert graph.match("anthropic", "claude-3") is first
    for _ in range(2):
        with pytest.raises(NotFound):
            graph.match("gemini", "x")
    assert graph._cache == {("anthropic", "claude-3"): first, ("gemini", "x"): None}


def test_match_cache_is_bounded(graph: Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("engine.graph._MATCH_CACHE_LIMIT", 3)
    for i in range(10):
        assert graph.match("openai_chat", f"model-{i}").name == "chat"
    assert len(graph._cache) == 3


@pytest.mark.parametrize(
    ("route", "model", "targets"),
    [
        # The client's model goes to the route's targets; a target's own model wins.
        ("claude", "claude-3", [Target("openai", "claude-3"), Target("local", "llama3:8b")]),
        ("chat", "gpt-4o", [Target("mock", "gpt-4o")]),
        # `BACKEND:MODEL` naming a declared backend overrides the route's targets.
        ("claude", "mock:mock-2", [Target("mock", "mock-2")]),
        ("chat", "local:llama3:8b", [Target("local", "llama3:8b")]),
    ],
)
def test_resolve(graph: Graph, route: str, model: str, targets: list[Target]) -> None:
    compiled = next(r for r in graph.routes if r.name == route)
    assert graph.resolve(compiled, model) == targets


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            "opneai:gpt-4o",
            "model 'opneai:gpt-4o' names backend 'opneai', which is not declared; "
            "did you mean 'openai'?",
        ),
        (
            "zzz:gpt-4o",
            "model 'zzz:gpt-4o' names backend 'zzz', which is not declared "
            "(declared: mock, openai, local)",
        ),
        (
            ":gpt-4o",
            "model ':gpt-4o' names backend '', which is not declared "
            "(declared: mock, openai, local)",
        ),
    ],
)
def test_resolve_unknown_backend(graph: Graph, model: str, message: str) -> None:
    with pytest.raises(NotFound) as raised:
        graph.resolve(graph.routes[1], model)
    assert raised.value.message == message
    assert (raised.value.status, raised.value.code, raised.value.param) == (
        404,
        "unknown_backend",
        "model",
    )


def test_resolve_backend_without_model_is_a_bad_request(graph: Graph) -> None:
    with pytest.raises(BadRequest) as raised:
        graph.resolve(graph.routes[1], "openai:")
    assert raised.value.message == "model 'openai:' names backend 'openai' but no model"
    assert (raised.value.status, raised.value.param) == (400, "model")


def test_model_ids_lists_backend_models_then_literal_aliases_once(graph: Graph) -> None:
    assert graph.model_ids() == [
        "mock:mock-1",
        "mock:mock-2",
        "openai:gpt-4o",
        "fast",  # from `aliases`, used by both routes: listed once
        "smart",
        "cheap",
    ]


def test_graph_is_immutable(graph: Graph) -> None:
    with pytest.raises(TypeError):
        graph.backends["new"] = graph.backends["mock"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        graph.routes = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        graph.routes[0].name = "renamed"  # type: ignore[misc]


def test_graph_copies_the_backends_it_is_given(graph: Graph) -> None:
    backends = dict(graph.backends)
    copy = Graph(backends=backends, routes=graph.routes)
    backends.clear()
    assert list(copy.backends) == ["mock", "openai", "local"]


def _route(frontends: frozenset[str] | None, pattern: str) -> CompiledRoute:
    return CompiledRoute(
        name="r",
        frontends=frontends,
        model_pattern=pattern,
        model_re=compile_pattern(pattern),
        request=(),
        response=(),
        strategy=create("single", targets=["mock"]),
        targets=(TargetSpec("mock"),),
    )


@pytest.mark.parametrize(
    ("frontends", "frontend", "matches"),
    [
        (None, "gemini", True),
        (frozenset({"gemini"}), "gemini", True),
        (frozenset({"anthropic", "openai_chat"}), "gemini", False),
    ],
)
def test_route_matches_frontend(
    frontends: frozenset[str] | None, frontend: str, matches: bool
) -> None:
    assert _route(frontends, "*").matches(frontend, "any") is matches


@pytest.mark.parametrize(
    ("glob", "regex", "model", "matches"),
    [
        ("claude-*", None, "claude-3-opus", True),
        ("claude-*", None, "my-claude-3", False),
        ("*", None, "", True),
        (None, None, "anything", True),
        ("gpt-4?", None, "gpt-4o", True),
        ("gpt-4?", None, "gpt-4", False),
        ("a.b", None, "aXb", False),  # glob dots are literal
        (None, "gpt-4", "gpt-4o", False),  # a regex matches the whole name
        (None, "a|b", "ab", False),  # ... even with alternation
        (None, "a|b", "b", True),
        (None, "gpt-(4|5)o?", "gpt-5o", True),
        (None, "ends$", "ends", True),
    ],
)
def test_compile_pattern(glob: str | None, regex: str | None, model: str, matches: bool) -> None:
    pattern = RegexPattern(regex=regex) if regex is not None else glob or "*"
    assert bool(compile_pattern(pattern).match(model)) is matches


def test_compile_pattern_rejects_a_bad_regex() -> None:
    with pytest.raises(re.error):
        compile_pattern(RegexPattern(regex="("))


@pytest.mark.parametrize(
    ("spec", "text"),
    [(TargetSpec("local"), "local"), (TargetSpec("local", "llama3:8b"), "local:llama3:8b")],
)
def test_target_spec_str(spec: TargetSpec, text: str) -> None:
    assert str(spec) == text
