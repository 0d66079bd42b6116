"""The compiled graph as text and as a Mermaid flowchart, for `engine graph`."""

from __future__ import annotations

import re

from engine.graph import CompiledRoute, Graph


def _frontends(route: CompiledRoute) -> str:
    return ", ".join(sorted(route.frontends)) if route.frontends else "all front-ends"


def _steps(chains: CompiledRoute | Graph, section: str) -> str:
    bound = chains.request if section == "request" else chains.response
    return " → ".join(b.label for b in bound) or "-"


def as_text(graph: Graph) -> str:
    """A readable listing of backends and routes, in match order."""
    lines = ["backends:"]
    lines += [
        f"  {name}: {b.kind}" + (f" ({', '.join(b.models())})" if b.models() else "")
        for name, b in graph.backends.items()
    ]
    if graph.request or graph.response:
        lines += [
            "pipeline (around every route):",
            f"  request:  {_steps(graph, 'request')}",
            f"  response: {_steps(graph, 'response')}",
        ]
    lines.append("routes (first match wins):")
    for i, route in enumerate(graph.routes, 1):
        lines += [
            f"  {i}. {route.name}: model {route.model_pattern} on {_frontends(route)}",
            f"     request:  {_steps(route, 'request')}",
            f"     backend:  {route.strategy.name} → {', '.join(map(str, route.targets))}",
            f"     response: {_steps(route, 'response')}",
        ]
    return "\n".join(lines)


def _id(text: str) -> str:
    return re.sub(r"\W", "_", text)


def _label(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def as_mermaid(graph: Graph) -> str:
    """A Mermaid flowchart: client → route → stages → backends."""
    lines = ["flowchart LR", "  client([client])"]
    entry = "client"
    for j, bound in enumerate(graph.request):
        node = f"p_q{j}"
        lines += [f"  {node}[{_label(bound.label)}]", f"  {entry} --> {node}"]
        entry = node
    nodes: dict[str, str] = {}  # backend name → node id; `my-llm` and `my_llm` must differ
    for i, (name, backend) in enumerate(graph.backends.items()):
        node = f"b_{_id(name)}"
        nodes[name] = f"{node}_{i}" if node in nodes.values() else node
        lines.append(f"  {nodes[name]}[({_label(f'{name} ({backend.kind})')})]")
    for i, route in enumerate(graph.routes):
        rid = f"r{i}"
        lines.append(f"  {rid}{{{_label(f'{route.name}: {route.model_pattern}')}}}")
        lines.append(f"  {entry} -->|{_label(_frontends(route))}| {rid}")
        previous = rid
        for j, bound in enumerate(route.request):
            node = f"{rid}_q{j}"
            lines += [f"  {node}[{_label(bound.label)}]", f"  {previous} --> {node}"]
            previous = node
        step = f"{rid}_backend"
        lines += [f"  {step}[/{_label(route.strategy.name)}/]", f"  {previous} --> {step}"]
        for target in route.targets:
            model = f"|{_label(target.model)}|" if target.model else ""
            node = nodes.get(target.backend) or f"b_{_id(target.backend)}"
            lines.append(f"  {step} -->{model} {node}")
        if route.response:
            lines.append(f"  %% response stages of {route.name}: {_steps(route, 'response')}")
    if graph.response:
        lines.append(f"  %% response stages around every route: {_steps(graph, 'response')}")
    return "\n".join(lines)
