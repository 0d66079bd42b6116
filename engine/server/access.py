"""One access line per request, and its metrics: method, path, status, front-end, route,
backend, session, strategy, tokens, time to first byte, duration and stage timings.

An ASGI middleware inside the app, so that a stream's line is written when its last byte
went out (or the client went away), with the status the client saw. The endpoints say
what they know through :func:`note`; the path is logged without its query, which may
carry a key. With `--log-format json` the line is one JSON object (see `engine.logs`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hypercorn.typing import ASGIFramework, ASGIReceiveCallable, ASGISendCallable, Scope

from engine.capture.recorder import Recording
from engine.capture.recorder import current as capturing
from engine.logs import clean

if TYPE_CHECKING:
    from engine.server.metrics import Metrics

log = logging.getLogger("engine.access")

KEY = "engine.access"  # where a request's facts wait in its ASGI scope
# The facts shown in a text line after `route=` and `backend=`, when known.
_MORE = ("session", "strategy", "input_tokens", "output_tokens")


def note(scope: Any, **fields: str | None) -> None:
    """Record facts about the request in its ASGI `scope` (route, backend, tokens…) for
    its access line, metrics and error log."""
    noted = scope.get(KEY)
    if noted is None:
        noted = scope[KEY] = {}
    for name, value in fields.items():
        if value:
            noted[name] = value


def noted(scope: Any) -> dict[str, str]:
    """What :func:`note` recorded about the request."""
    fields: dict[str, str] = scope.get(KEY, {})
    return fields


class AccessLog:
    """Wraps an ASGI app: counts each HTTP request in `metrics` and logs it once, at INFO
    (unless `engine.access` is quieter: `--quiet`)."""

    def __init__(
        self,
        app: ASGIFramework,
        metrics: Metrics | None = None,
        capturing: Callable[[], bool] | None = None,
    ) -> None:
        """`capturing()`: whether requests are to be recorded now (the graph being served
        has a `capture` stage)."""
        self.app = app
        self.metrics = metrics
        self.capturing = capturing

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        logged = log.isEnabledFor(logging.INFO)
        if scope["type"] != "http" or (self.metrics is None and not logged):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        first: float | None = None
        done = failed = False
        recording = Recording() if self.capturing is not None and self.capturing() else None

        async def watch(message: Any) -> None:
            nonlocal status, done, first
            if message["type"] == "http.response.body":  # the most of them, on a stream
                if first is None and message.get("body"):
                    first = time.perf_counter()
                if recording is not None and message.get("body"):
                    recording.chunks.append((recording.ms(), bytes(message["body"])))
                if not message.get("more_body"):
                    done = True
            elif message["type"] == "http.response.start":
                status = message["status"]
                if recording is not None:
                    recording.status = status
                    recording.headers = _headers(message.get("headers", ()))
            await send(message)

        token = capturing.set(recording) if recording is not None else None
        try:
            reading = receive if recording is None else _reading(receive, recording)
            await self.app(scope, reading, watch)
        except BaseException:
            failed = True
            raise
        finally:
            if token is not None:
                capturing.reset(token)
            seconds = time.perf_counter() - started
            fields = noted(scope)
            ttfb = first - started if first is not None and "stream" in fields else None
            if self.metrics is not None and scope["path"] != "/metrics":
                self.metrics.served(fields, status, seconds, ttfb)
            if ttfb is not None and logged:
                fields["ttfb_ms"] = f"{ttfb * 1000:.1f}"
            if logged:
                _log(scope, fields, status, seconds, failed, done)
            if recording is not None and recording.sink is not None:
                _record(recording, scope, fields, failed, done)


def _reading(receive: ASGIReceiveCallable, recording: Recording) -> ASGIReceiveCallable:
    """`receive`, each piece of the request's body also kept in `recording`."""

    async def read() -> Any:
        message = await receive()
        if message["type"] == "http.request":
            recording.body.append(message.get("body", b""))
        return message

    return read


def _headers(raw: Any) -> list[tuple[str, str]]:
    return [(bytes(k).decode("latin-1"), bytes(v).decode("latin-1")) for k, v in raw]


def _record(
    recording: Recording, scope: Any, fields: dict[str, str], failed: bool, done: bool
) -> None:
    """Offer the finished record to the sink the capture stage named."""
    query = scope.get("query_string", b"")
    path = scope["path"] + (f"?{query.decode('latin-1')}" if query else "")
    error = "the proxy failed" if failed else None if done else "the client went away"
    error = error or fields.get("failed")
    record = recording.finish(
        scope["method"], path, _headers(scope.get("headers", ())), fields, error
    )
    assert recording.sink is not None
    recording.sink.offer(record)


def _log(
    scope: Any, fields: dict[str, str], status: int, seconds: float, failed: bool, done: bool
) -> None:
    if failed:
        outcome = "failed"
    elif not done:
        outcome = "client gone"
    elif "failed" in fields:
        outcome = f"stream error {fields['failed']}"
    else:
        outcome = ""
    more = "".join(f" {name}={clean(fields[name])}" for name in _MORE if name in fields)
    line = {
        "method": scope["method"],
        "path": clean(scope["path"]),
        "status": status or None,
        "outcome": outcome or None,
        "ms": round(seconds * 1000, 1),
        **{name: clean(value) for name, value in fields.items() if name != "failed"},
    }
    log.info(
        "%s %s %s%s route=%s backend=%s%s %.1f ms",
        scope["method"],
        clean(scope["path"]),
        status or "-",
        f" ({outcome})" if outcome else "",
        clean(fields.get("route", "-")),
        clean(fields.get("backend", "-")),
        more,
        seconds * 1000,
        extra={"fields": line},
    )
