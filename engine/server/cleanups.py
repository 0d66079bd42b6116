"""Work that must run once an HTTP request is over: its last byte sent, its client gone, or
its handler failed.

A streamed response outlives its handler, and a client that goes away before the body
starts means the body's own code never runs; what a request holds (its graph, an open
upstream stream) is let go here instead, by an ASGI middleware around the app.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from hypercorn.typing import ASGIFramework, ASGIReceiveCallable, ASGISendCallable, Scope

log = logging.getLogger("engine.server")

KEY = "engine.cleanups"  # where a request's cleanups wait in its ASGI scope

Cleanup = Callable[[], Awaitable[None]]


def defer(scope: Any, cleanup: Cleanup) -> None:
    """Run `cleanup` when the request is over; cleanups run last-deferred first."""
    scope.setdefault(KEY, []).append(cleanup)


class Cleanups:
    """Wraps an ASGI app and runs each request's deferred cleanups when it is over."""

    def __init__(self, app: ASGIFramework) -> None:
        self.app = app

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            cleanups: list[Cleanup] | None = scope.get(KEY)  # type: ignore[assignment]
            while cleanups:
                try:
                    await cleanups.pop()()
                except Exception:
                    log.exception("cleaning up after %s failed", scope.get("path", "a request"))
