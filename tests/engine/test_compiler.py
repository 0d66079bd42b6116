"""The compiler: from routing files to a Graph, with names resolved and stages built once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.backends import MockBackend, OpenAIBackend
from engine.compiler import compile_sources, load_graph
from engine.diagnostics import Diagnostic
from engine.graph import Graph, TargetSpec
from engine.loader import read_source
from engine.render import as_text
from engine.stage import registry

ModelRewrite = registry()["model_rewrite"]
Commands = registry()["commands"]


def _files(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _compile(tmp_path: Path, text: str) -> tuple[Graph | None, list[Diagnostic]]:
    return load_graph([_files(tmp_path / "routes", {"routes.yaml": text})])


def _graph(tmp_path: Path, text: str) -> Graph:
    graph, diagnostics = _compile(tmp_path, text)
    assert graph is not None, "\n".join(map(str, diagnostics))
    return graph


def _codes(tmp_path: Path, text: str) -> list[str]:
    graph, diagnostics = _compile(tmp_path, text)
    assert graph is None
    return [d.code for d in diagnostics]


ROUTING = """\
version: 1
backends:
  mock: {kind: mock, models: [mock-1]}
  local: {kind: openai, base_url: "http://127.0.0.1:8080/v1"}
routes:
  - name: claude-on-anthropic
    match: {frontend: anthropic, model: "claude-*"}
    backend: {targets: [mock]}
  - name: claude-elsewhere
    match: {frontend: [openai_chat, gemini], model: "claude-*"}
    backend: {targets: [mock]}
  - name: numbered
    match: {model: {regex: "gpt-[0-9]+(o|-mini)?"}}
    backend: {targets: [local]}
  - name: question-mark
    match: {model: "o?"}
    backend: {targets: [local]}
  - name: char-class
    match: {model: "[ab]-*"}
    backend: {targets: [local]}
  - name: responses-only
    match: {frontend: openai_responses}
    backend: {targets: [mock]}
  - name: default
    backend: {targets: [mock]}
"""


@pytest.mark.parametrize(
    ("frontend", "model", "route"),
    [
        ("anthropic", "claude-3", "claude-on-anthropic"),
        ("openai_chat", "claude-3", "claude-elsewhere"),
        ("gemini", "claude-", "claude-elsewhere"),
        ("openai_responses", "claude-3", "responses-only"),
        ("anthropic", "xclaude-3", "default"),
        ("anthropic", "Claude-3", "default"),
        ("openai_chat", "gpt-4", "numbered"),
        ("openai_chat", "gpt-4o", "numbered"),
        ("openai_chat", "gpt-4-mini", "numbered"),
        ("openai_chat", "gpt-4-turbo", "default"),  # a regex matches the whole name
        ("openai_chat", "my-gpt-4", "default"),
        ("openai_chat", "o1", "question-mark"),
        ("openai_chat", "o12", "default"),
        ("openai_chat", "a-model", "char-class"),
        ("openai_chat", "c-model", "default"),
        ("openai_responses", "anything", "responses-only"),
        ("gemini", "", "default"),
    ],
)
def test_first_matching_route_wins(tmp_path: Path, frontend: str, model: str, route: str) -> None:
    assert _graph(tmp_path, ROUTING).match(frontend, model).name == route


def test_compiled_routes_keep_file_order_and_match_details(tmp_path: Path) -> None:
    routes = _graph(tmp_path, ROUTING).routes
    assert [r.name for r in routes] == [
        "claude-on-anthropic",
        "claude-elsewhere",
        "numbered",
        "question-mark",
        "char-class",
        "responses-only",
        "default",
    ]
    assert routes[0].frontends == frozenset({"anthropic"})
    assert routes[1].frontends == frozenset({"openai_chat", "gemini"})
    assert routes[-1].frontends is None
    assert [r.model_pattern for r in routes[:3]] == [
        "claude-*",
        "claude-*",
        "/gpt-[0-9]+(o|-mini)?/",
    ]
    assert routes[-1].model_pattern == "*"


def test_listing_every_frontend_is_the_same_as_none(tmp_path: Path) -> None:
    text = """\
backends: {mock: {kind: mock}}
routes:
  - name: all
    match: {frontend: [openai_chat, openai_responses, anthropic, gemini]}
    backend: {targets: [mock]}
"""
    assert _graph(tmp_path, text).routes[0].frontends is None


@pytest.mark.parametrize(
    ("target", "spec"),
    [
        ("local", TargetSpec("local", None)),
        ("local:llama3", TargetSpec("local", "llama3")),
        ("local:llama3:8b", TargetSpec("local", "llama3:8b")),
        ("local:org/model:q4_K_M", TargetSpec("local", "org/model:q4_K_M")),
    ],
)
def test_target_parsing(tmp_path: Path, target: str, spec: TargetSpec) -> None:
    text = f"""\
backends: {{local: {{kind: openai}}}}
routes:
  - name: r
    backend: {{targets: ["{target}"]}}
"""
    route = _graph(tmp_path, text).routes[0]
    assert route.targets == (spec,)
    assert str(route.targets[0]) == target
    assert route.strategy.name == "single"


def test_backends_are_built_by_kind(tmp_path: Path) -> None:
    graph = _graph(tmp_path, ROUTING)
    assert list(graph.backends) == ["mock", "local"]
    assert isinstance(graph.backends["mock"], MockBackend)
    assert isinstance(graph.backends["local"], OpenAIBackend)
    assert graph.backends["local"].name == "local"
    assert graph.backends["local"].config.base_url == "http://127.0.0.1:8080/v1"


NAMED = """\
backends: {mock: {kind: mock}}
stages:
  aliases: {use: model_rewrite, with: {rules: [{from: fast, to: "mock:mock-1"}]}}
  bang: {use: commands, with: {prefix: "#/"}}
  unused: {use: commands}
routes:
  - name: first
    match: {model: "a*"}
    request: [bang, aliases, {model_rewrite: {rules: [{from: x, to: y}]}}, commands]
    backend: {targets: [mock]}
  - name: second
    request: [aliases, {commands: {prefix: "!!"}}]
    backend: {targets: [mock]}
"""


def test_named_stages_are_resolved_and_shared(tmp_path: Path) -> None:
    first, second = _graph(tmp_path, NAMED).routes
    assert [b.label for b in first.request] == ["bang", "aliases", "model_rewrite", "commands"]
    assert [type(b.stage) for b in first.request] == [
        Commands,
        ModelRewrite,
        ModelRewrite,
        Commands,
    ]
    assert first.request[0].stage.config.prefix == "#/"
    assert first.request[3].stage.config.prefix == "!/"
    # One instance per `stages:` entry, shared by every route using it; inline steps are their own.
    assert first.request[1].stage is second.request[0].stage
    assert first.request[2].stage is not first.request[1].stage
    assert second.request[1].stage.config.prefix == "!!"


def test_stages_are_built_once_per_graph_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Any] = []
    original = ModelRewrite.__init__

    def counting(self: Any, config: Any) -> None:
        built.append(self)
        original(self, config)

    monkeypatch.setattr(ModelRewrite, "__init__", counting)
    graph = _graph(tmp_path, NAMED)
    # `aliases` once (used twice) and the inline step once.
    assert len(built) == 2
    for model in ("a1", "fast", "b", "a2"):
        route = graph.match("openai_chat", model)
        graph.resolve(route, model)
    assert len(built) == 2, "matching and resolving build nothing"
    reloaded, _ = load_graph([tmp_path / "routes"])
    assert reloaded is not None
    assert len(built) == 4, "a new load builds new instances"
    assert reloaded.routes[0].request[1].stage is not graph.routes[0].request[1].stage


def test_folder_files_merge_into_one_graph(tmp_path: Path) -> None:
    folder = _files(
        tmp_path / "routes",
        {
            "10-backends.yaml": "backends: {mock: {kind: mock}, other: {kind: mock}}\n",
            "20-stages.yaml": (
                "stages: {aliases: {use: model_rewrite, with: {rules: [{from: a}]}}}\n"
            ),
            "30-routes.yaml": (
                "routes:\n"
                "  - {name: b, match: {model: b}, request: [aliases],\n"
                "     backend: {targets: [other]}}\n"
            ),
            "40-more.yml": "routes: [{name: rest, backend: {targets: [mock]}}]\n",
            "ignored.txt": "not: [valid",
        },
    )
    graph, diagnostics = load_graph([folder])
    assert diagnostics == []
    assert graph is not None
    assert list(graph.backends) == ["mock", "other"]
    assert [r.name for r in graph.routes] == ["b", "rest"]
    assert graph.routes[0].request[0].label == "aliases"


def test_warnings_alone_still_build_the_graph(tmp_path: Path) -> None:
    graph, diagnostics = _compile(
        tmp_path,
        "backends: {o: {kind: openai, api_key: '${ENGINE_COMPILER_TEST_UNSET}'}}\n"
        "routes: [{name: r, backend: {targets: [o]}}]\n",
    )
    assert graph is not None
    assert [(d.level, d.code) for d in diagnostics] == [("warning", "undefined-variable")]
    assert graph.backends["o"].config.api_key == ""


def test_no_routes_is_a_warning(tmp_path: Path) -> None:
    graph, diagnostics = _compile(tmp_path, "backends: {mock: {kind: mock}}\n")
    assert graph is not None and graph.routes == ()
    assert [(d.level, d.code, d.line, d.col) for d in diagnostics] == [
        ("warning", "no-routes", 1, 1)
    ]


def test_empty_folder_has_no_files(tmp_path: Path) -> None:
    graph, diagnostics = load_graph([tmp_path])
    assert graph is None
    assert [(d.path, d.code) for d in diagnostics] == [(str(tmp_path), "no-files")]


def test_diagnostics_are_sorted_by_file_and_position(tmp_path: Path) -> None:
    folder = _files(
        tmp_path / "routes",
        {
            "a.yaml": "routes: [{name: r, backend: {targets: [nope]}}]\nzzz: 1\n",
            "b.yaml": "yyy: 1\nbackends: {m: {kind: nope}}\n",
        },
    )
    _, diagnostics = load_graph([folder])
    keys = [(Path(d.path).name, d.line, d.col) for d in diagnostics]
    assert keys == sorted(keys)
    assert [d.code for d in diagnostics] == [
        "unknown-backend",
        "unknown-field",
        "unknown-field",
        "unknown-kind",
    ]


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        pytest.param(
            "backends: {mock: {kind: mock}}\n"
            "routes:\n"
            "  - {name: r, backend: {targets: [mock]}, request: [comands]}\n",
            ["unknown-stage"],
            id="unknown-stage",
        ),
        pytest.param(
            "backends: {mock: {kind: mock}}\n"
            "routes:\n"
            "  - {name: r, backend: {targets: [mock]}, response: [commands]}\n",
            ["wrong-section"],
            id="wrong-section",
        ),
        pytest.param(
            "backends: {mock: {kind: mock}}\n"
            "routes:\n"
            "  - {name: a, backend: {targets: [mock]}}\n"
            "  - {name: b, match: {model: b}, backend: {targets: [mock]}}\n",
            ["unreachable-route"],
            id="unreachable",
        ),
        pytest.param(
            "backends: {mock: {kind: mock}}\n"
            "routes:\n"
            "  - {name: a, match: {model: {regex: '.*'}}, backend: {targets: [mock]}}\n"
            "  - {name: b, match: {frontend: gemini}, backend: {targets: [mock]}}\n",
            ["unreachable-route"],
            id="unreachable-after-regex-catch-all",
        ),
        pytest.param(
            "backends: {mock: {kind: mock}}\n"
            "routes:\n"
            "  - {name: a, match: {mach: x}, backend: {targets: [mock]}}\n"
            "  - {name: b, match: {model: b}, backend: {targets: [mock]}}\n",
            ["unknown-field"],
            id="no-unreachable-report-from-a-broken-match",
        ),
        pytest.param(
            "backends: {mock: {kind: mock}}\n"
            "routes:\n"
            "  - {name: a, backend: {targets: [mock, 'mock:', ':m']}}\n",
            ["invalid-target", "invalid-target"],
            id="empty-target-parts",
        ),
        pytest.param(
            "backends: {mock: {kind: mock}}\nroutes:\n  - {name: a, backend: {targets: mock}}\n",
            ["invalid-type"],
            id="targets-string-is-one-error",
        ),
        pytest.param(
            "backends: {mock: {kind: mock}}\n"
            "stages: {s: {use: model_rewrite}}\n"
            "routes: [{name: a, request: [model_rewrite], backend: {targets: [mock]}}]\n",
            ["missing-field", "missing-field"],
            id="config-errors-of-entries-and-steps",
        ),
        pytest.param(
            "backends: {mock: {kind: mock}}\n"
            "stages: {s: {use: model_rewrite, wiht: {rules: [{from: a}]}}}\n"
            "routes: [{name: a, request: [s], backend: {targets: [mock]}}]\n",
            ["unknown-field"],
            id="misspelt-with-is-not-also-missing-rules",
        ),
        pytest.param(
            "backends: {mock: {kind: mock}}\n"
            "stages: {s: {use: model_rewrite}}\n"
            "zzz: 1\n"
            "routes: [{name: a, request: [model_rewrite], backend: {targets: [mock]}}]\n",
            ["missing-field", "unknown-field", "missing-field"],
            id="config-errors-are-reported-next-to-other-errors",
        ),
    ],
)
def test_compile_errors(tmp_path: Path, text: str, codes: list[str]) -> None:
    assert _codes(tmp_path, text) == codes


@pytest.mark.parametrize(
    "text",
    [
        "routes: 5\n",
        "routes: [5, null, [], 'x', {}]\n",
        "backends: [mock]\nstages: 'x'\n",
        "backends: {m: null, n: 'x', o: [1]}\nstages: {s: null, t: 'x', u: {use: [1]}}\n",
        "routes: [{name: r, match: 'x', backend: {targets: [m]}}]\n",
        "routes: [{name: r, match: {frontend: 3, model: 4}, backend: {targets: [m]}}]\n",
        "routes: [{name: r, match: {frontend: [[x], {a: 1}]}, backend: {targets: [m]}}]\n",
        "routes: [{name: r, match: {model: {regex: 3}}, backend: {targets: [m]}}]\n",
        "routes: [{name: r, match: null, backend: {targets: null}}]\n",
        "routes: [{name: r, request: 'commands', response: {x: 1}, backend: {targets: [m]}}]\n",
        "routes: [{name: r, request: [null, 1, [x], {}, {a: 1, b: 2}], backend: {targets: [m]}}]\n",
        "routes: [{name: r, backend: {targets: [1, null, [x], {a: b}], strategy: 3}}]\n",
        "routes: [{name: [r], backend: []}, {name: {r: 1}, backend: 'x'}]\n",
        "stages: {s: {use: commands, with: 'x'}}\nroutes: [{name: r, request: [s]}]\n",
        "stages: {s: {use: commands, with: [1]}}\n",
        "version: [1]\n",
    ],
)
def test_malformed_documents_are_reported_not_raised(tmp_path: Path, text: str) -> None:
    graph, diagnostics = _compile(tmp_path, text)
    assert graph is None
    assert any(d.level == "error" for d in diagnostics)


def test_compile_sources_takes_parsed_files(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("backends: {m: {kind: mock}}\nroutes: [{name: r, backend: {targets: [m]}}]\n")
    graph, diagnostics = compile_sources([read_source(path, env={})])
    assert graph is not None and diagnostics == []
    assert graph.match("gemini", "anything").name == "r"


@pytest.mark.parametrize(
    ("backend", "said"),
    [
        ("{kind: anthropic, base_url: 'http://[::1'}", "is not a valid URL"),
        ("{kind: openai, base_url: 'localhost:8080/v1'}", "must be an http:// or https:// URL"),
        ('{kind: openai, api_key: "sk-a\\u200bb"}', "U+200B (ZERO WIDTH SPACE) at position 5"),
        ('{kind: gemini, headers: {X-Key: "k\\u00e9"}}', "headers.x-key: the value has U+00E9"),
    ],
)
def test_what_http_cannot_carry_is_an_error_at_load_time(
    tmp_path: Path, backend: str, said: str
) -> None:
    graph, diagnostics = _compile(
        tmp_path, f"backends: {{b: {backend}}}\nroutes: [{{name: r, backend: {{targets: [b]}}}}]\n"
    )
    assert graph is None
    (error,) = diagnostics
    assert error.level == "error" and said in error.message
    assert "sk-a" not in error.message  # a key is never quoted


def test_the_pipeline_is_built_around_every_route(tmp_path: Path) -> None:
    graph = _graph(
        tmp_path,
        "backends: {mock: {kind: mock}}\n"
        "pipeline: {request: [commands]}\n"
        "routes: [{name: r, backend: {targets: [mock]}}]\n",
    )
    assert [b.label for b in graph.request] == ["commands"] and graph.response == ()
    assert "pipeline (around every route):\n  request:  commands" in as_text(graph)


def test_a_pipeline_stage_is_checked_like_a_routes(tmp_path: Path) -> None:
    assert _codes(
        tmp_path,
        "backends: {mock: {kind: mock}}\n"
        "pipeline: {request: [comands], response: [commands]}\n"
        "routes: [{name: r, backend: {targets: [mock]}}]\n",
    ) == ["unknown-stage", "wrong-section"]


def test_one_file_of_the_folder_says_the_pipeline(tmp_path: Path) -> None:
    folder = _files(
        tmp_path / "routes",
        {
            "a.yaml": "backends: {mock: {kind: mock}}\npipeline: {request: [commands]}\n"
            "routes: [{name: r, backend: {targets: [mock]}}]\n",
            "b.yaml": "pipeline: {request: [commands]}\n",
        },
    )
    graph, diagnostics = load_graph([folder])
    assert graph is None
    (problem,) = diagnostics
    assert problem.code == "duplicate-name" and problem.path.endswith("b.yaml")
    assert "already declared at" in problem.message and "a.yaml:2" in problem.message
