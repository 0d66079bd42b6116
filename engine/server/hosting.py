"""How the server is hosted: hypercorn's settings, the event loop and the graceful stop,
shared by `engine serve` (one process, or each of its workers) and the benchmark's null
proxy so that both run on the same stack."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hypercorn.config import Config
    from hypercorn.typing import Framework

KEEP_ALIVE_SECS = 75  # longer than the idle timeout of the usual client pools
SHUTDOWN_TIMEOUT_SECS = 30.0  # what requests and streams in flight get to finish
PARENT_POLL_SECS = 1.0  # how often a worker looks whether its supervisor is still there
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

log = logging.getLogger("engine")


def hypercorn_config(
    host: str,
    port: int,
    *,
    listen_fd: int | None = None,
    shutdown_timeout: float = SHUTDOWN_TIMEOUT_SECS,
) -> Config:
    """hypercorn's settings for a proxy on `host:port`, or on the listening socket
    `listen_fd` that a supervising process opened; on shutdown, what is in flight gets
    `shutdown_timeout` seconds to finish."""
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"fd://{listen_fd}"] if listen_fd is not None else [f"{host}:{port}"]
    config.accesslog = None  # engine.access logs each request, with its route and backend
    config.errorlog = logging.getLogger("hypercorn.error")  # through our handler, once
    config.keep_alive_timeout = KEEP_ALIVE_SECS
    config.graceful_timeout = shutdown_timeout
    return config


class Shutdown:
    """A request to stop, made once (by a signal, or by whoever notices a reason); its
    reason is the first one given."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._requested = asyncio.Event()

    @property
    def requested(self) -> bool:
        """Whether a stop was requested."""
        return self.reason is not None

    def request(self, reason: str) -> None:
        """Ask to stop (again: nothing more happens)."""
        if self.reason is None:
            self.reason = reason
            self._requested.set()

    async def wait(self) -> str:
        """Wait for the request to stop; its reason."""
        await self._requested.wait()
        assert self.reason is not None
        return self.reason

    async def wait_for(self, secs: float) -> bool:
        """Wait `secs` seconds, or less when a stop is requested meanwhile; whether it was."""
        try:
            await asyncio.wait_for(self._requested.wait(), secs)
        except TimeoutError:
            return False
        return True

    def on_signals(self) -> None:
        """Request the stop on SIGTERM or SIGINT, from the running loop on."""
        loop = asyncio.get_running_loop()
        for number in STOP_SIGNALS:
            reason = signal.Signals(number).name
            try:
                loop.add_signal_handler(number, self.request, reason)
            except NotImplementedError:  # Windows' loops: a plain handler, back to the loop
                signal.signal(
                    number,
                    lambda *_, why=reason: loop.call_soon_threadsafe(self.request, why),
                )


async def serve_until_stopped(
    app: Framework, config: Config, *, supervisor: int | None = None
) -> None:
    """Serve `app` until SIGTERM or SIGINT (or, with the pid of a `supervisor`, until that
    process is gone), then stop gracefully: the listening socket is closed at once, idle
    connections too, and the requests and streams in flight get `config.graceful_timeout`
    seconds to finish before they are cut."""
    from hypercorn.asyncio import serve

    from engine.server.hypercorn_fixes import idle_timeouts_heed_cancellation

    idle_timeouts_heed_cancellation()
    shutdown = Shutdown()
    shutdown.on_signals()  # before the app starts: a signal while it starts is kept
    watch = None if supervisor is None else asyncio.create_task(_watch(shutdown, supervisor))

    async def stop_requested() -> None:
        reason = await shutdown.wait()
        log.info(
            "%s: shutting down, accepting no new connections; requests in flight have "
            "%g s to finish",
            reason,
            config.graceful_timeout,
        )

    try:
        await serve(app, config, shutdown_trigger=stop_requested)
    finally:
        if watch is not None:
            watch.cancel()
    log.info("shut down")


async def _watch(shutdown: Shutdown, supervisor: int) -> None:
    """Request the stop once this process's parent is not `supervisor` (any more: an
    orphan is adopted by another): a worker must not outlive its supervisor."""
    while os.getppid() == supervisor:  # noqa: ASYNC110 (no event to wait on: it is looked at)
        await asyncio.sleep(PARENT_POLL_SECS)
    shutdown.request(f"the supervising process {supervisor} is gone")


def run(main: Coroutine[Any, Any, Any]) -> Any:
    """Run `main` on uvloop where it is installed (not on Windows), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
