"""One access line per request: method, path, status, route, backend and duration.

An ASGI middleware around the app, so that a stream's line is written when its last byte
went out (or the client went away), with the status the client saw. The endpoints say
which route and backend served the request through :func:`note`; the path is logged
without its query, which may carry a key.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from hypercorn.typing import ASGIFramework, ASGIReceiveCallable, ASGISendCallable, Scope

from engine.logs import clean

log = logging.getLogger("engine.access")

KEY = "engine.access"  # where a request's route and backend wait in its ASGI scope


def note(scope: Any, **fields: str | None) -> None:
    """Record facts about the request in its ASGI `scope` (route, backend) for its
    access line and error log."""
    scope.setdefault(KEY, {}).update({k: v for k, v in fields.items() if v})


def noted(scope: Any) -> dict[str, str]:
    """What :func:`note` recorded about the request."""
    fields: dict[str, str] = scope.get(KEY, {})
    return fields


class AccessLog:
    """Wraps an ASGI app and logs each HTTP request it served once, at INFO."""

    def __init__(self, app: ASGIFramework) -> None:
        self.app = app

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):  # --quiet
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        done = failed = False

        async def watch(message: Any) -> None:
            nonlocal status, done
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                done = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except BaseException:
            failed = True
            raise
        finally:
            fields = noted(scope)
            if failed:
                outcome = " (failed)"
            elif not done:
                outcome = " (client gone)"
            elif "failed" in fields:
                outcome = f" (stream error {fields['failed']})"
            else:
                outcome = ""
            log.info(
                "%s %s %s%s route=%s backend=%s %.1f ms",
                scope["method"],
                clean(scope["path"]),
                status or "-",
                outcome,
                clean(fields.get("route", "-")),
                clean(fields.get("backend", "-")),
                (time.perf_counter() - started) * 1000,
            )
