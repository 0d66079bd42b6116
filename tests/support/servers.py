"""Serve an ASGI app on a free 127.0.0.1 port, in a thread with its own event loop.

The listening socket is bound and listening before the server starts, so a client that
connects early waits in the backlog instead of being refused; readiness is the app's
lifespan startup having completed, observed on the ASGI messages, never a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from types import TracebackType
from typing import Self

from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGISendCallable,
    ASGISendEvent,
    Scope,
)

START_TIMEOUT_SECS = 10.0
# Connections still open at shutdown get this long before they are cancelled; tests
# release their hanging replies first, so this only bounds a failing test's teardown.
GRACEFUL_TIMEOUT_SECS = 2.0


class ServerThread:
    """Run `app` with hypercorn in a background thread; a context manager."""

    def __init__(self, app: ASGIFramework, *, name: str = "server") -> None:
        self.app = app
        self.name = name
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._handed_over = False

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Bind a free port, start serving, and return once the app has started."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        # Hypercorn's `fd://` bind wraps this descriptor without duplicating it, so it
        # becomes hypercorn's to close from here on; `_run` closes it if hypercorn never
        # took it (the app failed to start).
        fd = sock.detach()
        self._thread = threading.Thread(target=self._run, args=(fd,), name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_SECS) or self._error is not None:
            self.stop()
            raise RuntimeError(f"{self.name} did not start") from self._error

    def stop(self) -> None:
        """Trigger a graceful shutdown and wait for the thread to end."""
        if self._loop is not None and self._shutdown is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                self._loop.call_soon_threadsafe(self._shutdown.set)
        if self._thread is not None:
            self._thread.join(START_TIMEOUT_SECS + GRACEFUL_TIMEOUT_SECS)
            if self._thread.is_alive():
                raise RuntimeError(f"{self.name} did not stop")
            self._thread = None
        if self._error is not None:
            raise RuntimeError(f"{self.name} failed") from self._error

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, fd: int) -> None:
        try:
            asyncio.run(self._serve(fd))
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            if not self._handed_over:
                socket.socket(fileno=fd).close()

    async def _serve(self, fd: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._shutdown = asyncio.Event()
        config = Config()
        config.bind = [f"fd://{fd}"]
        config.accesslog = None
        config.errorlog = None
        config.graceful_timeout = GRACEFUL_TIMEOUT_SECS
        await serve(self._observed, config, shutdown_trigger=self._shutdown.wait, mode="asgi")

    async def _observed(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """The app, with its lifespan startup reported to the starting thread."""
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def observe(message: ASGISendEvent) -> None:
            await send(message)
            if message["type"] == "lifespan.startup.complete":
                # Hypercorn creates its sockets from the bind right after startup.
                self._handed_over = True
                self._ready.set()

        await self.app(scope, receive, observe)
