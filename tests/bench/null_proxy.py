"""A null proxy on the engine's own stack, the yardstick the benchmark measures it against.

Quart on hypercorn (uvloop), one shared `httpx.AsyncClient`, bytes in and bytes out:
`POST /v1/chat/completions` is sent upstream as it came and the answer streamed back as
it comes, parsing nothing. Whatever the engine costs beyond this is its own.

    python -m tests.bench.null_proxy --port P --upstream http://127.0.0.1:U/v1
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator

import httpx
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, Response, request

PASSED = ("content-type", "authorization")


def create_app(upstream: str) -> Quart:
    """The null proxy for the OpenAI-compatible server at `upstream` (with `/v1`)."""
    app = Quart("null_proxy")
    app.config.update(RESPONSE_TIMEOUT=None)
    clients: list[httpx.AsyncClient] = []

    @app.before_serving
    async def open_pool() -> None:
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
        clients.append(httpx.AsyncClient(limits=limits, timeout=600))

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


def main() -> None:
    """Serve the null proxy until stopped."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench.null_proxy")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the upstream's base URL, with /v1")
    args = parser.parse_args()
    config = Config()
    config.bind = [f"{args.host}:{args.port}"]
    config.accesslog = None
    config.keep_alive_timeout = 75
    runner = asyncio.run
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        pass
    runner(serve(create_app(args.upstream), config))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
