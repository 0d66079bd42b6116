"""Fixes for hypercorn (0.18).

`close_idle_connections_on_eof`: close an HTTP/1 connection as soon as its client has.

When a client ends its side of a kept-alive connection (its end of input, or a close),
hypercorn's h11 protocol either ignores it (no request open) or answers the request in
flight and then keeps the connection for the next one, so the connection's task waits
for the keep-alive timeout before closing its socket: each such connection stays in
CLOSE-WAIT, holding a file descriptor, for that long (3,000 short connections held some
2,000 fds). The fix: once the client's input has ended, a connection that is or becomes
idle is closed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from hypercorn.events import Closed
from hypercorn.protocol.h11 import H11Protocol

_original_handle = H11Protocol.handle
_original_recycle = H11Protocol._maybe_recycle
_INPUT_ENDED = "_engine_input_ended"


async def _handle(self: H11Protocol, event: Any) -> None:
    idle = self.stream is None
    if isinstance(event, Closed):
        setattr(self, _INPUT_ENDED, True)
    await _original_handle(self, event)
    if idle and isinstance(event, Closed):
        await self.send(Closed())


async def _maybe_recycle(self: H11Protocol) -> None:
    await _original_recycle(self)
    if getattr(self, _INPUT_ENDED, False) and self.stream is None:
        await self.send(Closed())  # no next request can come


def close_idle_connections_on_eof() -> None:
    """Apply the fix (idempotent)."""
    H11Protocol.handle = _handle  # type: ignore[method-assign]
    H11Protocol._maybe_recycle = _maybe_recycle  # type: ignore[method-assign]


def idle_timeouts_heed_cancellation() -> None:
    """A fix for hypercorn (0.18) on Python 3.11, whose `asyncio.wait_for` can swallow a
    cancellation: a connection that opens as the server stops and whose client closes it
    at once (a port probe) could have its idle timer cancelled just as the timer fired;
    the timer then went on to close the connection, waiting for the closing that had
    cancelled it, and the stop waited the whole shutdown timeout for that connection.
    The timer now ends when it was cancelled (idempotent)."""
    from hypercorn.asyncio.tcp_server import TCPServer

    if getattr(TCPServer._idle_timeout, "heeds_cancellation", False):
        return

    async def _idle_timeout(self: TCPServer) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.context.terminated.wait(), self.config.keep_alive_timeout)
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError  # what closes the connection cancelled it
        await asyncio.shield(self._initiate_server_close())

    _idle_timeout.heeds_cancellation = True  # type: ignore[attr-defined]
    TCPServer._idle_timeout = _idle_timeout  # type: ignore[method-assign]
