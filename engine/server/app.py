"""The Quart application: front-end endpoints over the executor, and the hot reloader."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException

from engine.catalog import ModelCatalog
from engine.codecs.sse import dumps_bytes
from engine.codecs.validation import parse_body
from engine.errors import ProxyError
from engine.executor import Execution, execute
from engine.frontends import DEFAULT, FRONTENDS, Call, Frontend
from engine.graph import Graph
from engine.logs import clean
from engine.logs import install as install_log_redaction
from engine.model import ChatRequest, ErrorEvent, Finish
from engine.notes import HEADER as DROPPED_HEADER
from engine.notes import Dropped
from engine.reload import GraphHolder
from engine.response import collect
from engine.server.access import note, noted
from engine.server.hypercorn_fixes import close_idle_connections_on_eof
from engine.sessions import SessionStore, session_key
from engine.stage import RequestContext
from engine.stored_responses import ResponseStore

log = logging.getLogger("engine.server")

MAX_BODY_BYTES = 64 * 1024 * 1024
POOL_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=60)


def client_key(headers: Any, args: Any) -> str | None:
    """The client's API key from whichever header or query parameter its SDK uses."""
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return str(authorization[7:].strip())
    return headers.get("x-api-key") or headers.get("x-goog-api-key") or args.get("key")


def _json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        dumps_bytes(body),
        status=status,
        content_type="application/json",
        headers=headers,
    )


class Server:
    """What the endpoints share: the graph holder, sessions and the upstream HTTP pool."""

    def __init__(self, holder: GraphHolder, *, watch: bool) -> None:
        self.holder = holder
        self.watch = watch
        self.sessions = SessionStore()
        self.responses = ResponseStore()
        self.catalog = ModelCatalog()
        holder.listeners.append(self.catalog.graph_changed)
        self.http: httpx.AsyncClient | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._discovery: asyncio.Task[None] | None = None
        self._dropped_seen: set[tuple[str, str]] = set()

    async def start(self) -> None:
        """Open the shared upstream pool and start watching the routes folder."""
        self.http = httpx.AsyncClient(
            limits=POOL_LIMITS, timeout=httpx.Timeout(600, connect=10), follow_redirects=False
        )
        if self.watch:
            self._watcher = asyncio.create_task(self.holder.watch())
        self._discovery = asyncio.create_task(
            self.catalog.run(lambda: self.holder.graph, self.http)
        )

    async def stop(self) -> None:
        """Stop watching and discovering, and close the pool."""
        tasks = [task for task in (self._watcher, self._discovery) if task is not None]
        for task in tasks:
            task.cancel()
        # Wait for them to end, so that no listing is still using the pool as it closes.
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.http is not None:
            await self.http.aclose()

    async def handle(self, frontend: Frontend, **path_params: str) -> Response:
        """Serve one chat request on `frontend`, errors in that front-end's shape."""
        try:
            return await self._handle(frontend, path_params)
        except ProxyError as error:
            return self.refuse(frontend, error)

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

    def context(
        self, frontend: str, chat: ChatRequest, graph: Graph, headers: dict[str, str]
    ) -> RequestContext:
        """The stages' context for a request of the current HTTP call, in its session."""
        key = client_key(request.headers, request.args)
        return RequestContext(
            request=chat,
            frontend=frontend,
            session=self.sessions.get(session_key(headers, key)),
            backends=graph.backend_names,
            headers=headers,
        )

    async def _handle(self, frontend: Frontend, path_params: dict[str, str]) -> Response:
        payload = parse_body(await request.get_data())
        headers = {name.lower(): value for name, value in request.headers.items()}
        chat = frontend.decode_request(payload, Call(path_params, request.args, headers))
        if frontend.prepare is not None:
            chat = await frontend.prepare(chat, self)
        graph: Graph = self.holder.graph  # one snapshot for the whole request
        ctx = self.context(frontend.name, chat, graph, headers)
        assert self.http is not None, "the server has not started"
        try:
            execution = await execute(graph, ctx, self.http)
        finally:
            self.note(route=ctx.route, backend=str(ctx.served_by or "") or None)
        headers = {"server-timing": execution.timings.header()}
        if ctx.dropped:
            headers[DROPPED_HEADER] = ctx.dropped.header()
            self._note_dropped(ctx, ctx.dropped)
        if chat.stream:
            return self._stream(frontend, chat, execution, headers)
        started = time.perf_counter()
        response = await collect(execution.events())
        execution.timings.add("response", started)
        headers["server-timing"] = execution.timings.header()
        body = frontend.encode_response(response, chat)
        await self._complete(frontend, chat, body)
        return _json(body, headers=headers)

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

    def _note_dropped(self, ctx: RequestContext, dropped: Dropped) -> None:
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
        self, frontend: Frontend, chat: ChatRequest, execution: Execution, headers: dict[str, str]
    ) -> Response:
        encoder = frontend.stream_encoder(chat)
        # The body is sent after this handler returned, outside the request's context.
        scope, where = request.scope, f"{request.method} {clean(request.path)}"

        async def body() -> AsyncIterator[bytes]:
            completed = finished = False
            try:
                async for event in execution.events():
                    finished = finished or isinstance(event, Finish)
                    if isinstance(event, ErrorEvent):
                        failure = (event.status, event.code, event.message)
                        self._stream_failed(frontend, scope, where, *failure)
                    data = encoder.event(event)
                    # Completed before the client sees the end, so that its next request
                    # finds whatever `complete` stored.
                    if frontend.complete is not None and not completed:
                        final = getattr(encoder, "final", None)
                        if final is not None:
                            completed = True
                            await self._complete(frontend, chat, final)
                    if data:
                        yield data
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

        response = Response(
            body(),
            content_type=frontend.stream_content_type,
            headers={"cache-control": "no-cache", "x-accel-buffering": "no", **headers},
        )
        response.timeout = None
        return response

    def note(self, **fields: str | None) -> None:
        """Say which route or backend serves the current request (its access line)."""
        note(request.scope, **fields)

    def model_ids(self) -> list[str]:
        """The models the current graph lists (see `engine.catalog`)."""
        return self.catalog.model_ids(self.holder.graph)

    def json(
        self, body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        """A JSON response (for front-ends' own endpoints)."""
        return _json(body, status, headers)


def create_app(graph: Graph, routes: Path, *, watch: bool = True) -> Quart:
    """The application serving `graph`, reloading it from `routes` when `watch`."""
    install_log_redaction()
    close_idle_connections_on_eof()
    app = Quart("engine")
    app.config.update(RESPONSE_TIMEOUT=None, BODY_TIMEOUT=600, MAX_CONTENT_LENGTH=MAX_BODY_BYTES)
    server = Server(GraphHolder(graph, routes), watch=watch)
    app.extensions["engine"] = server
    app.before_serving(server.start)
    app.after_serving(server.stop)

    for frontend in FRONTENDS:
        frontend.mount(app, server)

    @app.get("/healthz")
    async def health() -> Response:
        return _json({"status": "ok", "generation": server.holder.generation})

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
        log.exception("%s %s failed", request.method, clean(request.path))
        await drain()
        message = f"internal error: {type(error).__name__}: {error}"
        failure = ProxyError(500, message, code="internal")
        failure.logged = True
        return server.refuse(owner(request.path), failure)

    return app
