"""`engine explain`: where a request would go, and why, without sending it.

The request (a user message with no text, the model and front-end asked for) runs through
the pipeline's and the matched route's request stages, in the session given (loaded from
the store, never saved), as it would be served; then the strategy and each target, with
the parameters it would get, are described. No backend is called.
"""

from __future__ import annotations

from engine.errors import ProxyError
from engine.exchange import Exchange
from engine.executor import Timings, for_target, prepare, targets_for
from engine.graph import CompiledRoute, Graph
from engine.model import ChatRequest, Message, TextPart
from engine.parameters import shown
from engine.sessions import Session


def _why(route: CompiledRoute, frontend: str) -> str:
    where = "every front-end" if route.frontends is None else f"front-end {frontend}"
    return f"the first route whose model pattern {route.model_pattern!r} takes it, on {where}"


def _chain(route: CompiledRoute | None, graph: Graph, side: str) -> str:
    """The stages a request (or its reply) goes through on `side`, in order; the pipeline's
    marked, the ways back (`vtc.back`) last, as the executor runs them."""
    pipeline = {id(bound) for bound in (*getattr(graph, side), *graph.back)}
    if side == "request":
        bounds = (*graph.request, *(route.request if route is not None else ()))
    else:
        bounds = graph.chains[route] if route is not None else graph.chain
    labels = [f"{b.label} (pipeline)" if id(b) in pipeline else b.label for b in bounds]
    return ", ".join(labels) or "none"


async def explain(graph: Graph, frontend: str, model: str, session: Session) -> list[str]:
    """The lines that say how a request for `model` on `frontend` would be served."""
    request = ChatRequest(model=model, messages=[Message(role="user", content=[TextPart(text="")])])
    ctx = Exchange(
        request=request, frontend=frontend, session=session, backends=graph.backend_names
    )
    lines = [f"request: model {model!r} on the {frontend} front-end, session {session.id}"]
    try:
        route, answer = await prepare(graph, ctx, Timings())
    except ProxyError as exc:
        return [*lines, f"refused: {exc.status} {exc.message}"]
    if route is None:
        return [*lines, "answered by a pipeline stage, before any route"]
    lines.append(f"route: {route.name} ({_why(route, frontend)})")
    lines.append(f"request stages: {_chain(route, graph, 'request')}")
    if answer is not None:
        return [*lines, "answered by a request stage: no backend is asked"]
    if ctx.request.model != model:
        lines.append(f"model after the request stages: {ctx.request.model}")
    strategy = ctx.strategy or route.strategy
    chosen = " (a session route)" if ctx.strategy is not None else ""
    lines.append(f"strategy: {strategy.name}{chosen}")
    try:
        targets = targets_for(graph, route, ctx)
    except ProxyError as exc:
        return [*lines, f"targets: none: {exc.message}"]
    lines.append("targets, in order:")
    for number, target in enumerate(targets, 1):
        sent = for_target(ctx, target)
        params = _parameters(sent)
        lines.append(f"  {number}. {target}" + (f" with {params}" if params else ""))
    if ctx.parameters:
        lines.append(f"session parameters (over every target's): {shown(ctx.parameters)}")
    overrides = {k: v for k, v in session.data.items() if v}
    if overrides:
        kept = "; ".join(f"{ns}: {shown(values)}" for ns, values in sorted(overrides.items()))
        lines.append(f"session state: {kept}")
    lines.append(f"response stages: {_chain(route, graph, 'response')}")
    return lines


def _parameters(request: ChatRequest) -> str:
    """The parameters a request carries, as `key=value, …`."""
    values = request.sampling.model_dump(exclude_none=True)
    if request.reasoning is not None:
        if request.reasoning.effort is not None:
            values["reasoning_effort"] = request.reasoning.effort
        if request.reasoning.budget_tokens is not None:
            values["thinking_budget"] = request.reasoning.budget_tokens
    return shown(values)
