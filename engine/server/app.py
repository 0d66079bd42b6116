"""The Quart application: the front-ends' endpoints over the executor, and the hot reloader.

The server is the front-ends' :class:`~engine.frontends.Host`: it mounts their route
tables, makes an HTTP request a :class:`~engine.exchange.Call`, runs each operation
through the executor with the session and response stores, and turns replies into HTTP
responses, errors in the front-end's shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

import httpx
from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException

from engine.access import Access
from engine.breaker import Breakers
from engine.catalog import ModelCatalog
from engine.codecs.sse import dumps_bytes
from engine.codecs.validation import parse_body
from engine.errors import ProxyError
from engine.exchange import Call, Exchange, Operation
from engine.executor import Execution, admit, count_tokens, execute
from engine.frontends import DEFAULT, FRONTENDS, Endpoint, Frontend, Reply
from engine.frontends.base import Estimate
from engine.graph import BoundStage, Graph, guarded
from engine.http import upstream_client
from engine.logs import clean
from engine.logs import install as install_log_redaction
from engine.model import Bundle, ChatRequest, ErrorEvent, Event, Finish, Relayed, Usage
from engine.notes import HEADER as DROPPED_HEADER
from engine.notes import Dropped
from engine.ready import batches
from engine.reload import GraphHolder
from engine.response import collect
from engine.server.access import AccessLog, note, noted
from engine.server.cleanups import Cleanups, defer
from engine.server.hypercorn_fixes import close_idle_connections_on_eof
from engine.server.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from engine.server.metrics import Metrics
from engine.sessions import MemorySessionStore, Session, SessionStore, session_key
from engine.stage import registry
from engine.stored_responses import MemoryResponseStore, ResponseStore

if TYPE_CHECKING:
    from engine.store import SqlStore

log = logging.getLogger("engine.server")

MAX_BODY_BYTES = 64 * 1024 * 1024
READY_TIMEOUT_SECS = 2.0  # a store slower than this to answer is not ready
SERVED_BY_HEADER = "x-served-by"  # the target that answered: BACKEND:MODEL
# What a header value may hold as it is; the rest of a client's model name is %-escaped.
_PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
_NOT_PRINTABLE = re.compile(f"[^{re.escape(_PRINTABLE)}]")


def _json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        dumps_bytes(body),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _internal(error: Exception) -> ProxyError:
    """A failure of the proxy's own, logged here with its traceback, as a 500."""
    log.exception("%s %s failed", request.method, clean(request.path))
    failure = ProxyError(500, f"internal error: {type(error).__name__}: {error}", code="internal")
    failure.logged = True
    return failure


def _pick(endpoints: Sequence[tuple[Frontend, Endpoint]], call: Call) -> tuple[Frontend, Endpoint]:
    """The first endpoint whose `when` takes the call (the last has none: it takes any)."""
    for pair in endpoints:
        when = pair[1].when
        if when is None or when(call):
            return pair
    return endpoints[-1]


class Server:
    """What the endpoints share: the graph holder, the stores and the upstream HTTP pool."""

    def __init__(
        self,
        holder: GraphHolder,
        *,
        watch: bool,
        sessions: SessionStore | None = None,
        responses: ResponseStore | None = None,
        store: SqlStore | None = None,
    ) -> None:
        self.holder = holder
        self.watch = watch
        self.store = store
        self.sessions: SessionStore = sessions or (
            store.sessions if store else MemorySessionStore()
        )
        self.responses: ResponseStore = responses or (
            store.responses if store else MemoryResponseStore()
        )
        self.access = store.access if store else Access()
        self.catalog = ModelCatalog()
        self.breakers = Breakers()  # per process: see engine.breaker
        self.metrics = Metrics(lambda: self.holder.graph, self.breakers)
        holder.listeners.append(self.catalog.graph_changed)
        holder.listeners.append(self.metrics.reloaded)
        self.http: httpx.AsyncClient | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._discovery: asyncio.Task[None] | None = None
        self._dropped_seen: set[tuple[str, str]] = set()
        self._captured: tuple[Graph | None, bool] = (None, False)

    async def start(self) -> None:
        """Open the store (migrating it) and the shared upstream pool, and start watching
        the routes folder."""
        if self.store is not None:
            before, after = await self.store.open()
            if before != after:
                log.info("store %s: schema upgraded from %s to %s", self.store, before, after)
            log.info("store: %s (schema %s)", self.store, after)
        self.http = upstream_client()
        if self.watch:
            self._watcher = asyncio.create_task(self.holder.watch())
        self._discovery = asyncio.create_task(
            self.catalog.run(lambda: self.holder.graph, self.http)
        )

    async def stop(self) -> None:
        """Stop watching and discovering, retire the graph (its stages close) and close
        the pool."""
        tasks = [task for task in (self._watcher, self._discovery) if task is not None]
        for task in tasks:
            task.cancel()
        # Wait for them to end, so that no listing is still using the pool as it closes.
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.holder.close()
        if self.http is not None:
            await self.http.aclose()
        if self.store is not None:
            await self.store.aclose()

    def capturing(self) -> bool:
        """Whether the graph being served has a `capture` stage (asked per request: the
        answer is kept per graph)."""
        graph = self.holder.graph
        if self._captured[0] is not graph:
            stages = graph.stages()
            self._captured = (graph, any(getattr(s, "name", "") == "capture" for s in stages))
        return self._captured[1]

    async def problems(self) -> list[str]:
        """Why the server cannot serve requests now (none when it is ready): no graph with
        routes, or a store it cannot reach."""
        found = []
        if not self.holder.graph.routes:
            found.append("no routes are loaded")
        if self.http is None:
            found.append("the server has not started")
        if self.store is not None:
            try:
                await asyncio.wait_for(self.store.ping(), READY_TIMEOUT_SECS)
            except Exception as exc:  # unreachable, or too slow to count as reachable
                found.append(f"store {self.store}: {type(exc).__name__}: {clean(exc, 300)}")
        return found

    async def serve(
        self, endpoints: Sequence[tuple[Frontend, Endpoint]], **params: str
    ) -> Response:
        """Serve one HTTP request on the first of `endpoints` that takes it, errors in its
        front-end's shape."""
        # Read before answering even an unknown action: a body left unread ends the
        # kept-alive connection, and the client's next request on it would fail.
        body = cast(bytes, await request.get_data())
        headers = {name.lower(): value for name, value in request.headers.items()}
        address = request.remote_addr or ""
        call = Call(request.method, request.path, params, request.args, headers, body, address)
        frontend, endpoint = _pick(endpoints, call)
        note(request.scope, frontend=frontend.name)
        try:
            reply = await endpoint.handler(call, self)
        except ProxyError as error:
            return self.refuse(frontend, error)
        except HTTPException:
            raise
        except Exception as error:  # in the shape of the front-end that took the call
            return self.refuse(frontend, _internal(error))
        if isinstance(reply.body, dict):
            return _json(reply.body, reply.status, reply.headers)
        response = Response(
            reply.body, status=reply.status, content_type=reply.content_type, headers=reply.headers
        )
        response.timeout = None
        return response

    def refuse(self, frontend: Frontend, error: ProxyError) -> Response:
        """The error response in `frontend`'s shape, logged once at WARNING (unless it
        was logged already, with its traceback)."""
        if not error.logged:
            log.warning(
                "%s %s: %d %s: %s (front-end %s, route %s)",
                request.method,
                clean(request.path),
                error.status,
                error.code,
                clean(error.message, 1000),
                frontend.name,
                clean(noted(request.scope).get("route", "-")),
            )
        return _json(frontend.encode_error(error), error.status, headers=error.headers)

    def exchange(
        self, frontend: str, call: Call, chat: ChatRequest, graph: Graph, operation: Operation
    ) -> Exchange:
        """The stages' exchange for a call, in its (not yet loaded) session."""
        return Exchange(
            request=chat,
            frontend=frontend,
            session=Session(session_key(call.headers, call.client_key)),
            backends=graph.backend_names,
            call=call,
            operation=operation,
            access=self.access,
        )

    async def chat(self, frontend: Frontend, call: Call) -> Reply:
        """Serve a chat call on `frontend`: decode, run the pipeline, encode."""
        chat = frontend.decode_request(parse_body(call.body), call)
        if frontend.prepare is not None:
            chat = await frontend.prepare(chat, self)
        graph = self.holder.acquire()  # one graph for the whole request, stream included
        streaming = False
        try:
            ctx = self.exchange(frontend.name, call, chat, graph, "chat")
            assert self.http is not None, "the server has not started"
            try:
                execution = await execute(graph, ctx, self.http, self.sessions, self.breakers)
            finally:
                self._note_served(ctx)
            headers: dict[str, str] = {}
            if ctx.served_by is not None:  # none when the proxy answered itself
                served_by = str(ctx.served_by)
                unsafe = _NOT_PRINTABLE.search(served_by) is not None
                headers[SERVED_BY_HEADER] = quote(served_by, _PRINTABLE) if unsafe else served_by
            if ctx.dropped:
                headers[DROPPED_HEADER] = ctx.dropped.header()
                self._note_dropped(ctx, ctx.dropped)
            if chat.stream:
                streaming = True
                headers["server-timing"] = execution.timings.header()
                return self._stream(frontend, call, chat, graph, execution, headers)
            started = time.perf_counter()
            async with aclosing(execution.events()) as events:
                response = await collect(events)
            execution.timings.add("response", started)
            _note_usage(response.usage)
            headers["server-timing"] = execution.timings.header()
            body = frontend.encode_response(response, chat)
            await self._complete(frontend, chat, body)
            return Reply(body, headers=headers)
        finally:
            if not streaming:
                self.holder.release(graph)

    def _hold_until_sent(
        self, graph: Graph, execution: Execution, body: AsyncGenerator[bytes, None]
    ) -> None:
        """Keep a stream's graph until the HTTP request is over, and close the body and
        its events first: a client gone before the body started never runs the body's own
        end, and one gone while it was sent leaves it where it waited."""

        async def cleanup() -> None:
            try:
                await body.aclose()
                await execution.aclose()
            finally:
                self.holder.release(graph)

        defer(request.scope, cleanup)

    async def count_tokens(
        self, frontend: Frontend, call: Call, chat: ChatRequest, estimate: Estimate
    ) -> int:
        """Count `chat`'s input tokens through the pipeline's `count_tokens` stages."""
        assert self.http is not None, "the server has not started"
        with self.holder.lease() as graph:
            ctx = self.exchange(frontend.name, call, chat, graph, "count_tokens")
            try:
                return await count_tokens(graph, ctx, self.http, estimate, self.sessions)
            finally:
                self._note_served(ctx)

    async def models(self, frontend: Frontend, call: Call) -> list[str]:
        """The models the current graph lists (see `engine.catalog`), once the pipeline's
        `models` stages admitted the call."""
        with self.holder.lease() as graph:
            await self._admit(graph, frontend, call, "models")
            return self.catalog.model_ids(graph)

    async def admit(self, frontend: Frontend, call: Call, operation: Operation) -> None:
        """Run the pipeline's stages for a call that routes nowhere; a refusal raises."""
        with self.holder.lease() as graph:
            await self._admit(graph, frontend, call, operation)

    async def _admit(
        self, graph: Graph, frontend: Frontend, call: Call, operation: Operation
    ) -> None:
        nothing = ChatRequest(model="")  # no request to route: the exchange's is empty
        await admit(
            graph, self.exchange(frontend.name, call, nothing, graph, operation), self.sessions
        )

    def _stream_failed(
        self, frontend: Frontend, scope: Any, where: str, status: int, code: str, message: str
    ) -> None:
        """Log an error sent inside a stream (its HTTP status was already 200), once."""
        note(scope, failed=f"{status} {code}")
        log.warning(
            "%s: %d %s in the stream: %s (front-end %s, route %s)",
            where,
            status,
            code,
            clean(message, 1000),
            frontend.name,
            clean(noted(scope).get("route", "-")),
        )

    def _note_dropped(self, ctx: Exchange, dropped: Dropped) -> None:
        """Log what a backend's request left out: at INFO the first time for that backend
        and those names, at DEBUG after (an agent sends the same fields on every turn)."""
        key = (str(ctx.served_by), dropped.header())
        first = key not in self._dropped_seen
        if first and len(self._dropped_seen) < 10_000:
            self._dropped_seen.add(key)
        log.log(
            logging.INFO if first else logging.DEBUG,
            "route %s: %s left out what the %s client sent and its protocol cannot carry: %s",
            clean(ctx.route),
            clean(ctx.served_by),
            ctx.frontend,
            dropped.header(),
        )

    async def _complete(self, frontend: Frontend, chat: ChatRequest, body: dict[str, Any]) -> None:
        """Run the front-end's `complete` step; its failure must not cost the client its answer."""
        if frontend.complete is None:
            return
        try:
            await frontend.complete(chat, body, self)
        except Exception:
            log.exception("%s: completing the response failed", frontend.name)

    def _stream(
        self,
        frontend: Frontend,
        call: Call,
        chat: ChatRequest,
        graph: Graph,
        execution: Execution,
        headers: dict[str, str],
    ) -> Reply:
        """The streamed reply, holding `graph` until it is sent."""
        encoder = frontend.stream_encoder(chat, call)
        # The body is sent after this handler returned, outside the request's context.
        scope, where = request.scope, f"{request.method} {clean(request.path)}"

        async def body() -> AsyncGenerator[bytes, None]:
            completed = finished = False
            usage: Usage | None = None
            events = execution.events()
            # The events ready together go out in one write (see engine.ready).
            ready = batches(events)
            try:
                async for batch in ready:
                    data: list[bytes] = []
                    for event in _unbundled(batch):
                        if isinstance(event, Relayed):
                            if event.events:  # none on a relayed chunk of plain text
                                finished = finished or _finishes(event)
                                usage = _usage_in(event.events) or usage
                        elif isinstance(event, Finish):
                            finished = True
                        elif type(event) is Usage:
                            usage = event
                        elif isinstance(event, ErrorEvent):
                            failure = (event.status, event.code, event.message)
                            self._stream_failed(frontend, scope, where, *failure)
                        data.append(encoder.event(event))
                    # Completed before the client sees the end, so that its next request
                    # finds whatever `complete` stored.
                    if frontend.complete is not None and not completed:
                        final = getattr(encoder, "final", None)
                        if final is not None:
                            completed = True
                            await self._complete(frontend, chat, final)
                    if out := b"".join(data):
                        yield out
            except Exception as exc:
                error = exc if isinstance(exc, ProxyError) else None
                if error is None:
                    log.exception("%s: the stream failed", frontend.name)
                    error = ProxyError(500, f"internal error: {exc}", code="internal")
                    error.logged = True
                if finished:  # the client has its whole answer: an error now would break it
                    log.warning("error after the response finished: %s", clean(error.message))
                else:
                    if not error.logged:
                        failure = (error.status, error.code, error.message)
                        self._stream_failed(frontend, scope, where, *failure)
                    yield encoder.error(error)
            finally:
                _note_usage(usage, scope)
                await ready.aclose()  # first: it may be inside `events`, waiting
                await events.aclose()

        headers = {"cache-control": "no-cache", "x-accel-buffering": "no", **headers}
        note(scope, stream="1")
        stream = body()
        self._hold_until_sent(graph, execution, stream)
        return Reply(stream, headers=headers, content_type=frontend.stream_content_type)

    def _note_served(self, ctx: Exchange) -> None:
        """Say which route and backend an exchange went to, as far as it got (its access
        line)."""
        note(
            request.scope,
            route=ctx.route,
            backend=str(ctx.served_by or "") or None,
            session=ctx.session.id,
            strategy=ctx.route_strategy,
        )


def _note_usage(usage: Usage | None, scope: Any = None) -> None:
    """Note the tokens a reply used, for its access line and metrics."""
    if usage is not None:
        note(
            request.scope if scope is None else scope,
            input_tokens=str(usage.input_tokens),
            output_tokens=str(usage.output_tokens),
        )


def _unbundled(events: list[Event]) -> list[Event]:
    """`events` with each `Bundle` opened."""
    if not any(isinstance(event, Bundle) for event in events):
        return events
    return [
        carried
        for event in events
        for carried in (event.events if isinstance(event, Bundle) else (event,))
    ]


def _finishes(event: Relayed) -> bool:
    """Whether a relayed chunk carries the event that ends the response."""
    return any(isinstance(e, Finish) for e in event.events)


def _usage_in(events: tuple[Event, ...]) -> Usage | None:
    """The last usage a relayed chunk carries, if any."""
    return next((e for e in reversed(events) if type(e) is Usage), None)


def mount(app: Quart, server: Server, frontends: Sequence[Frontend]) -> None:
    """Add every front-end's endpoints; one method and rule declared by several front-ends
    is one route that asks them in turn (those with a `when` first)."""
    routes: dict[tuple[str, str], list[tuple[Frontend, Endpoint]]] = {}
    for frontend in frontends:
        for endpoint in frontend.endpoints:
            routes.setdefault((endpoint.method, endpoint.rule), []).append((frontend, endpoint))
    for (method, rule), taken in routes.items():
        taken.sort(key=lambda pair: pair[1].when is None)
        if taken[-1][1].when is not None:
            raise ValueError(f"{method} {rule}: no front-end serves it without a `when`")

        async def view(taken: list[tuple[Frontend, Endpoint]] = taken, **params: str) -> Response:
            return await server.serve(taken, **params)

        app.add_url_rule(rule, f"{method} {rule}", view, methods=[method])


def _key_guard() -> Callable[[Graph], Graph]:
    """What `--require-keys` does to each graph served: `auth` (a key required) and the
    keys' own limits (`rate_limit`) run first, and count the tokens last."""
    stages = registry()
    auth, limits = stages["auth"], stages["rate_limit"]
    required = BoundStage("auth", auth(auth.Config(required=True)))
    limited = BoundStage("rate_limit", limits(limits.Config()))
    return partial(guarded, request=(required, limited), response=(limited,))


def create_app(
    graph: Graph,
    routes: Path,
    *,
    watch: bool = True,
    sessions: SessionStore | None = None,
    responses: ResponseStore | None = None,
    store: SqlStore | None = None,
    require_keys: bool = False,
) -> Quart:
    """The application serving `graph`, reloading it from `routes` when `watch`, with
    sessions and stored responses in the given stores, else in the SQL `store`, else in
    memory; with `require_keys`, every call needs a client key (`auth` and `rate_limit`
    first in the pipeline, unless the routing files declare them there)."""
    install_log_redaction()
    close_idle_connections_on_eof()
    app = Quart("engine")
    app.asgi_app = Cleanups(app.asgi_app)  # type: ignore[method-assign]
    app.config.update(RESPONSE_TIMEOUT=None, BODY_TIMEOUT=600, MAX_CONTENT_LENGTH=MAX_BODY_BYTES)
    holder = GraphHolder(graph, routes, _key_guard() if require_keys else None)
    server = Server(holder, watch=watch, sessions=sessions, responses=responses, store=store)
    app.extensions["engine"] = server
    app.asgi_app = AccessLog(  # type: ignore[method-assign]
        app.asgi_app, server.metrics, server.capturing
    )
    app.before_serving(server.start)
    app.after_serving(server.stop)

    mount(app, server, FRONTENDS)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(server.metrics.exposition(), content_type=METRICS_CONTENT_TYPE)

    @app.get("/readyz")
    async def ready() -> Response:
        problems = await server.problems()
        status = "not ready" if problems else "ready"
        return _json({"status": status, "problems": problems}, 503 if problems else 200)

    @app.get("/healthz")
    async def health() -> Response:
        return _json({"status": "ok", "generation": server.holder.generation, "pid": os.getpid()})

    def owner(path: str) -> Frontend:
        # The front-end owning the path most specifically answers (Gemini's
        # `/v1/models/…:action` paths sit inside OpenAI's `/v1/`).
        frontend = max(FRONTENDS, key=lambda f: f.claim(path))
        return frontend if frontend.claim(path) else DEFAULT

    async def drain() -> None:
        # A body left unread ends the kept-alive connection (hypercorn cannot recycle
        # it), and the client's next request on it would fail.
        with contextlib.suppress(Exception):
            await request.get_data()

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        if error.code != 413:  # too large: it is not read
            await drain()
        status = error.code or 500
        message = f"{request.method} {request.path}: {error.description or error.name}"
        code = error.name.lower().replace(" ", "_")
        return server.refuse(owner(request.path), ProxyError(status, message, code=code))

    @app.errorhandler(Exception)
    async def internal_error(error: Exception) -> Response:
        await drain()
        return server.refuse(owner(request.path), _internal(error))

    return app
