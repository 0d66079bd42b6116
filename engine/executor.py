"""Runs one exchange through the graph: request stages, the backend step, response stages.

Every operation comes here: `execute` for a chat, `count_tokens` for a count, `admit` for
a call that routes nowhere (a model listing). The session is loaded from its store before
the stages run and saved when they changed it.

Each stage call is timed and guarded here, once: a stage's exception becomes a ProxyError
naming the stage, which the front-end renders in its protocol's shape. The response is an
async iterator of events from end to end; the executor pulls its first event before
returning, so that failures before any output still become a proper HTTP error status.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

import httpx

from engine.breaker import Breakers
from engine.errors import NotFound, ProxyError
from engine.exchange import Exchange, Target
from engine.graph import BoundStage, CompiledRoute, Graph
from engine.logs import redact
from engine.model import ChatRequest, ErrorEvent, Event
from engine.notes import Dropped
from engine.parameters import apply as apply_parameters
from engine.response import Prefetched, aclose, aiter_events, direct_to, with_first
from engine.sessions import SessionStore
from engine.stage import Answer
from engine.strategies import Attempt, Send, is_retryable

__all__ = [
    "Execution",
    "Timings",
    "admit",
    "count_tokens",
    "execute",
    "for_target",
    "is_retryable",
    "prepare",
    "targets_for",
]

log = logging.getLogger("engine.executor")


@dataclass(slots=True)
class Span:
    """One step's duration so far, in milliseconds."""

    name: str
    ms: float = 0.0


@dataclass
class Timings:
    """Durations of the steps of one request, for the `Server-Timing` header. A response
    stage's span grows while the stream runs: the header shows what it took until then."""

    entries: list[Span] = field(default_factory=list)

    def add(self, name: str, started: float) -> None:
        """Record a step that started at `started` (a `perf_counter` reading)."""
        self.entries.append(Span(name, (time.perf_counter() - started) * 1000))

    def header(self) -> str:
        """The `Server-Timing` header value."""
        return ", ".join(f"{span.name};dur={span.ms:.2f}" for span in self.entries)


@dataclass
class Execution:
    """A started response: its first event and the rest of the stream."""

    first: Event
    rest: AsyncIterator[Event]
    route: CompiledRoute | None  # None when a pipeline stage answered before any route
    timings: Timings
    exchange: Exchange | None = None  # … whose session is saved when the stream changed it
    sessions: SessionStore | None = None

    def events(self) -> Prefetched:
        """Every event, the first included; closing it closes the whole chain."""
        return with_first(self.first, self.rest, self.aclose)

    async def aclose(self) -> None:
        """Close the chain now (the backend's call ends with it), saving the session when
        the stream's stages changed it; again, it does nothing."""
        await aclose(self.rest)
        if self.exchange is not None and self.exchange.session.changed:
            await _save_session(self.exchange, self.sessions)


async def _save_session(exchange: Exchange, sessions: SessionStore | None) -> None:
    if sessions is not None and exchange.session.changed:
        await sessions.save(exchange.session)


def _stage_failure(bound: BoundStage, exc: Exception) -> ProxyError:
    log.exception("stage %s failed", bound.label)
    error = ProxyError(
        500,
        redact(f"stage {bound.label!r} failed: {type(exc).__name__}: {exc}"),
        code="stage_error",
    )
    error.logged = True
    return error


class _Waits:
    """Time a response stage spent waiting for the events it reads, not working."""

    def __init__(self, events: AsyncIterator[Event]) -> None:
        self.events = events
        self.ms = 0.0

    async def read(self) -> AsyncIterator[Event]:
        while True:
            started = time.perf_counter()
            try:
                event = await anext(self.events)
            except StopAsyncIteration:
                return
            finally:
                self.ms += (time.perf_counter() - started) * 1000
            yield event


async def _guarded(
    bound: BoundStage, ctx: Exchange, events: AsyncIterator[Event], span: Span
) -> AsyncIterator[Event]:
    """The stage's events, its failures as errors naming it, its own time in `span`."""
    waits = _Waits(events)
    upstream = waits.read()
    stream: AsyncGenerator[Event, None] = getattr(bound.stage, bound.hook)(ctx, upstream)
    try:
        while True:
            started, waited = time.perf_counter(), waits.ms
            try:
                event = await anext(stream)
            except StopAsyncIteration:
                return
            finally:
                span.ms += (time.perf_counter() - started) * 1000 - (waits.ms - waited)
            yield event
    except ProxyError:
        raise
    except Exception as exc:
        raise _stage_failure(bound, exc) from exc
    finally:
        await stream.aclose()
        await upstream.aclose()  # type: ignore[attr-defined]
        await aclose(events)


def _sender(
    graph: Graph,
    ctx: Exchange,
    http: httpx.AsyncClient,
    *,
    relay: bool,
    breakers: Breakers | None = None,
) -> Send:
    """The call a strategy asks one target with: the backend's response once its first
    event came (a failure before it raises), noting which target served and what its
    request left out, and how the backend did (`breakers`: an open one fails the call at
    once). With `relay` (no stage reads the events), the stream goes straight to the
    client's front-end (`direct_to`): in bundles, and from a backend that speaks the
    client's protocol with the upstream's own messages."""

    async def call(target: Target) -> Attempt:
        dropped = Dropped()
        # Read by the backend as it starts the stream, in this first step.
        direct = direct_to.set(ctx.frontend if relay else None)
        try:
            request = for_target(ctx, target)
            stream = graph.backends[target.backend].send(request, target.model, http, dropped)
            first = await _first(stream, ctx, target)
        finally:
            direct_to.reset(direct)
        ctx.served_by, ctx.dropped = target, dropped
        return Attempt(target, first, stream)

    if breakers is None:
        return call

    async def send(target: Target) -> Attempt:
        breaker = breakers[target.backend]
        breaker.check(target.backend)
        try:
            attempt = await call(target)
        except ProxyError as exc:
            if is_retryable(exc):
                breaker.failed()
            else:
                breaker.succeeded()  # it answered: the request was the problem
            raise
        except BaseException:
            breaker.trial = False  # cancelled: the next call may try again
            raise
        breaker.succeeded()
        return attempt

    return send


def for_target(ctx: Exchange, target: Target) -> ChatRequest:
    """The request as `target` gets it: its own parameters set, and the session's over
    them (precedence: session > selector > route > client)."""
    if not target.params and not ctx.parameters:
        return ctx.request
    return apply_parameters(ctx.request, (*target.params, *ctx.parameters))


async def _first(stream: AsyncGenerator[Event, None], ctx: Exchange, target: Target) -> Event:
    """The first event of `target`'s response; a failure before it raises (naming the
    target as the one that served)."""
    try:
        first = await anext(stream)
        if isinstance(first, ErrorEvent):  # an error before any output: as good as a status
            raise ProxyError(first.status, first.message, code=first.code)
    except ProxyError:
        await stream.aclose()
        ctx.served_by = target
        raise
    except StopAsyncIteration:
        ctx.served_by = target
        raise ProxyError(
            502, f"backend {target} sent an empty response", code="upstream_empty"
        ) from None
    return first


def _from_backends(
    graph: Graph, route: CompiledRoute, targets: list[Target], ctx: Exchange, send: Send
) -> Awaitable[AsyncIterator[Event]]:
    """The route's strategy (or a stage's) over `targets`, asking each with `send`, to be
    awaited for the events."""
    if ctx.request.continuation:  # held by a provider: only a backend that continues can
        targets = [t for t in targets if graph.backends[t.backend].continues_responses]
        if not targets:
            raise NotFound(
                f"Previous response with id '{ctx.request.continuation}' not found: the "
                f"provider holds it, and no backend of route '{route.name}' can continue it.",
                code="previous_response_not_found",
                param="previous_response_id",
            )
    strategy = ctx.strategy or route.strategy
    return strategy.run(ctx, targets, send)


async def _ask_again(
    graph: Graph,
    route: CompiledRoute,
    targets: list[Target],
    ctx: Exchange,
    send: Send,
    request: ChatRequest,
) -> AsyncIterator[Event]:
    """The route's strategy asked again, with `request` (see `Exchange.ask_again`)."""
    ctx.request = request
    return await _from_backends(graph, route, targets, ctx, send)


async def _run_stages(
    stages: tuple[BoundStage, ...], ctx: Exchange, timings: Timings
) -> Answer | None:
    """Run request stages in order (those for `ctx.operation`), until one answers."""
    for bound in stages:
        if ctx.operation not in bound.stage.operations:
            continue
        started = time.perf_counter()
        try:
            answer: Answer | None = await bound.stage.on_request(ctx)  # type: ignore[attr-defined]
        except ProxyError:
            raise
        except Exception as exc:
            raise _stage_failure(bound, exc) from exc
        finally:
            timings.add(bound.label, started)
        if answer is not None:
            return answer
    return None


def targets_for(graph: Graph, route: CompiledRoute, ctx: Exchange) -> list[Target]:
    """Where the request goes once the request stages ran: a stage's choice, else the model."""
    if not ctx.targets:
        return graph.resolve(route, ctx.request.model)
    for target in ctx.targets:
        if target.backend not in graph.backends:
            raise NotFound(
                f"route {route.name!r}: a stage chose backend {target.backend!r}, which is not "
                f"declared (declared: {', '.join(graph.backends)})",
                code="unknown_backend",
            )
    return list(ctx.targets)


async def prepare(
    graph: Graph, ctx: Exchange, timings: Timings, sessions: SessionStore | None = None
) -> tuple[CompiledRoute | None, Answer | None]:
    """The request side of every operation: the session loaded, the pipeline's request
    stages, the route they lead to (None when one of them answered) and its request
    stages, the session saved when they changed it. Only the stages that run for
    `ctx.operation` run. A stage's refusal is raised here."""
    if sessions is not None:
        ctx.session = await sessions.load(ctx.session.id)
    route = None
    try:
        answer = await _run_stages(graph.request, ctx, timings) if graph.request else None
        if answer is None:
            route = graph.match(ctx.frontend, ctx.request.model)
            _routed(graph, ctx, route)
            asked = ctx.request.model
            answer = await _run_stages(route.request, ctx, timings) if route.request else None
            if answer is None and ctx.request.model != asked:
                route = _to_named_route(graph, ctx, route, asked)
    finally:
        if ctx.session.changed:
            await _save_session(ctx, sessions)
    if answer is not None and answer.error is not None:
        raise answer.error  # a refusal: an error status in the front-end's shape
    return route, answer


def _routed(graph: Graph, ctx: Exchange, route: CompiledRoute) -> None:
    ctx.route, ctx.route_strategy = route.name, route.strategy.name
    ctx.resolve = partial(graph.resolve, route)


def _to_named_route(graph: Graph, ctx: Exchange, route: CompiledRoute, asked: str) -> CompiledRoute:
    """The route a stage's new model names (`model_rewrite` to `think-then-do`), with the
    client's model back in the request for its targets; else `route` as it was."""
    name, sep, query = ctx.request.model.partition("?")
    named = graph.route_named(name)
    if named is None or named is route:
        return route
    ctx.request = ctx.request.model_copy(update={"model": asked + sep + query})
    _routed(graph, ctx, named)
    return named


async def admit(graph: Graph, ctx: Exchange, sessions: SessionStore | None = None) -> None:
    """Run the pipeline's request stages for a call that routes nowhere (a model
    listing, a stored response): a refusal is raised; a stage's answer means nothing here."""
    if sessions is not None:
        ctx.session = await sessions.load(ctx.session.id)
    try:
        answer = await _run_stages(graph.request, ctx, Timings()) if graph.request else None
    finally:
        await _save_session(ctx, sessions)
    if answer is not None and answer.error is not None:
        raise answer.error


async def count_tokens(
    graph: Graph,
    ctx: Exchange,
    http: httpx.AsyncClient,
    estimate: Callable[[ChatRequest], int],
    sessions: SessionStore | None = None,
) -> int:
    """The input tokens of the request in `ctx` once the stages that run for a count ran
    (aliases, rewrites, a session's model): as the route's first target counts them when
    its backend can, else `estimate`'s. A stage that answers leaves nothing to ask."""
    ctx.operation = "count_tokens"
    route, answer = await prepare(graph, ctx, Timings(), sessions)
    if route is None or answer is not None:
        return estimate(ctx.request)
    target = targets_for(graph, route, ctx)[0]
    ctx.served_by = target
    try:
        counted = await graph.backends[target.backend].count_tokens(ctx.request, target.model, http)
    except ProxyError as error:
        if not is_retryable(error):
            raise
        log.warning("count_tokens: %s failed (%s); estimating", target, error)
        counted = None
    return estimate(ctx.request) if counted is None else counted


async def execute(
    graph: Graph,
    ctx: Exchange,
    http: httpx.AsyncClient,
    sessions: SessionStore | None = None,
    breakers: Breakers | None = None,
) -> Execution:
    """Run the request in `ctx` through the graph: the pipeline's request stages, then the
    matching route's, its strategy, the route's response stages and the pipeline's (each
    backend's calls through its circuit breaker, when `breakers` are given)."""
    timings = Timings()
    route, answer = await prepare(graph, ctx, timings, sessions)
    response = graph.chains[route] if route else graph.chain
    spans = [Span(bound.label) for bound in response] if response else []
    started = time.perf_counter()
    try:
        events: AsyncIterator[Event]
        if answer is not None:
            events = aiter_events(answer.events())
        else:
            assert route is not None  # no answer: a route matched
            targets = targets_for(graph, route, ctx)
            # A stream no stage reads goes straight to the client, unless the strategy reads it.
            strategy = ctx.strategy or route.strategy
            relay = not response and not strategy.reads_events
            if not strategy.moves_on:  # the breakers serve those that ask another target
                breakers = None
            sender = _sender(graph, ctx, http, relay=relay, breakers=breakers)
            if response:
                ctx.ask_again = partial(_ask_again, graph, route, targets, ctx, sender)
            events = await _from_backends(graph, route, targets, ctx, sender)
        for bound, span in zip(response, spans, strict=True):
            events = _guarded(bound, ctx, events, span)
        first = await anext(events)
    except StopAsyncIteration:
        raise ProxyError(502, "the response was empty", code="upstream_empty") from None
    finally:
        timings.add("backend", started)
        timings.entries.extend(spans)
    if isinstance(first, ErrorEvent):  # nothing was sent yet: a real HTTP error is better
        await events.aclose()  # type: ignore[attr-defined]
        raise ProxyError(first.status, first.message, code=first.code)
    return Execution(first, events, route, timings, ctx if response else None, sessions)
