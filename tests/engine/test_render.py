"""`engine graph` output: the compiled graph as text and as a Mermaid flowchart."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from engine.compiler import load_graph
from engine.graph import BoundStage, Graph
from engine.render import as_mermaid, as_text
from engine.stage import registry

SMALL = """\
backends:
  mock: {kind: mock, models: [mock-1]}
  my-local: {kind: openai}
  my_local: {kind: openai}
stages:
  aliases: {use: model_rewrite, with: {rules: [{from: fast, to: "mock:mock-1"}]}}
routes:
  - name: agents
    match: {frontend: [openai_chat, anthropic], model: "claude-*"}
    request: [commands, aliases]
    backend: {strategy: failover, targets: [my-local, "mock:mock-1", my_local]}
  - name: say "hi"
    match: {model: {regex: "o[0-9]"}}
    backend: {targets: [mock]}
"""


@pytest.fixture
def graph(tmp_path: Path) -> Graph:
    (tmp_path / "routes.yaml").write_text(SMALL, encoding="utf-8")
    built, diagnostics = load_graph([tmp_path])
    assert built is not None, diagnostics
    return built


def test_text(graph: Graph) -> None:
    assert as_text(graph) == (
        "backends:\n"
        "  mock: mock (mock-1)\n"
        "  my-local: openai\n"
        "  my_local: openai\n"
        "routes (first match wins):\n"
        "  1. agents: model claude-* on anthropic, openai_chat\n"
        "     request:  commands → aliases\n"
        "     backend:  failover → my-local, mock:mock-1, my_local\n"
        "     response: -\n"
        '  2. say "hi": model /o[0-9]/ on all front-ends\n'
        "     request:  -\n"
        "     backend:  single → mock\n"
        "     response: -"
    )


def test_mermaid(graph: Graph) -> None:
    assert as_mermaid(graph) == (
        "flowchart LR\n"
        "  client([client])\n"
        '  b_mock[("mock (mock)")]\n'
        '  b_my_local[("my-local (openai)")]\n'
        '  b_my_local_2[("my_local (openai)")]\n'
        '  r0{"agents: claude-*"}\n'
        '  client -->|"anthropic, openai_chat"| r0\n'
        '  r0_q0["commands"]\n'
        "  r0 --> r0_q0\n"
        '  r0_q1["aliases"]\n'
        "  r0_q0 --> r0_q1\n"
        '  r0_backend[/"failover"/]\n'
        "  r0_q1 --> r0_backend\n"
        "  r0_backend --> b_my_local\n"
        '  r0_backend -->|"mock-1"| b_mock\n'
        "  r0_backend --> b_my_local_2\n"
        # Double quotes would end a Mermaid label.
        "  r1{\"say 'hi': /o[0-9]/\"}\n"
        '  client -->|"all front-ends"| r1\n'
        '  r1_backend[/"single"/]\n'
        "  r1 --> r1_backend\n"
        "  r1_backend --> b_mock"
    )


def test_response_stages(graph: Graph) -> None:
    # No built-in stage has an event hook yet: put one on a route by hand.
    commands = registry()["commands"]
    bound = BoundStage("tail", commands(commands.Config()))
    route = dataclasses.replace(graph.routes[1], response=(bound, bound))
    with_response = Graph(backends=graph.backends, routes=(route,))
    assert "     response: tail → tail" in as_text(with_response).splitlines()
    assert as_mermaid(with_response).splitlines()[-1] == (
        '  %% response stages of say "hi": tail → tail'
    )


def test_empty_graph() -> None:
    empty = Graph(backends={}, routes=())
    assert as_text(empty) == "backends:\nroutes (first match wins):"
    assert as_mermaid(empty) == "flowchart LR\n  client([client])"
