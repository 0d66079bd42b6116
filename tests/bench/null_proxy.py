"""Null proxies, the yardsticks the benchmark measures the engine against.

Each sends `POST /v1/chat/completions` upstream as it came and streams the answer back as it
comes, parsing nothing: whatever the engine costs beyond one of them is its own.

* `quart` (default): Quart on hypercorn (uvloop), the engine's own server, with one shared
  client of the kind `--client` names:
  - `engine` (default): the client the engine itself uses (`engine.http.upstream_client`),
    so that the null proxy and the engine differ by the engine's work alone;
  - `httpx`: `httpx.AsyncClient` on its native transport (httpcore);
  - `httpx-aiohttp`: `httpx.AsyncClient` over `httpx_aiohttp.AiohttpTransport`;
  - `httpx2`: the `httpx2` fork, when installed.
* `aiohttp`: an aiohttp server with an aiohttp client, the floor for any Python proxy.

    python -m tests.bench.null_proxy --port P --upstream http://127.0.0.1:U/v1 \
        [--server quart|aiohttp] [--client engine|httpx|httpx-aiohttp|httpx2]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from typing import Any

PASSED = ("content-type", "authorization")
CLIENTS = ("engine", "httpx", "httpx-aiohttp", "httpx2")
SERVERS = ("quart", "aiohttp")


def _client(kind: str) -> Any:
    """A shared async client of `kind` (see the module's docstring)."""
    if kind == "engine":
        from engine.http import upstream_client

        return upstream_client()
    if kind == "httpx2":
        import httpx2

        limits2 = httpx2.Limits(max_connections=1000, max_keepalive_connections=200)
        return httpx2.AsyncClient(limits=limits2, timeout=600)
    import httpx

    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    if kind == "httpx-aiohttp":
        from httpx_aiohttp import AiohttpTransport

        return httpx.AsyncClient(transport=AiohttpTransport(limits=limits), timeout=600)
    return httpx.AsyncClient(limits=limits, timeout=600)


def quart_app(upstream: str, client: str) -> Any:
    """The Quart null proxy for the OpenAI-compatible server at `upstream` (with `/v1`)."""
    from quart import Quart, Response, request

    app = Quart("null_proxy")
    app.config.update(RESPONSE_TIMEOUT=None)
    clients: list[Any] = []

    @app.before_serving
    async def open_pool() -> None:
        clients.append(_client(client))

    @app.after_serving
    async def close_pool() -> None:
        await clients[0].aclose()

    @app.post("/v1/chat/completions")
    async def chat() -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() in PASSED}
        upstream_request = clients[0].build_request(
            "POST",
            f"{upstream}/chat/completions",
            content=await request.get_data(),
            headers=headers,
        )
        answer = await clients[0].send(upstream_request, stream=True)

        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in answer.aiter_raw():
                    yield chunk
            finally:
                await answer.aclose()

        response = Response(
            body(),
            status=answer.status_code,
            content_type=answer.headers.get("content-type", "application/json"),
        )
        response.timeout = None
        return response

    return app


def aiohttp_app(upstream: str) -> Any:
    """The aiohttp null proxy (server and client) for the server at `upstream`."""
    import aiohttp
    from aiohttp import web

    async def chat(request: web.Request) -> web.StreamResponse:
        session: aiohttp.ClientSession = request.app["session"]
        headers = {k: v for k, v in request.headers.items() if k.lower() in PASSED}
        async with session.post(
            f"{upstream}/chat/completions", data=await request.read(), headers=headers
        ) as answer:
            response = web.StreamResponse(status=answer.status)
            response.content_type = answer.content_type
            await response.prepare(request)
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    async def session(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=1000)
        app["session"] = aiohttp.ClientSession(connector=connector)
        yield
        await app["session"].close()

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.cleanup_ctx.append(session)
    return app


def main() -> None:
    """Serve a null proxy until stopped."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench.null_proxy")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the upstream's base URL, with /v1")
    parser.add_argument("--server", choices=SERVERS, default="quart")
    parser.add_argument("--client", choices=CLIENTS, default="engine")
    args = parser.parse_args()
    if args.server == "aiohttp":
        from aiohttp import web

        web.run_app(
            aiohttp_app(args.upstream),
            host=args.host,
            port=args.port,
            access_log=None,
            print=None,
            loop=_new_loop(),
        )
        return
    from hypercorn.asyncio import serve

    from engine.server.hosting import hypercorn_config, run

    run(serve(quart_app(args.upstream, args.client), hypercorn_config(args.host, args.port)))


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


if __name__ == "__main__":
    main()
